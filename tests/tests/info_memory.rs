//! End-to-end: `gearctl -c getinfo.memory` against `/proc/meminfo` read here and `free -b`.

use std::collections::BTreeMap;

use e2e::num;

/// Our own reading of `/proc/meminfo`: key -> (number, has the `kB` unit).
fn meminfo() -> BTreeMap<String, (u64, bool)> {
    let text = std::fs::read_to_string("/proc/meminfo").expect("read /proc/meminfo");
    text.lines()
        .filter_map(|l| {
            let (k, rest) = l.split_once(':')?;
            let mut f = rest.split_whitespace();
            let n = f.next()?.parse().ok()?;
            Some((k.to_string(), (n, f.next() == Some("kB"))))
        })
        .collect()
}

/// `free -b`'s `Mem:` and `Swap:` rows.
fn free_b() -> BTreeMap<String, Vec<u64>> {
    e2e::run("free", &["-b"])
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            Some((
                name.trim().to_string(),
                rest.split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect(),
            ))
        })
        .collect()
}

#[test]
fn totals_match_proc_meminfo() {
    let doc = e2e::getinfo("memory", "");
    let expected = meminfo();
    let m = &doc["meminfo"];
    assert_eq!(
        m.as_object().map(|o| o.len()),
        Some(expected.len()),
        "one key per line: {doc}"
    );
    assert_eq!(num(m, "mem_total_bytes"), expected["MemTotal"].0 * 1024);
    assert_eq!(num(&doc, "total_bytes"), expected["MemTotal"].0 * 1024);
    assert_eq!(num(m, "swap_total_bytes"), expected["SwapTotal"].0 * 1024);
    assert_eq!(
        num(&doc, "swap_total_bytes"),
        expected["SwapTotal"].0 * 1024
    );
    if let Some((size, true)) = expected.get("Hugepagesize") {
        assert_eq!(num(m, "hugepagesize_bytes"), size * 1024);
    }
    if let Some((count, false)) = expected.get("HugePages_Total") {
        assert_eq!(num(m, "huge_pages_total"), *count, "counts stay counts");
    }
    // Every value is a number, and keys are snake_case.
    for (key, value) in m.as_object().into_iter().flatten() {
        assert!(value.is_u64(), "{key}: {value}");
        assert!(
            key.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{key}"
        );
    }
}

#[test]
fn summary_is_consistent_and_matches_free() {
    let doc = e2e::getinfo("memory", "");
    let m = &doc["meminfo"];
    let total = num(&doc, "total_bytes");
    let expected_used = total
        - num(m, "mem_free_bytes")
        - num(m, "buffers_bytes")
        - num(m, "cached_bytes")
        - m["s_reclaimable_bytes"].as_u64().unwrap_or(0);
    assert_eq!(num(&doc, "used_bytes"), expected_used);
    assert_eq!(num(&doc, "free_bytes"), num(m, "mem_free_bytes"));
    assert_eq!(
        num(&doc, "swap_used_bytes"),
        num(&doc, "swap_total_bytes") - num(&doc, "swap_free_bytes")
    );
    let percent = doc["used_percent"].as_f64().expect("used_percent");
    assert!(
        (percent - expected_used as f64 * 100.0 / total as f64).abs() < 0.01,
        "{percent}"
    );

    let free = free_b();
    assert_eq!(free["Mem"][0], total, "free -b total");
    assert_eq!(
        free["Swap"][0],
        num(&doc, "swap_total_bytes"),
        "free -b swap total"
    );
    // `free` read a moment later: free memory moves, but not by a tenth of the machine.
    let drift = free["Mem"][2].abs_diff(num(&doc, "free_bytes"));
    assert!(
        drift < total / 10,
        "free -b free {} vs {}",
        free["Mem"][2],
        doc["free_bytes"]
    );
}

#[test]
fn any_argument_is_invalid_params() {
    for args in ["-h", "all"] {
        e2e::assert_invalid_params("memory", args);
    }
}
