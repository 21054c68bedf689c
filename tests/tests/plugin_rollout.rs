//! Plugins managed from Polaris, end to end (issue 14, "what it must show"): a third-party
//! plugin (the rollout fixture, built outside the workspace) uploaded to Polaris's catalogue
//! and rolled out to three hosts, each a real gearman with its own real nodus; then a new
//! version; then a broken one (its `init` panics), which the first host refuses by itself
//! (keeping the working version) and which stops the rollout at its threshold while the other
//! hosts are never touched; then `remove`, which takes it off every host and out of the
//! inventory. Every step is read back from the API's inventory, from `nodusctl` and from
//! `gearctl -l` on the hosts (one truth), and nodus is never restarted.

use std::path::Path;
use std::time::{Duration, Instant};

use e2e::fleet::{Gearman, Polaris};
use e2e::nodus::Nodus;
use e2e::plugins::release;
use serde_json::{Value, json};

const HOSTS: [&str; 3] = ["fleet-a", "fleet-b", "fleet-c"];
/// Package server login (`{SHA}` line, as `htpasswd -s` writes it: user `boot`, password
/// `sha-secret`).
const HTPASSWD: &str = "boot:{SHA}KkPcK3XYeA35EhWhKYmaCyAgadY=\n";
const LIMIT: Duration = Duration::from_secs(60);

/// One host: its nodus (reading the plugins gearman installs) and its gearman.
struct Host {
    gearman: Gearman,
    nodus: Nodus,
}

/// Polaris with a package server, and the three hosts connected to it.
fn fleet(dir: &Path) -> (Polaris, Vec<Host>) {
    let packages = dir.join("packages");
    std::fs::create_dir_all(&packages).unwrap();
    std::fs::write(dir.join("htpasswd"), HTPASSWD).unwrap();
    let agents = format!("127.0.0.1:{}", e2e::server::free_port());
    let polaris = Polaris::start_with(
        &dir.join("polaris"),
        &agents,
        &format!(
            "[packages]\nroot = {:?}\nhtpasswd = {:?}\n",
            packages,
            dir.join("htpasswd")
        ),
    );
    let hosts = HOSTS
        .iter()
        .map(|name| {
            let nodus = Nodus::start_with(
                |work| {
                    format!(
                        "interval = 1\n\n[plugin.csv.options]\nDataDir = {:?}\n",
                        work.join("csv")
                    )
                },
                &["csv"],
                &[],
            );
            let gearman = Gearman::start(
                &dir.join(name),
                name,
                &polaris.agents,
                &polaris.ca,
                &format!(
                    "nodus_socket = {:?}\nnodus_plugin_dir = {:?}\n\
                     package_user = \"boot\"\npackage_password = \"sha-secret\"\n",
                    nodus.path("nodus.sock"),
                    nodus.path("plugins"),
                ),
            );
            Host { gearman, nodus }
        })
        .collect();
    polaris.wait_connected(&HOSTS, LIMIT);
    (polaris, hosts)
}

/// Uploads release `version` of the rollout fixture to the catalogue.
fn publish(polaris: &Polaris, version: &str) {
    let manifest = json!({"agent": "nodus", "name": "rollout", "version": version,
        "abi": e2e::plugin_api_version(), "roles": ["read", "info"]});
    let (status, answer) = polaris.upload_plugin(&manifest, release(version));
    assert_eq!(status, 201, "upload {version}: {answer}");
}

/// Starts a rollout and waits until it has ended; its final view.
fn rollout(polaris: &Polaris, body: Value) -> Value {
    let (status, created) = polaris.call("POST", "/api/v1/rollouts", Some(&body));
    assert_eq!(status, 201, "{body} -> {created}");
    let id = created["id"].as_str().unwrap().to_string();
    let begun = Instant::now();
    loop {
        let (_, view) = polaris.call("GET", &format!("/api/v1/rollouts/{id}"), None);
        if view["state"] != "running" {
            return view;
        }
        assert!(begun.elapsed() < LIMIT * 2, "rollout still running: {view}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Each rollout host's state, by host name.
fn host_states(view: &Value) -> Vec<(String, String)> {
    view["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["hostname"].as_str().unwrap().to_string(),
                h["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Waits until the API's inventory shows plugin `rollout` at `version` (or, with `None`, not
/// at all) on every host.
fn wait_inventory(polaris: &Polaris, version: Option<&str>) -> Value {
    let begun = Instant::now();
    loop {
        let (status, placed) = polaris.call("GET", "/api/v1/plugins/rollout/hosts", None);
        assert_eq!(status, 200, "{placed}");
        let rows = placed.as_array().unwrap();
        let done = match version {
            Some(v) => rows.len() == HOSTS.len() && rows.iter().all(|r| r["version"] == v),
            None => rows.is_empty(),
        };
        if done {
            return placed;
        }
        assert!(
            begun.elapsed() < LIMIT,
            "inventory never showed {version:?}: {placed}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// nodus's own line for plugin `rollout` on `host` (`None` when it has none).
fn nodus_view(host: &Host) -> Option<Value> {
    host.nodus.plugin("rollout")
}

/// `gearctl -l --json` on `host`: nodus's entry for the `rollout` plugin.
fn gearctl_view(host: &Host) -> Option<Value> {
    let out = host.gearman.ctl(&["-l", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
    listing["agents"]
        .as_array()?
        .iter()
        .find(|a| a["agent"] == "nodus")?["plugins"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == "rollout")
        .cloned()
}

#[test]
fn a_third_party_plugin_is_rolled_out_upgraded_kept_on_a_broken_release_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (polaris, hosts) = fleet(dir.path());
    let pids: Vec<u32> = hosts.iter().map(|h| h.nodus.pid()).collect();
    for version in ["1.0.0", "2.0.0", "3.0.0"] {
        publish(&polaris, version);
    }

    // 1.0.0 to the three hosts, two at a time: loaded everywhere, in the inventory.
    let done = rollout(
        &polaris,
        json!({"action": "install", "agent": "nodus", "plugin": "rollout", "version": "1.0.0",
               "hosts": HOSTS, "max_concurrency": 2, "max_errors": 0}),
    );
    assert_eq!(done["state"], "succeeded", "{done}");
    let placed = wait_inventory(&polaris, Some("1.0.0"));
    for row in placed.as_array().unwrap() {
        assert_eq!(row["state"], "running", "{row}");
        assert_eq!(
            row["file"].as_str().unwrap().rsplit('/').next(),
            Some("rollout.so")
        );
    }
    for host in &hosts {
        let line = nodus_view(host).expect("nodus runs the plugin");
        assert_eq!(
            (&line["version"], &line["state"]),
            (&json!("1.0.0"), &json!("running"))
        );
        // One truth: what gearctl shows on the host is what nodus and the API say.
        let listed = gearctl_view(host).expect("gearctl lists it");
        assert_eq!(listed["version"], "1.0.0", "{listed}");
        assert_eq!(listed["digest"], line["digest"], "{listed} vs {line}");
    }

    // 2.0.0: the new version everywhere, without restarting nodus.
    let done = rollout(
        &polaris,
        json!({"action": "upgrade", "agent": "nodus", "plugin": "rollout", "version": "2.0.0",
               "region": "unknown", "max_concurrency": 3, "max_errors": 0}),
    );
    assert_eq!(done["state"], "succeeded", "{done}");
    wait_inventory(&polaris, Some("2.0.0"));

    // 3.0.0 is broken: the first host refuses it and keeps 2.0.0, the rollout stops at its
    // threshold (no failure allowed), the two others are never asked.
    let done = rollout(
        &polaris,
        json!({"action": "upgrade", "agent": "nodus", "plugin": "rollout", "version": "3.0.0",
               "hosts": HOSTS, "max_concurrency": 1, "max_errors": 0}),
    );
    assert_eq!(done["state"], "stopped", "{done}");
    let states = host_states(&done);
    assert_eq!(
        states,
        vec![
            ("fleet-a".to_string(), "failed".to_string()),
            ("fleet-b".to_string(), "cancelled".to_string()),
            ("fleet-c".to_string(), "cancelled".to_string()),
        ],
        "{done}"
    );
    let why = done["hosts"][0]["message"].as_str().unwrap();
    assert!(
        why.contains("kept 2.0.0") && why.contains("panicked"),
        "the API says why: {why}"
    );
    let placed = wait_inventory(&polaris, Some("2.0.0"));
    assert!(
        placed
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "running"),
        "{placed}"
    );
    for host in &hosts {
        assert_eq!(nodus_view(host).unwrap()["version"], "2.0.0");
    }
    let pids_now: Vec<u32> = hosts.iter().map(|h| h.nodus.pid()).collect();
    assert_eq!(pids_now, pids, "no nodus was restarted");

    // remove: gone from every host, its file deleted, and out of the inventory.
    let done = rollout(
        &polaris,
        json!({"action": "remove", "agent": "nodus", "plugin": "rollout",
               "hosts": HOSTS, "max_concurrency": 3, "max_errors": 0}),
    );
    assert_eq!(done["state"], "succeeded", "{done}");
    wait_inventory(&polaris, None);
    for host in &hosts {
        assert!(nodus_view(host).is_none(), "{:?}", host.nodus.list());
        assert!(!host.nodus.path("plugins/rollout.so").exists());
        assert!(gearctl_view(host).is_none());
    }
}

#[test]
fn a_nodusctl_stop_shows_in_the_servers_inventory_within_a_heartbeat() {
    let dir = tempfile::tempdir().unwrap();
    let (polaris, hosts) = fleet(dir.path());
    let host = &hosts[1];
    let csv = |polaris: &Polaris| -> Value {
        let (_, view) = polaris.call("GET", "/api/v1/hosts/fleet-b/plugins", None);
        view["agents"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["agent"] == "nodus")
            .and_then(|a| a["plugins"].as_array())
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "csv")
            .cloned()
            .unwrap_or(Value::Null)
    };
    let begun = Instant::now();
    while csv(&polaris)["instances"][0]["state"] != "running" {
        assert!(begun.elapsed() < LIMIT, "{}", csv(&polaris));
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = host.nodus.ctl(&["plugin", "stop", "csv"]);
    assert!(out.status.success(), "{out:?}");
    // gearman asks nodus once per heartbeat (2 s here) and sends what changed.
    let stopped = Instant::now();
    while csv(&polaris)["instances"][0]["state"] != "stopped" {
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "{}",
            csv(&polaris)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "nodusctl stop seen by Polaris after {:.1} s (heartbeat 2 s)",
        stopped.elapsed().as_secs_f64()
    );
}
