//! The replica's dispatcher: claims from the database the queued host jobs of the hosts whose
//! connection this replica holds, and hands each to its connection; a frame that cannot be
//! handed over goes back to the queue. It runs every [`TICK`], at once when kicked (a new
//! connection, a result that frees a concurrency slot), and for one job straight from
//! `POST /api/v1/commands` (the fast path). A second loop refreshes this replica's session
//! rows and closes connections whose host another replica or connection took over.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use wire::agent::Request;

use super::{Hub, Outbound};
use crate::db::{Claimed, Db, DbError};

/// Time between claim rounds when nothing kicks the dispatcher.
pub const TICK: Duration = Duration::from_millis(75);
/// Host jobs claimed per statement round.
const BATCH: u32 = 2000;

/// Claims and sends this replica's queued host jobs (of `job`, or of every job); returns how
/// many were handed to connections.
pub async fn dispatch(hub: &Hub, db: &Db, job: Option<&str>) -> Result<usize, DbError> {
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

/// Fields of a stored command that are Polaris's business, not the agent's: whatever else
/// `Request::extra` holds is a method's top-level parameters (`daemon.init`), for the agent.
const SERVER_ONLY: [&str; 4] = ["hosts", "max_concurrency", "deadline", "async"];

/// The frame for one host: the stored request (parsed once per job, without the fields only
/// Polaris reads: above all `hosts`, which would put every target's name in every host's
/// frame) with the host job's id.
fn frame(
    job: &Claimed,
    requests: &mut HashMap<String, Request>,
) -> Result<String, serde_json::Error> {
    let request = match requests.get_mut(&job.job_id) {
        Some(request) => request,
        None => {
            let mut request: Request = serde_json::from_str(&job.spec)?;
            for field in SERVER_ONLY {
                request.extra.remove(field);
            }
            requests.entry(job.job_id.clone()).or_insert(request)
        }
    };
    request.id = job.id.clone();
    // A request frame is the request itself (see `ServerMessage::to_text`).
    serde_json::to_string(request)
}

/// Runs the dispatcher until the process ends.
pub fn spawn_dispatcher(hub: Arc<Hub>, db: Db) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = hub.kick.notified() => {}
            }
            if let Err(e) = dispatch(&hub, &db, None).await {
                tracing::warn!(error = %e, "Dispatch round failed.");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
}

/// Refreshes this replica's sessions every ~10 s (at most every heartbeat), closes the
/// connections whose session row now belongs to another connection or replica, and marks lost
/// what replicas silent for three such periods had sent (they died without doing it).
pub fn spawn_keeper(hub: Arc<Hub>, db: Db) {
    let every = hub.heartbeat.min(Duration::from_secs(10));
    let stale = chrono::Duration::from_std(every * 3).unwrap_or(chrono::Duration::seconds(30));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = db.touch_sessions(&hub.replica).await {
                tracing::warn!(error = %e, "Cannot refresh the agent sessions.");
                continue;
            }
            // Connections listed before the read: each wrote its row before joining the hub,
            // so a missing row means it was replaced, not that it is too new to be seen.
            let live = hub.all();
            match db.replica_sessions(&hub.replica).await {
                Ok(rows) => {
                    let owned: HashSet<(String, String)> = rows.into_iter().collect();
                    for (hostname, handle) in live {
                        if !owned.contains(&(hostname.clone(), handle.session.clone())) {
                            tracing::info!(%hostname, "Agent connection taken over elsewhere; closing it.");
                            handle.close.notify_one();
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "Cannot read the agent sessions."),
            }
            match db.sweep_dead_replicas(chrono::Utc::now() - stale).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    commands = n,
                    "Commands sent by a replica that stopped answering marked lost."
                ),
                Err(e) => tracing::warn!(error = %e, "Cannot sweep dead replicas' commands."),
            }
        }
    });
}
