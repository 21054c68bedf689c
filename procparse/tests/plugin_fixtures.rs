//! Every `/proc` fixture the plugins test with (`plugins/*/testdata/`), read by this crate:
//! the correctness half of the measurement that chose it over procfs-core (README.md).

use std::fs;
use std::path::{Path, PathBuf};

use procparse::{meminfo, mounts, net_dev, stat};

fn plugins() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins")
}

fn text(rel: &str) -> String {
    let path = plugins().join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn meminfo_fixtures() {
    let kib = |v: u64| v * 1024;
    // (fixture, MemTotal, SwapTotal, SwapCached) in bytes; None where the line is absent.
    let cases = [
        (
            "memory/testdata/debian12",
            Some(kib(24_684_092)),
            Some(0),
            Some(0),
        ),
        (
            "memory/testdata/old_kernel",
            Some(kib(1_000_000)),
            Some(kib(2_097_148)),
            Some(0),
        ),
        (
            "swap/testdata/basic",
            Some(kib(8_029_624)),
            Some(kib(2_097_148)),
            Some(kib(10_240)),
        ),
        (
            "swap/testdata/noswap",
            Some(kib(8_029_624)),
            Some(0),
            Some(0),
        ),
        (
            "swap/testdata/openvz",
            Some(kib(1_048_576)),
            Some(kib(262_144)),
            None,
        ),
    ];
    for (case, total, swap, swap_cached) in cases {
        let text = text(&format!("{case}/proc/meminfo"));
        let m = meminfo::parse(&text).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(m.lines.len(), text.lines().count(), "{case}");
        assert_eq!(m.get("MemTotal"), total, "{case}");
        assert_eq!(m.get("SwapTotal"), swap, "{case}");
        assert_eq!(m.get("SwapCached"), swap_cached, "{case}");
    }
    let debian = text("memory/testdata/debian12/proc/meminfo");
    let m = meminfo::parse(&debian).unwrap();
    assert_eq!(m.lines.len(), 54);
    assert_eq!(m.get("HugePages_Total"), Some(0));
    assert_eq!(m.get("VmallocTotal"), Some(kib(34_359_738_367)));
    let err = meminfo::parse(&text("memory/testdata/broken/proc/meminfo")).unwrap_err();
    assert_eq!(err.to_string(), "bad value `lots` for `Cached`");
}

#[test]
fn net_dev_fixtures() {
    let names = |rel: &str| -> Vec<String> {
        net_dev::parse_lenient(&text(rel))
            .map(|i| i.name.to_string())
            .collect()
    };
    assert_eq!(
        names("interface/testdata/basic/proc/net/dev"),
        ["lo", "eth0", "docker0", "wlp2s0"]
    );
    assert_eq!(
        names("network/testdata/basic/proc/net/dev"),
        ["lo", "enp3s0", "br0", "wg0"]
    );
    let basic = text("interface/testdata/basic/proc/net/dev");
    let eth0 = net_dev::parse_lenient(&basic).nth(1).unwrap().counters;
    assert_eq!((eth0.rx_bytes, eth0.rx_packets), (9_876_543_210, 7_654_321));
    assert_eq!((eth0.rx_multicast, eth0.tx_bytes), (1234, 123_456_789));
    let wlp = net_dev::parse_lenient(&basic).nth(3).unwrap().counters;
    assert_eq!((wlp.rx_bytes, wlp.tx_bytes), (u64::MAX, 42));
    let network = text("network/testdata/basic/proc/net/dev");
    let wg0 = net_dev::parse_lenient(&network).nth(3).unwrap().counters;
    assert_eq!((wg0.rx_bytes, wg0.tx_dropped), (1_234_567_890, 5));
    // The short line of `garbage` is an error, not an interface.
    let garbage = text("interface/testdata/garbage/proc/net/dev");
    let garbage: Vec<_> = net_dev::parse(&garbage).collect();
    assert_eq!(garbage.len(), 1);
    assert!(garbage[0].is_err());
}

#[test]
fn mount_table_fixtures() {
    let points = |rel: &str| -> Vec<String> {
        mounts::parse(text(rel).as_bytes())
            .into_iter()
            .map(|m| m.mount_point)
            .collect()
    };
    assert_eq!(
        points("df/testdata/basic/proc/self/mounts"),
        [
            "/proc",
            "/sys",
            "/",
            "/boot/efi",
            "/run",
            "/var/lib/docker",
            "/run",
            "/mnt/my disk",
            "/mnt/gone"
        ]
    );
    assert_eq!(points("df/testdata/oldproc/proc/mounts"), ["/"]);
    let disks = mounts::parse(text("disks/testdata/basic/proc/self/mounts").as_bytes());
    assert_eq!(disks.len(), 12);
    assert_eq!(disks[5].options, ["rw", "relatime", "errors=remount-ro"]);
    assert_eq!(disks[8].mount_point, "/media/My Disk");
    assert_eq!(disks[11].mount_point, "/mnt/tab\tand\\slash");
    assert_eq!(disks[11].device, "server:/export");
}

/// The `stat` files of the processes plugin's fixtures (its own parser is not this crate's
/// yet; they are real kernel lines all the same).
#[test]
fn stat_fixtures() {
    let mut seen = 0;
    let mut dirs = vec![plugins().join("processes/testdata")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let pid_dir = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let Ok(pid) = pid_dir.parse::<u32>() else {
                continue;
            };
            if path.file_name().is_some_and(|n| n == "stat") {
                let s = stat::parse(&fs::read(&path).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert_eq!(s.pid, pid, "{}", path.display());
                assert!(!s.comm.is_empty() && s.starttime > 0, "{}", path.display());
                seen += 1;
            }
        }
    }
    assert!(seen >= 30, "only {seen} stat files");
}
