//! One agent connection, in one task: the `init` frame, then `welcome` (or `redirect` and
//! close), then requests out and results / cron runs in, each acked only after it is stored,
//! and plugin inventories, which replace the host's stored one when they differ from the last
//! from this connection (not acked: the agent repeats them with every heartbeat).
//! Pings every heartbeat; silence for 3 × heartbeat ends it. When it ends, the host jobs it had
//! in flight become `lost` (206; a later result still replaces that), frames that never left
//! go back to the queue, and the session row is deleted if it is still this connection's.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use wire::agent::{AgentMessage, ServerMessage};

use super::{Handle, Hub, Outbound};
use crate::db::{Db, DbError, SessionView};
use crate::pki::PeerCert;

/// How long a new connection may take to send `init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames waiting for one connection; a full queue sends later rows back to the queue.
const OUTBOX: usize = 16;

/// How a frame from the agent was handled.
enum Handled {
    /// Stored (or knowingly ignored): ack this sequence number.
    Ack(u64),
    /// Nothing to answer.
    Nothing,
}

/// Runs one connection to its end. `peer` is the verified client certificate: `init` must
/// claim the host it names, and that certificate must not be revoked.
pub async fn run<S>(
    mut ws: WebSocketStream<S>,
    address: SocketAddr,
    peer: PeerCert,
    hub: Arc<Hub>,
    db: Db,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some((hostname, version)) = read_init(&mut ws, address).await else {
        return;
    };
    if hostname != peer.hostname {
        tracing::warn!(%address, claimed = %hostname, certificate = %peer.hostname,
            "Agent refused: init claims another host than its certificate names.");
        let reason = format!(
            "the certificate names host `{}`, not the one init claims",
            peer.hostname
        );
        close(&mut ws, CloseCode::Policy, &reason).await;
        return;
    }
    match db.cert_valid(&peer.serial, &peer.hostname).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(%address, %hostname, "Agent refused: its certificate is revoked.");
            close(
                &mut ws,
                CloseCode::Policy,
                "the host's certificate is revoked",
            )
            .await;
            return;
        }
        Err(e) => {
            tracing::warn!(%address, %hostname, error = %e, "Agent session refused.");
            close(&mut ws, CloseCode::Again, "server busy, retry later").await;
            return;
        }
    }
    if let Some(server) = &hub.redirect {
        let frame = ServerMessage::Redirect {
            server: server.clone(),
        };
        let _ = ws.send(Message::text(frame.to_text())).await;
        let _ = ws.close(None).await;
        tracing::info!(%hostname, %address, "Agent redirected to {server}.");
        return;
    }
    let now = crate::db::now();
    let row = SessionView {
        hostname: hostname.clone(),
        replica: hub.replica.clone(),
        session: uuid::Uuid::new_v4().to_string(),
        version,
        address: address.to_string(),
        connected_at: now,
        seen_at: now,
    };
    if let Err(e) = db.open_session(&row).await {
        tracing::warn!(%hostname, %address, error = %e, "Agent session refused.");
        let reason = match e {
            DbError::Invalid(why) => why,
            _ => "server busy, retry later".into(),
        };
        close(&mut ws, CloseCode::Policy, &reason).await;
        return;
    }
    let (tx, rx) = mpsc::channel(OUTBOX);
    let close_signal = Arc::new(Notify::new());
    let handle = Handle {
        session: row.session.clone(),
        tx,
        close: close_signal.clone(),
    };
    if let Some(old) = hub.insert(&hostname, handle) {
        old.close.notify_one();
    }
    let heartbeat = hub.heartbeat.as_secs();
    let welcome = ServerMessage::Welcome { heartbeat };
    tracing::info!(%hostname, %address, session = %row.session, "Agent connected.");
    let mut link = Link {
        hub: hub.clone(),
        db: db.clone(),
        hostname: hostname.clone(),
        in_flight: HashSet::new(),
        inventory: None,
    };
    if ws.send(Message::text(welcome.to_text())).await.is_ok() {
        hub.kick();
        link.serve(&mut ws, rx, &close_signal).await;
    }
    link.finish(&row.session).await;
    tracing::info!(%hostname, %address, session = %row.session, "Agent disconnected.");
}

/// Reads the first frame; it must be `init` with a hostname.
async fn read_init<S>(ws: &mut WebSocketStream<S>, address: SocketAddr) -> Option<(String, String)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let first = match tokio::time::timeout(INIT_TIMEOUT, ws.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => text,
        Ok(Some(Ok(_))) => {
            close(ws, CloseCode::Policy, "the first frame must be init").await;
            return None;
        }
        Ok(_) => return None,
        Err(_) => {
            close(ws, CloseCode::Policy, "no init frame in time").await;
            return None;
        }
    };
    match serde_json::from_str::<AgentMessage>(first.as_str()) {
        Ok(AgentMessage::Init { hostname, version }) if !hostname.is_empty() => {
            Some((hostname, version.unwrap_or_default()))
        }
        _ => {
            tracing::info!(%address, "Agent connection without a valid init frame closed.");
            close(
                ws,
                CloseCode::Policy,
                "the first frame must be init with a hostname",
            )
            .await;
            None
        }
    }
}

async fn close<S>(ws: &mut WebSocketStream<S>, code: CloseCode, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.chars().take(120).collect::<String>().into(),
    };
    let _ = ws.close(Some(frame)).await;
}

/// The part of a session that outlives the socket: what it has in flight.
struct Link {
    hub: Arc<Hub>,
    db: Db,
    hostname: String,
    /// Host job ids sent on this connection and not answered yet.
    in_flight: HashSet<String>,
    /// A hash of the last plugin inventory frame stored from this connection.
    inventory: Option<u64>,
}

impl Link {
    /// Serves the connection until it closes, goes silent or is told to close.
    async fn serve<S>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        mut rx: mpsc::Receiver<Outbound>,
        close_signal: &Notify,
    ) where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let heartbeat = self.hub.heartbeat;
        let mut ping = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
        let mut heard = Instant::now();
        loop {
            tokio::select! {
                frame = ws.next() => {
                    heard = Instant::now();
                    let text = match frame {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(_))) | None => break,
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => {
                            tracing::debug!(hostname = %self.hostname, error = %e, "Agent link failed.");
                            break;
                        }
                    };
                    if let Handled::Ack(seq) = self.handle(text.as_str()).await {
                        let ack = ServerMessage::Ack { seq };
                        if ws.send(Message::text(ack.to_text())).await.is_err() {
                            break;
                        }
                    }
                }
                outbound = rx.recv() => {
                    let Some(Outbound::Request { id, text }) = outbound else { break };
                    self.in_flight.insert(id.clone());
                    if ws.send(Message::text(text)).await.is_err() {
                        break;
                    }
                    self.hub.telemetry.command_sent();
                }
                _ = close_signal.notified() => {
                    close(ws, CloseCode::Away, "replaced by a newer connection, revoked, or shutting down").await;
                    break;
                }
                _ = ping.tick() => {
                    if heard.elapsed() > heartbeat * 3 {
                        tracing::info!(hostname = %self.hostname, "Agent silent for 3 heartbeats; dropped.");
                        break;
                    }
                    if ws.send(Message::Ping(Default::default())).await.is_err() {
                        break;
                    }
                }
            }
        }
        // Frames that never left: back to the queue for the next connection.
        rx.close();
        let mut unsent = Vec::new();
        while let Ok(Outbound::Request { id, .. }) = rx.try_recv() {
            unsent.push(id);
        }
        if !unsent.is_empty()
            && let Err(e) = self.db.unclaim(&unsent).await
        {
            tracing::warn!(hostname = %self.hostname, error = %e, "Cannot requeue unsent commands.");
        }
    }

    /// Stores what one text frame carries; a frame that cannot be stored now is not acked, so
    /// the agent sends it again.
    async fn handle(&mut self, text: &str) -> Handled {
        let message = match serde_json::from_str::<AgentMessage>(text) {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(hostname = %self.hostname, error = %e, "Unreadable agent frame ignored.");
                return Handled::Nothing;
            }
        };
        match message {
            AgentMessage::Result { seq, result } => {
                if let Some(id) = &result.id {
                    self.in_flight.remove(id);
                }
                let Some(writer) = self.hub.results.get() else {
                    tracing::warn!(hostname = %self.hostname, "No result writer; result not stored.");
                    return Handled::Nothing;
                };
                match writer.store(&self.hostname, result).await {
                    Ok(_) => Handled::Ack(seq),
                    Err(e) => {
                        tracing::warn!(hostname = %self.hostname, error = %e, "Agent result not stored; the agent will resend it.");
                        Handled::Nothing
                    }
                }
            }
            AgentMessage::CronRun { seq, run } => {
                match self.db.store_cron_run(&self.hostname, &run).await {
                    Ok(_) => {
                        self.hub.telemetry.cron_run();
                        Handled::Ack(seq)
                    }
                    Err(e) => self.failed(seq, "cron run", e),
                }
            }
            AgentMessage::Init { .. } => {
                tracing::warn!(hostname = %self.hostname, "Second init on one connection ignored.");
                Handled::Nothing
            }
            AgentMessage::Plugins { inventory } => {
                self.store_inventory(text, &inventory).await;
                Handled::Nothing
            }
        }
    }

    /// Replaces the host's stored inventory, unless this frame repeats the last one stored
    /// from this connection (the agent sends it with every heartbeat). Not acked (the agent
    /// sends it again anyway); a failed write is retried with the next one.
    async fn store_inventory(&mut self, text: &str, inventory: &wire::plugins::PluginInventory) {
        use std::hash::{Hash as _, Hasher as _};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut hasher);
        let hash = hasher.finish();
        if self.inventory == Some(hash) {
            return;
        }
        match self.db.replace_inventory(&self.hostname, inventory).await {
            Ok(()) => self.inventory = Some(hash),
            Err(e) => {
                tracing::warn!(hostname = %self.hostname, error = %e, "Plugin inventory not stored.")
            }
        }
    }

    /// A frame the database refused: invalid data is acked and dropped (re-sending cannot
    /// help); a database failure is not acked.
    fn failed(&self, seq: u64, what: &str, error: DbError) -> Handled {
        match error {
            DbError::Invalid(why) => {
                tracing::warn!(hostname = %self.hostname, "Agent {what} dropped: {why}.");
                Handled::Ack(seq)
            }
            other => {
                tracing::warn!(hostname = %self.hostname, error = %other, "Agent {what} not stored; the agent will resend it.");
                Handled::Nothing
            }
        }
    }

    /// After the socket: in-flight jobs are lost, the session row and handle go.
    async fn finish(self, session: &str) {
        self.hub.remove(&self.hostname, session);
        let lost: Vec<String> = self.in_flight.into_iter().collect();
        if !lost.is_empty() {
            if let Err(e) = self.db.mark_lost(&lost).await {
                tracing::warn!(hostname = %self.hostname, error = %e, "Cannot mark commands lost.");
            }
            // Freed concurrency slots may let queued host jobs go.
            self.hub.kick();
        }
        if let Err(e) = self.db.close_session(&self.hostname, session).await {
            tracing::warn!(hostname = %self.hostname, error = %e, "Cannot delete the session row.");
        }
    }
}
