//! The log agent and Polaris end to end: `logagent` tails a file that is rotated (rename and
//! create) and posts to a real `polaris serve` over mutual TLS with an enrolled host's
//! certificate; the agent is killed with SIGKILL while it ships and Polaris is stopped and
//! started again; in the end Polaris holds every line exactly once. The second test is issue
//! 16's loss test: 1,000,000 numbered lines written across five rotations while the agent is
//! killed with SIGKILL six times at random moments and Polaris is killed and started again once.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use e2e::server::ServerProcess;
use serde_json::Value;

const TOKEN: &str = "logagent-admin-token-0123456789";
const HOST: &str = "logs-host";
/// Lines written in each of the two files (the rotated one and the live one).
const LINES_PER_FILE: usize = 10_000;

/// Lines of the loss test.
const LOSS_LINES: usize = 1_000_000;
/// Lines per file generation of the loss test: the writer rotates after each.
const LOSS_PER_FILE: usize = 200_000;

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

/// A Polaris with the host enrolled, and a logagent.conf shipping `<logs>/app.log*` to it as
/// source `app` (and `<logs>/access.log` as source `web`, nginx's combined format) with the
/// host's certificate.
struct Setup {
    dir: tempfile::TempDir,
    server: ServerProcess,
    logs: PathBuf,
    /// `<logs>/app.log`, the live file.
    live: PathBuf,
    config: PathBuf,
    agent_log: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let server = ServerProcess::start(&dir.path().join("polaris"), TOKEN, "");
        let identity = server
            .enroller()
            .enroll(HOST, &dir.path().join("identity"))
            .expect("enroll the host");
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let config = dir.path().join("logagent.conf");
        std::fs::write(
            &config,
            format!(
                "polaris = \"https://{}\"\nca = {:?}\ncert = {:?}\nkey = {:?}\n\
                 state_dir = {:?}\nsocket = {:?}\npoll_ms = 50\nscan_s = 1\nretry_max_s = 1\n\
                 batch_records = 500\n\n\
                 [[source]]\nname = \"app\"\npath = \"{}/app.log*\"\nformat = \"line\"\n\n\
                 [[source]]\nname = \"web\"\npath = \"{}/access.log\"\nformat = \"nginx\"\n",
                server.http,
                server.ca,
                identity.cert,
                identity.key,
                dir.path().join("state"),
                dir.path().join("logagent.sock"),
                logs.display(),
                logs.display()
            ),
        )
        .unwrap();
        Setup {
            agent_log: dir.path().join("logagent.log"),
            live: logs.join("app.log"),
            dir,
            server,
            logs,
            config,
        }
    }
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
    let Setup {
        dir: _dir,
        mut server,
        logs,
        live,
        config,
        agent_log,
    } = Setup::new();

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

/// The records Polaris holds for the source `web` that `query` (`&field=...`) selects.
fn web_records(server: &ServerProcess, query: &str) -> Vec<Value> {
    let path = format!("/api/v1/logs?host={HOST}&source=web{query}");
    let (status, page) = server.call("GET", &path, None);
    assert_eq!(status, 200, "{page}");
    page["records"].as_array().cloned().unwrap_or_default()
}

/// nginx lines the agent parses: the preset's fields are not sent for the lines its matcher
/// reads (Polaris reads them from the message, and stores the message alone), and are sent for
/// the line only the regex reads; either way a query by field finds them, with the same fields.
#[test]
fn nginx_lines_are_queried_by_their_fields() {
    let Setup {
        dir: _dir,
        server,
        logs,
        config,
        agent_log,
        ..
    } = Setup::new();
    let lines = [
        r#"203.0.113.9 - - [04/Dec/2026:11:00:00 +0100] "GET / HTTP/1.1" 200 612 "-" "curl/8""#,
        r#"203.0.113.9 - bob [04/Dec/2026:11:00:01 +0100] "GET /gone HTTP/1.1" 404 0 "-" "curl/8""#,
        // A user the matcher leaves to the regex (a non-ASCII character in `\S+`).
        r#"198.51.100.7 - jösé [04/Dec/2026:11:00:02 +0100] "POST /f HTTP/1.1" 404 12 "https://a/" "Firefox""#,
        "not a combined line",
    ];
    std::fs::write(logs.join("access.log"), lines.join("\n") + "\n").unwrap();
    let mut agent = start_agent(&config, &agent_log);
    wait_until(
        Duration::from_secs(60),
        "the nginx lines in Polaris",
        || web_records(&server, "").len() == lines.len(),
    );
    let _ = agent.kill();
    let _ = agent.wait();
    let all = web_records(&server, "");
    let messages: Vec<&str> = all.iter().filter_map(|r| r["message"].as_str()).collect();
    assert_eq!(messages, lines);
    assert_eq!(
        all[0]["fields"],
        serde_json::json!({
            "remote_addr": "203.0.113.9",
            "remote_user": "-",
            "time_local": "04/Dec/2026:11:00:00 +0100",
            "request": "GET / HTTP/1.1",
            "status": 200,
            "body_bytes_sent": 612,
            "http_referer": "-",
            "http_user_agent": "curl/8",
        })
    );
    assert_eq!(all[2]["fields"]["remote_user"], "jösé");
    assert_eq!(all[2]["fields"]["body_bytes_sent"], 12);
    assert_eq!(all[3]["fields"], serde_json::json!({}));
    assert!(all[3]["parse_error"].as_str().is_some(), "{}", all[3]);
    let not_found: Vec<Value> = web_records(&server, "&field=status:404")
        .iter()
        .map(|r| r["fields"]["remote_user"].clone())
        .collect();
    assert_eq!(not_found, ["bob", "jösé"]);
    let bob = web_records(
        &server,
        "&field=remote_user:bob&field=request:GET%20/gone%20HTTP/1.1",
    );
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0]["fields"]["body_bytes_sent"], 0);
}

/// A small xorshift generator: random moments, reproducible from the printed seed.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Issue 16's loss test: a writer appends 1,000,000 numbered lines, renaming the file and
/// creating a new one after every 200,000, while the agent is killed with SIGKILL six times at
/// random moments (each time started again) and Polaris is killed once and started again two
/// seconds later. Every line is then read back from Polaris's query API and counted: each number
/// once, none missing.
#[test]
fn a_million_lines_once_through_six_kills_five_rotations_and_a_polaris_restart() {
    let Setup {
        dir: _dir,
        mut server,
        logs,
        live,
        config,
        agent_log,
    } = Setup::new();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut random = Random(seed);
    let started = Instant::now();

    std::fs::write(&live, "").unwrap();
    let written = Arc::new(AtomicBool::new(false));
    let writer = {
        let (live, logs, written) = (live.clone(), logs.clone(), written.clone());
        std::thread::spawn(move || {
            const CHUNK: usize = 10_000;
            for from in (0..LOSS_LINES).step_by(CHUNK) {
                write_lines(&live, from, CHUNK);
                if (from + CHUNK).is_multiple_of(LOSS_PER_FILE) && from + CHUNK < LOSS_LINES {
                    let n = (from + CHUNK) / LOSS_PER_FILE;
                    std::fs::rename(&live, logs.join(format!("app.log.{n}"))).unwrap();
                    std::fs::write(&live, "").unwrap();
                }
                std::thread::sleep(Duration::from_millis(40));
            }
            written.store(true, Ordering::SeqCst);
        })
    };
    let mut agent = start_agent(&config, &agent_log);
    for kill in 0..6 {
        std::thread::sleep(Duration::from_millis(500 + random.below(2500)));
        if kill == 3 {
            server.kill();
            std::thread::sleep(Duration::from_secs(2));
            server.restart();
        }
        agent.kill().unwrap();
        agent.wait().unwrap();
        std::thread::sleep(Duration::from_millis(random.below(500)));
        agent = start_agent(&config, &agent_log);
    }
    writer.join().unwrap();
    assert!(written.load(Ordering::SeqCst));
    eprintln!(
        "{:.1} s: every line written, the agent killed 6 times",
        started.elapsed().as_secs_f64()
    );
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // Counting a million records takes a while: asked once a second.
        wait_until(Duration::from_secs(900), "every line in Polaris", || {
            std::thread::sleep(Duration::from_millis(900));
            held(&server) >= LOSS_LINES as u64
        })
    }));
    let _ = agent.kill();
    let _ = agent.wait();
    if result.is_err() {
        let log = std::fs::read_to_string(&agent_log).unwrap_or_default();
        panic!(
            "Polaris holds {} of {LOSS_LINES} lines\n--- logagent log (end) ---\n{}",
            held(&server),
            &log[log.len().saturating_sub(4000)..]
        );
    }
    eprintln!(
        "{:.1} s: Polaris holds {LOSS_LINES} records",
        started.elapsed().as_secs_f64()
    );
    let mut seen = vec![0u32; LOSS_LINES];
    let mut others = Vec::new();
    for message in messages(&server) {
        let number = message
            .strip_prefix("line ")
            .and_then(|m| m.strip_suffix(" of the e2e loss test"))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n < LOSS_LINES);
        match number {
            Some(n) => seen[n] += 1,
            None => others.push(message),
        }
    }
    assert!(
        others.is_empty(),
        "records no line was written as: {:?}",
        &others[..others.len().min(3)]
    );
    let twice: Vec<usize> = (0..LOSS_LINES).filter(|n| seen[*n] > 1).take(5).collect();
    let missing: Vec<usize> = (0..LOSS_LINES).filter(|n| seen[*n] == 0).take(5).collect();
    eprintln!(
        "{:.1} s: every record read back",
        started.elapsed().as_secs_f64()
    );
    assert!(twice.is_empty(), "lines stored twice, e.g. {twice:?}");
    assert!(missing.is_empty(), "lines missing, e.g. {missing:?}");
}
