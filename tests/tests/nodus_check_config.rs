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

/// An option the plugin's schema does not know is refused with the options it does know.
#[test]
fn unknown_option_fails_with_the_schema_message() {
    assert_fails(
        "[plugin.load.options]\nBogus = 1\n",
        "plugin load: unknown option Bogus (accepted: ReportRelative)",
    );
}

/// A value of the wrong type is refused in the schema's words, naming the instance.
#[test]
fn option_of_the_wrong_type_fails_with_the_schema_message() {
    assert_fails(
        "[plugin.load.options]\nReportRelative = \"sometimes\"\n",
        "plugin load: option ReportRelative = \"sometimes\" is not a boolean (true/false, yes/no, \
         on/off, 1/0) (ReportRelative: divide the averages by the number of online CPUs)",
    );
    let work = tempfile::tempdir().unwrap();
    plugin_links(&work.path().join("plugins"), &["http"], &[]);
    let body = "[[plugin.http]]\ninstance = \"primary\"\n[plugin.http.options]\n\
                URL = \"http://127.0.0.1:1/\"\nTimeout = \"abc\"\n\
                [[plugin.http]]\ninstance = \"backup\"\n[plugin.http.options]\n\
                Proxy = \"p\"\n";
    let result = check_text(
        work.path(),
        &format!("{}{body}", config_header(work.path())),
    );
    let (_, _, stderr, _) = &result;
    assert!(
        stderr.contains(
            "plugin http/backup: option URL is required (URL: http:// or https:// URL to POST to)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("plugin http/backup: unknown option Proxy (accepted: URL, User,"),
        "{stderr}"
    );
    assert_failed(
        result,
        "plugin http/primary: option Timeout = \"abc\" is not a number \
         (Timeout: seconds before a post is abandoned)",
    );
}

/// Two instances of one plugin with their own options pass; the same instance name twice does
/// not.
#[test]
fn instances_of_one_plugin_are_checked_each() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let body = format!(
        "[[plugin.csv]]\ninstance = \"a\"\n[plugin.csv.options]\nDataDir = {a:?}\n\
         [[plugin.csv]]\ninstance = \"b\"\n[plugin.csv.options]\nDataDir = {b:?}\n"
    );
    let (code, stdout, stderr, _) = check(&body);
    assert_eq!((code, stdout.trim()), (0, "Success"), "{stderr}");
    let twice = "[[plugin.csv]]\ninstance = \"a\"\n[[plugin.csv]]\ninstance = \"a\"\n";
    assert_fails(twice, "plugin `csv/a` is configured twice");
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
