//! The control socket: a unix socket on which `nodusctl` sends one JSON request per
//! connection and reads one JSON answer (see `wire::control`).
//!
//! The socket is created mode 0660, so root and the socket's group may control the agent. A
//! socket file left by a dead agent is replaced; one answered by a live agent is an error.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wire::control::{Request, Response};

use crate::agent::Agent;

/// Longest request line accepted.
const MAX_REQUEST: u64 = 64 * 1024;

/// Binds the control socket at `path`.
pub fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            anyhow::bail!(
                "another nodus is running on control socket {}",
                path.display()
            );
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| anyhow::anyhow!("cannot bind control socket {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

/// Serves requests on `listener` for `agent`, one short-lived thread per connection.
pub fn serve(listener: UnixListener, agent: Arc<Agent>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let agent = agent.clone();
        let _ = std::thread::Builder::new()
            .name("control".into())
            .spawn(move || {
                if let Err(e) = answer(stream, &agent) {
                    tracing::debug!("control connection: {e}");
                }
            });
    }
}

fn answer(stream: UnixStream, agent: &Agent) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut line = String::new();
    BufReader::new(std::io::Read::take(&stream, MAX_REQUEST)).read_line(&mut line)?;
    let response = match serde_json::from_str::<Request>(&line) {
        Ok(request) => {
            tracing::debug!(?request, "control request");
            agent.handle(request)
        }
        Err(e) => Response::error(format!("bad request: {e}")),
    };
    let mut text = serde_json::to_string(&response).unwrap_or_else(|_| "{\"ok\":false}".into());
    text.push('\n');
    (&stream).write_all(text.as_bytes())
}

/// Removes the socket file when the agent stops.
pub struct SocketFile(pub PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
