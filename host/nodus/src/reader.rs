//! The read thread of one read plugin: call `read` every interval, dispatch what it returns,
//! and penalise a plugin whose read fails or outlives its timeout (collectd's read-function
//! suspension), restoring the interval after the next good read.
//!
//! Each read plugin has its own thread, so a hung read holds up only itself; the thread never
//! touches write plugins (the dispatcher queues for them).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dispatch::{Dispatcher, now};
use crate::schedule::{next_interval, read_ok};
use crate::worker::{Run, Worker};

/// Runs the read loop of `worker` until it is removed or retired; the first read is `due`
/// then (now for a plugin that just started; one interval after the check read of an instance
/// that replaced another, so the reads go on at their pace).
pub fn run(worker: Arc<Worker>, dispatcher: Arc<Dispatcher>, mut due: Instant) {
    let Some(settings) = worker.read_settings() else {
        return;
    };
    let name = worker.name().to_string();
    tracing::debug!(plugin = %name, "read thread for plugin `{name}` started.");
    loop {
        {
            let mut state = worker.lock();
            loop {
                match state.run {
                    Run::Removed | Run::Retired => {
                        tracing::debug!(plugin = %name, "read thread for plugin `{name}` ends.");
                        return;
                    }
                    Run::Stopped => {
                        state = worker.wait(state, Duration::from_secs(3600));
                        due = Instant::now();
                    }
                    Run::Running => {
                        let left = due.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        state = worker.wait(state, left);
                    }
                }
            }
        }
        let started = Instant::now();
        let time = now();
        let result = worker.instance().read();
        let took = started.elapsed().as_secs_f64();
        let current = worker.lock().interval;
        let (accepted, error) = match result {
            Ok(lists) => (
                dispatcher.dispatch(&name, lists, time, current.max(settings.base)),
                None,
            ),
            Err(e) => (0, Some(e.message)),
        };
        let ok = read_ok(error.is_none(), took, settings.timeout);
        let interval = next_interval(current, settings.base, settings.max, ok);
        tracing::debug!(plugin = %name, "read-function of plugin `{name}` took {:.3} ms, {accepted} value lists.", took * 1e3);
        match (&error, ok) {
            (Some(e), _) => tracing::warn!(
                plugin = %name,
                "read-function of plugin `{name}` failed: {e}. Will suspend it for {interval} s."
            ),
            (None, false) => tracing::warn!(
                plugin = %name,
                "read-function of plugin `{name}` took {took:.3} s, more than its timeout of {} s. Will suspend it for {interval} s.",
                settings.timeout
            ),
            (None, true) if current > settings.base => tracing::info!(
                plugin = %name,
                "read-function of plugin `{name}` works again; interval back to {interval} s."
            ),
            _ => {}
        }
        let timed_out = (!ok && error.is_none())
            .then(|| format!("read took {took:.3} s, timeout {} s", settings.timeout));
        worker.record(started, accepted, error.or(timed_out));
        worker.lock().interval = interval;
        due = started + Duration::from_secs_f64(interval);
    }
}
