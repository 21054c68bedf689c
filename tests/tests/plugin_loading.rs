//! The plugin host as a user sees it through `gearctl`: third-party plugins load and answer;
//! wrong ABI versions, panics, non-plugin libraries and truncated files are reported, never fatal.

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

/// `gearctl -l --json` in `dir`: (loaded plugin names, skipped file name → reason).
fn listing(dir: &Path) -> (Vec<String>, Vec<(String, String)>) {
    let out = gearctl_in(dir, &["-l", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json_of(&out);
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
    e2e::plugin_dir().join("libkernel.so")
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

    let (names, skipped) = listing(dir.path());
    assert_eq!(names, ["hello"]);
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
        let doc = json_of(&out);
        let names: Vec<_> = doc["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].clone())
            .collect();
        assert_eq!(
            names,
            ["kernel"],
            "the bad plugin is dropped, the good one stays"
        );
        let reason = doc["skipped"][0]["reason"].as_str().unwrap();
        assert!(reason.contains(expected), "{mode}: {reason}");
    }
}

#[test]
fn other_abi_version_is_rejected_naming_both_versions() {
    let v2 = e2e::build_fixture("hello-plugin", "hello", Some("2.0.0"));
    let dir = e2e::plugin_dir_with(&[(&v2, "hello.so"), (&kernel_so(), "kernel.so")]);
    let (names, skipped) = listing(dir.path());
    assert_eq!(names, ["kernel"]);
    assert_eq!(skipped.len(), 1);
    let (file, reason) = &skipped[0];
    assert_eq!(file, "hello.so");
    assert!(reason.contains("ABI version mismatch"), "{reason}");
    assert!(
        reason.contains("1.0.0") && reason.contains("2.0.0"),
        "{reason}"
    );

    let out = gearctl_in(dir.path(), &["-c", "getinfo.hello", "-a", "x"]);
    assert!(!out.status.success());
    assert_eq!(json_of(&out)["retcode"], 3022);
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
    // Methods other than getinfo.* go to the running agent; with none, gearctl says so.
    let out = e2e::gearctl(&["-c", "reboot.now", "-s", "/nonexistent/gearman.sock"]);
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

/// The life a running agent gives a plugin (nodusctl stop/start/remove): stop shuts it down and
/// calls fail cleanly, start brings it back with a fresh instance, remove forgets it.
#[test]
fn registry_stop_start_remove() {
    use plugin_host::{PluginState, Registry, context};

    let dir = e2e::plugin_dir_with(&[(hello_plugin(), "hello.so"), (&kernel_so(), "kernel.so")]);
    let mut registry = Registry::scan(dir.path()).unwrap();
    registry.init_all(|_| context::init_context([]));
    assert_eq!(registry.state("hello"), Some(PluginState::Running));
    let hello = registry.get("hello").unwrap().clone();
    let first: Value = serde_json::from_str(&hello.call_info("a").unwrap()).unwrap();
    assert_eq!(first["calls"], 1);

    registry.stop("hello").unwrap();
    assert_eq!(registry.state("hello"), Some(PluginState::Stopped));
    let err = hello.call_info("a").unwrap_err();
    assert_eq!(err.code, 3025, "{err}");

    registry.start("hello", &context::init_context([])).unwrap();
    let again: Value = serde_json::from_str(&hello.call_info("a").unwrap()).unwrap();
    assert_eq!(again["calls"], 1, "start creates a fresh instance");

    registry.remove("hello").unwrap();
    assert!(registry.get("hello").is_none());
    assert!(registry.stop("hello").is_err());
    assert_eq!(
        registry.state("kernel"),
        Some(PluginState::Running),
        "others are untouched"
    );
}
