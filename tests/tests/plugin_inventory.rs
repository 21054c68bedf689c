//! The host's plugin inventory and nodus's plugins managed through gearman (issue 14): the
//! inventory sent to a real Polaris and following a `nodusctl plugin stop` by the next
//! heartbeat, the same in `plugin.list`, `gearctl -l` and `nodusctl`; `plugin.*` through
//! Polaris's own command API; nodus's plugins stopped, started and removed over its control
//! socket; and (with nodus's `PluginInstall`, branch i14-nodus) installed, upgraded and kept.

use std::time::{Duration, Instant};

use e2e::files::checksum;
use e2e::fleet::{Gearman, Polaris};
use e2e::nodus::Nodus;
use e2e::plugins::{Host, find, json_of, message, release};
use serde_json::json;

/// A nodus with the load and cpu plugins, for a gearman to manage.
fn nodus() -> Nodus {
    Nodus::start_with(
        |_| "hostname = \"plugin-host\"\ninterval = 1\n[plugin.load]\n[plugin.cpu]\n".into(),
        &["load", "cpu"],
        &[],
    )
}

fn nodus_config(nodus: &Nodus) -> String {
    format!(
        "nodus_socket = {:?}\nnodus_plugin_dir = {:?}\n",
        nodus.path("nodus.sock"),
        nodus.path("plugins")
    )
}

/// The last inventory gearman logged as sent to Polaris (`GEARMAN_LOG=debug`).
fn last_sent(gearman: &Gearman) -> Option<String> {
    gearman
        .log()
        .lines()
        .rev()
        .find(|l| l.contains("Plugin inventory sent."))
        .map(str::to_string)
}

#[test]
fn the_inventory_reaches_polaris_and_shows_a_nodusctl_stop_by_the_next_heartbeat() {
    let nodus = nodus();
    let host = Host::start(&nodus_config(&nodus));
    let installed = host.ctl("plugin.install", &host.rollout("gearman", "1.0.0"));
    assert_eq!(installed["resp"], "success", "{installed}");

    // Sent to the real Polaris (which parses every frame: an unreadable one is logged).
    let deadline = Instant::now() + Duration::from_secs(30);
    let sent = loop {
        if let Some(line) = last_sent(&host.gearman).filter(|l| l.contains("rollout 1.0.0")) {
            break line;
        }
        assert!(Instant::now() < deadline, "{}", host.gearman.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        sent.contains("gearman: [rollout 1.0.0 (running)]"),
        "{sent}"
    );
    assert!(sent.contains("cpu "), "{sent}");
    assert!(sent.contains("(running)"), "{sent}");
    assert!(
        !host.polaris.log().contains("Unreadable agent frame"),
        "{}",
        host.polaris.log()
    );

    // Polaris's own command path reaches the plugin family: an upgrade, then a broken release
    // whose per-host answer says what was kept and why.
    host.polaris
        .wait_connected(&["plugin-host"], Duration::from_secs(30));
    let mut upgrade = host.rollout("gearman", "2.0.0");
    upgrade["hosts"] = json!(["plugin-host"]);
    upgrade["method"] = json!("plugin.upgrade");
    let answer = host.polaris.command(upgrade);
    let entry = &Polaris::by_host(&answer)["plugin-host"];
    assert_eq!(entry["resp"], "success", "{answer}");
    assert_eq!(entry["data"]["previous"], "1.0.0", "{answer}");
    let mut broken = host.rollout("gearman", "3.0.0");
    broken["hosts"] = json!(["plugin-host"]);
    broken["method"] = json!("plugin.upgrade");
    let answer = host.polaris.command(broken);
    let entry = &Polaris::by_host(&answer)["plugin-host"];
    assert_eq!(entry["retcode"], 3023, "{answer}");
    assert!(
        message(entry).starts_with("kept 2.0.0: init panicked"),
        "{answer}"
    );
    assert_eq!(host.rollout_version(), "2.0.0");

    // A stop through nodusctl, not through gearman: the next heartbeat's inventory has it.
    assert!(nodus.ctl(&["plugin", "stop", "cpu"]).status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = last_sent(&host.gearman).unwrap_or_default();
        if line.contains("(stopped)") {
            assert!(line.contains("load "), "{line}");
            break;
        }
        assert!(Instant::now() < deadline, "{}", host.gearman.log());
        std::thread::sleep(Duration::from_millis(100));
    }

    // One truth: gearctl -l (the agent's inventory) and nodusctl say the same.
    let listed = json_of(&host.gearman.ctl(&["-l", "--json"]));
    let nodus_entry = &listed["agents"][1];
    assert_eq!(nodus_entry["agent"], "nodus", "{listed}");
    for status in nodus.list() {
        let name = status["name"].as_str().unwrap();
        let plugin = find(nodus_entry, name).unwrap_or_else(|| panic!("{name}: {listed}"));
        assert_eq!(plugin["version"], status["version"], "{name}");
        assert_eq!(plugin["instances"][0]["state"], status["state"], "{name}");
        assert_eq!(plugin["file"], status["file"], "{name}");
    }
    let rollout = find(&listed["agents"][0], "rollout").unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(rollout["version"], "2.0.0");
    let table = String::from_utf8_lossy(&host.gearman.ctl(&["-l"]).stdout).into_owned();
    assert!(table.contains("the running gearman at"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("nodus") && l.contains("cpu") && l.contains("stopped")),
        "{table}"
    );
}

#[test]
fn nodus_plugins_are_stopped_started_and_removed_through_gearman() {
    let nodus = nodus();
    let host = Host::start(&nodus_config(&nodus));
    let cpu = json!({"agent": "nodus", "name": "cpu"});
    let stopped = host.ctl("plugin.stop", &cpu);
    assert_eq!(stopped["resp"], "success", "{stopped}");
    assert_eq!(nodus.plugin("cpu").unwrap()["state"], "stopped");
    let started = host.ctl("plugin.start", &cpu);
    assert_eq!(started["resp"], "success", "{started}");
    assert_eq!(nodus.plugin("cpu").unwrap()["state"], "running");

    let unknown = host.ctl("plugin.stop", &json!({"agent": "nodus", "name": "nope"}));
    assert_eq!(unknown["retcode"], 3033, "{unknown}");
    let instance = host.ctl(
        "plugin.stop",
        &json!({"agent": "nodus", "name": "cpu", "instance": "nope"}),
    );
    assert_eq!(
        message(&instance),
        "Not found: nodus runs no plugin `cpu/nope`"
    );

    let removed = host.ctl("plugin.remove", &json!({"agent": "nodus", "name": "load"}));
    assert_eq!(removed["resp"], "success", "{removed}");
    assert!(nodus.plugin("load").is_none(), "{:?}", nodus.list());
    assert!(
        !nodus.path("plugins/load.so").exists(),
        "the file is deleted from nodus's folder"
    );
    let list = host.agent(json!({"method": "plugin.list"}));
    assert!(find(&list["data"]["agents"][1], "load").is_none(), "{list}");
    assert!(find(&list["data"]["agents"][1], "cpu").is_some(), "{list}");

    // Without a nodus, the inventory says why, and commands for it fail naming the socket.
    let away = Host::start("nodus_socket = \"/nonexistent/nodus.sock\"\n");
    let list = away.agent(json!({"method": "plugin.list"}));
    let error = list["data"]["agents"][1]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.starts_with("no nodus at /nonexistent/nodus.sock"),
        "{list}"
    );
    let failed = away.ctl("plugin.install", &away.rollout("nodus", "1.0.0"));
    assert!(
        message(&failed).starts_with("nothing changed: no nodus at /nonexistent/nodus.sock"),
        "{failed}"
    );
}

/// The nodus side of install, upgrade, rollback, configure and remove, through gearman: nodus
/// loads the staged release (its `PluginInstall`, branch i14-nodus, merged here), gearman
/// renames it into place after nodus's `ok`, or deletes it and keeps the running version.
#[test]
fn rollout_plugin_installed_upgraded_and_rolled_back_via_nodus() {
    let nodus = nodus();
    let host = Host::start(&nodus_config(&nodus));
    let staged_left = || -> Vec<String> {
        std::fs::read_dir(nodus.path("plugins"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.') || n.starts_with("rollout"))
            .collect()
    };
    let installed = host.ctl("plugin.install", &host.rollout("nodus", "1.0.0"));
    assert_eq!(installed["resp"], "success", "{installed}");
    let version = || nodus.plugin("rollout").map(|p| p["version"].clone());
    assert_eq!(version(), Some(json!("1.0.0")));
    assert_eq!(staged_left(), ["rollout.so"]);

    let upgraded = host.ctl("plugin.upgrade", &host.rollout("nodus", "2.0.0"));
    assert_eq!(upgraded["resp"], "success", "{upgraded}");
    assert_eq!(version(), Some(json!("2.0.0")));

    let broken = host.ctl("plugin.upgrade", &host.rollout("nodus", "3.0.0"));
    assert_eq!(broken["retcode"], 3023, "{broken}");
    assert!(
        message(&broken).starts_with("kept 2.0.0: ") && message(&broken).contains("panic"),
        "{broken}"
    );
    assert_eq!(version(), Some(json!("2.0.0")));
    assert_eq!(staged_left(), ["rollout.so"]);

    // A release claiming another version than its library reports: nodus refuses it.
    let mut liar = host.rollout("nodus", "1.0.0");
    liar["version"] = json!("9.9.9");
    let lied = host.ctl("plugin.upgrade", &liar);
    assert!(message(&lied).starts_with("kept 2.0.0: "), "{lied}");
    assert_eq!(version(), Some(json!("2.0.0")));

    // New options for the running instance, tried by nodus and swapped in.
    let configured = host.ctl(
        "plugin.configure",
        &json!({"agent": "nodus", "name": "rollout", "options": {"Label": "canary"}}),
    );
    assert_eq!(configured["resp"], "success", "{configured}");
    let bad = host.ctl(
        "plugin.configure",
        &json!({"agent": "nodus", "name": "rollout", "options": {"Colour": "red"}}),
    );
    assert_eq!(bad["retcode"], 3023, "{bad}");
    assert!(message(&bad).contains("Colour"), "{bad}");

    let list = host.agent(json!({"method": "plugin.list"}));
    let rollout = find(&list["data"]["agents"][1], "rollout").unwrap_or_else(|| panic!("{list}"));
    assert_eq!(rollout["version"], "2.0.0");
    assert_eq!(rollout["digest"], checksum(release("2.0.0")));
    assert_eq!(rollout["abi"], e2e::plugin_api_version());
    assert_eq!(
        rollout["instances"][0]["options"]["Label"], "canary",
        "{rollout}"
    );
    assert_eq!(rollout["schema"][0]["name"], "Label", "{rollout}");

    let removed = host.ctl(
        "plugin.remove",
        &json!({"agent": "nodus", "name": "rollout"}),
    );
    assert_eq!(removed["resp"], "success", "{removed}");
    assert!(version().is_none());
    assert!(staged_left().is_empty(), "{:?}", staged_left());
}
