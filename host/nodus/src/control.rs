//! The control socket: a unix socket on which `nodusctl` sends one JSON request per
//! connection and reads one JSON answer (see `wire::control`).
//!
//! The socket is bound under a restrictive umask: born `0600`, then `0660` and of the group
//! of `socket_group` when one is configured ([`agentkit::socket`]). Each connection's peer is
//! checked with `SO_PEERCRED`: root, nodus's own user and members of `socket_group` are
//! answered; anyone else gets one `permission denied: ...` error answer and the connection is
//! closed, before any request of theirs is read. A socket file left by a dead agent is
//! replaced; one answered by a live agent is an error.

use std::io::{BufRead, BufReader, Read as _, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agentkit::socket::SocketAccess;

use wire::control::{Request, Response};

use crate::agent::Agent;

/// Longest request line accepted.
const MAX_REQUEST: u64 = 64 * 1024;

/// Binds the control socket at `path` for `access`.
pub fn bind(path: &Path, access: &SocketAccess) -> anyhow::Result<UnixListener> {
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            anyhow::bail!(
                "another nodus is running on control socket {}",
                path.display()
            );
        }
        std::fs::remove_file(path)?;
    }
    agentkit::socket::bind(path, access)
}

/// Serves requests on `listener` for `agent`, one short-lived thread per connection; peers
/// `access` does not let in are refused.
pub fn serve(listener: UnixListener, access: SocketAccess, agent: Arc<Agent>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let refusal = access.admit(&stream).err();
        let agent = agent.clone();
        let _ = std::thread::Builder::new()
            .name("control".into())
            .spawn(move || {
                let answered = match refusal {
                    Some(why) => refuse(stream, &why),
                    None => answer(stream, &agent),
                };
                if let Err(e) = answered {
                    tracing::debug!("control connection: {e}");
                }
            });
    }
}

/// Answers a refused peer with one error line, then closes (after draining what it sent, for
/// a short while, so its own write does not fail first).
fn refuse(stream: UnixStream, why: &str) -> std::io::Result<()> {
    tracing::warn!("Control socket: {why}");
    let mut text =
        serde_json::to_string(&Response::error(why)).unwrap_or_else(|_| "{\"ok\":false}".into());
    text.push('\n');
    (&stream).write_all(text.as_bytes())?;
    stream.shutdown(std::net::Shutdown::Write)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let _ = std::io::copy(&mut (&stream).take(64 * 1024), &mut std::io::sink());
    Ok(())
}

fn answer(stream: UnixStream, agent: &Agent) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut line = String::new();
    BufReader::new(std::io::Read::take(&stream, MAX_REQUEST)).read_line(&mut line)?;
    let response = match serde_json::from_str::<Request>(&line) {
        Ok(request) => {
            tracing::debug!(request = %logged(&request), "control request");
            agent.handle(request)
        }
        Err(e) => Response::error(format!("bad request: {e}")),
    };
    let mut text = serde_json::to_string(&response).unwrap_or_else(|_| "{\"ok\":false}".into());
    text.push('\n');
    (&stream).write_all(text.as_bytes())
}

/// A request as the log shows it: option values (which may be secrets) left out, their
/// names kept.
fn logged(request: &Request) -> String {
    match request {
        Request::InstanceConfigure {
            plugin,
            instance,
            options,
        } => {
            let names: Vec<&str> = options.keys().map(String::as_str).collect();
            format!(
                "InstanceConfigure {{ plugin: {plugin:?}, instance: {instance:?}, options: [{}] }}",
                names.join(", ")
            )
        }
        other => format!("{other:?}"),
    }
}

/// Removes the socket file when the agent stops.
pub struct SocketFile(pub PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_requests_leave_option_values_out() {
        let request: Request = serde_json::from_str(
            r#"{"command":"instance_configure","plugin":"http","options":{"URL":"u","Password":"hunter2"}}"#,
        )
        .unwrap();
        let line = logged(&request);
        assert!(line.contains("Password") && line.contains("URL"), "{line}");
        assert!(!line.contains("hunter2"), "{line}");
        assert!(logged(&Request::PluginList).contains("PluginList"));
    }
}
