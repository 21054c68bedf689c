//! The log agent and Polaris end to end: `logagent` tails a file that is rotated (rename and
//! create) and posts to a real `polaris serve` over mutual TLS with an enrolled host's
//! certificate; the agent is killed with SIGKILL while it ships and Polaris is stopped and
//! started again; in the end Polaris holds every line exactly once (issue 16's loss test, at a
//! size a test run affords; `host/logagent/tests/loss.rs` does the same against a plain
//! receiver with more kills).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::server::ServerProcess;
use serde_json::Value;

const TOKEN: &str = "logagent-admin-token-0123456789";
const HOST: &str = "logs-host";
/// Lines written in each of the two files (the rotated one and the live one).
const LINES_PER_FILE: usize = 10_000;

fn write_lines(path: &Path, from: usize, count: usize) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let mut text = String::new();
    for n in from..from + count {
        text.push_str(&format!("line {n:06} of the e2e loss test\n"));
    }
    file.write_all(text.as_bytes()).unwrap();
}

fn start_agent(config: &Path, log: &Path) -> Child {
    Command::new(e2e::bin("logagent"))
        .args(["-f", "-C"])
        .arg(config)
        .arg("-L")
        .arg(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("start logagent")
}

/// Records Polaris holds for the source, as the host's log-sources view counts them.
fn held(server: &ServerProcess) -> u64 {
    match server.try_call("GET", &format!("/api/v1/hosts/{HOST}/log-sources"), None) {
        Ok((200, Value::Array(sources))) => sources
            .iter()
            .filter(|s| s["name"] == "app")
            .filter_map(|s| s["records"].as_u64())
            .sum(),
        _ => 0,
    }
}

/// Every message Polaris holds for the source, page by page.
fn messages(server: &ServerProcess) -> Vec<String> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/logs?host={HOST}&source=app&limit=1000");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let (status, page) = server.call("GET", &path, None);
        assert_eq!(status, 200, "{page}");
        for record in page["records"].as_array().into_iter().flatten() {
            all.push(record["message"].as_str().unwrap_or_default().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return all,
        }
    }
}

fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn every_line_is_stored_once_through_a_kill_a_rotation_and_a_polaris_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(&dir.path().join("polaris"), TOKEN, "");
    let identity = server
        .enroller()
        .enroll(HOST, &dir.path().join("identity"))
        .expect("enroll the host");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let live = logs.join("app.log");
    let config = dir.path().join("logagent.conf");
    std::fs::write(
        &config,
        format!(
            "polaris = \"https://{}\"\nca = {:?}\ncert = {:?}\nkey = {:?}\n\
             state_dir = {:?}\nsocket = {:?}\npoll_ms = 50\nscan_s = 1\nretry_max_s = 1\n\
             batch_records = 500\n\n\
             [[source]]\nname = \"app\"\npath = \"{}/app.log*\"\nformat = \"line\"\n",
            server.http,
            server.ca,
            identity.cert,
            identity.key,
            dir.path().join("state"),
            dir.path().join("logagent.sock"),
            logs.display()
        ),
    )
    .unwrap();
    let agent_log = dir.path().join("logagent.log");

    write_lines(&live, 0, LINES_PER_FILE);
    let mut agent = start_agent(&config, &agent_log);
    // Killed while it ships the first file.
    wait_until(
        Duration::from_secs(60),
        "the first records in Polaris",
        || held(&server) > 0,
    );
    agent.kill().unwrap();
    agent.wait().unwrap();
    // Rotated while the agent is down (rename and create), and more lines in the new file.
    std::fs::rename(&live, logs.join("app.log.1")).unwrap();
    write_lines(&live, LINES_PER_FILE, LINES_PER_FILE / 2);
    let mut agent = start_agent(&config, &agent_log);
    // Polaris goes away and comes back while the agent ships.
    server.kill();
    write_lines(
        &live,
        LINES_PER_FILE + LINES_PER_FILE / 2,
        LINES_PER_FILE / 2,
    );
    std::thread::sleep(Duration::from_secs(2));
    server.restart();

    let total = 2 * LINES_PER_FILE;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until(Duration::from_secs(180), "every line in Polaris", || {
            held(&server) >= total as u64
        })
    }));
    let _ = agent.kill();
    let _ = agent.wait();
    if result.is_err() {
        panic!(
            "Polaris holds {} of {total} lines\n--- logagent log ---\n{}\n--- polaris log ---\n{}",
            held(&server),
            std::fs::read_to_string(&agent_log).unwrap_or_default(),
            server.log()
        );
    }
    let stored = messages(&server);
    let unique: BTreeSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "a line is stored twice");
    let expected: BTreeSet<String> = (0..total)
        .map(|n| format!("line {n:06} of the e2e loss test"))
        .collect();
    let missing: Vec<&String> = expected.iter().filter(|l| !unique.contains(l)).collect();
    assert!(
        missing.is_empty(),
        "{} lines missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(3)]
    );
    assert_eq!(stored.len(), total);
}
