//! `nodus -t`: `Success` and exit 0 for a good configuration (the shipped example), `Failed!!!`
//! and exit 1 with the reasons on stderr and in the log for each kind of bad one.

use std::process::Command;

use e2e::nodus::{config_header, plugin_links};

/// `nodus -t` on a configuration of exactly `text` in `work`: (exit code, stdout, stderr, log).
fn check_text(work: &std::path::Path, text: &str) -> (i32, String, String, String) {
    let config = work.join("nodus.conf");
    std::fs::write(&config, text).unwrap();
    let log = work.join("test.log");
    let out = Command::new(e2e::bin("nodus"))
        .arg("-t")
        .arg("-C")
        .arg(&config)
        .arg("-L")
        .arg(&log)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

/// `nodus -t` on the shared test header plus `body`, with a few built-in plugins linked.
fn check(body: &str) -> (i32, String, String, String) {
    let work = tempfile::tempdir().unwrap();
    plugin_links(
        &work.path().join("plugins"),
        &["load", "uptime", "csv"],
        &[],
    );
    check_text(
        work.path(),
        &format!("{}{body}", config_header(work.path())),
    )
}

/// Asserts `Failed!!!`, exit 1, and `reason` on stderr and in the log.
fn assert_failed((code, stdout, stderr, log): (i32, String, String, String), reason: &str) {
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert_eq!(stdout.trim(), "Failed!!!");
    assert!(stderr.contains(reason), "stderr lacks {reason:?}: {stderr}");
    assert!(log.contains(reason), "log lacks {reason:?}: {log}");
}

fn assert_fails(body: &str, reason: &str) {
    assert_failed(check(body), reason);
}

#[test]
fn shipped_example_config_is_valid() {
    let example = e2e::workspace_root().join("host/nodus/nodus.conf");
    let out = Command::new(e2e::bin("nodus"))
        .arg("-t")
        .arg("-C")
        .arg(&example)
        .env("NODUS_PLUGIN_DIR", e2e::plugin_dir())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Success",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
}

#[test]
fn good_config_succeeds() {
    let (code, stdout, stderr, _) = check("[plugin.load]\n[plugin.uptime]\n");
    assert_eq!((code, stdout.trim()), (0, "Success"), "{stderr}");
}

#[test]
fn syntax_error_fails() {
    assert_fails("interval = \n[plugin.load]\n", "nodus.conf");
}

#[test]
fn unknown_global_key_fails() {
    assert_fails("intervall = 5\n", "intervall");
}

#[test]
fn unknown_plugin_fails() {
    assert_fails(
        "[plugin.load]\n[plugin.nosuch]\n",
        "no plugin named `nosuch`",
    );
}

#[test]
fn unknown_option_fails() {
    assert_fails(
        "[plugin.load.options]\nBogus = 1\n",
        "unknown option `Bogus`",
    );
}

#[test]
fn option_refused_by_init_fails() {
    let dir = tempfile::tempdir().unwrap();
    let csv_dir = dir.path().join("not-a-dir");
    std::fs::write(&csv_dir, "a file where a directory should be").unwrap();
    assert_fails(
        &format!("[plugin.csv.options]\nDataDir = {csv_dir:?}\n"),
        "init refused the options",
    );
}

#[test]
fn missing_types_db_fails() {
    // A config of its own: the shared header already names a types.db.
    let work = tempfile::tempdir().unwrap();
    let result = check_text(work.path(), "types_db = [\"/nonexistent/types.db\"]\n");
    assert_failed(result, "/nonexistent/types.db");
}

#[test]
fn missing_config_file_fails() {
    let out = Command::new(e2e::bin("nodus"))
        .args(["-t", "-C", "/nonexistent/nodus.conf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Failed!!!");
}
