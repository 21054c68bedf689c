//! Write queues and read penalties in a running nodus:
//! - a write target that fails for a while and then recovers loses nothing that fit in the
//!   queue, and the drop counter accounts exactly for the rest; reads go on meanwhile;
//! - a read that outlives its timeout is suspended for longer, shown in `nodusctl plugin list`,
//!   and restored once it reads well again.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use e2e::nodus::Nodus;

fn ticker() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| e2e::build_fixture("ticker-plugin", "ticker", None))
}

/// A metrics receiver on 127.0.0.1: answers 503 while `failing`, else 200, and counts the value
/// lists of the batches it accepted.
struct Receiver {
    url: String,
    failing: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/v1/metrics", listener.local_addr().unwrap());
        let failing = Arc::new(AtomicBool::new(true));
        let accepted = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let (f, a, r) = (failing.clone(), accepted.clone(), refused.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    let mut got_request = false;
                    while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                        got_request = true;
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        line.clear();
                    }
                    if !got_request {
                        break;
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        break;
                    }
                    let lists = serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v.as_array().map(|a| a.len() as u64))
                        .unwrap_or(0);
                    let status = if f.load(Ordering::SeqCst) {
                        r.fetch_add(lists, Ordering::SeqCst);
                        "503 Service Unavailable"
                    } else {
                        a.fetch_add(lists, Ordering::SeqCst);
                        "200 OK"
                    };
                    let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                    if reader.get_mut().write_all(answer.as_bytes()).is_err() {
                        break;
                    }
                }
            }
        });
        Receiver {
            url,
            failing,
            accepted,
            refused,
        }
    }
}

fn num(status: &serde_json::Value, path: &[&str]) -> u64 {
    let mut v = status;
    for key in path {
        v = &v[*key];
    }
    v.as_u64()
        .unwrap_or_else(|| panic!("no {path:?} in {status}"))
}

#[test]
fn failing_writer_recovers_and_drop_counter_is_exact() {
    let receiver = Receiver::start();
    let url = receiver.url.clone();
    let nodus = Nodus::start_with(
        move |_| {
            format!(
                "hostname = \"testhost\"\nwrite_queue_limit_high = 60\nwrite_queue_limit_low = 40\n\
                 write_batch = 10\nwrite_retry_max = 0.3\n\
                 [plugin.ticker]\ninterval = 0.05\n[plugin.ticker.options]\nLists = 5\n\
                 [plugin.http.options]\nURL = {url:?}\n"
            )
        },
        &["http"],
        &[(ticker(), "ticker.so")],
    );

    // While the target fails, reads go on and the queue overflows.
    let status = nodus.wait_for("http", Duration::from_secs(20), |s| {
        num(s, &["queue", "dropped"]) > 0
    });
    assert!(num(&status, &["errors"]) > 0, "{status}");
    let reads_then = num(&nodus.plugin("ticker").unwrap(), &["calls"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        num(&nodus.plugin("ticker").unwrap(), &["calls"]) > reads_then + 3,
        "reads stalled behind the failing writer"
    );
    assert_eq!(receiver.accepted.load(Ordering::SeqCst), 0);

    // The target recovers; stop producing, let the queue drain.
    receiver.failing.store(false, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    assert!(nodus.ctl(&["plugin", "stop", "ticker"]).status.success());
    let drained = nodus.wait_for("http", Duration::from_secs(20), |s| {
        num(s, &["queue", "len"]) == 0
    });
    let produced = num(&nodus.plugin("ticker").unwrap(), &["values"]);
    let dropped = num(&drained, &["queue", "dropped"]);
    let delivered = receiver.accepted.load(Ordering::SeqCst);
    assert!(
        dropped > 0 && delivered > 0,
        "dropped {dropped}, delivered {delivered}"
    );
    assert_eq!(
        delivered + dropped,
        produced,
        "every value is delivered or counted as dropped, once"
    );
    assert_eq!(
        num(&drained, &["values"]),
        delivered,
        "the writer's own count agrees with the receiver"
    );
    assert!(receiver.refused.load(Ordering::SeqCst) > 0);
    assert!(nodus.stop());
}

#[test]
fn slow_read_is_penalised_and_restored() {
    let nodus = Nodus::start_with(
        |_| {
            "[plugin.ticker]\ninterval = 0.1\ntimeout = 0.05\n[plugin.ticker.options]\nSleep = 0.12\n".into()
        },
        &[],
        &[(ticker(), "ticker.so")],
    );
    let status = nodus.wait_for("ticker", Duration::from_secs(10), |s| {
        s["interval"].as_f64().unwrap_or(0.0) >= 0.4
    });
    assert_eq!(status["base_interval"], 0.1);
    assert!(num(&status, &["errors"]) >= 2, "{status}");
    let log = nodus.log();
    assert!(
        log.contains("read-function of plugin `ticker` took"),
        "{log}"
    );
    assert!(log.contains("Will suspend it for 0.2 s"), "{log}");
    let table = String::from_utf8_lossy(&nodus.ctl(&["plugin", "list"]).stdout).into_owned();
    assert!(
        table.contains("(0.1s)"),
        "the table shows the penalty next to the base: {table}"
    );
    assert!(nodus.stop());

    // A plugin that fails every other read keeps coming back to its base interval.
    let nodus = Nodus::start_with(
        |_| "[plugin.ticker]\ninterval = 0.05\n[plugin.ticker.options]\nFailEvery = 2\n".into(),
        &[],
        &[(ticker(), "ticker.so")],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !nodus.log().contains("works again; interval back to 0.05 s") {
        assert!(Instant::now() < deadline, "{}", nodus.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(nodus.log().contains("read-function of plugin `ticker` failed: read 2 fails on purpose. Will suspend it for 0.1 s."));
    assert!(nodus.stop());
}
