//! The HTTP endpoint: a tiny_http server whose requests one thread answers, `GET /metrics`
//! with the store's exposition text and 404 for any other path.

use std::net::{TcpListener, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plugin_api::PluginError;
use tiny_http::{Header, Method, Request, Response};

use crate::store::Store;

/// Content type of the text exposition format, as collectd sends it.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// A running endpoint; [`Server::stop`] (or dropping it) closes the port before returning.
pub struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// A second handle on the listening socket, to shut it down from here.
    listener: Option<TcpListener>,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn lock(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    store
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn answer(request: Request, store: &Mutex<Store>) {
    let path = request.url().split('?').next().unwrap_or("");
    let response = match (path, request.method()) {
        ("/metrics", Method::Get | Method::Head) => {
            let text = lock(store).render(now());
            let mut response = Response::from_string(text);
            if let Ok(header) = Header::from_bytes("Content-Type", CONTENT_TYPE) {
                response.add_header(header);
            }
            response
        }
        ("/metrics", _) => Response::from_string("only GET and HEAD\n").with_status_code(405),
        _ => Response::from_string("not found; metrics are at /metrics\n").with_status_code(404),
    };
    // A client that went away is no concern of ours.
    let _ = request.respond(response);
}

impl Server {
    /// Listens on `host:port` and starts answering requests from `store`.
    pub fn start(host: &str, port: u16, store: Arc<Mutex<Store>>) -> Result<Server, PluginError> {
        let shown = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let cannot = |e: &dyn std::fmt::Display| {
            PluginError::failed(format!("cannot listen on {shown}: {e}"))
        };
        let addrs: Vec<_> = (host, port)
            .to_socket_addrs()
            .map_err(|e| cannot(&e))?
            .collect();
        let mut last_error = None;
        let mut bound = None;
        for addr in addrs {
            match TcpListener::bind(addr) {
                Ok(listener) => {
                    bound = Some(listener);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let listener = match (bound, last_error) {
            (Some(listener), _) => listener,
            (None, Some(e)) => return Err(cannot(&e)),
            (None, None) => return Err(cannot(&"the host name has no address")),
        };
        let handle = listener.try_clone().map_err(|e| cannot(&e))?;
        let server = tiny_http::Server::from_listener(listener, None).map_err(|e| cannot(&e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("nodus-prometheus".into())
            .spawn(move || {
                while !stopping.load(Ordering::SeqCst) {
                    match server.recv_timeout(Duration::from_millis(100)) {
                        Ok(Some(request)) => answer(request, &store),
                        Ok(None) => {}
                        // The accept loop ended (the socket was shut down or failed).
                        Err(_) => break,
                    }
                }
            })
            .map_err(|e| cannot(&e))?;
        Ok(Server {
            stop,
            thread: Some(thread),
            listener: Some(handle),
        })
    }

    /// Stops answering and closes the listening socket; the port is free when this returns.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(listener) = self.listener.take() {
            // Takes the socket out of LISTEN at once, waking tiny_http's accept thread, which
            // still holds the other descriptor of it and ends on the error.
            // SAFETY: the descriptor is owned by `listener`, which is alive during the call.
            unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR) };
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
