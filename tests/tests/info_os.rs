//! End-to-end: `gearctl -c getinfo.os` against the host's own view: `hostname`, `/etc/os-release`
//! parsed here, `/proc/uptime`, `/proc/stat`'s `btime`, `date -u`, `/proc/loadavg`.

use std::collections::BTreeMap;

use e2e::run;
use serde_json::Value;

/// Our own reading of os-release: `KEY=value` with one level of quotes removed.
fn os_release() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .expect("read os-release");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (
                k.trim().to_string(),
                v.replace("\\\"", "\"").replace("\\\\", "\\"),
            )
        })
        .collect()
}

fn proc_uptime() -> f64 {
    let text = std::fs::read_to_string("/proc/uptime").expect("read /proc/uptime");
    text.split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .expect("uptime field")
}

#[test]
fn distribution_matches_os_release() {
    let doc = e2e::getinfo("os", "");
    let expected = os_release();
    assert!(!expected.is_empty());
    let got = doc["os_release"]
        .as_object()
        .unwrap_or_else(|| panic!("no os_release: {doc}"));
    assert_eq!(got.len(), expected.len(), "{doc}");
    for (key, value) in &expected {
        assert_eq!(got[key], value.as_str(), "os_release.{key}");
    }
    for key in ["ID", "NAME", "VERSION_ID", "PRETTY_NAME"] {
        let want = expected
            .get(key)
            .map(|v| Value::from(v.as_str()))
            .unwrap_or(Value::Null);
        assert_eq!(doc[key.to_ascii_lowercase()], want, "{key}");
    }
    assert_eq!(doc["unavailable"], serde_json::json!([]), "{doc}");
}

#[test]
fn hostname_matches_hostname_command() {
    let doc = e2e::getinfo("os", "");
    assert_eq!(doc["hostname"], run("hostname", &[]).as_str());
}

#[test]
fn uptime_and_boot_time_match_proc() {
    let before = proc_uptime();
    let doc = e2e::getinfo("os", "");
    let after = proc_uptime();
    let uptime = doc["uptime_seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("no uptime: {doc}"));
    assert!(
        before - 0.5 <= uptime && uptime <= after + 0.5,
        "{before} <= {uptime} <= {after}"
    );
    assert!(
        doc["idle_seconds"].as_f64().is_some_and(|i| i >= 0.0),
        "{doc}"
    );

    let stat = std::fs::read_to_string("/proc/stat").expect("read /proc/stat");
    let btime: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
        .expect("btime in /proc/stat");
    assert_eq!(doc["boot_time"], btime);
    let iso = run(
        "date",
        &["-u", "-d", &format!("@{btime}"), "+%Y-%m-%dT%H:%M:%SZ"],
    );
    assert_eq!(doc["boot_time_iso"], iso.as_str());
}

#[test]
fn load_matches_proc_loadavg() {
    let doc = e2e::getinfo("os", "");
    let text = std::fs::read_to_string("/proc/loadavg").expect("read /proc/loadavg");
    let f: Vec<&str> = text.split_whitespace().collect();
    // Load moves between two reads; the 15-minute average moves slowly.
    let load_15: f64 = f[2].parse().expect("load 15");
    let got = doc["load_15"]
        .as_f64()
        .unwrap_or_else(|| panic!("no load_15: {doc}"));
    assert!((got - load_15).abs() < 0.5, "load_15 {got} vs {load_15}");
    for key in ["load_1", "load_5"] {
        assert!(doc[key].as_f64().is_some_and(|v| v >= 0.0), "{key}: {doc}");
    }
    let total: u64 = f[3]
        .split_once('/')
        .and_then(|(_, t)| t.parse().ok())
        .expect("tasks");
    let got = e2e::num(&doc, "total_tasks");
    assert!(
        got > 0 && got.abs_diff(total) < 200,
        "total_tasks {got} vs {total}"
    );
}

#[test]
fn any_argument_is_invalid_params() {
    e2e::assert_invalid_params("os", "-x");
    e2e::assert_invalid_params("os", "extra");
}
