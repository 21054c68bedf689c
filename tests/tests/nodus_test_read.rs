//! `nodus -T`: every configured read plugin once, in the seed's line format, with values that
//! agree with /proc.

use std::process::Command;

use e2e::nodus::{config_header, plugin_links};

const READ_PLUGINS: [&str; 9] = [
    "cpu",
    "load",
    "memory",
    "swap",
    "interface",
    "disk",
    "df",
    "processes",
    "uptime",
];

/// One `-T` line: the plugin and its (value, type letter) pairs.
type Line = (String, Vec<(f64, char)>);

/// Runs `nodus -T` with `body` and returns (exit code, stdout lines by plugin, stderr).
fn test_read(body: &str, plugins: &[&str]) -> (i32, Vec<Line>, String) {
    let work = tempfile::tempdir().unwrap();
    plugin_links(&work.path().join("plugins"), plugins, &[]);
    let config = work.path().join("nodus.conf");
    std::fs::write(&config, format!("{}{body}", config_header(work.path()))).unwrap();
    let out = Command::new(e2e::bin("nodus"))
        .arg("-T")
        .arg("-C")
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines = stdout
        .lines()
        .map(|line| parse_line(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    (
        out.status.code().unwrap_or(-1),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Parses `<time>/<interval> <plugin>(<n>/<m>) <v>/<T> ...`, checking the format on the way.
fn parse_line(line: &str) -> Result<Line, String> {
    let mut words = line.split(' ');
    let stamp = words.next().ok_or("empty line")?;
    let (time, interval) = stamp.split_once('/').ok_or("no time/interval")?;
    for part in [time, interval] {
        let (_, decimals) = part.split_once('.').ok_or("no decimals")?;
        if decimals.len() != 3 || part.parse::<f64>().is_err() {
            return Err(format!("bad number {part}"));
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let time: f64 = time.parse().unwrap();
    if (now - time).abs() > 60.0 {
        return Err(format!("time {time} is not now ({now})"));
    }
    let head = words.next().ok_or("no plugin")?;
    let (plugin, counts) = head.split_once('(').ok_or("no counts")?;
    let (collected, expected) = counts
        .trim_end_matches(')')
        .split_once('/')
        .ok_or("bad counts")?;
    let values: Vec<(f64, char)> = words
        .map(|w| {
            let (v, t) = w.rsplit_once('/').ok_or("value without type")?;
            let letter = t
                .chars()
                .next()
                .filter(|c| "GDCA".contains(*c) && t.len() == 1)
                .ok_or("bad type letter")?;
            Ok((
                v.parse::<f64>().map_err(|_| format!("bad value {v}"))?,
                letter,
            ))
        })
        .collect::<Result<_, String>>()?;
    let collected: usize = collected.parse().map_err(|_| "bad count")?;
    let expected: usize = expected.parse().map_err(|_| "bad count")?;
    if collected != values.len() || expected != collected {
        return Err(format!(
            "counts {collected}/{expected} but {} values printed",
            values.len()
        ));
    }
    Ok((plugin.to_string(), values))
}

fn proc_loadavg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap();
    let v: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .map(|x| x.parse().unwrap())
        .collect();
    [v[0], v[1], v[2]]
}

fn meminfo_kib(key: &str) -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/meminfo"))
}

#[test]
fn prints_one_line_per_read_plugin_in_the_seed_format() {
    let body: String = READ_PLUGINS
        .iter()
        .map(|p| format!("[plugin.{p}]\n"))
        .collect();
    let (code, lines, stderr) = test_read(&body, &READ_PLUGINS);
    assert_eq!(code, 0, "{stderr}");
    let names: Vec<&str> = lines.iter().map(|(n, _)| n.as_str()).collect();
    let mut expected = READ_PLUGINS.to_vec();
    expected.sort();
    assert_eq!(names, expected, "one line per plugin, in name order");
    for (name, values) in &lines {
        assert!(!values.is_empty(), "{name} collected nothing");
    }
}

#[test]
fn load_agrees_with_proc_loadavg() {
    let before = proc_loadavg();
    let (code, lines, stderr) = test_read("[plugin.load]\n", &["load"]);
    let after = proc_loadavg();
    assert_eq!(code, 0, "{stderr}");
    let (_, values) = &lines[0];
    assert_eq!(values.len(), 3);
    for (i, (v, t)) in values.iter().enumerate() {
        assert_eq!(*t, 'G');
        let (lo, hi) = (
            before[i].min(after[i]) - 0.01,
            before[i].max(after[i]) + 0.01,
        );
        assert!(
            (lo..=hi).contains(v),
            "load[{i}] = {v}, /proc/loadavg said {} then {}",
            before[i],
            after[i]
        );
    }
}

#[test]
fn memory_adds_up_to_memtotal() {
    let (code, lines, stderr) = test_read("[plugin.memory]\n", &["memory"]);
    assert_eq!(code, 0, "{stderr}");
    let (_, values) = &lines[0];
    assert!(values.iter().all(|(_, t)| *t == 'G'));
    // collectd's memory states partition MemTotal: used + buffered + cached + free + slab.
    let sum: f64 = values.iter().map(|(v, _)| v).sum();
    let total = meminfo_kib("MemTotal") * 1024.0;
    assert!(
        (sum - total).abs() <= 1024.0,
        "states sum to {sum}, MemTotal is {total}"
    );
    let free = meminfo_kib("MemFree") * 1024.0;
    assert!(
        values.iter().any(|(v, _)| (v - free).abs() / free < 0.05),
        "no value near MemFree {free}: {values:?}"
    );
}

#[test]
fn interface_counters_agree_with_proc_net_dev() {
    // (rx, tx) of lo's bytes and packets.
    let lo = || -> [(f64, f64); 2] {
        let text = std::fs::read_to_string("/proc/net/dev").unwrap();
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("lo:"))
            .unwrap();
        let f: Vec<f64> = line
            .split_once(':')
            .unwrap()
            .1
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        [(f[0], f[8]), (f[1], f[9])]
    };
    let before = lo();
    let (code, lines, stderr) = test_read(
        "[plugin.interface.options]\nInterface = \"lo\"\n",
        &["interface"],
    );
    let after = lo();
    assert_eq!(code, 0, "{stderr}");
    let (_, values) = &lines[0];
    assert_eq!(
        values.len(),
        8,
        "if_octets, if_packets, if_errors, if_dropped for lo: {values:?}"
    );
    assert!(values.iter().all(|(_, t)| *t == 'D'));
    let pairs: Vec<(f64, f64)> = values.chunks(2).map(|p| (p[0].0, p[1].0)).collect();
    for (what, i) in [("bytes", 0), ("packets", 1)] {
        let within = |(rx, tx): &(f64, f64)| {
            (before[i].0..=after[i].0).contains(rx) && (before[i].1..=after[i].1).contains(tx)
        };
        assert!(
            pairs.iter().any(within),
            "no (rx, tx) pair matches lo's {what} {:?}..{:?}: {pairs:?}",
            before[i],
            after[i]
        );
    }
}

#[test]
fn a_failing_plugin_makes_exit_status_one() {
    let (code, lines, stderr) = test_read("[plugin.load]\n[plugin.nosuch]\n", &["load"]);
    assert_eq!(code, 1);
    assert_eq!(lines.len(), 1, "the good plugin still prints");
    assert!(stderr.contains("nosuch"), "{stderr}");
}
