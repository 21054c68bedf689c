//! The links of gearman agents: the TLS WebSocket listener, one task per connection, the claim-and-send
//! round of the replica's dispatcher and the result writer (wire contract: `wire::agent`; the
//! loops that run them are in `crate::background`).
//!
//! Layout:
//! - [`listener`]: accepts TCP (capped), TLS with the host's client certificate and the
//!   WebSocket handshake on `/agent/ws`.
//! - [`session`]: one connection: init → welcome/redirect, requests out, results and cron runs
//!   in (stored, then acked), pings, and what a closing connection leaves behind.
//! - [`send`]: claims this replica's queued host jobs from the database and sends them (one
//!   round; the loops that run the rounds and keep the sessions are in `crate::background`).
//!
//! [`Hub`] is what they share in memory: the connections this replica holds, the REST calls
//! waiting for a command's results, and the dispatcher's wake-up.

pub mod listener;
pub mod results;
pub mod send;
pub mod session;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use crate::config::AgentsConfig;
use crate::telemetry::Telemetry;

/// A frame on its way to one connection.
#[derive(Debug)]
pub enum Outbound {
    /// A command: the host job's id and the frame's JSON text.
    Request {
        /// The per-host job id (tracked as in flight until its result arrives).
        id: String,
        /// The frame.
        text: String,
    },
}

/// This replica's handle on one live connection.
#[derive(Clone)]
pub struct Handle {
    /// The connection's own id (`agent_sessions.session`).
    pub session: String,
    /// Frames to send; bounded, so a stuck connection cannot hoard memory.
    pub tx: mpsc::Sender<Outbound>,
    /// Told to close: replaced by a newer connection, taken over, or shutting down.
    pub close: Arc<Notify>,
}

/// What the listener, the sessions, the dispatcher and the command API share.
pub struct Hub {
    /// This replica's name in `agent_sessions` and `host_job.replica`.
    pub replica: String,
    /// Seconds between pings; 3 × this is the limit of silence.
    pub heartbeat: Duration,
    /// Answer every `init` with this redirect.
    pub redirect: Option<String>,
    /// Largest WebSocket message an agent may send, in bytes.
    pub max_frame: usize,
    /// Polaris's own metrics.
    pub telemetry: Arc<Telemetry>,
    /// Live connections by hostname.
    sessions: Mutex<HashMap<String, Handle>>,
    /// REST calls waiting for results, by command id (woken by this replica's sessions).
    waiters: Mutex<HashMap<String, Arc<Waiting>>>,
    /// Wakes the dispatcher before its next tick.
    pub(crate) kick: Notify,
    /// Wakes the rollout scheduler before its next tick (a result stored, a new rollout).
    pub(crate) rollouts: Notify,
    /// One claim round at a time in this process.
    pub(crate) claim_lock: tokio::sync::Mutex<()>,
    /// Stores results in batches; set when the agent listener starts.
    pub(crate) results: std::sync::OnceLock<results::ResultWriter>,
}

/// What a waiting REST call is told by this replica's result writer.
#[derive(Default)]
pub struct Waiting {
    /// Notified when results of the command were stored by this replica.
    pub notify: Notify,
    /// How many results of the command this replica stored since the call began.
    stored: AtomicUsize,
}

impl Waiting {
    /// Results of the command this replica stored so far (a hint: the database decides).
    pub fn stored(&self) -> usize {
        self.stored.load(Ordering::Relaxed)
    }
}

/// Removes a waiter when the waiting call ends (also when its client goes away).
pub struct Waiter {
    hub: Arc<Hub>,
    id: String,
    /// Woken when results of the command are stored by this replica.
    pub waiting: Arc<Waiting>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        lock(&self.hub.waiters).remove(&self.id);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain maps behind, still usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The default replica name: `<hostname>:<pid>`.
pub fn default_replica() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "polaris".into());
    format!("{host}:{}", std::process::id())
}

impl Hub {
    /// A hub for the `[agents]` section (defaults when absent: no listener, but commands are
    /// still stored for the replicas that have one).
    pub fn new(config: Option<&AgentsConfig>, telemetry: Arc<Telemetry>) -> Hub {
        Hub {
            replica: config
                .and_then(|c| c.replica.clone())
                .unwrap_or_else(default_replica),
            heartbeat: Duration::from_secs(config.map_or(15, |c| c.heartbeat)),
            redirect: config.and_then(|c| c.redirect.clone()),
            max_frame: config.map_or(4 << 20, |c| c.max_frame),
            telemetry,
            sessions: Mutex::new(HashMap::new()),
            waiters: Mutex::new(HashMap::new()),
            kick: Notify::new(),
            rollouts: Notify::new(),
            claim_lock: tokio::sync::Mutex::new(()),
            results: std::sync::OnceLock::new(),
        }
    }

    /// Sessions last refreshed before now − 3 × heartbeat count as offline.
    pub fn fresh_after(&self) -> chrono::DateTime<chrono::Utc> {
        let stale = chrono::Duration::from_std(self.heartbeat * 3).unwrap_or_default();
        crate::db::now() - stale
    }

    /// Adds a connection; returns the one it replaces (to be closed).
    pub fn insert(&self, hostname: &str, handle: Handle) -> Option<Handle> {
        let mut sessions = lock(&self.sessions);
        let old = sessions.insert(hostname.to_owned(), handle);
        self.telemetry.agents_connected(sessions.len());
        old
    }

    /// Removes a connection if it is still `session`'s.
    pub fn remove(&self, hostname: &str, session: &str) {
        let mut sessions = lock(&self.sessions);
        if sessions.get(hostname).is_some_and(|h| h.session == session) {
            sessions.remove(hostname);
        }
        self.telemetry.agents_connected(sessions.len());
    }

    /// The live connection of a host.
    pub fn get(&self, hostname: &str) -> Option<Handle> {
        lock(&self.sessions).get(hostname).cloned()
    }

    /// Every live connection: (hostname, handle).
    pub fn all(&self) -> Vec<(String, Handle)> {
        lock(&self.sessions)
            .iter()
            .map(|(host, handle)| (host.clone(), handle.clone()))
            .collect()
    }

    /// Registers a REST call waiting for command `id`.
    pub fn waiter(self: &Arc<Self>, id: &str) -> Waiter {
        let waiting = Arc::new(Waiting::default());
        lock(&self.waiters).insert(id.to_owned(), waiting.clone());
        Waiter {
            hub: self.clone(),
            id: id.to_owned(),
            waiting,
        }
    }

    /// Wakes the call waiting for command `id`, if it waits on this replica: `count` more of
    /// its results are stored.
    pub fn result_stored(&self, id: &str, count: usize) {
        if let Some(waiting) = lock(&self.waiters).get(id) {
            waiting.stored.fetch_add(count, Ordering::Relaxed);
            waiting.notify.notify_one();
        }
    }

    /// Wakes the dispatcher now (new session, freed concurrency slot).
    pub fn kick(&self) {
        self.kick.notify_one();
    }

    /// Wakes the rollout scheduler now (a result stored, a rollout created).
    pub fn kick_rollouts(&self) {
        self.rollouts.notify_one();
    }

    /// Closes the connection of one host (revoked).
    pub fn close_host(&self, hostname: &str) {
        if let Some(handle) = self.get(hostname) {
            handle.close.notify_one();
        }
    }

    /// Tells every connection to close (shutdown).
    pub fn close_all(&self) {
        for handle in lock(&self.sessions).values() {
            handle.close.notify_one();
        }
    }
}
