//! The control socket: `logagentctl` connects and reads one JSON [`Snapshot`] (sources with
//! offsets, lag and error counts; files with their offsets), then the connection closes. The
//! socket is bound under a restrictive umask (0600, or 0660 with `socket_group`) and every
//! peer is checked with `SO_PEERCRED` ([`agentkit::socket`]), as nodus's.

use std::io::Write as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use agentkit::socket::SocketAccess;

use crate::agent::Snapshot;

/// Binds the control socket at `path` (a file left by a dead agent is replaced).
pub fn bind(path: &Path, access: &SocketAccess) -> anyhow::Result<UnixListener> {
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            anyhow::bail!(
                "another logagent is running on control socket {}",
                path.display()
            );
        }
        std::fs::remove_file(path)?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    agentkit::socket::bind(path, access)
}

/// Answers every connection with the snapshot (or a refusal line for peers not let in).
pub fn serve(listener: UnixListener, access: SocketAccess, snapshot: Arc<Mutex<Snapshot>>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let text = match access.admit(&stream) {
            Err(why) => {
                tracing::warn!("Control socket: {why}");
                serde_json::json!({ "error": why }).to_string()
            }
            Ok(_) => match snapshot.lock() {
                Ok(s) => serde_json::to_string(&*s).unwrap_or_default(),
                Err(_) => "{}".into(),
            },
        };
        let _ = stream.write_all(text.as_bytes());
        let _ = stream.write_all(b"\n");
    }
}

/// Removes the socket file when the agent stops.
pub struct SocketFile(pub PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
