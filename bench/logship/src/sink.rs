//! The TCP sink both shippers send to: it accepts connections on 127.0.0.1, counts newlines
//! and bytes, and notes when the last byte came. One sink per run.

use std::io::Read as _;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the sink has received.
#[derive(Default)]
pub struct Received {
    /// Newlines (one per forwarded line).
    pub lines: AtomicU64,
    /// Bytes.
    pub bytes: AtomicU64,
    /// When the last bytes came.
    pub last: Mutex<Option<Instant>>,
}

/// A listening sink.
pub struct Sink {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its counters.
    pub received: Arc<Received>,
}

impl Sink {
    /// Listens on a free port; every connection is read on its own thread.
    pub fn start() -> anyhow::Result<Sink> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let received = Arc::new(Received::default());
        let counters = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let counters = counters.clone();
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 1 << 20];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 {
                            return;
                        }
                        let lines = buf[..n].iter().filter(|b| **b == b'\n').count();
                        counters.lines.fetch_add(lines as u64, Ordering::Relaxed);
                        counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
                        if let Ok(mut last) = counters.last.lock() {
                            *last = Some(Instant::now());
                        }
                    }
                });
            }
        });
        Ok(Sink { port, received })
    }

    /// Lines received so far.
    pub fn lines(&self) -> u64 {
        self.received.lines.load(Ordering::Relaxed)
    }

    /// When the last bytes came.
    pub fn last(&self) -> Option<Instant> {
        self.received.last.lock().ok().and_then(|l| *l)
    }
}
