//! Plugins managed from Polaris, gearman's own (issue 14): a third-party plugin (the rollout
//! fixture, built per release outside the workspace) installed into a running gearman over real
//! HTTP, upgraded without a restart, a broken release and a plugin-api 1.x library refused with
//! the working version kept, downloads that fail their checksum or signature leaving nothing
//! behind, stop/start/remove. The inventory and nodus's plugins: `plugin_inventory.rs`.

use std::path::Path;

use e2e::files::checksum;
use e2e::plugins::{Host, find, json_of, message, release};
use serde_json::{Value, json};

#[test]
fn install_upgrade_and_broken_releases_keep_a_working_version_without_restart() {
    let host = Host::start("");
    let pid = host.gearman.pid().unwrap();

    // Install 1.0.0 over gearctl: the running agent answers getinfo.rollout with it.
    let installed = host.ctl("plugin.install", &host.rollout("gearman", "1.0.0"));
    assert_eq!(installed["resp"], "success", "{installed}");
    assert_eq!(installed["data"]["version"], "1.0.0");
    assert_eq!(installed["data"]["previous"], Value::Null);
    assert_eq!(host.rollout_version(), "1.0.0");
    assert_eq!(host.plugin_files(), ["rollout.so"]);
    // gearctl loading the installed file itself agrees.
    let direct = json_of(&host.gearman.ctl(&[
        "-d",
        host.plugins.to_str().unwrap(),
        "-c",
        "getinfo.rollout",
    ]));
    assert_eq!(direct["data"]["version"], "1.0.0", "{direct}");

    // The same release again: nothing to do. Another version by `install`: refused, kept.
    let again = host.ctl("plugin.install", &host.rollout("gearman", "1.0.0"));
    assert_eq!(again["resp"], "success", "{again}");
    assert_eq!(again["data"]["changed"], false, "{again}");
    assert_eq!(again["data"]["note"], "already installed");
    let over = host.ctl("plugin.install", &host.rollout("gearman", "2.0.0"));
    assert_eq!(over["retcode"], 3023, "{over}");
    assert_eq!(
        message(&over),
        "kept 1.0.0: `rollout` 1.0.0 is installed; plugin.upgrade replaces it"
    );

    // Upgrade to 2.0.0: the new version answers, in the same process.
    let upgraded = host.ctl("plugin.upgrade", &host.rollout("gearman", "2.0.0"));
    assert_eq!(upgraded["resp"], "success", "{upgraded}");
    assert_eq!(upgraded["data"]["previous"], "1.0.0");
    assert_eq!(host.rollout_version(), "2.0.0");
    assert_eq!(host.gearman.pid(), Some(pid));
    assert_eq!(
        host.gearman.log().matches(" starting.").count(),
        1,
        "gearman was not restarted"
    );
    assert_eq!(host.plugin_files(), ["rollout.so"]);

    // A broken release (its init panics): refused, 2.0.0 keeps answering, nothing left over.
    let broken = host.ctl("plugin.upgrade", &host.rollout("gearman", "3.0.0"));
    assert_eq!(broken["resp"], "failed", "{broken}");
    assert_eq!(broken["retcode"], 3023, "{broken}");
    assert!(
        message(&broken).starts_with("kept 2.0.0: init panicked"),
        "{broken}"
    );
    assert!(message(&broken).contains("broken on purpose"), "{broken}");
    assert_eq!(host.rollout_version(), "2.0.0");
    assert_eq!(host.plugin_files(), ["rollout.so"]);
    assert_eq!(
        checksum(&host.plugins.join("rollout.so")),
        checksum(release("2.0.0")),
        "the installed file is still 2.0.0's"
    );

    // A release that says it is another version than the library reports: refused too.
    let mut liar = host.rollout("gearman", "2.0.0");
    liar["version"] = json!("2.1.0");
    let lied = host.ctl("plugin.upgrade", &liar);
    assert_eq!(
        message(&lied),
        "kept 2.0.0: the library's `rollout` reports version 2.0.0, not the release's 2.1.0"
    );

    // A plugin-api 1.x library: refused naming both versions, nothing installed.
    let legacy = e2e::build_fixture("legacy-plugin", "legacy_plugin", None);
    let url = host.files.publish(&legacy, "legacy-0.9.0.so");
    let refused = host.ctl(
        "plugin.install",
        &json!({"agent": "gearman", "name": "legacy", "version": "0.9.0", "url": url,
                "checksum": checksum(&legacy)}),
    );
    let current = e2e::plugin_api_version();
    assert_eq!(
        message(&refused),
        format!(
            "not installed: ABI version mismatch: expected plugin-api {current}, found 1.0.0; \
             rebuild the plugin against plugin-api {current}"
        ),
        "{refused}"
    );
    assert_eq!(host.plugin_files(), ["rollout.so"]);

    // The inventory says what runs: 2.0.0, running, its file's digest.
    let own = host.own_plugins();
    let rollout = find(&own, "rollout").unwrap_or_else(|| panic!("{own}"));
    assert_eq!(rollout["version"], "2.0.0");
    assert_eq!(rollout["abi"], current);
    assert_eq!(rollout["digest"], checksum(release("2.0.0")));
    assert_eq!(rollout["instances"][0]["state"], "running");
    assert!(find(&own, "legacy").is_none());
    assert_eq!(own["skipped"], json!([]), "{own}");

    // Stop and start: the state follows, getinfo answers 3025 while stopped.
    let target = json!({"agent": "gearman", "name": "rollout"});
    assert_eq!(host.ctl("plugin.stop", &target)["resp"], "success");
    assert_eq!(
        find(&host.own_plugins(), "rollout").unwrap()["instances"][0]["state"],
        "stopped"
    );
    assert_eq!(
        host.agent(json!({"method": "getinfo.rollout"}))["retcode"],
        3025
    );
    assert_eq!(host.ctl("plugin.start", &target)["resp"], "success");
    assert_eq!(host.rollout_version(), "2.0.0");

    // Remove: gone from the inventory and the folder; getinfo.rollout is no method any more.
    let removed = host.ctl("plugin.remove", &target);
    assert_eq!(removed["resp"], "success", "{removed}");
    assert!(find(&host.own_plugins(), "rollout").is_none());
    assert!(host.plugin_files().is_empty(), "{:?}", host.plugin_files());
    assert_eq!(
        host.agent(json!({"method": "getinfo.rollout"}))["retcode"],
        3022
    );
    let again = host.ctl("plugin.remove", &target);
    assert_eq!(again["retcode"], 3033, "{again}");
    // Upgrading what is not installed is refused without a download.
    let asked = host.files.asked().len();
    let nothing = host.ctl("plugin.upgrade", &host.rollout("gearman", "2.0.0"));
    assert_eq!(
        message(&nothing),
        "not installed: `rollout` is not installed; plugin.install puts a first version"
    );
    assert_eq!(host.files.asked().len(), asked, "nothing downloaded");
}

#[test]
fn with_a_release_key_only_signed_releases_with_the_right_checksum_install() {
    let keys = tempfile::tempdir().unwrap();
    let keygen = |dir: &str| {
        let out = std::process::Command::new(e2e::bin("mkpkg"))
            .args(["keygen", "-o"])
            .arg(keys.path().join(dir))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("bootagent.conf: release_key = "))
            .expect("the key line")
            .trim_matches('"')
            .to_string();
        (keys.path().join(dir).join("minisign.key"), line)
    };
    let (release_secret, release_public) = keygen("release");
    let (other_secret, _) = keygen("other");
    let host = Host::start(&format!("release_key = \"{release_public}\"\n"));
    let sign = |file: &Path, secret: &Path| {
        let out = std::process::Command::new(e2e::bin("mkpkg"))
            .arg("sign")
            .arg(file)
            .arg("--sign")
            .arg(secret)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    let params = host.rollout("gearman", "1.0.0");
    let served = host.files.dir.join("rollout-1.0.0.so");

    // Unsigned: refused before the download.
    let unsigned = host.ctl("plugin.install", &params);
    assert_eq!(unsigned["retcode"], 3023, "{unsigned}");
    assert!(
        message(&unsigned).starts_with("not installed: signature missing: "),
        "{unsigned}"
    );
    assert_eq!(host.files.asked(), ["/rollout-1.0.0.so.minisig"]);

    // Signed with another key.
    sign(&served, &other_secret);
    let forged = host.ctl("plugin.install", &params);
    assert!(
        message(&forged).starts_with("not installed: signature does not match release key"),
        "{forged}"
    );
    assert!(host.plugin_files().is_empty(), "{:?}", host.plugin_files());

    // Signed with the release key, but the checksum names other bytes.
    sign(&served, &release_secret);
    let mut wrong = params.clone();
    wrong["checksum"] = json!(checksum(release("2.0.0")));
    let mismatch = host.ctl("plugin.install", &wrong);
    assert!(
        message(&mismatch).starts_with("not installed: checksum mismatch"),
        "{mismatch}"
    );
    assert!(host.plugin_files().is_empty(), "{:?}", host.plugin_files());
    assert_eq!(
        host.agent(json!({"method": "getinfo.rollout"}))["retcode"],
        3022
    );

    // Signed and checked: installed.
    let good = host.ctl("plugin.install", &params);
    assert_eq!(good["resp"], "success", "{good}");
    assert_eq!(host.rollout_version(), "1.0.0");
}
