//! The write thread of one write plugin: take a batch from its queue, hand it to `write`, and
//! on failure keep it and retry with a doubling back-off (up to `write_retry_max`).
//!
//! A failing or slow writer only grows its own queue (bounded by the watermarks); reads and
//! other writers never wait for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::worker::{Run, Worker};

/// First wait after a failed write.
const FIRST_RETRY: Duration = Duration::from_millis(250);

/// Runs the write loop of `worker` until it is removed (then makes one last attempt to write
/// what is queued and flushes the plugin) or retired (then ends at once: its successor takes
/// the queue).
pub fn run(worker: Arc<Worker>, batch: usize, retry_max: Duration) {
    let name = worker.name().to_string();
    let mut backoff = FIRST_RETRY;
    let mut retry_at: Option<Instant> = None;
    loop {
        let values = {
            let mut state = worker.lock();
            loop {
                let now = Instant::now();
                let waiting = state.queue.as_ref().is_some_and(|q| !q.is_empty());
                match state.run {
                    Run::Removed => {
                        drop(state);
                        final_write(&worker, batch);
                        return;
                    }
                    Run::Retired => return,
                    Run::Running if waiting && retry_at.is_none_or(|t| t <= now) => break,
                    Run::Running if waiting => {
                        let left = retry_at.map(|t| t - now).unwrap_or_default();
                        state = worker.wait(state, left);
                    }
                    _ => state = worker.wait(state, Duration::from_secs(3600)),
                }
            }
            match state.queue.as_mut() {
                Some(queue) => queue.begin(batch),
                None => return,
            }
        };
        let started = Instant::now();
        let result = worker.instance().write(&values);
        let mut state = worker.lock();
        if let Some(queue) = state.queue.as_mut() {
            if result.is_ok() {
                queue.commit()
            } else {
                queue.abort()
            }
        }
        drop(state);
        match result {
            Ok(()) => {
                if retry_at.take().is_some() {
                    tracing::info!(plugin = %name, "write-function of plugin `{name}` works again.");
                }
                backoff = FIRST_RETRY;
                worker.record(started, values.len(), None);
            }
            Err(e) => {
                tracing::warn!(
                    plugin = %name,
                    "write-function of plugin `{name}` failed: {}. Will retry in {:.2} s.",
                    e.message,
                    backoff.as_secs_f64()
                );
                retry_at = Some(Instant::now() + backoff);
                backoff = (backoff * 2).min(retry_max.max(FIRST_RETRY));
                worker.record(started, 0, Some(e.message));
            }
        }
    }
}

/// One attempt to write everything still queued, then `flush`; used when the agent stops.
fn final_write(worker: &Worker, batch: usize) {
    loop {
        let values = match worker.lock().queue.as_mut() {
            Some(queue) if !queue.is_empty() => queue.begin(batch),
            _ => break,
        };
        let ok = worker.instance().write(&values).is_ok();
        if let Some(queue) = worker.lock().queue.as_mut() {
            if ok { queue.commit() } else { queue.abort() }
        }
        if !ok {
            tracing::warn!(plugin = %worker.name(), "values still queued for plugin `{}` are lost at shutdown.", worker.name());
            break;
        }
    }
    let _ = worker.instance().flush();
}
