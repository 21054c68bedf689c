//! Daemon management end to end (seed "3. Daemon management"): a real gearman, its daemons
//! defined and driven through `gearctl -c daemon.*` over the local socket, run from a packaged
//! tarball. The supervisord scenario: a sleeper runs, a crasher ends `fatal` after its retries,
//! a program ignoring SIGTERM is dead within stop_timeout + 0.5 s, a memory hog ends `killed`;
//! then gearman is killed with SIGKILL while three daemons run and, restarted, adopts the same
//! three pids without starting any of them again.
//!
//! gearman's server is an unreachable address: it keeps retrying in the background while the
//! local socket answers.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::fleet::{Gearman, Polaris};
use serde_json::{Value, json};

const SCRIPTS: &[(&str, &str)] = &[
    (
        "sleeper.sh",
        "echo sleeper >> ../../starts\nexec sleep 100000\n",
    ),
    ("crasher.sh", "echo crashing >&2\nexit 3\n"),
    (
        "stubborn.sh",
        "echo stubborn >> ../../starts\ntrap '' TERM\nexec sleep 100000\n",
    ),
    (
        "other.sh",
        "echo other >> ../../starts\nexec sleep 100000\n",
    ),
    (
        "hog.sh",
        "exec /usr/bin/python3 -c \"import time\na=[]\nwhile True:\n    a.append(b'x' * 10**7)\n    time.sleep(0.05)\"\n",
    ),
];

/// A tarball of the scripts above; returns its url.
fn package(work: &Path) -> String {
    let src = work.join("pkg");
    std::fs::create_dir_all(&src).unwrap();
    for (name, body) in SCRIPTS {
        let path = src.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tarball = work.join("scenario-1.0.tar.gz");
    let status = Command::new("tar")
        .arg("czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&src)
        .args(SCRIPTS.iter().map(|(n, _)| *n))
        .status()
        .unwrap();
    assert!(status.success());
    format!("file://{}", tarball.display())
}

fn ctl(agent: &Gearman, method: &str, args: &str) -> Value {
    let out = agent.ctl(&["-c", method, "-a", args]);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{method} {args}: {e}: {out:?}\nlog:\n{}", agent.log()))
}

fn ok(answer: Value) -> Value {
    assert_eq!(answer["resp"], "success", "{answer}");
    answer["data"].clone()
}

fn init(agent: &Gearman, url: &str, name: &str, script: &str, more: Value) {
    let mut def = json!({
        "name": name, "version": "1.0", "url": url, "start": format!("./{script}"),
        "stop": "kill:TERM", "start_delay": 1, "stop_timeout": 5, "check": "process",
        "check_interval": 1,
    });
    if let (Some(base), Value::Object(more)) = (def.as_object_mut(), more) {
        base.extend(more);
    }
    ok(ctl(agent, "daemon.init", &def.to_string()));
}

fn status(agent: &Gearman, name: &str) -> Value {
    ok(ctl(agent, "daemon.status", name))
}

/// Polls `daemon.status` until `done`; returns the last view and the `state`s seen in order.
fn wait_status(
    agent: &Gearman,
    name: &str,
    secs: u64,
    done: impl Fn(&Value) -> bool,
) -> (Value, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen: Vec<String> = vec![];
    loop {
        let view = status(agent, name);
        let state = view["state"].as_str().unwrap_or("").to_string();
        if seen.last() != Some(&state) {
            seen.push(state);
        }
        if done(&view) {
            return (view, seen);
        }
        assert!(
            Instant::now() < deadline,
            "{name}: states {seen:?}, now {view}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

fn wait_socket(agent: &Gearman) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = agent.ctl(&["-c", "daemon.list"]);
        if out.status.success() && out.stdout.starts_with(b"{\"resp\":\"success\"") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "gearman's socket did not answer: {out:?}\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn supervisord_scenario_then_adoption_after_kill_9() {
    let work = tempfile::tempdir().unwrap();
    let polaris = Polaris::start(&work.path().join("polaris"));
    let mut agent = Gearman::start(
        &work.path().join("g"),
        "daemon-host",
        &polaris.agents,
        &polaris.ca,
        "",
    );
    wait_socket(&agent);
    polaris.wait_connected(&["daemon-host"], Duration::from_secs(30));
    let url = package(work.path());
    let starts = work.path().join("g/state/daemons/starts");

    // sleeper -> running.
    init(&agent, &url, "sleeper", "sleeper.sh", json!({}));
    let view = ok(ctl(&agent, "daemon.start", "sleeper"));
    assert_eq!(
        (view["state"].as_str(), view["status"].as_str()),
        (Some("running"), Some("running"))
    );
    let sleeper = view["pid"].as_u64().unwrap();
    assert!(alive(sleeper));

    // crasher -> backoff ... -> fatal after its retries (3: four starts in a row).
    init(&agent, &url, "crasher", "crasher.sh", json!({}));
    let first = ok(ctl(&agent, "daemon.start", "crasher"));
    assert_eq!(first["state"], "backoff", "{first}");
    let (fatal, seen) = wait_status(&agent, "crasher", 40, |v| v["status"] == "fatal");
    assert_eq!(fatal["retries"], 3, "{fatal}");
    assert!(seen.contains(&"backoff".to_string()), "{seen:?}");
    assert!(
        fatal["last_error"]
            .as_str()
            .unwrap()
            .contains("exit status: 3"),
        "{fatal}"
    );
    let log =
        std::fs::read_to_string(work.path().join("g/state/daemons/crasher/daemon.log")).unwrap();
    assert_eq!(log.matches("crashing").count(), 4, "{log}");

    // stubborn ignores SIGTERM: dead within stop_timeout + 0.5 s.
    init(
        &agent,
        &url,
        "stubborn",
        "stubborn.sh",
        json!({ "stop_timeout": 2 }),
    );
    let stub = ok(ctl(&agent, "daemon.start", "stubborn"))["pid"]
        .as_u64()
        .unwrap();
    let t0 = Instant::now();
    let stopped = ok(ctl(&agent, "daemon.stop", "stubborn"));
    let took = t0.elapsed();
    assert_eq!(stopped["status"], "stoped");
    assert!(!alive(stub));
    assert!(took < Duration::from_millis(2500), "stop took {took:?}");

    // A daemon past its memory limit ends killed.
    init(
        &agent,
        &url,
        "hog",
        "hog.sh",
        json!({ "limits": { "hits": 2, "memory": "50M" } }),
    );
    ok(ctl(&agent, "daemon.start", "hog"));
    let (killed, _) = wait_status(&agent, "hog", 30, |v| v["status"] == "killed");
    assert!(
        killed["last_error"].as_str().unwrap().contains("limit"),
        "{killed}"
    );
    // The server shows it: daemon.status through the commands API.
    let answer = polaris.command(json!({
        "hosts": ["daemon-host"], "method": "daemon.status", "args": "hog"
    }));
    let entry = &Polaris::by_host(&answer)["daemon-host"];
    assert_eq!(entry["data"]["status"], "killed", "{answer}");
    ok(ctl(&agent, "daemon.remove", "hog"));

    // Three running daemons, gearman killed with SIGKILL, restarted: same pids, adopted.
    ok(ctl(&agent, "daemon.stop", "crasher"));
    // daemon.init in the seed's own shape (parameters at the top level) through the server.
    let answer = polaris.command(json!({
        "hosts": ["daemon-host"], "method": "daemon.init", "name": "other", "version": "1.0",
        "url": url, "start": "./other.sh", "stop": "kill:TERM", "start_delay": 1,
        "stop_timeout": 5, "check": "process", "check_interval": 1,
    }));
    let entry = &Polaris::by_host(&answer)["daemon-host"];
    assert_eq!(entry["resp"], "success", "{answer}");
    assert_eq!(status(&agent, "other")["version"], "1.0", "{answer}");
    ok(ctl(&agent, "daemon.start", "stubborn"));
    ok(ctl(&agent, "daemon.start", "other"));
    let running = |agent: &Gearman| -> Vec<(String, u64)> {
        let list = ok(ctl(agent, "daemon.list", ""));
        let mut out: Vec<(String, u64)> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["state"] == "running")
            .map(|d| {
                (
                    d["name"].as_str().unwrap().to_string(),
                    d["pid"].as_u64().unwrap(),
                )
            })
            .collect();
        out.sort();
        out
    };
    let before = running(&agent);
    assert_eq!(before.len(), 3, "{before:?}");
    let starts_before = std::fs::read_to_string(&starts).unwrap();
    assert_eq!(
        starts_before.lines().count(),
        4,
        "sleeper, stubborn twice, other: {starts_before}"
    );

    agent.kill9();
    for (_, pid) in &before {
        assert!(alive(*pid), "daemons outlive gearman");
    }
    agent.restart();
    wait_socket(&agent);
    let after = running(&agent);
    assert_eq!(after, before);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        std::fs::read_to_string(&starts).unwrap(),
        starts_before,
        "none started twice"
    );
    assert!(
        agent.log().contains("Adopted a running program"),
        "{}",
        agent.log()
    );

    for name in ["sleeper", "stubborn", "other", "crasher"] {
        ok(ctl(&agent, "daemon.remove", name));
    }
    for (_, pid) in &before {
        assert!(!alive(*pid));
    }
}
