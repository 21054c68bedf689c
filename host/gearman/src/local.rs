//! The local unix socket `gearctl` uses to reach the running agent: one JSON
//! [`wire::agent::Request`] per line in, one [`wire::CommandResult`] per line out, answered by
//! the same method table as Polaris's requests (`task.list`, `cron.add`, `sync.bash`, ...).
//!
//! The socket is created mode 0600: whoever can write to it runs commands as any user, so only
//! the agent's own user (root) may.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use wire::CommandResult;
use wire::agent::Request;

use crate::agent::Agent;

/// Longest request line accepted.
const MAX_LINE: usize = 1024 * 1024;

/// Binds the socket (replacing a stale one) and serves it forever.
pub async fn serve(path: &Path, agent: Arc<Agent>) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    loop {
        let (stream, _) = listener.accept().await?;
        let agent = agent.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_one(stream, agent).await {
                tracing::debug!("local client: {e}");
            }
        });
    }
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
            match serde_json::from_str::<Request>(&line) {
                Ok(request) => agent.handle(request).await,
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
