//! The local unix socket `gearctl` uses to reach the running agent: one JSON
//! [`wire::agent::Request`] per line in (parsed by [`Agent::handle_frame`], so an unknown
//! method is 3022 and bad parameters 3021, with the request's id), one [`wire::CommandResult`] per line out, answered by
//! the same method table as Polaris's requests (`task.list`, `cron.add`, `sync.bash`, ...).
//!
//! Whoever can use the socket runs commands as any user, so it is bound under a restrictive
//! umask (born `0600`; `0660` and the group of `socket_group` when one is configured) and each
//! connection's peer is checked with `SO_PEERCRED` ([`agentkit::socket`]): root, the agent's
//! own user and members of `socket_group` are served; anyone else gets one 3031
//! `Unauthorized` line and the connection is closed, before any request of theirs is read.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agentkit::socket::SocketAccess;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use wire::CommandResult;

use crate::agent::Agent;

/// Longest request line accepted.
const MAX_LINE: usize = 1024 * 1024;
/// How long a refused peer's request is drained (so its write does not fail before it reads
/// the refusal).
const REFUSED_DRAIN: Duration = Duration::from_secs(2);

/// Binds the socket at `path` (replacing a stale one) for `access`. Call it while the agent
/// starts (the umask is process-wide).
pub fn bind(path: &Path, access: &SocketAccess) -> anyhow::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    let listener = agentkit::socket::bind(path, access)?;
    listener.set_nonblocking(true)?;
    Ok(UnixListener::from_std(listener)?)
}

/// Serves `listener` forever, each connection checked against `access`.
pub async fn serve(
    listener: UnixListener,
    access: SocketAccess,
    agent: Arc<Agent>,
) -> anyhow::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let refusal = access.admit(&stream).err();
        let agent = agent.clone();
        tokio::spawn(async move {
            let served = match refusal {
                Some(why) => refuse(stream, why).await,
                None => serve_one(stream, agent).await,
            };
            if let Err(e) = served {
                tracing::debug!("local client: {e}");
            }
        });
    }
}

/// Answers a refused peer with one 3031 line, then closes (after draining what it sent, for a
/// short while, so its own write does not fail first).
async fn refuse(mut stream: UnixStream, why: String) -> std::io::Result<()> {
    tracing::warn!("Local socket: {why}");
    let result = CommandResult::failed(wire::retcode::UNAUTHORIZED, format!("Unauthorized: {why}"));
    let mut text = serde_json::to_string(&result).map_err(std::io::Error::other)?;
    text.push('\n');
    stream.write_all(text.as_bytes()).await?;
    stream.shutdown().await?;
    let mut sink = [0u8; 4096];
    let mut left: usize = 64 * 1024;
    let _ = tokio::time::timeout(REFUSED_DRAIN, async {
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
    Ok(())
}

async fn serve_one(stream: UnixStream, agent: Arc<Agent>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        let result = if line.len() > MAX_LINE {
            CommandResult::failed(
                wire::retcode::INVALID_PARAMS,
                "Invalid params: line too long",
            )
        } else {
            match serde_json::from_str::<serde_json::Value>(&line) {
                Ok(frame) => agent.handle_frame(frame).await,
                Err(e) => CommandResult::failed(
                    wire::retcode::INVALID_PARAMS,
                    format!("Invalid params: {e}"),
                ),
            }
        };
        let mut text = serde_json::to_string(&result).map_err(std::io::Error::other)?;
        text.push('\n');
        write.write_all(text.as_bytes()).await?;
    }
    Ok(())
}
