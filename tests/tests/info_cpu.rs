//! End-to-end: `gearctl -c getinfo.cpu` against `/proc/cpuinfo` read here, `nproc --all`,
//! `getconf _NPROCESSORS_ONLN`, `/sys/devices/system/cpu/online` and `lscpu` when installed.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use e2e::num;
use serde_json::Value;

/// Runs a command and returns its trimmed stdout, or `None` if it is missing or fails.
fn try_run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The processor blocks of `/proc/cpuinfo`, read here.
fn cpuinfo() -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string("/proc/cpuinfo").expect("read /proc/cpuinfo");
    text.split("\n\n")
        .map(|block| {
            block
                .lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect::<BTreeMap<_, _>>()
        })
        .filter(|b| b.contains_key("processor"))
        .collect()
}

/// `lscpu`'s `Key: value` lines, if lscpu is installed.
fn lscpu() -> Option<BTreeMap<String, String>> {
    let text = try_run("lscpu", &[])?;
    Some(
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
    )
}

#[test]
fn counts_match_cpuinfo_nproc_and_sysfs() {
    let doc = e2e::getinfo("cpu", "");
    let blocks = cpuinfo();
    assert_eq!(num(&doc, "threads"), blocks.len() as u64, "{doc}");

    let online_text =
        std::fs::read_to_string("/sys/devices/system/cpu/online").expect("read online");
    assert_eq!(doc["online"], online_text.trim());
    let online = try_run("getconf", &["_NPROCESSORS_ONLN"]).and_then(|n| n.parse::<u64>().ok());
    if let Some(online) = online {
        assert_eq!(
            num(&doc, "online_count"),
            online,
            "getconf _NPROCESSORS_ONLN"
        );
    }
    // `nproc --all` also counts offline CPUs, which /proc/cpuinfo leaves out.
    let all: u64 = try_run("nproc", &["--all"])
        .and_then(|n| n.parse().ok())
        .expect("nproc --all");
    if num(&doc, "online_count") == all {
        assert_eq!(num(&doc, "threads"), all, "nproc --all");
    } else {
        assert!(num(&doc, "threads") <= all);
    }

    let sockets: BTreeSet<&str> = blocks
        .iter()
        .filter_map(|b| b.get("physical id").map(String::as_str))
        .collect();
    assert_eq!(num(&doc, "sockets"), sockets.len().max(1) as u64);
    let cores = num(&doc, "cores");
    assert!(cores >= 1 && cores <= num(&doc, "threads"));
    assert_eq!(num(&doc, "threads_per_core"), num(&doc, "threads") / cores);
    let mhz_lines = blocks.iter().filter(|b| b.contains_key("cpu MHz")).count();
    assert_eq!(
        doc["mhz_per_processor"].as_array().map(Vec::len),
        Some(mhz_lines),
        "{doc}"
    );
}

#[test]
fn model_and_flags_match_cpuinfo_and_lscpu() {
    let doc = e2e::getinfo("cpu", "");
    let blocks = cpuinfo();
    let first = &blocks[0];
    let model = first
        .get("model name")
        .map(|m| Value::from(m.as_str()))
        .unwrap_or(Value::Null);
    assert_eq!(doc["model_name"], model);
    let vendor = first
        .get("vendor_id")
        .map(|m| Value::from(m.as_str()))
        .unwrap_or(Value::Null);
    assert_eq!(doc["vendor_id"], vendor);
    let flags: Vec<&str> = first
        .get("flags")
        .map(|f| f.split_whitespace().collect())
        .unwrap_or_default();
    let got: Vec<&str> = doc["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if first.contains_key("flags") {
        assert_eq!(got, flags);
    }

    let Some(lscpu) = lscpu() else { return };
    if let Some(name) = lscpu.get("Model name") {
        assert_eq!(doc["model_name"], name.as_str(), "lscpu Model name");
    }
    if let Some(vendor) = lscpu.get("Vendor ID") {
        assert_eq!(doc["vendor_id"], vendor.as_str(), "lscpu Vendor ID");
    }
    if let Some(sockets) = lscpu.get("Socket(s)").and_then(|s| s.parse::<u64>().ok()) {
        assert_eq!(num(&doc, "sockets"), sockets, "lscpu Socket(s)");
    }
    if let Some(cps) = lscpu
        .get("Core(s) per socket")
        .and_then(|s| s.parse::<u64>().ok())
    {
        assert_eq!(
            num(&doc, "cores_per_socket"),
            cps,
            "lscpu Core(s) per socket"
        );
    }
    if let Some(lscpu_flags) = lscpu.get("Flags") {
        let want: BTreeSet<&str> = lscpu_flags.split_whitespace().collect();
        assert_eq!(
            got.iter().copied().collect::<BTreeSet<_>>(),
            want,
            "lscpu Flags"
        );
    }
}

#[test]
fn no_flags_option_drops_flags() {
    let doc = e2e::getinfo("cpu", "-f");
    assert!(doc.get("flags").is_none(), "{doc}");
    assert_eq!(doc["threads"], e2e::getinfo("cpu", "--no-flags")["threads"]);
}

#[test]
fn unknown_option_is_invalid_params() {
    for args in ["-z", "--flags=no", "extra"] {
        e2e::assert_invalid_params("cpu", args);
    }
}
