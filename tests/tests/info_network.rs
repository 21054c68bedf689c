//! End-to-end: `gearctl -c getinfo.network` compared with `/sys/class/net`, `/proc/net/dev` and
//! `ip -j link` / `ip -j addr` (when `ip` is installed).

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

fn interfaces(data: &Value) -> &Vec<Value> {
    data["interfaces"]
        .as_array()
        .unwrap_or_else(|| panic!("no interfaces array: {data}"))
}

fn find<'a>(data: &'a Value, name: &str) -> &'a Value {
    interfaces(data)
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no interface {name}: {data}"))
}

fn sys(name: &str, attr: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{name}/{attr}")).ok()?;
    Some(text.trim().to_string())
}

/// `ip -j <args>` parsed, or `None` when `ip` is missing or fails.
fn ip_json(args: &[&str]) -> Option<Value> {
    let out = Command::new("ip").arg("-j").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The received-bytes counter of `name` in `/proc/net/dev`.
fn proc_rx_bytes(name: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/net/dev").unwrap();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim() == name)
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /proc/net/dev"))
}

#[test]
fn interface_names_match_sysfs() {
    let data = e2e::getinfo("network", "");
    let names: Vec<&str> = interfaces(&data)
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    let mut expected: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    expected.sort();
    assert_eq!(names, expected);
}

#[test]
fn loopback_has_its_address_and_mtu() {
    let data = e2e::getinfo("network", "-i lo");
    assert_eq!(interfaces(&data).len(), 1, "{data}");
    let lo = find(&data, "lo");
    assert_eq!(lo["kind"], "loopback");
    assert_eq!(
        lo["mtu"].as_u64(),
        sys("lo", "mtu").and_then(|m| m.parse().ok())
    );
    let addrs = lo["addresses"].as_array().expect("addresses");
    assert!(
        addrs.iter().any(|a| a["family"] == "inet"
            && a["address"] == "127.0.0.1"
            && a["prefix_len"] == 8
            && a["scope"] == "host"),
        "{lo}"
    );
}

#[test]
fn links_match_ip_link_or_sysfs() {
    let data = e2e::getinfo("network", "");
    let ip = ip_json(&["link"]);
    for iface in interfaces(&data) {
        let name = iface["name"].as_str().unwrap();
        let (mac, mtu) = match ip
            .as_ref()
            .and_then(|l| l.as_array()?.iter().find(|e| e["ifname"] == name).cloned())
        {
            Some(entry) => (
                entry["address"].as_str().map(str::to_string),
                entry["mtu"].as_u64(),
            ),
            None => (
                sys(name, "address"),
                sys(name, "mtu").and_then(|m| m.parse().ok()),
            ),
        };
        assert_eq!(iface["mac"].as_str().map(str::to_string), mac, "{name}");
        assert_eq!(iface["mtu"].as_u64(), mtu, "{name}");
        assert_eq!(
            iface["operstate"].as_str(),
            sys(name, "operstate").as_deref(),
            "{name}"
        );
        let physical = std::path::Path::new(&format!("/sys/class/net/{name}/device")).exists();
        if iface["kind"] != "loopback" {
            assert_eq!(iface["kind"] == "physical", physical, "{name}");
        }
    }
}

#[test]
fn addresses_match_ip_addr() {
    let Some(ip) = ip_json(&["addr"]) else {
        eprintln!("`ip` is not installed; skipping the comparison with ip addr");
        return;
    };
    let data = e2e::getinfo("network", "");
    for entry in ip.as_array().unwrap() {
        let name = entry["ifname"].as_str().unwrap();
        let expected: BTreeSet<(String, String, u64)> = entry["addr_info"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let family = a["family"].as_str().unwrap().to_string();
                (
                    family,
                    a["local"].as_str().unwrap().to_string(),
                    a["prefixlen"].as_u64().unwrap(),
                )
            })
            .collect();
        let got: BTreeSet<(String, String, u64)> = find(&data, name)["addresses"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no addresses array"))
            .iter()
            .map(|a| {
                let family = a["family"].as_str().unwrap().to_string();
                (
                    family,
                    a["address"].as_str().unwrap().to_string(),
                    a["prefix_len"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn counters_lie_between_two_reads_of_proc_net_dev() {
    let before = proc_rx_bytes("lo");
    let data = e2e::getinfo("network", "-i lo");
    let after = proc_rx_bytes("lo");
    let rx = find(&data, "lo")["counters"]["rx_bytes"]
        .as_u64()
        .expect("rx_bytes");
    assert!(before <= rx && rx <= after, "{before} <= {rx} <= {after}");
}

#[test]
fn bad_arguments_are_invalid_params() {
    e2e::assert_invalid_params("network", "-x");
    e2e::assert_invalid_params("network", "-i nosuchif0");
    e2e::assert_invalid_params("network", "-i ../../etc");
}
