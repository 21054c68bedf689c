//! One connection's exchange: `init` and its answer, then requests in, results out, acks in,
//! pings both ways, and the plugin inventory out (after `welcome`, when a new one is built,
//! and each heartbeat, see the module above).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use wire::agent::{AgentMessage, ServerMessage};
use wire::plugins::PluginInventory;

use super::{Link, LinkConfig, Ws};
use crate::plugins::inventory::Latest;

/// How many outbox messages are written before one flush.
const BATCH: usize = 256;

/// Sends `init` and returns the server's first answer (`welcome` or `redirect`).
pub async fn greet(mut ws: Ws, config: &LinkConfig) -> anyhow::Result<(Ws, ServerMessage)> {
    let init = AgentMessage::Init {
        hostname: config.hostname.clone(),
        version: Some(config.version.clone()),
    };
    ws.send(Message::text(serde_json::to_string(&init)?))
        .await?;
    loop {
        let frame = ws
            .next()
            .await
            .context("closed before answering init")?
            .context("reading the answer to init")?;
        match frame {
            Message::Text(text) => {
                let answer = ServerMessage::parse(&text)
                    .with_context(|| format!("bad answer to init: {text}"))?;
                return Ok((ws, answer));
            }
            Message::Close(close) => anyhow::bail!("refused: {close:?}"),
            _ => continue,
        }
    }
}

/// Serves one accepted connection until it closes or goes silent for 3 heartbeats.
pub async fn serve<L: Link, S>(ws: WebSocketStream<S>, link: Arc<L>, heartbeat: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    // Everything unacknowledged is (re)sent on a new connection: the outbox starts from 0.
    let mut sent_upto = 0;
    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval(heartbeat);
    ping.tick().await;
    // The latest inventory goes out at once (if one was built), then every new one.
    let mut plugins = link.plugin_inventory();
    if let Some(latest) = &mut plugins {
        latest.mark_changed();
    }
    link.refresh_plugin_inventory();
    loop {
        let changed = link.outbox_changed().notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let batch = link.pending(sent_upto, BATCH);
        if !batch.is_empty() {
            for message in &batch {
                let text = match serde_json::to_string(message) {
                    Ok(text) => text,
                    Err(e) => {
                        tracing::error!("cannot encode an outbox message: {e}");
                        continue;
                    }
                };
                if let Err(e) = sink.feed(Message::text(text)).await {
                    tracing::warn!("send failed: {e}");
                    return;
                }
            }
            if let Err(e) = sink.flush().await {
                tracing::warn!("send failed: {e}");
                return;
            }
            sent_upto = batch.iter().map(seq_of).max().unwrap_or(sent_upto);
            continue;
        }
        tokio::select! {
            frame = stream.next() => {
                last_heard = Instant::now();
                match frame {
                    Some(Ok(Message::Text(text))) => match ServerMessage::parse(&text) {
                        Ok(ServerMessage::Request(request)) => {
                            let link = link.clone();
                            tokio::spawn(async move { link.handle(request).await });
                        }
                        Ok(ServerMessage::Refused(refused)) => {
                            tracing::warn!(id = %refused.id, error = %refused.error,
                                "Refusing a command.");
                            link.refuse(*refused);
                        }
                        Ok(ServerMessage::Ack { seq }) => link.ack(seq),
                        Ok(other) => tracing::debug!("ignoring {other:?} mid-session"),
                        Err(e) => tracing::warn!("ignoring a bad frame ({e}): {text}"),
                    },
                    Some(Ok(Message::Close(_))) | None => return,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!("receive failed: {e}");
                        return;
                    }
                }
            }
            _ = &mut changed => {}
            inventory = next_inventory(&mut plugins) => match inventory {
                Some(Some(inventory)) => {
                    let text = match serde_json::to_string(&AgentMessage::Plugins {
                        inventory: (*inventory).clone(),
                    }) {
                        Ok(text) => text,
                        Err(e) => {
                            tracing::error!("cannot encode the plugin inventory: {e}");
                            continue;
                        }
                    };
                    if let Err(e) = sink.send(Message::text(text)).await {
                        tracing::warn!("send failed: {e}");
                        return;
                    }
                    tracing::debug!(summary = %summary(&inventory), "Plugin inventory sent.");
                }
                Some(None) => {}
                // The agent builds no more inventories.
                None => plugins = None,
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > heartbeat * 3 {
                    tracing::warn!("server silent for {} s", last_heard.elapsed().as_secs());
                    return;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
                link.refresh_plugin_inventory();
            }
        }
    }
}

/// The next inventory built (`Some(None)` while none has been), or `None` when no more will
/// be; never ready for a link without inventories.
async fn next_inventory(plugins: &mut Option<Latest>) -> Option<Option<Arc<PluginInventory>>> {
    let Some(latest) = plugins else {
        return std::future::pending().await;
    };
    match latest.changed().await {
        Ok(()) => Some(latest.borrow_and_update().clone()),
        Err(_) => None,
    }
}

/// One line for the log: each agent's plugins with version and instance states, its
/// skipped files, or why it could not be asked.
pub fn summary(inventory: &PluginInventory) -> String {
    let agents: Vec<String> = inventory
        .agents
        .iter()
        .map(|agent| {
            if let Some(error) = &agent.error {
                return format!("{}: {error}", agent.agent);
            }
            let plugins: Vec<String> = agent
                .plugins
                .iter()
                .map(|p| {
                    let states: Vec<String> = p
                        .instances
                        .iter()
                        .map(|i| format!("{:?}", i.state).to_lowercase())
                        .collect();
                    format!("{} {} ({})", p.name, p.version, states.join(","))
                })
                .collect();
            format!(
                "{}: [{}], {} skipped",
                agent.agent,
                plugins.join(", "),
                agent.skipped.len()
            )
        })
        .collect();
    agents.join("; ")
}

fn seq_of(message: &AgentMessage) -> u64 {
    match message {
        AgentMessage::Result { seq, .. } | AgentMessage::CronRun { seq, .. } => *seq,
        AgentMessage::Init { .. } | AgentMessage::Plugins { .. } => 0,
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
