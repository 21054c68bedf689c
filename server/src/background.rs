//! The server's background loops and their end: the sweeper (offline hosts, revoked hosts'
//! connections; always), the rollout scheduler (always), log retention (unless `[logs]` keeps
//! everything), and with `[agents]` the dispatcher (claims and sends this replica's
//! queued host jobs) and the session keeper (refreshes this replica's sessions, closes
//! connections taken over elsewhere, marks lost what dead replicas had sent), and the result
//! writer of `links::results`.
//!
//! Each loop runs in a task of one [`Background`] and ends when [`Background::stop`] is called:
//! a loop checks the stop signal between rounds, never in the middle of one, so a round's
//! statements are never cut off. `app::serve` stops and joins them when it shuts down, so that
//! no background query runs after it returns.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::db::Db;
use crate::links::Hub;
use crate::links::send::{TICK, send_queued};

/// The running loops and their stop signal.
pub struct Background {
    /// `true` once they are to stop; each loop waits on a receiver between rounds.
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Default for Background {
    fn default() -> Self {
        Background {
            stop: watch::channel(false).0,
            tasks: JoinSet::new(),
        }
    }
}

impl Background {
    /// Starts the sweeper: every second, marks silent hosts offline (after
    /// `offline_after_steps` steps) and closes this replica's connections of hosts revoked, on
    /// any replica, since the last round.
    pub fn spawn_sweeper(&mut self, db: Db, hub: Arc<Hub>, offline_after_steps: u32) {
        let mut stopped = self.stop.subscribe();
        self.tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut revoked_since = chrono::Utc::now().timestamp();
            while until_stopped(&mut stopped, tick.tick()).await.is_some() {
                match db.mark_offline(offline_after_steps).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!("{n} host(s) went offline."),
                    Err(e) => tracing::warn!("offline sweep failed: {e}"),
                }
                let now = chrono::Utc::now().timestamp();
                match db.revoked_since(revoked_since).await {
                    Ok(hosts) => {
                        for host in hosts {
                            hub.close_host(&host);
                        }
                        revoked_since = now;
                    }
                    Err(e) => tracing::warn!("revocation sweep failed: {e}"),
                }
            }
        });
    }

    /// Starts log retention: every `every`, deletes the log records `retention` does not keep,
    /// oldest first.
    pub fn spawn_log_retention(
        &mut self,
        db: Db,
        retention: crate::db::logs::LogRetention,
        every: Duration,
    ) {
        if retention == crate::db::logs::LogRetention::default() {
            return;
        }
        let mut stopped = self.stop.subscribe();
        self.tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            while until_stopped(&mut stopped, tick.tick()).await.is_some() {
                let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
                match db.prune_logs(retention, now).await {
                    Ok(pruned) if pruned.by_age + pruned.by_size > 0 => tracing::info!(
                        by_age = pruned.by_age,
                        by_size = pruned.by_size,
                        "Log records deleted by retention."
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "Log retention failed."),
                }
            }
        });
    }

    /// Starts the dispatcher: a claim round every [`TICK`], at once when the hub is kicked.
    pub fn spawn_dispatcher(&mut self, db: Db, hub: Arc<Hub>) {
        let mut stopped = self.stop.subscribe();
        self.tasks.spawn(async move {
            loop {
                let woken = async {
                    tokio::select! {
                        _ = tokio::time::sleep(TICK) => {}
                        _ = hub.kick.notified() => {}
                    }
                };
                if until_stopped(&mut stopped, woken).await.is_none() {
                    return;
                }
                if let Err(e) = send_queued(&hub, &db, None).await {
                    tracing::warn!(error = %e, "Dispatch round failed.");
                    let pause = tokio::time::sleep(Duration::from_secs(1));
                    if until_stopped(&mut stopped, pause).await.is_none() {
                        return;
                    }
                }
            }
        });
    }

    /// Starts the rollout scheduler: a round every [`crate::rollouts::TICK`], at once when
    /// kicked (a result stored, a rollout created). Runs on every replica, with or without
    /// `[agents]`: the database keeps their rounds apart.
    pub fn spawn_rollouts(&mut self, db: Db, hub: Arc<Hub>) {
        let mut stopped = self.stop.subscribe();
        self.tasks.spawn(async move {
            loop {
                let woken = async {
                    tokio::select! {
                        _ = tokio::time::sleep(crate::rollouts::TICK) => {}
                        _ = hub.rollouts.notified() => {}
                    }
                };
                if until_stopped(&mut stopped, woken).await.is_none() {
                    return;
                }
                if let Err(e) = crate::rollouts::round(&db, &hub).await {
                    tracing::warn!(error = %e, "Rollout round failed.");
                }
            }
        });
    }

    /// Starts the session keeper: every ~10 s (at most every heartbeat) refreshes this
    /// replica's sessions, closes the connections whose session row now belongs to another
    /// connection or replica, and marks lost what replicas silent for three such periods had
    /// sent (they died without doing it).
    pub fn spawn_keeper(&mut self, db: Db, hub: Arc<Hub>) {
        let every = hub.heartbeat.min(Duration::from_secs(10));
        let stale = chrono::Duration::from_std(every * 3).unwrap_or(chrono::Duration::seconds(30));
        let mut stopped = self.stop.subscribe();
        self.tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            while until_stopped(&mut stopped, tick.tick()).await.is_some() {
                keep_sessions(&db, &hub, stale).await;
            }
        });
    }

    /// Runs the loop `task` makes of the stop signal's receiver (it must end once the signal
    /// is given, e.g. by waiting through [`until_stopped`]).
    pub fn spawn_until_stopped<F, T>(&mut self, task: T)
    where
        T: FnOnce(watch::Receiver<bool>) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task(self.stop.subscribe()));
    }

    /// Runs `task` (which ends on the same shutdown by itself, like the agent listener) among
    /// the loops, so that [`Background::stop`] waits for it too.
    pub fn add(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Signals every loop to stop and waits until they all have ended.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while let Some(ended) = self.tasks.join_next().await {
            if let Err(e) = ended {
                tracing::warn!(error = %e, "A background loop failed.");
            }
        }
    }
}

/// `Some` with what `next` gives, or `None` once the stop signal is given (at once if it was).
pub async fn until_stopped<T>(
    stopped: &mut watch::Receiver<bool>,
    next: impl Future<Output = T>,
) -> Option<T> {
    if *stopped.borrow() {
        return None;
    }
    tokio::select! {
        biased;
        _ = stopped.wait_for(|stop| *stop) => None,
        value = next => Some(value),
    }
}

/// One round of the session keeper.
async fn keep_sessions(db: &Db, hub: &Hub, stale: chrono::Duration) {
    if let Err(e) = db.touch_sessions(&hub.replica).await {
        tracing::warn!(error = %e, "Cannot refresh the agent sessions.");
        return;
    }
    // Connections listed before the read: each wrote its row before joining the hub, so a
    // missing row means it was replaced, not that it is too new to be seen.
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
