//! secureagent and Polaris end to end (issue 17): a real `polaris serve`, an enrolled host,
//! the real `secureagent` binary over mutual TLS. `--init` sends the baseline's digest, which
//! Polaris accepts; a change is found by `--check`, listed by the admin API and acknowledged;
//! the baseline swapped on the host (file and `.sha256` replaced by another tree's) makes the
//! next `--check` flagged by Polaris; with Polaris down the report is kept (0600) and arrives
//! before the next run's. The daemon with a real-time tree: a change there arrives at Polaris
//! as a `realtime` finding within seconds, without changing the accepted baseline.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use e2e::server::ServerProcess;
use serde_json::{Value, json};

const TOKEN: &str = "secureagent-admin-token-0123456789";
const HOST: &str = "integrity-host";

/// A configuration checking `tree` with its baseline in `state`, reporting to `polaris`
/// (TOML lines) when given.
fn config(dir: &Path, name: &str, tree: &Path, state: &Path, polaris: &str) -> PathBuf {
    let rules = dir.join("secureagent.rules");
    std::fs::write(&rules, "/ p+u+g+s+m+sha256\n").unwrap();
    let conf = dir.join(name);
    std::fs::write(
        &conf,
        format!(
            "rules = {rules:?}\ndatabase = {:?}\nroot_prefix = {tree:?}\nworkers = 2\n{polaris}",
            state.join("baseline.db")
        ),
    )
    .unwrap();
    conf
}

fn run(conf: &Path, verb: &str) -> (i32, String) {
    let out: Output = Command::new(e2e::bin("secureagent"))
        .arg("-C")
        .arg(conf)
        .arg(verb)
        .output()
        .expect("run secureagent");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn state_of(server: &ServerProcess) -> Value {
    let (status, state) = server.call("GET", &format!("/api/v1/integrity/hosts/{HOST}"), None);
    assert_eq!(status, 200, "{state}");
    state
}

fn kept(state: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("report-")
        })
        .collect()
}

#[test]
fn polaris_keeps_the_digest_lists_findings_flags_a_swapped_baseline_and_gets_kept_reports() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(&dir.path().join("polaris"), TOKEN, "");
    let identity = server
        .enroller()
        .enroll(HOST, &dir.path().join("identity"))
        .expect("enroll the host");
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(tree.join("etc/app.conf"), "port = 80\n").unwrap();
    std::fs::write(tree.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    let state = dir.path().join("state");
    let polaris = format!(
        "polaris = \"https://{}\"\nca = {:?}\ncert = {:?}\nkey = {:?}\ntimeout_s = 5\n",
        server.http, server.ca, identity.cert, identity.key
    );
    let conf = config(dir.path(), "secureagent.conf", &tree, &state, &polaris);

    // --init: the digest reaches Polaris and is the accepted one.
    let (code, text) = run(&conf, "--init");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Report sent to Polaris"), "{text}");
    let digest_file = std::fs::read_to_string(state.join("baseline.db.sha256")).unwrap();
    let host = state_of(&server);
    let accepted = host["accepted_digest"].as_str().unwrap().to_string();
    assert!(digest_file.contains(&accepted), "{digest_file} vs {host}");

    // Changes: a file rewritten, one added, one removed: found, reported, listed, acknowledged.
    std::fs::write(tree.join("etc/app.conf"), "port = 8080\n").unwrap();
    std::fs::write(tree.join("etc/new.conf"), "new\n").unwrap();
    std::fs::remove_file(tree.join("etc/hosts")).unwrap();
    let (code, text) = run(&conf, "--check");
    assert_eq!(
        code, 7,
        "AIDE's exit code for added + removed + changed: {text}"
    );
    assert!(text.contains("Polaris accepts the baseline"), "{text}");
    let (status, page) = server.call(
        "GET",
        &format!("/api/v1/integrity/findings?host={HOST}"),
        None,
    );
    assert_eq!(status, 200, "{page}");
    let findings = page["findings"].as_array().unwrap();
    let sha = findings
        .iter()
        .find(|f| f["path"] == "/etc/app.conf" && f["attribute"] == "sha256")
        .unwrap_or_else(|| panic!("no sha256 finding of /etc/app.conf: {page}"));
    assert_eq!(sha["change"], "changed");
    assert_ne!(sha["old"], sha["new"]);
    let whole: Vec<(&str, &str)> = findings
        .iter()
        .filter(|f| f["change"] != "changed")
        .map(|f| (f["path"].as_str().unwrap(), f["change"].as_str().unwrap()))
        .collect();
    assert_eq!(
        whole,
        [("/etc/new.conf", "added"), ("/etc/hosts", "removed")],
        "{page}"
    );
    // Changed: the file, and its folder (mtime); nothing else.
    assert!(
        findings
            .iter()
            .filter(|f| f["change"] == "changed")
            .all(|f| f["path"] == "/etc/app.conf" || f["path"] == "/etc"),
        "{page}"
    );
    let ids: Vec<Value> = findings.iter().map(|f| f["id"].clone()).collect();
    let (status, done) = server.call(
        "POST",
        "/api/v1/integrity/acknowledge",
        Some(&json!({"by": "e2e", "ids": ids})),
    );
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["findings"].as_u64(), Some(findings.len() as u64));
    let (_, page) = server.call(
        "GET",
        &format!("/api/v1/integrity/findings?host={HOST}"),
        None,
    );
    assert_eq!(page["findings"], json!([]));
    assert_eq!(state_of(&server)["baseline_ok"], true);

    // The baseline swapped on the host: another tree's baseline and its own .sha256, both
    // consistent, so the agent alone cannot tell; Polaris can.
    let other_tree = dir.path().join("other-tree");
    std::fs::create_dir_all(other_tree.join("etc")).unwrap();
    std::fs::write(other_tree.join("etc/app.conf"), "port = 8080\n").unwrap();
    std::fs::write(other_tree.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    let other_state = dir.path().join("other-state");
    let other = config(dir.path(), "other.conf", &other_tree, &other_state, "");
    let (code, text) = run(&other, "--init");
    assert_eq!(code, 0, "{text}");
    for name in ["baseline.db", "baseline.db.sha256"] {
        std::fs::copy(other_state.join(name), state.join(name)).unwrap();
    }
    let (_, text) = run(&conf, "--check");
    assert!(text.contains("POLARIS FLAGGED THE BASELINE"), "{text}");
    let host = state_of(&server);
    assert_eq!(host["baseline_ok"], false, "{host}");
    assert_eq!(host["accepted_digest"], accepted.as_str());
    assert_eq!(host["unacknowledged_flags"], 1);
    let last = host["last_report"]["id"].as_i64().unwrap();

    // Polaris down: the report is kept, 0600 in the 0700 folder, and said so.
    server.kill();
    let (_, text) = run(&conf, "--check");
    assert!(text.contains("Report kept in"), "{text}");
    let waiting = kept(&state);
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    let mode = std::fs::metadata(&waiting[0]).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let mode = std::fs::metadata(&state).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);

    // Back: the kept report arrives before the next run's, and is gone from the host.
    server.restart();
    let (_, text) = run(&conf, "--check");
    assert!(text.contains("after 1 kept report(s)"), "{text}");
    assert!(kept(&state).is_empty());
    let host = state_of(&server);
    assert_eq!(host["last_report"]["id"].as_i64(), Some(last + 2), "{host}");
    // Both were checks of the swapped baseline: flagged.
    assert_eq!(host["unacknowledged_flags"], 3, "{host}");
}

#[test]
fn a_realtime_finding_arrives_at_polaris_without_changing_the_accepted_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("polaris"), TOKEN, "");
    let host = "realtime-host";
    let identity = server
        .enroller()
        .enroll(host, &dir.path().join("identity"))
        .expect("enroll the host");
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(tree.join("etc/app.conf"), "port = 80\n").unwrap();
    let state = dir.path().join("state");
    let polaris = format!(
        "polaris = \"https://{}\"\nca = {:?}\ncert = {:?}\nkey = {:?}\ntimeout_s = 5\n\
         schedule = \"every 1h\"\nrealtime = [\"/etc\"]\nrealtime_mode = \"inotify\"\n",
        server.http, server.ca, identity.cert, identity.key
    );
    let conf = config(dir.path(), "secureagent.conf", &tree, &state, &polaris);
    let (code, text) = run(&conf, "--init");
    assert_eq!(code, 0, "{text}");
    let (_, before) = server.call("GET", &format!("/api/v1/integrity/hosts/{host}"), None);
    let accepted = before["accepted_digest"].clone();
    assert!(accepted.is_string(), "{before}");

    let log = dir.path().join("daemon.log");
    let mut daemon = Command::new(e2e::bin("secureagent"))
        .arg("-C")
        .arg(&conf)
        .args(["-f", "-L"])
        .arg(&log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the daemon");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("Real time: watching")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the watch did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::fs::write(tree.join("etc/app.conf"), "port = 8080\n").unwrap();
    // Polled up to a minute: a bound on a hang, not a speed check.
    let finding = loop {
        let (status, page) = server.call(
            "GET",
            &format!("/api/v1/integrity/findings?host={host}"),
            None,
        );
        assert_eq!(status, 200, "{page}");
        if let Some(f) = page["findings"].as_array().and_then(|all| {
            all.iter()
                .find(|f| f["path"] == "/etc/app.conf" && f["attribute"] == "sha256")
                .cloned()
        }) {
            break f;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no real-time finding at Polaris: {page}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert_eq!(finding["kind"], "realtime", "{finding}");
    let (_, after) = server.call("GET", &format!("/api/v1/integrity/hosts/{host}"), None);
    assert_eq!(after["accepted_digest"], accepted, "{after}");
    assert_eq!(after["last_report"]["kind"], "realtime", "{after}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("Real time: Report sent to Polaris"), "{log}");
}
