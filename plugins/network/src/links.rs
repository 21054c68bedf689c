//! Network interfaces from `<sys>/class/net/*` and their counters from `<proc>/net/dev`.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::Path;

use serde::Serialize;

/// `ARPHRD_LOOPBACK`, the `type` of a loopback interface.
const ARPHRD_LOOPBACK: u32 = 772;

/// What `<sys>/class/net/<name>` says about one interface.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Link {
    /// Interface name, e.g. `eth0`.
    pub name: String,
    /// Kernel interface index (`ifindex`).
    pub ifindex: Option<u32>,
    /// Hardware address (`address`); `None` for interfaces without one (tun, wireguard).
    pub mac: Option<String>,
    /// `mtu` in bytes.
    pub mtu: Option<u32>,
    /// `operstate`: `up`, `down`, `unknown`, `dormant`, `lowerlayerdown`, ...
    pub operstate: Option<String>,
    /// `carrier`: link detected; `None` when the kernel refuses to say (interface down).
    pub carrier: Option<bool>,
    /// `speed` in Mbit/s; `None` when unknown (down, virtual, or the driver reports -1).
    pub speed_mbps: Option<u64>,
    /// `loopback`, `physical` (backed by a `device`), or `virtual` (bridge, veth, tun, ...).
    pub kind: &'static str,
}

/// The traffic counters of one interface, from `<proc>/net/dev`.
#[derive(Serialize, Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Packets dropped on the way out.
    pub tx_dropped: u64,
}

/// Whether `name` can be an interface name (and so a single path component under `class/net`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name.contains(['/', ':'])
        && !name.chars().any(char::is_whitespace)
}

/// The interface names under `net_dir` (`<sys>/class/net`), sorted.
pub fn list_names(net_dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(net_dir)? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Reads one interface folder; attributes that are missing or unreadable become `None`.
pub fn read_link(net_dir: &Path, name: &str) -> Link {
    let dir = net_dir.join(name);
    let ty: Option<u32> = read_parsed(&dir.join("type"));
    let kind = if ty == Some(ARPHRD_LOOPBACK) || (ty.is_none() && name == "lo") {
        "loopback"
    } else if dir.join("device").exists() {
        "physical"
    } else {
        "virtual"
    };
    Link {
        name: name.to_string(),
        ifindex: read_parsed(&dir.join("ifindex")),
        mac: read_text(&dir.join("address")),
        mtu: read_parsed(&dir.join("mtu")),
        operstate: read_text(&dir.join("operstate")),
        carrier: read_text(&dir.join("carrier")).and_then(|c| match c.as_str() {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        }),
        // -1 (unknown) does not parse as u64 and becomes None.
        speed_mbps: read_parsed(&dir.join("speed")),
        kind,
    }
}

/// Parses `/proc/net/dev` (procparse); lines that are not a name and 16 counters are skipped.
pub fn parse_net_dev(text: &str) -> HashMap<String, Counters> {
    procparse::net_dev::parse_lenient(text)
        .map(|iface| {
            let c = iface.counters;
            let counters = Counters {
                rx_bytes: c.rx_bytes,
                rx_packets: c.rx_packets,
                rx_errors: c.rx_errors,
                rx_dropped: c.rx_dropped,
                tx_bytes: c.tx_bytes,
                tx_packets: c.tx_packets,
                tx_errors: c.tx_errors,
                tx_dropped: c.tx_dropped,
            };
            (iface.name.to_string(), counters)
        })
        .collect()
}

fn read_text(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn read_parsed<T: std::str::FromStr>(path: &Path) -> Option<T> {
    read_text(path)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/basic")
    }

    #[test]
    fn lists_and_reads_links() {
        let net = root().join("sys/class/net");
        assert_eq!(list_names(&net).unwrap(), ["br0", "enp3s0", "lo", "wg0"]);

        let eth = read_link(&net, "enp3s0");
        assert_eq!(eth.ifindex, Some(2));
        assert_eq!(eth.mac.as_deref(), Some("3c:7c:3f:1e:a2:10"));
        assert_eq!(eth.mtu, Some(1500));
        assert_eq!(eth.operstate.as_deref(), Some("up"));
        assert_eq!(eth.carrier, Some(true));
        assert_eq!(eth.speed_mbps, Some(1000));
        assert_eq!(eth.kind, "physical");

        let lo = read_link(&net, "lo");
        assert_eq!(lo.kind, "loopback");
        assert_eq!(lo.mtu, Some(65536));
        assert_eq!(lo.speed_mbps, None);

        let br = read_link(&net, "br0");
        assert_eq!(br.kind, "virtual");
        assert_eq!(br.speed_mbps, None, "speed -1 is unknown");
        assert_eq!(br.carrier, Some(false));

        let wg = read_link(&net, "wg0");
        assert_eq!(wg.mac, None, "empty address file");
        assert_eq!(wg.carrier, None, "no carrier file");
    }

    #[test]
    fn parses_proc_net_dev() {
        let text = fs::read_to_string(root().join("proc/net/dev")).unwrap();
        let c = parse_net_dev(&text);
        assert_eq!(c.len(), 4);
        let eth = c["enp3s0"];
        assert_eq!(eth.rx_bytes, 8_734_112_345);
        assert_eq!(eth.rx_packets, 9_123_456);
        assert_eq!(eth.rx_errors, 3);
        assert_eq!(eth.rx_dropped, 17);
        assert_eq!(eth.tx_bytes, 912_345_678);
        assert_eq!(eth.tx_packets, 2_345_678);
        assert_eq!(eth.tx_errors, 1);
        assert_eq!(eth.tx_dropped, 2);
        // A long name glued to its first counter.
        assert_eq!(c["wg0"].rx_bytes, 1_234_567_890);
    }

    #[test]
    fn validates_names() {
        assert!(valid_name("eth0"));
        assert!(valid_name("br-1a2b3c4d5e6f"));
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "eth0:1",
            "a b",
            "averyveryverylongname",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
