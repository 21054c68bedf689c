//! What the logagent tests share: a real HTTP receiver that stores every batch it receives
//! and acknowledges it (or refuses while told to, or holds the answer back), and the real
//! `logagent` binary run on a configuration in a temporary folder.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wire::logs::{LogAck, LogBatch, LogRecord, SourceStatus};

/// A log receiver on 127.0.0.1 standing in for Polaris's `POST /api/v1/logs`.
pub struct Receiver {
    /// The base URL (`polaris = ...`).
    pub url: String,
    /// Every record received, in arrival order (duplicates included).
    pub records: Arc<Mutex<Vec<LogRecord>>>,
    /// The sources of the last batch.
    pub sources: Arc<Mutex<Vec<SourceStatus>>>,
    /// While true, batches are answered 503 and not stored.
    pub failing: Arc<AtomicBool>,
    /// While true, batches are stored but the answer is held back (the agent waits).
    pub holding: Arc<AtomicBool>,
    /// Batches stored while holding.
    pub held_batches: Arc<AtomicU64>,
    /// A batch holding a record whose message contains this is refused as Polaris refuses
    /// a bad record (HTTP 400, retcode 3021) and not stored.
    pub refuse_containing: Arc<Mutex<Option<String>>>,
    /// Batches refused so.
    pub refused_batches: Arc<AtomicU64>,
    /// The agent's folder, whose log and socket are shown when a wait fails.
    pub debug_dir: Mutex<Option<PathBuf>>,
}

impl Receiver {
    /// Starts one.
    pub fn start() -> Receiver {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let records: Arc<Mutex<Vec<LogRecord>>> = Arc::default();
        let sources: Arc<Mutex<Vec<SourceStatus>>> = Arc::default();
        let failing = Arc::new(AtomicBool::new(false));
        let holding = Arc::new(AtomicBool::new(false));
        let held_batches = Arc::new(AtomicU64::new(0));
        let refuse_containing: Arc<Mutex<Option<String>>> = Arc::default();
        let refused_batches = Arc::new(AtomicU64::new(0));
        let (r, s, f, h, hb) = (
            records.clone(),
            sources.clone(),
            failing.clone(),
            holding.clone(),
            held_batches.clone(),
        );
        let (rc, rb) = (refuse_containing.clone(), refused_batches.clone());
        std::thread::spawn(move || {
            for mut request in server.incoming_requests() {
                if f.load(Ordering::SeqCst) {
                    let _ = request.respond(tiny_http::Response::empty(503));
                    continue;
                }
                let mut body = Vec::new();
                let _ = request.as_reader().read_to_end(&mut body);
                // Compressed as logagent sends Polaris its bodies.
                let zstd = request.headers().iter().any(|h| {
                    h.field.equiv("Content-Encoding")
                        && h.value.as_str().eq_ignore_ascii_case("zstd")
                });
                if zstd {
                    body = zstd::stream::decode_all(&body[..]).unwrap_or_default();
                }
                let Ok(batch) = serde_json::from_slice::<LogBatch>(&body) else {
                    let _ = request.respond(tiny_http::Response::empty(400));
                    continue;
                };
                // Both shapes: `records` and grouped `files` (what logagent sends now).
                let batch_sources = batch.sources.clone();
                let batch_records = batch.all_records();
                let marked =
                    rc.lock().unwrap().clone().and_then(|mark| {
                        batch_records.iter().position(|r| r.message.contains(&mark))
                    });
                if let Some(i) = marked {
                    rb.fetch_add(1, Ordering::SeqCst);
                    let answer = serde_json::json!({"errcode": 3021,
                        "message": format!("Invalid params: record {i}: marked as bad")});
                    let _ = request.respond(
                        tiny_http::Response::from_string(answer.to_string()).with_status_code(400),
                    );
                    continue;
                }
                let stored = batch_records.len() as u64;
                r.lock().unwrap().extend(batch_records);
                *s.lock().unwrap() = batch_sources;
                if h.load(Ordering::SeqCst) {
                    hb.fetch_add(1, Ordering::SeqCst);
                    // The answer never comes: the agent is killed while it waits.
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_secs(3600));
                        drop(request);
                    });
                    continue;
                }
                let ack = serde_json::to_string(&LogAck {
                    stored,
                    duplicates: 0,
                })
                .unwrap();
                let _ = request.respond(tiny_http::Response::from_string(ack));
            }
        });
        Receiver {
            url,
            records,
            sources,
            failing,
            holding,
            held_batches,
            refuse_containing,
            refused_batches,
            debug_dir: Mutex::new(None),
        }
    }

    /// The messages received, with how many times each.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in self.records.lock().unwrap().iter() {
            *counts.entry(r.message.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// Waits (up to two minutes) until every message in `want` was received; panics with
    /// what is missing otherwise.
    pub fn wait_for(&self, want: &BTreeSet<String>) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let counts = self.counts();
            let missing: Vec<&String> = want.iter().filter(|m| !counts.contains_key(*m)).collect();
            if missing.is_empty() {
                return;
            }
            if Instant::now() >= deadline
                && let Some(dir) = self.debug_dir.lock().unwrap().as_ref()
            {
                eprintln!("agent: {:#}", snapshot(&dir.join("logagent.sock")));
                let log = std::fs::read_to_string(dir.join("logagent.log")).unwrap_or_default();
                eprintln!("log: {}", &log[log.len().saturating_sub(3000)..]);
            }
            assert!(
                Instant::now() < deadline,
                "{} messages never arrived, first: {:?}",
                missing.len(),
                &missing[..missing.len().min(5)]
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Asserts no message arrived twice.
    pub fn assert_once(&self) {
        let twice: Vec<(String, usize)> = self
            .counts()
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .take(5)
            .collect();
        assert!(twice.is_empty(), "received more than once: {twice:?}");
    }

    /// The last status of source `name`.
    pub fn source(&self, name: &str) -> Option<SourceStatus> {
        self.sources
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.name == name)
            .cloned()
    }
}

/// Numbered lines `prefix-<from>` .. `prefix-<to - 1>`.
pub fn lines(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i:07}")).collect()
}

/// Appends `lines` to `path`, one per line.
pub fn append(path: &Path, lines: &[String]) {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let mut text = lines.join("\n");
    text.push('\n');
    file.write_all(text.as_bytes()).unwrap();
}

/// A temporary folder with a `logs/` folder and a configuration for `receiver`.
pub struct Setup {
    /// The folder.
    pub dir: tempfile::TempDir,
    /// Its `logs/`.
    pub logs: PathBuf,
    /// The configuration file.
    pub config: PathBuf,
}

impl Setup {
    /// A configuration with `sources` (TOML `[[source]]` tables, `LOGS` replaced by the logs
    /// folder) and fast polling.
    pub fn new(url: &str, sources: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let config = dir.path().join("logagent.conf");
        let root = dir.path().display();
        let text = format!(
            "polaris = \"{url}\"\nstate_dir = \"{root}/state\"\nsocket = \"{root}/logagent.sock\"\n\
             cert = \"{root}/none.pem\"\nkey = \"{root}/none.key\"\n\
             poll_ms = 50\nscan_s = 1\nidle_close_s = 1\nretry_max_s = 1\nbatch_records = 500\n{}",
            sources.replace("LOGS", &logs.display().to_string())
        );
        std::fs::write(&config, text).unwrap();
        Setup { dir, logs, config }
    }

    /// Starts the agent in the foreground.
    pub fn start(&self) -> Agent {
        let child = Command::new(env!("CARGO_BIN_EXE_logagent"))
            .arg("-f")
            .arg("-C")
            .arg(&self.config)
            .arg("-L")
            .arg(self.dir.path().join("logagent.log"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Agent(child)
    }

    /// Runs `logagent` with `args` and this configuration; its exit status and stdout.
    pub fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_logagent"))
            .args(args)
            .arg("-C")
            .arg(&self.config)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("logagent.log")).unwrap_or_default()
    }
}

/// A running agent, killed (SIGKILL) when dropped.
pub struct Agent(pub Child);

impl Agent {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// SIGKILL, and reaped.
    pub fn kill9(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// SIGTERM, and waits for it to stop.
    pub fn stop(mut self) {
        send_sigterm(self.0.id());
        let _ = self.0.wait();
    }

    /// Descriptors it has open now.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.0.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn send_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

/// Waits (up to two minutes) until `done` holds.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The set of `lines`.
pub fn set(lines: &[String]) -> BTreeSet<String> {
    lines.iter().cloned().collect()
}

/// What the agent's control socket answers now (JSON).
pub fn snapshot(socket: &Path) -> serde_json::Value {
    // Before the agent has bound its socket, nothing.
    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(socket) else {
        return serde_json::Value::Null;
    };
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    serde_json::from_str(&text).unwrap()
}
