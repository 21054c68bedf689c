//! The replica's result writer: results from all of this replica's connections are stored in
//! batches, one transaction per batch, and each connection acks its agent once its result is
//! committed. A fan-out to 10,000 hosts thus costs a few transactions, not 10,000, and the
//! waiting REST call and the dispatcher are woken once per batch instead of once per host.
//! The writer is one of the server's background loops: it ends on shutdown after the batch it
//! is storing, and results handed over later are refused (not acked: the agent sends them
//! again, to whichever replica it reconnects to).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use wire::CommandResult;

use super::Hub;
use crate::background::Background;
use crate::db::Db;

/// Most results stored in one transaction.
const BATCH: usize = 2048;
/// Results waiting for the writer before connections wait to hand theirs over.
const QUEUE: usize = 16384;

/// One result handed to the writer; the answer says whether it was stored (`false`: a
/// duplicate or an id this host never had, acked and dropped all the same).
struct Submitted {
    hostname: String,
    result: CommandResult,
    done: oneshot::Sender<Result<bool, String>>,
}

/// The handle connections use to store results.
#[derive(Clone)]
pub struct ResultWriter {
    tx: mpsc::Sender<Submitted>,
}

impl ResultWriter {
    /// Starts the writer task among the `background` loops.
    pub fn spawn(hub: Arc<Hub>, db: Db, background: &mut Background) -> ResultWriter {
        let (tx, rx) = mpsc::channel(QUEUE);
        background.spawn_until_stopped(|stopped| write_batches(rx, hub, db, stopped));
        ResultWriter { tx }
    }

    /// Stores `result` from `hostname`'s agent; `Ok(true)` when stored, `Ok(false)` for a
    /// duplicate or unknown id (ack it all the same), `Err` when the database failed (do not
    /// ack: the agent sends it again).
    pub async fn store(&self, hostname: &str, result: CommandResult) -> Result<bool, String> {
        let (done, answer) = oneshot::channel();
        let submitted = Submitted {
            hostname: hostname.to_owned(),
            result,
            done,
        };
        if self.tx.send(submitted).await.is_err() {
            return Err("the result writer has stopped".into());
        }
        answer
            .await
            .unwrap_or_else(|_| Err("the result writer has stopped".into()))
    }
}

async fn write_batches(
    mut rx: mpsc::Receiver<Submitted>,
    hub: Arc<Hub>,
    db: Db,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(n) =
        crate::background::until_stopped(&mut stopped, rx.recv_many(&mut batch, BATCH)).await
    {
        if n == 0 {
            return;
        }
        let items: Vec<(&str, &CommandResult)> = batch
            .iter()
            .map(|s| (s.hostname.as_str(), &s.result))
            .collect();
        match db.store_command_results(&items).await {
            Ok(stored) => {
                let mut jobs: HashMap<String, usize> = HashMap::new();
                for (submitted, job) in batch.drain(..).zip(stored) {
                    hub.telemetry.result_stored(job.is_some());
                    let _ = submitted.done.send(Ok(job.is_some()));
                    if let Some(job) = job {
                        *jobs.entry(job).or_default() += 1;
                    }
                }
                for (job, count) in &jobs {
                    hub.result_stored(job, *count);
                }
                if !jobs.is_empty() {
                    // Freed concurrency slots may let queued host jobs go, and rollouts settle.
                    hub.kick();
                    hub.kick_rollouts();
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "A batch of {} results was not stored.", batch.len());
                let message = e.to_string();
                for submitted in batch.drain(..) {
                    let _ = submitted.done.send(Err(message.clone()));
                }
            }
        }
    }
}
