//! Plugins managed over nodus's control socket, the way gearman manages them for Polaris
//! (issue 14), on a real nodus with real `.so` releases of a third-party plugin:
//! - `plugin_install` of a first release, then an upgrade in the same process with no read
//!   missed, a broken release (its `init` panics) and a plugin-api 1.x library refused with
//!   the reason while the running version goes on, `nodusctl plugin install --as`, `stop`;
//! - `instance_configure`: new options in force at once (a writer's queue handed over, not a
//!   value lost), secrets masked in every listing, kept across a restart, checked by `-t`;
//! - `plugin_list`: `failing` and `penalised` readers, and every skipped plugin and file.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use e2e::nodus::Nodus;
use e2e::receiver::Receiver;
use serde_json::{Value, json};

/// The rollout fixture's releases: 1.0.0, 2.0.0 and the broken 3.0.0, built once.
fn releases() -> &'static [PathBuf; 3] {
    static SO: OnceLock<[PathBuf; 3]> = OnceLock::new();
    SO.get_or_init(|| {
        [
            e2e::build_rollout_release("1.0.0", None),
            e2e::build_rollout_release("2.0.0", None),
            e2e::build_rollout_release("3.0.0", Some("init-panic")),
        ]
    })
}

fn ticker() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| e2e::build_fixture("ticker-plugin", "ticker", None))
}

/// Copies `from` into the plugin directory as `name` (mode 0644, as gearman stages a
/// download) and returns its path.
fn stage(nodus: &Nodus, from: &Path, name: &str) -> PathBuf {
    let staged = nodus.path("plugins").join(name);
    std::fs::copy(from, &staged).unwrap();
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o644)).unwrap();
    staged
}

/// `plugin_install` on the socket, as gearman sends it.
fn install(nodus: &Nodus, staged: &Path, installed_as: &str, version: &str) -> Value {
    nodus.request(&json!({"command": "plugin_install", "path": staged,
        "installed_as": installed_as, "version": version}))
}

/// `SHA256:<hex>` of a file, by the system's sha256sum.
fn sha256(path: &Path) -> String {
    let hex = e2e::run("sha256sum", &[path.to_str().unwrap()]);
    format!("SHA256:{}", hex.split_whitespace().next().unwrap())
}

/// `(time, value)` of every `rollout/gauge-<label>` line the csv writer wrote, by time.
fn rollout_values(nodus: &Nodus, label: &str) -> Vec<(f64, f64)> {
    let dir = nodus.path("csv/testhost/rollout");
    let mut values: Vec<(f64, f64)> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.starts_with(&format!("gauge-{label}-"))
                })
                .flat_map(|e| {
                    let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                    text.lines()
                        .filter_map(|l| {
                            let (t, v) = l.split_once(',')?;
                            Some((t.parse().ok()?, v.parse().ok()?))
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        })
        .unwrap_or_default();
    values.sort_by(|a, b| a.0.total_cmp(&b.0));
    values
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn wait_until(limit: Duration, what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn error_of(answer: &Value) -> String {
    assert_eq!(answer["ok"], false, "{answer}");
    answer["error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn install_upgrade_and_refuse_broken_releases_in_one_running_nodus() {
    let [v1, v2, v3] = releases();
    let nodus = Nodus::start_with(
        |work| {
            format!(
                "hostname = \"testhost\"\ninterval = 1\n[plugin.csv.options]\nDataDir = {:?}\n",
                work.join("csv")
            )
        },
        &["csv"],
        &[],
    );
    let pid = nodus.pid();
    let installed = nodus.path("plugins/rollout.so");

    // A first release: loaded from its staged name, recorded as rollout.so, reading.
    let staged = stage(&nodus, v1, ".rollout-1.0.0.so.new");
    let answer = install(&nodus, &staged, "rollout.so", "1.0.0");
    assert_eq!(answer["ok"], true, "{answer}");
    let status = &answer["plugins"][0];
    assert_eq!(status["name"], "rollout", "{answer}");
    assert_eq!(status["version"], "1.0.0");
    assert_eq!(status["abi"], e2e::plugin_api_version());
    assert_eq!(status["digest"], sha256(v1));
    assert!(
        status["file"]
            .as_str()
            .unwrap()
            .ends_with("/plugins/rollout.so")
    );
    std::fs::rename(&staged, &installed).unwrap();
    wait_until(Duration::from_secs(20), "values 1 in the csv files", || {
        rollout_values(&nodus, "main").len() >= 2
    });
    assert!(
        rollout_values(&nodus, "main")
            .iter()
            .all(|(_, v)| *v == 1.0)
    );

    // The upgrade, with nodusctl as an operator would: same process, values now 2.
    let staged = stage(&nodus, v2, ".rollout-2.0.0.so.new");
    let out = nodus.ctl(&[
        "plugin",
        "install",
        staged.to_str().unwrap(),
        "--as",
        "rollout.so",
    ]);
    let answered = now();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "rollout: running"
    );
    assert!(
        !staged.exists() && installed.exists(),
        "nodusctl renamed the staged file"
    );
    wait_until(
        Duration::from_secs(20),
        "three values 2 after the upgrade",
        || {
            rollout_values(&nodus, "main")
                .iter()
                .filter(|(t, v)| *t > answered && *v == 2.0)
                .count()
                >= 3
        },
    );
    assert_eq!(nodus.pid(), pid, "upgraded without a restart");
    let values = rollout_values(&nodus, "main");
    let after: Vec<f64> = values
        .iter()
        .filter(|(t, _)| *t > answered)
        .map(|(_, v)| *v)
        .collect();
    assert!(after.iter().all(|v| *v == 2.0), "{values:?}");
    // Reads went on at their pace across the switch: no read was missed.
    let first_two = values.iter().position(|(_, v)| *v == 2.0).unwrap();
    assert!(first_two > 0, "values 1 came first: {values:?}");
    let around = &values[first_two - 1..(first_two + 3).min(values.len())];
    for pair in around.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap < 1.9,
            "a read was missed around the upgrade: {around:?}"
        );
    }
    let status = nodus.plugin("rollout").unwrap();
    assert_eq!(status["version"], "2.0.0");
    assert_eq!(status["digest"], sha256(v2));
    assert_eq!(
        status["file"],
        installed.canonicalize().unwrap().to_str().unwrap()
    );

    // A broken release is refused with the reason; 2.0.0 reads on.
    let staged = stage(&nodus, v3, ".rollout-3.0.0.so.new");
    let error = error_of(&install(&nodus, &staged, "rollout.so", "3.0.0"));
    assert_eq!(
        error,
        "init panicked: rollout fixture 3.0.0 is broken on purpose: init panics (instance `rollout`)"
    );
    std::fs::remove_file(&staged).unwrap();
    let refused = now();
    wait_until(Duration::from_secs(20), "2.0.0 to read on", || {
        rollout_values(&nodus, "main")
            .iter()
            .any(|(t, v)| *t > refused && *v == 2.0)
    });
    let status = nodus.plugin("rollout").unwrap();
    assert_eq!(
        (&status["version"], &status["state"]),
        (&json!("2.0.0"), &json!("running"))
    );

    // A library built against plugin-api 1.x, and a release reporting another version.
    let legacy = e2e::build_fixture("legacy-plugin", "legacy_plugin", None);
    let staged = stage(&nodus, &legacy, ".legacy-0.9.0.so.new");
    let error = error_of(&install(&nodus, &staged, "legacy.so", "0.9.0"));
    let current = e2e::plugin_api_version();
    assert!(
        error.contains(&format!("expected plugin-api {current}, found 1.0.0")),
        "{error}"
    );
    std::fs::remove_file(&staged).unwrap();
    let staged = stage(&nodus, v2, ".rollout-9.9.9.so.new");
    let error = error_of(&install(&nodus, &staged, "rollout.so", "9.9.9"));
    assert!(
        error.contains("version mismatch: plugin `rollout` reports version 2.0.0"),
        "{error}"
    );
    std::fs::remove_file(&staged).unwrap();
    let error = error_of(&install(&nodus, Path::new("/tmp/x.so"), "x.so", "1"));
    assert!(error.contains("only from its plugin directory"), "{error}");
    assert_eq!(nodus.plugin("rollout").unwrap()["version"], "2.0.0");

    // The table shows version, ABI and digest; stop shows `stopped`.
    let table = String::from_utf8_lossy(&nodus.ctl(&["plugin", "list"]).stdout).into_owned();
    let short = sha256(v2)["SHA256:".len()..]
        .chars()
        .take(12)
        .collect::<String>();
    let row = table
        .lines()
        .find(|l| l.starts_with("rollout"))
        .unwrap()
        .to_string();
    assert!(row.contains("2.0.0") && row.contains(&current), "{table}");
    assert!(row.contains(&short), "{table} lacks {short}");
    assert!(nodus.ctl(&["plugin", "stop", "rollout"]).status.success());
    assert_eq!(nodus.plugin("rollout").unwrap()["state"], "stopped");
    let table = String::from_utf8_lossy(&nodus.ctl(&["plugin", "list"]).stdout).into_owned();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("rollout") && l.contains(" stopped ")),
        "{table}"
    );
    assert_eq!(nodus.pid(), pid);
    assert!(nodus.stop());
}

/// `instance_configure` on the socket, as gearman sends it.
fn configure(nodus: &Nodus, plugin: &str, options: Value) -> Value {
    nodus.request(&json!({"command": "instance_configure", "plugin": plugin, "options": options}))
}

fn num(status: &Value, key: &str) -> u64 {
    status[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key}: {status}"))
}

#[test]
fn configured_options_take_effect_hand_the_queue_over_and_survive_a_restart() {
    let [v1, _, _] = releases();
    let down = Receiver::start();
    let up = Receiver::start();
    up.failing.store(false, Ordering::SeqCst);
    let down_url = down.url.clone();
    let mut nodus = Nodus::start_with(
        |work| {
            format!(
                "hostname = \"testhost\"\ninterval = 0.2\nwrite_retry_max = 0.3\n\
                 [plugin.csv.options]\nDataDir = {:?}\n[plugin.ticker]\n\
                 [plugin.http.options]\nURL = {down_url:?}\n",
                work.join("csv")
            )
        },
        &["csv", "http"],
        &[(ticker(), "ticker.so")],
    );
    let staged = stage(&nodus, v1, ".rollout-1.0.0.so.new");
    assert_eq!(install(&nodus, &staged, "rollout.so", "1.0.0")["ok"], true);
    std::fs::rename(&staged, nodus.path("plugins/rollout.so")).unwrap();

    // The writer's destination refuses everything: it is failing and its queue grows.
    let http = nodus.wait_for("http", Duration::from_secs(20), |s| {
        s["state"] == "failing" && s["queue"]["len"].as_u64().unwrap_or(0) >= 5
    });
    assert!(
        http["last_error"].as_str().unwrap_or("").contains("503"),
        "{http}"
    );

    // New options for it: in force at once, the password never shown.
    let answer = configure(
        &nodus,
        "http",
        json!({"URL": up.url, "User": "nodus", "Password": "hunter2-secret", "Timeout": 2}),
    );
    assert_eq!(answer["ok"], true, "{answer}");
    let shown = json!({"URL": up.url, "User": "nodus", "Password": "***", "Timeout": "2"});
    assert_eq!(answer["plugins"][0]["configured"], shown, "{answer}");
    assert_eq!(nodus.plugin("http").unwrap()["configured"], shown);
    let listing = nodus.ctl(&["--json", "plugin", "list"]);
    assert!(!String::from_utf8_lossy(&listing.stdout).contains("hunter2"));

    // Not a value lost: the old instance's queue went to the new one, which delivers it.
    wait_until(
        Duration::from_secs(20),
        "the new destination to get values",
        || up.accepted.load(Ordering::SeqCst) > 0,
    );
    for reader in ["ticker", "rollout"] {
        assert!(nodus.ctl(&["plugin", "stop", reader]).status.success());
    }
    std::thread::sleep(Duration::from_millis(500)); // a read under way when stopped lands
    let read = || {
        num(&nodus.plugin("ticker").unwrap(), "values")
            + num(&nodus.plugin("rollout").unwrap(), "values")
    };
    wait_until(
        Duration::from_secs(20),
        "every value read to be delivered",
        || up.accepted.load(Ordering::SeqCst) == read(),
    );
    assert_eq!(down.accepted.load(Ordering::SeqCst), 0);
    assert!(down.refused.load(Ordering::SeqCst) > 0);
    let http = nodus.plugin("http").unwrap();
    assert_eq!(http["queue"]["dropped"], 0, "{http}");
    assert_eq!(http["state"], "running", "{http}");
    for reader in ["ticker", "rollout"] {
        assert!(nodus.ctl(&["plugin", "start", reader]).status.success());
    }

    // Options of an installed plugin; refusals leave what runs untouched.
    let answer = configure(&nodus, "rollout", json!({"Label": "blue"}));
    assert_eq!(answer["ok"], true, "{answer}");
    let since = now();
    wait_until(Duration::from_secs(20), "values labelled blue", || {
        rollout_values(&nodus, "blue")
            .iter()
            .any(|(t, _)| *t > since)
    });
    let error = error_of(&configure(&nodus, "rollout", json!({"Bogus": 1})));
    assert!(
        error.contains("unknown option Bogus (accepted: Label)"),
        "{error}"
    );
    let error = error_of(&configure(&nodus, "nosuch", json!({})));
    assert!(error.contains("no instance of plugin `nosuch`"), "{error}");
    let error = error_of(&configure(&nodus, "rollout", json!({"Label": {"deep": 1}})));
    assert!(error.starts_with("invalid options: "), "{error}");
    assert_eq!(
        nodus.plugin("rollout").unwrap()["configured"],
        json!({"Label": "blue"})
    );

    // Kept in a private file of nodus's state folder.
    let managed = nodus.path("state/managed.json");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&managed), 0o600);
    assert_eq!(mode(&nodus.path("state")), 0o700);

    // A restart keeps the installed plugin and both instances' options.
    nodus.restart();
    let rollout = nodus
        .plugin("rollout")
        .expect("the installed plugin is loaded again");
    assert_eq!(rollout["version"], "1.0.0");
    assert_eq!(rollout["configured"], json!({"Label": "blue"}));
    assert_eq!(nodus.plugin("http").unwrap()["configured"], shown);
    let restarted = now();
    wait_until(
        Duration::from_secs(20),
        "blue values after the restart",
        || {
            rollout_values(&nodus, "blue")
                .iter()
                .any(|(t, _)| *t > restarted)
        },
    );
    let log = nodus.log();
    assert!(!log.contains("hunter2"), "the log shows no secret");

    // `nodus -t` checks what was set through the socket too.
    let check = || {
        Command::new(e2e::bin("nodus"))
            .arg("-t")
            .arg("-C")
            .arg(nodus.path("nodus.conf"))
            .output()
            .unwrap()
    };
    let out = check();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut state: Value = serde_json::from_slice(&std::fs::read(&managed).unwrap()).unwrap();
    state["options"]["http"]["Timeout"] = json!("abc");
    std::fs::write(&managed, state.to_string()).unwrap();
    let out = check();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Failed!!!");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("option Timeout = \"abc\" is not a number"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(nodus.stop());
}

#[test]
fn failing_and_penalised_readers_and_every_skipped_plugin_and_file_are_listed() {
    let legacy = e2e::build_fixture("legacy-plugin", "legacy_plugin", None);
    let nodus = Nodus::start_with(
        |_| {
            "max_read_interval = 0.4\n\
             [[plugin.ticker]]\ninstance = \"capped\"\ninterval = 0.4\n\
             [plugin.ticker.options]\nFailEvery = 1\n\
             [[plugin.ticker]]\ninstance = \"stretched\"\ninterval = 0.1\n\
             [plugin.ticker.options]\nFailEvery = 1\n\
             [[plugin.ticker]]\ninstance = \"wrong\"\n[plugin.ticker.options]\nLists = \"many\"\n\
             [plugin.missing]\n[plugin.legacy]\n"
                .into()
        },
        &[],
        &[(ticker(), "ticker.so"), (&legacy, "legacy.so")],
    );
    let csv = std::fs::read(e2e::built_plugin("csv")).unwrap();
    std::fs::write(nodus.path("plugins/cut.so"), &csv[..csv.len() / 3]).unwrap();
    std::fs::write(nodus.path("plugins/notes.so"), "just text\n").unwrap();

    // A read that fails: penalised while its interval is stretched, failing when the cap
    // leaves no room to stretch it.
    let stretched = nodus.wait_for("ticker/stretched", Duration::from_secs(20), |s| {
        s["state"] == "penalised"
    });
    assert!(stretched["interval"].as_f64().unwrap() > 0.1, "{stretched}");
    let capped = nodus.wait_for("ticker/capped", Duration::from_secs(20), |s| {
        s["state"] == "failing"
    });
    assert_eq!(capped["interval"], 0.4, "{capped}");
    assert!(
        capped["last_error"]
            .as_str()
            .unwrap()
            .contains("fails on purpose"),
        "{capped}"
    );

    let out = nodus.ctl(&["--json", "plugin", "list"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let skipped: Vec<(String, String)> = doc["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let file = s["file"].as_str().unwrap();
            let name = file.rsplit('/').next().unwrap().to_string();
            (name, s["reason"].as_str().unwrap().to_string())
        })
        .collect();
    let reason = |file: &str| {
        skipped
            .iter()
            .filter(|(f, _)| f == file)
            .map(|(_, r)| r.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let current = e2e::plugin_api_version();
    assert!(
        reason("missing.so").starts_with("no plugin named `missing`"),
        "{skipped:?}"
    );
    assert!(
        reason("legacy.so").contains(&format!("expected plugin-api {current}, found 1.0.0")),
        "{skipped:?}"
    );
    assert!(
        reason("ticker.so")
            .contains("plugin ticker/wrong: option Lists = \"many\" is not an integer"),
        "{skipped:?}"
    );
    assert!(
        reason("cut.so").starts_with("truncated file"),
        "{skipped:?}"
    );
    assert!(
        reason("notes.so").starts_with("not a plugin"),
        "{skipped:?}"
    );
    assert_eq!(skipped.len(), 5, "{skipped:?}");

    let table = String::from_utf8_lossy(&nodus.ctl(&["plugin", "list"]).stdout).into_owned();
    assert!(table.contains("\nSKIPPED\n"), "{table}");
    assert!(
        table.lines().any(|l| l.contains("cut.so: truncated file")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("ticker/capped") && l.contains(" failing ")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("ticker/stretched") && l.contains(" penalised ")),
        "{table}"
    );
    assert!(nodus.stop());
}
