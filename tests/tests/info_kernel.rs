//! `getinfo.kernel` against the system's own view: `uname`, /proc/cmdline, /proc/modules and
//! /proc/sys.

use std::process::Command;

fn uname(flag: &str) -> String {
    let out = Command::new("uname").arg(flag).output().expect("run uname");
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

#[test]
fn matches_uname() {
    let data = e2e::getinfo("kernel", "");
    assert_eq!(data["sysname"], uname("-s"));
    assert_eq!(data["nodename"], uname("-n"));
    assert_eq!(data["release"], uname("-r"));
    assert_eq!(data["version"], uname("-v"));
    assert_eq!(data["machine"], uname("-m"));
    // `uname -a` is these fields joined (plus the OS name GNU adds at the end).
    let joined = ["sysname", "nodename", "release", "version", "machine"]
        .map(|k| data[k].as_str().unwrap().to_string())
        .join(" ");
    assert!(uname("-a").starts_with(&joined), "{joined}");
}

#[test]
fn cmdline_modules_and_sysctls_match_proc() {
    let data = e2e::getinfo("kernel", "");
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap();
    assert_eq!(data["cmdline"], cmdline.trim_end());

    match std::fs::read_to_string("/proc/modules") {
        Ok(text) => {
            let names: Vec<&str> = text.lines().filter_map(|l| l.split(' ').next()).collect();
            let got: Vec<&str> = data["modules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["name"].as_str().unwrap())
                .collect();
            assert_eq!(got, names);
        }
        Err(_) => {
            assert!(data["modules"].is_null());
            assert!(
                data["unavailable"][0]
                    .as_str()
                    .unwrap()
                    .starts_with("modules:"),
                "{data}"
            );
        }
    }
    let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max").unwrap();
    assert_eq!(data["sysctl"]["kernel.pid_max"], pid_max.trim());
}

#[test]
fn selected_sysctls_and_bad_arguments() {
    let data = e2e::getinfo("kernel", "-M -s vm.swappiness -s kernel.ostype");
    let sysctl = data["sysctl"].as_object().unwrap();
    assert_eq!(sysctl.len(), 2);
    let swappiness = std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap();
    assert_eq!(sysctl["vm.swappiness"], swappiness.trim());
    assert_eq!(sysctl["kernel.ostype"], "Linux");
    assert!(data.get("modules").is_none());

    for bad in ["-s no.such.sysctl", "-Z", "-s"] {
        e2e::assert_invalid_params("kernel", bad);
    }
}
