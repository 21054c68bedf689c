//! nodus with Debian's own collectd `types.db` (package collectd-core) as its only types.db:
//! `nodus -T` loads it (its `ib_octets`/`ib_packets` lines separate data sources with spaces,
//! as collectd allows) and every value of the usual read plugins fits its data sets.

use std::process::Command;

use e2e::nodus::plugin_links;

const READ_PLUGINS: [&str; 6] = ["cpu", "load", "memory", "interface", "df", "uptime"];

#[test]
fn nodus_test_read_accepts_every_value_under_debians_types_db() {
    let Some(stock) = e2e::tools::collectd_types_db() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    plugin_links(&work.path().join("plugins"), &READ_PLUGINS, &[]);
    let mut config = format!(
        "plugin_dir = {:?}\nsocket = {:?}\nstate_dir = {:?}\ntypes_db = [{stock:?}]\n",
        work.path().join("plugins"),
        work.path().join("nodus.sock"),
        work.path().join("state"),
    );
    for plugin in READ_PLUGINS {
        config.push_str(&format!("[plugin.{plugin}]\n"));
    }
    std::fs::write(work.path().join("nodus.conf"), config).unwrap();
    let out = Command::new(e2e::bin("nodus"))
        .arg("-T")
        .arg("-C")
        .arg(work.path().join("nodus.conf"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    // `<time>/<interval> <plugin>(<collected>/<in types.db>) ...`: every value collected has
    // its data source in Debian's file, and none was dropped as a mismatch.
    let mut seen = Vec::new();
    for line in stdout.lines() {
        let head = line.split(' ').nth(1).unwrap_or_default();
        let (plugin, counts) = head.split_once('(').unwrap_or_else(|| panic!("{line}"));
        let (collected, expected) = counts.trim_end_matches(')').split_once('/').unwrap();
        assert_eq!(collected, expected, "{line}");
        assert_ne!(collected, "0", "{line}");
        let printed = line.split(' ').skip(2).count();
        assert_eq!(
            printed.to_string(),
            collected,
            "a value was dropped: {line}"
        );
        seen.push(plugin.to_string());
    }
    seen.sort();
    let mut expected = READ_PLUGINS.to_vec();
    expected.sort();
    assert_eq!(seen, expected, "{stdout}{stderr}");
    assert!(!stderr.contains("does not match types.db"), "{stderr}");
}
