//! The plugin host as a user sees it through `gearctl`: third-party plugins load and answer (one
//! `.so` may hold several); wrong ABI versions (a plugin-api 1.x plugin among them), panics,
//! non-plugin libraries and truncated files are reported, never fatal.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use serde_json::Value;

fn hello_plugin() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| e2e::build_fixture("hello-plugin", "hello", None))
}

fn json_of(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn gearctl_in(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(e2e::bin("gearctl"))
        .arg("-d")
        .arg(dir)
        .args(args)
        .output()
        .expect("run gearctl")
}

/// `gearctl -l --json` in `dir`: gearman's entry of the inventory it prints.
fn gearman_listing(dir: &Path) -> Value {
    let out = gearctl_in(dir, &["-l", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json_of(&out);
    assert_eq!(doc["agents"][0]["agent"], "gearman", "{doc}");
    doc["agents"][0].clone()
}

/// `gearctl -l --json` in `dir`: (loaded plugin names, skipped file name → reason).
fn listing(dir: &Path) -> (Vec<String>, Vec<(String, String)>) {
    let doc = gearman_listing(dir);
    let names = doc["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    let skipped = doc["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let file = Path::new(s["file"].as_str().unwrap());
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            (name, s["reason"].as_str().unwrap().to_string())
        })
        .collect();
    (names, skipped)
}

fn kernel_so() -> PathBuf {
    e2e::built_plugin("kernel")
}

#[test]
fn third_party_plugin_loads_and_answers() {
    let dir = e2e::plugin_dir_with(&[(hello_plugin(), "hello.so")]);
    let out = gearctl_in(dir.path(), &["-c", "getinfo.hello", "-a", "world"]);
    assert!(out.status.success());
    let result = json_of(&out);
    assert_eq!(result["resp"], "success");
    assert_eq!(result["retcode"], 2);
    assert_eq!(result["data"]["greeting"], "hello, world");

    // The same library's second plugin answers too.
    let out = gearctl_in(dir.path(), &["-c", "getinfo.goodbye", "-a", "world"]);
    assert!(out.status.success());
    assert_eq!(json_of(&out)["data"]["farewell"], "goodbye, world");

    let (names, skipped) = listing(dir.path());
    assert_eq!(names, ["goodbye", "hello"]);
    assert!(skipped.is_empty(), "{skipped:?}");
}

#[test]
fn plugin_error_becomes_failure_object() {
    let dir = e2e::plugin_dir_with(&[(hello_plugin(), "hello.so")]);
    let out = gearctl_in(dir.path(), &["-c", "getinfo.hello"]);
    assert!(!out.status.success());
    let result = json_of(&out);
    assert_eq!(result["resp"], "failed");
    assert_eq!(result["retcode"], 3021);
    assert!(
        result["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid params"),
        "{result}"
    );
}

#[test]
fn panic_in_info_call_is_a_failure_not_a_crash() {
    let dir = e2e::plugin_dir_with(&[(hello_plugin(), "hello.so")]);
    let out = gearctl_in(dir.path(), &["-c", "getinfo.hello", "-a", "--panic"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "gearctl must exit 1, not die of a signal"
    );
    let result = json_of(&out);
    assert_eq!(result["resp"], "failed");
    assert_eq!(result["retcode"], 3024);
    assert!(
        result["message"]
            .as_str()
            .unwrap()
            .contains("hello fixture asked to panic"),
        "{result}"
    );
}

#[test]
fn init_that_fails_or_panics_is_reported() {
    let dir = e2e::plugin_dir_with(&[(hello_plugin(), "hello.so"), (&kernel_so(), "kernel.so")]);
    for (mode, expected) in [
        ("fail", "init failed: told to fail"),
        ("panic", "init panicked"),
    ] {
        let out = std::process::Command::new(e2e::bin("gearctl"))
            .arg("-d")
            .arg(dir.path())
            .args(["-l", "--json"])
            .env("HELLO_FIXTURE_INIT", mode)
            .output()
            .unwrap();
        let doc = json_of(&out)["agents"][0].clone();
        let names: Vec<_> = doc["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].clone())
            .collect();
        assert_eq!(
            names,
            ["goodbye", "kernel"],
            "the bad plugin is dropped, the good ones (its library's other plugin too) stay"
        );
        let reason = doc["skipped"][0]["reason"].as_str().unwrap();
        assert!(reason.contains(expected), "{mode}: {reason}");
    }
}

#[test]
fn other_abi_version_is_rejected_naming_both_versions() {
    let v3 = e2e::build_fixture("hello-plugin", "hello", Some("3.0.0"));
    let dir = e2e::plugin_dir_with(&[(&v3, "hello.so"), (&kernel_so(), "kernel.so")]);
    let (names, skipped) = listing(dir.path());
    assert_eq!(names, ["kernel"]);
    assert_eq!(skipped.len(), 1);
    let (file, reason) = &skipped[0];
    assert_eq!(file, "hello.so");
    assert!(reason.contains("ABI version mismatch"), "{reason}");
    let current = e2e::plugin_api_version();
    assert!(
        reason.contains(&current) && reason.contains("3.0.0"),
        "{reason}"
    );

    let out = gearctl_in(dir.path(), &["-c", "getinfo.hello", "-a", "x"]);
    assert!(!out.status.success());
    assert_eq!(json_of(&out)["retcode"], 3022);
}

/// A plugin built against the real sources of plugin-api 2.0.0 (from the repository's history)
/// loads in agents built on the current 2.x (2.1 added an option type, no layout) and answers;
/// its options are listed; gearctl and nodus alike.
#[test]
fn plugin_api_2_0_plugin_loads_in_a_2_x_agent() {
    let current = e2e::plugin_api_version();
    assert!(current.starts_with("2.") && current != "2.0.0", "{current}");
    let hello = e2e::build_fixture_against_release("hello-plugin", "hello", "2.0.0");
    let dir = e2e::plugin_dir_with(&[(&hello, "hello.so"), (&kernel_so(), "kernel.so")]);
    let (names, skipped) = listing(dir.path());
    assert_eq!(names, ["goodbye", "hello", "kernel"], "{skipped:?}");
    assert!(skipped.is_empty(), "{skipped:?}");
    let out = gearctl_in(dir.path(), &["-c", "getinfo.hello", "-a", "world"]);
    let answer = json_of(&out);
    assert_eq!(answer["retcode"], 2, "{answer}");
    assert_eq!(answer["data"]["greeting"], "hello, world", "{answer}");

    let ticker = e2e::build_fixture_against_release("ticker-plugin", "ticker", "2.0.0");
    let nodus = e2e::nodus::Nodus::start_with(
        |_| "interval = 0.2\n[plugin.ticker]\n".into(),
        &[],
        &[(&ticker, "ticker.so")],
    );
    let status = nodus.wait_for("ticker", std::time::Duration::from_secs(20), |s| {
        s["calls"].as_u64().unwrap_or(0) >= 2
    });
    assert_eq!(status["abi"], "2.0.0", "{status}");
    assert_eq!(status["state"], "running", "{status}");
    assert!(nodus.stop());
}

/// A plugin built against plugin-api 1.0.0 (the frozen 1.x root module of
/// `tests/fixtures/legacy-plugin`) is refused in one line naming both versions, by gearctl and
/// by `nodus -t`; the agent never calls it.
#[test]
fn plugin_api_1x_plugin_is_refused_naming_both_versions() {
    let legacy = e2e::build_fixture("legacy-plugin", "legacy_plugin", None);
    let dir = e2e::plugin_dir_with(&[(&legacy, "legacy.so"), (&kernel_so(), "kernel.so")]);
    let (names, skipped) = listing(dir.path());
    assert_eq!(names, ["kernel"]);
    let current = e2e::plugin_api_version();
    assert_eq!(
        skipped,
        [(
            "legacy.so".to_string(),
            format!(
                "ABI version mismatch: expected plugin-api {current}, found 1.0.0; \
                 rebuild the plugin against plugin-api {current}"
            )
        )]
    );
    let out = gearctl_in(dir.path(), &["-c", "getinfo.legacy"]);
    assert_eq!(json_of(&out)["retcode"], 3022);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("No such method"), "{text}");
}

#[test]
fn bad_files_are_skipped_with_a_reason_and_the_rest_loads() {
    let libm = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib64/libm.so.6",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .expect("a system libm to copy");
    let dir = e2e::plugin_dir_with(&[(&libm, "libm.so"), (&kernel_so(), "kernel.so")]);
    let whole = std::fs::read(kernel_so()).unwrap();
    std::fs::write(dir.path().join("cut.so"), &whole[..whole.len() / 3]).unwrap();
    std::fs::write(dir.path().join("notes.so"), "just text\n").unwrap();
    std::fs::write(dir.path().join("empty.so"), "").unwrap();

    let (names, skipped) = listing(dir.path());
    assert_eq!(names, ["kernel"]);
    let reason = |file: &str| {
        skipped
            .iter()
            .find(|(f, _)| f == file)
            .map(|(_, r)| r.clone())
            .unwrap_or_default()
    };
    assert!(
        reason("libm.so").starts_with("missing symbol"),
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
    assert!(
        reason("empty.so").starts_with("not a plugin"),
        "{skipped:?}"
    );

    // The good plugin still answers from the same directory.
    let out = gearctl_in(dir.path(), &["-c", "getinfo.kernel"]);
    assert!(out.status.success());
}

#[test]
fn duplicate_names_keep_the_first_file() {
    let dir = e2e::plugin_dir_with(&[(&kernel_so(), "a-kernel.so"), (&kernel_so(), "b-kernel.so")]);
    let (names, skipped) = listing(dir.path());
    assert_eq!(names, ["kernel"]);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].0, "b-kernel.so");
    assert!(
        skipped[0].1.contains("duplicate name `kernel`"),
        "{skipped:?}"
    );
    assert!(skipped[0].1.contains("a-kernel.so"), "{skipped:?}");
}

#[test]
fn unknown_command_and_missing_directory() {
    // A method no agent has is refused by gearctl itself (3022), before any socket.
    let out = e2e::gearctl(&["-c", "reboot.now", "-s", "/nonexistent/gearman.sock"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(r#""retcode":3022"#),
        "{out:?}"
    );
    // Methods other than getinfo.* go to the running agent; with none, gearctl says so.
    let out = e2e::gearctl(&["-c", "task.list", "-s", "/nonexistent/gearman.sock"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no running gearman agent"),
        "{out:?}"
    );

    let out = gearctl_in(Path::new("/nonexistent/plugins"), &["-c", "getinfo.kernel"]);
    assert!(!out.status.success());
    let result = json_of(&out);
    assert_eq!(result["resp"], "failed");
    assert!(
        result["message"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/plugins"),
        "{result}"
    );
}

/// The life of plugin instances (what nodusctl stop/start does): two instances of one plugin
/// are independent; shutting one down makes its calls fail cleanly while the other answers;
/// a restart brings a fresh instance.
#[test]
fn instances_are_independent_and_restartable() {
    use plugin_host::{Registry, context};

    let dir = e2e::plugin_dir_with(&[(hello_plugin(), "hello.so"), (&kernel_so(), "kernel.so")]);
    let registry = Registry::scan(dir.path()).unwrap();
    let hello = registry.get("hello").unwrap();
    let ctx = context::init_context([]);
    let one = hello.instantiate("hello/one", &ctx).unwrap();
    let two = hello.instantiate("hello/two", &ctx).unwrap();
    let calls = |i: &plugin_host::Instance| -> Value {
        serde_json::from_str::<Value>(&i.call_info("a").unwrap()).unwrap()["calls"].clone()
    };
    assert_eq!(calls(&one), 1);
    assert_eq!(calls(&one), 2);
    assert_eq!(calls(&two), 1, "each instance counts its own calls");

    one.shutdown().unwrap();
    let err = one.call_info("a").unwrap_err();
    assert_eq!(err.code, 3025, "{err}");
    assert_eq!(err.plugin, "hello/one");
    assert_eq!(calls(&two), 2, "the other instance keeps running");

    one.restart(&ctx).unwrap();
    assert_eq!(calls(&one), 1, "a restart creates a fresh instance");
}

/// `gearctl -l --json` shows each plugin's option schema, as nodusctl does, and lists only
/// what gearman runs: info plugins (a read-only plugin in the folder is nodus's business).
#[test]
fn listing_shows_each_plugins_option_schema() {
    let dir = e2e::plugin_dir_with(&[
        (&e2e::built_plugin("memory"), "memory.so"),
        (&e2e::built_plugin("load"), "load.so"),
    ]);
    let doc = gearman_listing(dir.path());
    let plugins = doc["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 1, "load has no info role: {doc}");
    let memory = &plugins[0];
    assert_eq!(memory["name"], "memory");
    assert_eq!(memory["roles"], serde_json::json!(["info", "read"]));
    assert_eq!(memory["instances"][0]["state"], "running", "{memory}");
    assert!(
        memory["digest"].as_str().unwrap().starts_with("SHA256:"),
        "{memory}"
    );
    assert_eq!(
        memory["schema"][0],
        serde_json::json!({
            "name": "ValuesAbsolute", "type": "boolean", "required": false, "repeated": false,
            "default": "true", "doc": "report type memory in bytes"
        })
    );
    assert_eq!(memory["schema"].as_array().unwrap().len(), 2, "{memory}");
}
