//! The loss test, scaled to a test run: numbered lines written across several rotations while
//! the agent is killed with SIGKILL five times at random moments and the receiver refuses
//! everything for a while. Counted by (file, offset), as Polaris stores records, every line is
//! there exactly once: no gap, and no line under two different (file, offset) keys.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Receiver, Setup, append, lines, set};

const LINES: usize = 200_000;
const PER_FILE: usize = 40_000;

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

#[test]
fn every_line_once_across_rotations_kill_9_and_a_receiver_outage() {
    let receiver = Receiver::start();
    let setup = Setup::new(
        &receiver.url,
        "[[source]]\nname = \"app\"\npath = \"LOGS/app.log*\"\n",
    );
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut random = Random(seed);
    let log = setup.logs.join("app.log");
    append(&log, &["start".to_string()]);
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (log, logs, done) = (log.clone(), setup.logs.clone(), done.clone());
        std::thread::spawn(move || {
            for chunk in 0..LINES / 1000 {
                append(&log, &lines("n", chunk * 1000..(chunk + 1) * 1000));
                if (chunk + 1) * 1000 % PER_FILE == 0 {
                    // Rename and create, keeping every rotation (nothing is deleted).
                    let n = (chunk + 1) * 1000 / PER_FILE;
                    std::fs::rename(&log, logs.join(format!("app.log.{n}"))).unwrap();
                    std::fs::write(&log, "").unwrap();
                }
                std::thread::sleep(Duration::from_millis(30));
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut agent = setup.start();
    for kill in 0..5 {
        std::thread::sleep(Duration::from_millis(200 + random.below(1000)));
        if kill == 2 {
            receiver.failing.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(500 + random.below(1000)));
            receiver.failing.store(false, Ordering::SeqCst);
        }
        agent.kill9();
        std::thread::sleep(Duration::from_millis(random.below(500)));
        agent = setup.start();
    }
    writer.join().unwrap();
    assert!(done.load(Ordering::SeqCst));
    let mut want = lines("n", 0..LINES);
    want.push("start".into());
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        receiver.wait_for(&set(&want))
    }));
    if let Err(e) = waited {
        let socket = setup.dir.path().join("logagent.sock");
        eprintln!("agent: {:#}", common::snapshot(&socket));
        let log = setup.log();
        eprintln!("log: {}", &log[log.len().saturating_sub(3000)..]);
        std::panic::resume_unwind(e);
    }
    let records = receiver.records.lock().unwrap().clone();
    let mut stored: BTreeMap<(String, u64), String> = BTreeMap::new();
    for r in &records {
        let previous = stored.insert((r.file.clone(), r.offset), r.message.clone());
        if let Some(previous) = previous {
            assert_eq!(previous, r.message, "one (file, offset), two records");
        }
    }
    let mut keys_per_line: BTreeMap<&str, usize> = BTreeMap::new();
    for message in stored.values() {
        *keys_per_line.entry(message).or_default() += 1;
    }
    let twice: Vec<_> = keys_per_line
        .iter()
        .filter(|(_, n)| **n > 1)
        .take(5)
        .collect();
    assert!(twice.is_empty(), "lines stored under two keys: {twice:?}");
    assert_eq!(stored.len(), want.len(), "every line once");
    eprintln!(
        "{} records received, {} stored once, {} sent again after a kill",
        records.len(),
        stored.len(),
        records.len() - stored.len()
    );
    agent.stop();
}
