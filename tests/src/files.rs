//! A small HTTP file server for the tests: serves the files of one folder by name
//! (`GET /<name>`, 404 for anything else) on a free port of 127.0.0.1, records every path asked
//! for, and stops when dropped. Release files (plugin `.so`s and their `.minisig`) reach the
//! agents over real HTTP, as they would from Polaris's package server.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A running file server.
pub struct FileServer {
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The folder served.
    pub dir: PathBuf,
    asked: Arc<Mutex<Vec<String>>>,
}

impl FileServer {
    /// Serves the files of `dir`.
    pub fn start(dir: &Path) -> FileServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind a file server"));
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let (serving, seen, root) = (server.clone(), asked.clone(), dir.to_path_buf());
        let thread = std::thread::spawn(move || {
            for request in serving.incoming_requests() {
                let path = request.url().to_string();
                seen.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(path.clone());
                let name = path.trim_start_matches('/');
                let file = (!name.is_empty() && !name.contains('/') && !name.contains(".."))
                    .then(|| root.join(name))
                    .and_then(|p| std::fs::File::open(p).ok());
                let _ = match file {
                    Some(file) => request.respond(tiny_http::Response::from_file(file)),
                    None => request.respond(tiny_http::Response::empty(404)),
                };
            }
        });
        FileServer {
            server,
            thread: Some(thread),
            base: format!("http://127.0.0.1:{port}"),
            dir: dir.to_path_buf(),
            asked,
        }
    }

    /// The URL of file `name`.
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    /// Puts a copy of `from` in the folder as `name`; returns its URL.
    pub fn publish(&self, from: &Path, name: &str) -> String {
        std::fs::copy(from, self.dir.join(name)).expect("publish a file");
        self.url(name)
    }

    /// Every path asked for so far, in order.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `SHA256:<hex>` of a file, as release checksums are written.
pub fn checksum(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("run sha256sum");
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text.split_whitespace().next().expect("sha256sum output");
    format!("SHA256:{hex}")
}
