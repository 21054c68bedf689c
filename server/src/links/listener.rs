//! The agent listener: accepts TCP connections up to its caps (in all, and per address while
//! they are not yet authenticated), runs
//! the TLS handshake (a client certificate of the Polaris CA is required) and the WebSocket
//! handshake on [`wire::agent::WS_PATH`] (anything else gets 404), then hands the connection
//! and the host its certificate names to [`super::session::run`] in a task of its own. Buffers
//! are kept small: ten thousand idle connections must fit in well under a gigabyte.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::Hub;
use crate::db::Db;
use crate::listener::{ConnLimiter, ConnSlot};
use crate::pki::PeerCert;

/// How long TLS plus the WebSocket handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Small buffers: frames are small JSON objects; a larger one grows the buffer while it lasts.
/// An agent's message over `max_frame` (`[agents] max_frame`) ends its connection.
fn ws_config(max_frame: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(16 << 20)
        .max_message_size(Some(max_frame))
        .max_frame_size(Some(max_frame))
}

/// Accepts agent connections until `shutdown` resolves, then closes the live ones.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    limiter: Arc<ConnLimiter>,
    hub: Arc<Hub>,
    db: Db,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, address)) => {
                    let Some(slot) = limiter.admit(address.ip()) else {
                        tracing::debug!(%address, "Agent connection refused: over the cap.");
                        continue;
                    };
                    let (acceptor, hub, db) = (acceptor.clone(), hub.clone(), db.clone());
                    tokio::spawn(connection(tcp, address, slot, acceptor, hub, db));
                }
                Err(e) => {
                    // Out of file descriptors, most likely: give closing connections a moment.
                    tracing::warn!(error = %e, "Agent listener cannot accept.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = &mut shutdown => break,
        }
    }
    hub.close_all();
}

/// The WebSocket handshake's check: only [`wire::agent::WS_PATH`] is served.
#[allow(clippy::result_large_err)] // tungstenite's callback signature.
fn path_check(request: &Request, response: Response) -> Result<Response, ErrorResponse> {
    if request.uri().path() == wire::agent::WS_PATH {
        Ok(response)
    } else {
        let mut refused = ErrorResponse::new(Some("Not found".into()));
        *refused.status_mut() = StatusCode::NOT_FOUND;
        Err(refused)
    }
}

/// One connection: handshakes, then the session.
async fn connection(
    tcp: TcpStream,
    address: SocketAddr,
    mut slot: ConnSlot,
    acceptor: TlsAcceptor,
    hub: Arc<Hub>,
    db: Db,
) {
    let _ = tcp.set_nodelay(true);
    let handshakes = async {
        let tls = acceptor
            .accept(tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        let peer = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|cert| PeerCert::from_der(cert))
            .ok_or("the client certificate names no host")?;
        tokio_tungstenite::accept_hdr_async_with_config(
            tls,
            path_check,
            Some(ws_config(hub.max_frame)),
        )
        .await
        .map(|ws| (ws, peer))
        .map_err(|e| format!("WebSocket handshake: {e}"))
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshakes).await {
        Ok(Ok((ws, peer))) => {
            // Authenticated: from now on it counts in the total only (hosts behind one NAT).
            slot.release_address();
            super::session::run(ws, address, peer, hub, db).await;
        }
        Ok(Err(e)) => tracing::info!(%address, "Agent connection refused: {e}."),
        Err(_) => tracing::info!(%address, "Agent connection refused: handshake too slow."),
    }
}
