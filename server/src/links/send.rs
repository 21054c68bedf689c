//! Sending queued host jobs: [`send_queued`] claims from the database the queued host jobs of
//! the hosts whose connection this replica holds, and hands each to its connection; a frame
//! that cannot be handed over goes back to the queue. `crate::background` runs it every
//! [`TICK`] and at once when kicked (a new connection, a result that frees a concurrency slot);
//! `POST /api/v1/commands` runs it for one job straight away (the fast path).

use std::collections::HashMap;
use std::time::Duration;

use wire::agent::Request;

use super::{Hub, Outbound};
use crate::api::commands::StoredCommand;
use crate::db::{Claimed, Db, DbError};

/// Time between claim rounds when nothing kicks the dispatcher.
pub const TICK: Duration = Duration::from_millis(75);
/// Host jobs claimed per statement round.
const BATCH: u32 = 2000;

/// Claims and sends this replica's queued host jobs (of `job`, or of every job); returns how
/// many were handed to connections.
pub async fn send_queued(hub: &Hub, db: &Db, job: Option<&str>) -> Result<usize, DbError> {
    let _one_round = hub.claim_lock.lock().await;
    let mut sent = 0;
    loop {
        let claimed = db.claim(&hub.replica, job, BATCH).await?;
        let full = claimed.len() == BATCH as usize;
        let (handed, unsent) = hand_over(hub, claimed);
        sent += handed;
        if !unsent.is_empty() {
            db.unclaim(&unsent).await?;
            // Do not spin on a connection that cannot take more now.
            break;
        }
        if !full {
            break;
        }
    }
    Ok(sent)
}

/// Puts each claimed host job on its connection's queue; returns (handed, ids not handed).
fn hand_over(hub: &Hub, claimed: Vec<Claimed>) -> (usize, Vec<String>) {
    let mut handed = 0;
    let mut unsent = Vec::new();
    let mut requests: HashMap<String, Request> = HashMap::new();
    for job in claimed {
        let text = match frame(&job, &mut requests) {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(job = %job.job_id, "Stored command unreadable: {e}.");
                unsent.push(job.id);
                continue;
            }
        };
        let outbound = Outbound::Request {
            id: job.id.clone(),
            text,
        };
        match hub.get(&job.hostname) {
            Some(handle) if handle.tx.try_send(outbound).is_ok() => handed += 1,
            _ => unsent.push(job.id),
        }
    }
    (handed, unsent)
}

/// The frame for one host: the stored typed command (parsed once per job) with the host
/// job's id; the stored hosts stay beside it and never reach a frame.
fn frame(job: &Claimed, requests: &mut HashMap<String, Request>) -> Result<String, String> {
    let request = match requests.get_mut(&job.job_id) {
        Some(request) => request,
        None => {
            let stored = StoredCommand::parse(&job.spec)?;
            requests.entry(job.job_id.clone()).or_insert(Request {
                id: String::new(),
                command: stored.command,
            })
        }
    };
    request.id = job.id.clone();
    // A request frame is the request itself (see `ServerMessage::to_text`).
    serde_json::to_string(request).map_err(|e| e.to_string())
}
