//! The HTTP(S) listener, served with hyper directly (not `axum::serve`) so that it has what a
//! server facing a fleet and the internet needs: a header-read timeout (slowloris; also the
//! keep-alive idle time), a TLS handshake timeout, caps on open connections in all and per
//! client address ([`ConnLimiter`], shared with the agents' wss listener), and the verified
//! client certificate of each TLS connection handed to the handlers as a [`ClientCert`]
//! request extension (with the peer address as axum's `ConnectInfo`).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::config::ConnectionsConfig;
use crate::pki::PeerCert;

/// The verified client certificate of the connection a request came on, if any.
#[derive(Debug, Clone, Default)]
pub struct ClientCert(pub Option<Arc<PeerCert>>);

/// Counts open connections, in all and per client address, against caps.
#[derive(Debug)]
pub struct ConnLimiter {
    max: usize,
    max_per_address: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One admitted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct ConnSlot {
    limiter: Arc<ConnLimiter>,
    /// Counted against its address until [`ConnSlot::release_address`].
    address: Option<IpAddr>,
}

impl ConnLimiter {
    /// A limiter with both caps.
    pub fn new(max: usize, max_per_address: usize) -> Arc<ConnLimiter> {
        Arc::new(ConnLimiter {
            max,
            max_per_address,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// A slot for a connection from `address`, or `None` past either cap.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Option<ConnSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let (total, by_address) = &mut *open;
        let mine = by_address.entry(address).or_insert(0);
        if *total >= self.max || *mine >= self.max_per_address {
            if *mine == 0 {
                by_address.remove(&address);
            }
            return None;
        }
        *mine += 1;
        *total += 1;
        Some(ConnSlot {
            limiter: self.clone(),
            address: Some(address),
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).0
    }
}

impl ConnSlot {
    /// Stops counting the connection against its address (it still counts in all): the
    /// agents' listener does this once a connection has authenticated, so that many hosts
    /// behind one NAT are limited only by the total, and the per-address cap bounds what an
    /// unauthenticated address can hold.
    pub fn release_address(&mut self) {
        if let Some(address) = self.address.take() {
            let mut open = self.limiter.open.lock().unwrap_or_else(|e| e.into_inner());
            let by_address = &mut open.1;
            if let Some(mine) = by_address.get_mut(&address) {
                *mine -= 1;
                if *mine == 0 {
                    by_address.remove(&address);
                }
            }
        }
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.release_address();
        let mut open = self.limiter.open.lock().unwrap_or_else(|e| e.into_inner());
        open.0 = open.0.saturating_sub(1);
    }
}

/// Serves `router` on `listener` (over TLS when `tls` is given) until `shutdown` resolves,
/// then lets the requests in progress finish (at most 5 s).
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: Router,
    limits: ConnectionsConfig,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let limiter = ConnLimiter::new(limits.max, limits.max_per_address);
    let graceful = GracefulShutdown::new();
    let limits = Arc::new(limits);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, address)) => {
                    let Some(slot) = limiter.admit(address.ip()) else {
                        tracing::debug!(%address, "Connection refused: over the cap.");
                        continue;
                    };
                    let _ = tcp.set_nodelay(true);
                    let (acceptor, router, limits) = (acceptor.clone(), router.clone(), limits.clone());
                    let watcher = graceful.watcher();
                    tokio::spawn(async move {
                        let _slot = slot;
                        let handshake = Duration::from_secs(limits.handshake_timeout);
                        let headers = Duration::from_secs(limits.header_timeout);
                        match acceptor {
                            None => {
                                connection(tcp, address, ClientCert(None), router, headers, watcher).await;
                            }
                            Some(acceptor) => {
                                let stream = match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
                                    Ok(Ok(stream)) => stream,
                                    Ok(Err(e)) => {
                                        tracing::debug!(%address, "TLS handshake failed: {e}");
                                        return;
                                    }
                                    Err(_) => return,
                                };
                                let peer = stream
                                    .get_ref()
                                    .1
                                    .peer_certificates()
                                    .and_then(|chain| chain.first())
                                    .and_then(|cert| PeerCert::from_der(cert))
                                    .map(Arc::new);
                                connection(stream, address, ClientCert(peer), router, headers, watcher).await;
                            }
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors, most likely: give closing connections a moment.
                    tracing::warn!(error = %e, "HTTP listener cannot accept.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("Requests still in progress after 5 s were cut.");
    }
}

/// Serves one HTTP/1.1 connection to its end: every request gets the connection's peer
/// address and client certificate as extensions.
async fn connection<S>(
    io: S,
    address: SocketAddr,
    cert: ClientCert,
    router: Router,
    header_timeout: Duration,
    watcher: Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(cert.clone());
        request.extensions_mut().insert(ConnectInfo(address));
        router.clone().oneshot(request.map(axum::body::Body::new))
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%address, "HTTP connection ended: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_connections_in_all_and_per_address() {
        let limiter = ConnLimiter::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = limiter.admit(a).unwrap();
        let _a2 = limiter.admit(a).unwrap();
        assert!(limiter.admit(a).is_none(), "third from one address");
        let _b1 = limiter.admit(b).unwrap();
        assert!(limiter.admit(b).is_none(), "fourth in all");
        drop(a1);
        let _b2 = limiter.admit(b).unwrap();
        assert_eq!(limiter.open(), 3);
        // Released from its address, a connection counts in all only.
        let limiter = ConnLimiter::new(10, 1);
        let mut first = limiter.admit(a).unwrap();
        assert!(limiter.admit(a).is_none());
        first.release_address();
        let _second = limiter.admit(a).unwrap();
        assert_eq!(limiter.open(), 2);
        drop(first);
        assert_eq!(limiter.open(), 1);
    }
}
