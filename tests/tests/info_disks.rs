//! End-to-end: `gearctl -c getinfo.disks` compared with `df`, `lsblk` and `/sys/block`.

use std::process::Command;

use serde_json::Value;

/// Runs a command and returns its stdout (whatever its exit status: df complains about mounts it
/// may not stat but still prints the others).
fn stdout_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Decodes the octal escapes the kernel writes in `/proc/self/mounts`.
fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

fn mounts(data: &Value) -> &Vec<Value> {
    data["mounts"]
        .as_array()
        .unwrap_or_else(|| panic!("no mounts array: {data}"))
}

#[test]
fn root_filesystem_matches_df() {
    let data = e2e::getinfo("disks", "-m /");
    let list = mounts(&data);
    assert_eq!(list.len(), 1, "{data}");
    let root = &list[0];
    assert_eq!(root["mount_point"], "/");

    // Filesystem 1B-blocks Used Available Use% Mounted-on
    let df = stdout_of("df", &["-B1", "/"]).expect("run df");
    let line = df.lines().nth(1).expect("df prints a line for /");
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(root["device"], f[0], "df: {line}");
    assert_eq!(
        root["usage"]["total_bytes"].as_u64(),
        f[1].parse().ok(),
        "df: {line}"
    );
    // df rounds the percentage up; allow for writes between the two reads.
    let df_pct: f64 = f[4].trim_end_matches('%').parse().expect("df Use%");
    let pct = root["usage"]["used_percent"]
        .as_f64()
        .expect("used_percent");
    assert!((pct - df_pct).abs() <= 1.5, "plugin {pct}% vs df {df_pct}%");
    let used = root["usage"]["used_bytes"].as_u64().unwrap();
    let avail = root["usage"]["available_bytes"].as_u64().unwrap();
    let total = root["usage"]["total_bytes"].as_u64().unwrap();
    assert!(used + avail <= total, "{root}");

    // Filesystem Inodes IUsed IFree IUse% Mounted-on
    let dfi = stdout_of("df", &["-i", "/"]).expect("run df -i");
    let fi: Vec<&str> = dfi
        .lines()
        .nth(1)
        .expect("df -i line")
        .split_whitespace()
        .collect();
    assert_eq!(
        root["usage"]["inodes_total"].as_u64(),
        fi[1].parse().ok(),
        "df -i: {dfi}"
    );
}

#[test]
fn every_filesystem_df_lists_is_reported_with_its_size() {
    let data = e2e::getinfo("disks", "");
    let df = stdout_of("df", &["-B1", "--output=size,target"]).expect("run df");
    let mut checked = 0;
    for line in df.lines().skip(1) {
        let line = line.trim_start();
        let Some((size, target)) = line.split_once(' ') else {
            continue;
        };
        let target = target.trim_start();
        let found = mounts(&data)
            .iter()
            .find(|m| m["mount_point"] == target)
            .unwrap_or_else(|| panic!("df lists {target} but the plugin does not: {data}"));
        assert_eq!(
            found["usage"]["total_bytes"].as_u64(),
            size.parse().ok(),
            "{target}"
        );
        checked += 1;
    }
    assert!(checked > 0, "df listed nothing: {df}");
    // Without -a, no pseudo filesystems.
    for m in mounts(&data) {
        let fs = m["fs_type"].as_str().unwrap();
        assert!(
            !["proc", "sysfs", "devpts", "cgroup", "cgroup2"].contains(&fs),
            "{m}"
        );
    }
}

#[test]
fn all_mounts_match_proc_self_mounts() {
    let data = e2e::getinfo("disks", "-a");
    let text = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let expected: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((unescape(f.get(1)?), f.get(2)?.to_string()))
        })
        .collect();
    let got: Vec<(String, String)> = mounts(&data)
        .iter()
        .map(|m| {
            let point = m["mount_point"].as_str().unwrap().to_string();
            (point, m["fs_type"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(got, expected);
    let proc = mounts(&data)
        .iter()
        .find(|m| m["fs_type"] == "proc")
        .expect("proc is mounted");
    assert!(
        proc["options"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "rw" || o == "ro"),
        "{proc}"
    );
}

#[test]
fn block_devices_match_sys_block_and_lsblk() {
    let data = e2e::getinfo("disks", "");
    let devices = data["block_devices"].as_array().expect("block_devices");
    let names: Vec<&str> = devices
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    let mut expected: Vec<String> = std::fs::read_dir("/sys/block")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    expected.sort();
    assert_eq!(names, expected);

    for d in devices {
        let name = d["name"].as_str().unwrap();
        let sectors: u64 = std::fs::read_to_string(format!("/sys/block/{name}/size"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(d["size_bytes"].as_u64(), Some(sectors * 512), "{name}");
    }

    // lsblk is another reader of the same facts: NAME SIZE RO RM (it hides empty devices).
    let Some(lsblk) = stdout_of("lsblk", &["-b", "-d", "-n", "-o", "NAME,SIZE,RO,RM"]) else {
        return;
    };
    for line in lsblk.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [name, size, ro, rm] = f[..] else {
            continue;
        };
        let d = devices
            .iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(d["size_bytes"].as_u64(), size.parse().ok(), "{name}");
        assert_eq!(d["read_only"], Value::Bool(ro == "1"), "{name}");
        assert_eq!(d["removable"], Value::Bool(rm == "1"), "{name}");
    }
}

#[test]
fn bad_arguments_are_invalid_params() {
    e2e::assert_invalid_params("disks", "-x");
    e2e::assert_invalid_params("disks", "-m /no/such/mount/point");
    e2e::assert_invalid_params("disks", "-m");
}
