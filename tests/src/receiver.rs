//! A metrics receiver for tests of nodus's http writer: a real HTTP server on 127.0.0.1 that
//! counts the value lists of the batches it accepts, and refuses them (503) while told to.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A metrics receiver on 127.0.0.1: answers 503 while `failing`, else 200, and counts the value
/// lists of the batches it accepted.
pub struct Receiver {
    /// The URL to POST to.
    pub url: String,
    /// While true, every POST is answered 503.
    pub failing: Arc<AtomicBool>,
    /// Value lists of the batches answered 200.
    pub accepted: Arc<AtomicU64>,
    /// Value lists of the batches answered 503.
    pub refused: Arc<AtomicU64>,
}

impl Receiver {
    /// Starts one, failing until `failing` is cleared.
    pub fn start() -> Receiver {
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
