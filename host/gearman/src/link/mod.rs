//! The agent's link to Polaris: find a server, connect, say `init`, follow a `redirect`, then
//! hold one TLS WebSocket, running what arrives and sending back what the outbox holds.
//!
//! Framing and messages are `wire::agent`'s (JSON text frames over `wss://…/agent/ws`). The
//! link knows the protocol only: what a request does and where results wait is the [`Link`]
//! implementation's business (gearman's is [`crate::agent::Agent`] plus `gearman.db`; the P2
//! swarm's is in memory), so one code path serves the real agent and the benchmark.
//!
//! Reconnects: every address of every server in list order; when all fail, a back-off that
//! doubles from `backoff_min` to `backoff_max` with ±50 % jitter, so a restarted Polaris is not
//! met by the whole fleet in the same second. A redirect replaces the list for the next
//! attempts; when that session ends, the configured list is used again.
//!
//! Besides results, a session sends the host's plugin inventory: after the server's
//! `welcome`, whenever the agent builds a new one (after every `plugin.*` command), and once
//! per heartbeat, when it asks the agent for a fresh one. Building one may wait for nodus; the
//! link never does: it sends what has been built.

mod resolve;
mod session;
mod tls;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use wire::agent::{AgentMessage, Refused, Request, ServerMessage, WS_PATH};

pub use resolve::{ServerName, lookup_hosts_text, parse_list, resolve};
pub use tls::client_config;

/// What the link needs from the agent behind it.
pub trait Link: Send + Sync + 'static {
    /// Runs a request to its end and puts its result in the outbox (even if the link is gone
    /// by then: the result waits there for the next connection).
    fn handle(&self, request: Request) -> impl Future<Output = ()> + Send;
    /// Answers a command frame that cannot run (unknown method, bad parameters) through the
    /// outbox, like a result.
    fn refuse(&self, refused: Refused);
    /// Unacknowledged messages with a sequence number above `after`, oldest first.
    fn pending(&self, after: u64, limit: usize) -> Vec<AgentMessage>;
    /// The server stored message `seq`: forget it.
    fn ack(&self, seq: u64);
    /// Notified whenever something is added to the outbox.
    fn outbox_changed(&self) -> &Notify;
    /// The host's plugin inventory: each one built from now on is sent
    /// (`AgentMessage::Plugins`, outside the outbox: only the latest counts). `None` for a
    /// link that reports no plugins.
    fn plugin_inventory(&self) -> Option<crate::plugins::inventory::Latest> {
        None
    }
    /// Asks for a fresh plugin inventory (once per heartbeat); returns at once, the
    /// inventory arrives through [`Link::plugin_inventory`] when it is built.
    fn refresh_plugin_inventory(&self) {}
}

/// Where and how to connect.
#[derive(Clone)]
pub struct LinkConfig {
    /// This host's identity, sent in `init`.
    pub hostname: String,
    /// The agent's version, sent in `init`.
    pub version: String,
    /// The configured servers, tried in order.
    pub servers: Vec<ServerName>,
    /// Port for list entries (and redirects) without one.
    pub default_port: u16,
    /// The name the servers' certificates carry (checked after redirects to bare addresses).
    pub tls_name: String,
    /// TLS client settings.
    pub tls: Arc<rustls::ClientConfig>,
    /// Optional `/etc/hosts`-style overrides.
    pub hosts_file: Option<PathBuf>,
    /// Seconds between our pings until the server says otherwise in `welcome`.
    pub heartbeat: Duration,
    /// Shortest and longest wait between rounds of failed attempts.
    pub backoff_min: Duration,
    /// See `backoff_min`.
    pub backoff_max: Duration,
    /// Time allowed for TCP + TLS + WebSocket + init answer.
    pub connect_timeout: Duration,
}

/// How one connection attempt ended.
enum Attempt {
    /// A session ran (and has now ended).
    Served,
    /// The server sent us elsewhere.
    Redirected(Vec<ServerName>),
    /// Could not connect or was refused.
    Failed,
}

/// Keeps the agent connected, forever.
pub async fn run<L: Link>(config: LinkConfig, link: Arc<L>) {
    let mut servers = config.servers.clone();
    let mut backoff = config.backoff_min;
    let mut redirects = 0;
    loop {
        match try_servers(&config, &servers, &link).await {
            Attempt::Served => {
                servers = config.servers.clone();
                backoff = config.backoff_min;
                redirects = 0;
                continue;
            }
            Attempt::Redirected(list) if redirects < 8 => {
                tracing::info!("redirected to {}", list_text(&list));
                servers = list;
                redirects += 1;
                continue;
            }
            Attempt::Redirected(_) => {
                tracing::warn!("too many redirects in a row; back to the configured servers");
                servers = config.servers.clone();
                redirects = 0;
            }
            Attempt::Failed => {
                servers = config.servers.clone();
                redirects = 0;
            }
        }
        let wait = jitter(backoff);
        tracing::info!(
            "no server reachable; next round in {:.1} s",
            wait.as_secs_f64()
        );
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(config.backoff_max);
    }
}

/// One round over every address of every server.
async fn try_servers<L: Link>(
    config: &LinkConfig,
    servers: &[ServerName],
    link: &Arc<L>,
) -> Attempt {
    for server in servers {
        let addrs = resolve(server, config.hosts_file.as_deref()).await;
        for addr in addrs {
            let connected =
                tokio::time::timeout(config.connect_timeout, connect(config, addr)).await;
            let ws = match connected {
                Ok(Ok(ws)) => ws,
                Ok(Err(e)) => {
                    tracing::warn!("{} ({addr}): {e:#}", server.host);
                    continue;
                }
                Err(_) => {
                    tracing::warn!("{} ({addr}): no answer in time", server.host);
                    continue;
                }
            };
            match session::greet(ws, config).await {
                Ok((ws, ServerMessage::Welcome { heartbeat })) => {
                    tracing::info!("connected to {} ({addr})", server.host);
                    let heartbeat = if heartbeat > 0 {
                        Duration::from_secs(heartbeat)
                    } else {
                        config.heartbeat
                    };
                    session::serve(ws, link.clone(), heartbeat).await;
                    tracing::warn!("connection to {} ({addr}) closed", server.host);
                    return Attempt::Served;
                }
                Ok((_, ServerMessage::Redirect { server: list })) => {
                    match parse_list(&list, config.default_port) {
                        Ok(list) => return Attempt::Redirected(list),
                        Err(e) => tracing::warn!("ignoring a bad redirect `{list}`: {e}"),
                    }
                }
                Ok((_, other)) => {
                    tracing::warn!("{} ({addr}) answered init with {other:?}", server.host)
                }
                Err(e) => tracing::warn!("{} ({addr}): {e:#}", server.host),
            }
        }
    }
    Attempt::Failed
}

/// The WebSocket type of a link.
pub type Ws = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// TCP, TLS (certificate checked for `tls_name`), WebSocket upgrade.
async fn connect(config: &LinkConfig, addr: std::net::SocketAddr) -> anyhow::Result<Ws> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::try_from(config.tls_name.clone())?;
    let tls = TlsConnector::from(config.tls.clone())
        .connect(name, tcp)
        .await?;
    let url = format!("wss://{}:{}{WS_PATH}", config.tls_name, addr.port());
    // Frames are small; a 4 KiB read buffer (not tungstenite's 128 KiB) keeps many links cheap.
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, tls, Some(ws_config)).await?;
    Ok(ws)
}

fn jitter(base: Duration) -> Duration {
    base.mul_f64(0.5 + fastrand::f64())
}

fn list_text(list: &[ServerName]) -> String {
    let names: Vec<String> = list
        .iter()
        .map(|s| format!("{}:{}", s.host, s.port))
        .collect();
    names.join(",")
}
