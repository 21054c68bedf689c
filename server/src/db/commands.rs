//! The database side of commands fanned out to gearman agents: command jobs and their per-host
//! rows, agent sessions (which replica holds which host's connection), claims of queued host
//! jobs by the replica holding the host, results, and cron runs. The statements live in
//! `common/commands.rs`; the HTTP shapes are built by `api::commands` from what is read here.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use wire::CommandResult;
use wire::agent::CronRun;

use super::{Db, DbError, Pool};

/// The state of a command on one host (`host_job.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostState {
    /// Waiting for the replica that holds the host's connection to send it.
    Queued,
    /// Sent to the agent; no result yet.
    Sent,
    /// The agent answered with success.
    Done,
    /// The agent answered with a failure, or Polaris answered for it at once (204).
    Failed,
    /// The connection closed while the command was on it (206); a late result replaces this.
    Lost,
}

impl HostState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Queued => "queued",
            HostState::Sent => "sent",
            HostState::Done => "done",
            HostState::Failed => "failed",
            HostState::Lost => "lost",
        }
    }

    /// The state a stored word names.
    pub fn parse(word: &str) -> Option<HostState> {
        Some(match word {
            "queued" => HostState::Queued,
            "sent" => HostState::Sent,
            "done" => HostState::Done,
            "failed" => HostState::Failed,
            "lost" => HostState::Lost,
            _ => return None,
        })
    }
}

/// A command to store, as the API checked it.
pub struct NewCommand<'a> {
    /// The job id (the caller's or a new UUID).
    pub id: &'a str,
    /// The method, e.g. `sync.bash`.
    pub method: &'a str,
    /// The whole request as JSON (what each host's frame is built from).
    pub spec: &'a str,
    /// The target hosts in the caller's order, each once.
    pub hosts: &'a [String],
    /// When the wait for answers ends.
    pub deadline: DateTime<Utc>,
    /// Hosts in flight at once, if limited.
    pub max_concurrency: Option<u32>,
    /// Sessions last seen before this count as offline.
    pub fresh_after: DateTime<Utc>,
}

/// One host's part of a command as stored.
#[derive(Debug, Clone)]
pub struct CommandPart {
    /// The state.
    pub state: HostState,
    /// The agent's result, or Polaris's immediate one (204).
    pub result: Option<CommandResult>,
}

/// A command job with its per-host parts.
#[derive(Debug, Clone)]
pub struct CommandRecord {
    /// The job id.
    pub id: String,
    /// The target hosts in the caller's order.
    pub hosts: Vec<String>,
    /// When the wait ends.
    pub deadline: DateTime<Utc>,
    /// Parts by hostname; a host without a part was unknown (203).
    pub parts: HashMap<String, CommandPart>,
}

/// A host job a replica claimed for one of its connections.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The per-host job id the agent sees.
    pub id: String,
    /// The command job.
    pub job_id: String,
    /// The host.
    pub hostname: String,
    /// The stored request (JSON), shared by the command's host jobs.
    pub spec: std::sync::Arc<str>,
}

/// A gearman connection as recorded in `agent_sessions`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SessionView {
    /// The host.
    pub hostname: String,
    /// The replica holding the connection.
    pub replica: String,
    /// The connection's own id.
    #[serde(skip)]
    pub session: String,
    /// The agent's version as it said in `init`.
    pub version: String,
    /// The agent's address as the replica saw it.
    pub address: String,
    /// When it connected.
    pub connected_at: DateTime<Utc>,
    /// When the replica last confirmed it alive.
    pub seen_at: DateTime<Utc>,
}

/// A stored cron run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CronRunView {
    /// The host.
    pub hostname: String,
    /// What ran, when, and how it ended.
    #[serde(flatten)]
    pub run: CronRun,
}

impl Db {
    /// Stores a command: the job and one row per known host, `queued` when the host has a
    /// fresh session, `failed` with 204 "Host offline" otherwise; unknown hosts get no row
    /// (203). A duplicate id fails with [`DbError::Invalid`]; nothing is stored then.
    pub async fn create_command(&self, new: &NewCommand<'_>) -> Result<CommandRecord, DbError> {
        dispatch!(self, s => s.create_command(new).await)
    }

    /// A command job with its parts, or `None` (also for boot job ids).
    pub async fn command(&self, id: &str) -> Result<Option<CommandRecord>, DbError> {
        dispatch!(self, s => s.command(id).await)
    }

    /// How many hosts of a command have not answered (queued or sent).
    pub async fn command_unanswered(&self, id: &str) -> Result<u64, DbError> {
        dispatch!(self, s => s.command_unanswered(id).await)
    }

    /// Claims, for `replica`, queued host jobs whose host has a session on it (of one job, or
    /// of all), at most `limit`, honouring each job's `max_concurrency` over its sent rows;
    /// they become `sent`. Atomic across replicas.
    pub async fn claim(
        &self,
        replica: &str,
        job: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Claimed>, DbError> {
        dispatch!(self, s => s.claim(replica, job, limit).await)
    }

    /// Puts sent host jobs back in the queue (their frame never left this replica).
    pub async fn unclaim(&self, ids: &[String]) -> Result<(), DbError> {
        dispatch!(self, s => s.set_sent_rows(ids, "queued").await)
    }

    /// Marks sent host jobs lost: their connection closed before the result came (206).
    pub async fn mark_lost(&self, ids: &[String]) -> Result<(), DbError> {
        dispatch!(self, s => s.set_sent_rows(ids, "lost").await)
    }

    /// Stores many results (hostname, result) in one transaction; per item the command's job
    /// id when stored, `None` for a duplicate, an unknown id or another host's id.
    pub async fn store_command_results(
        &self,
        items: &[(&str, &CommandResult)],
    ) -> Result<Vec<Option<String>>, DbError> {
        dispatch!(self, s => s.store_command_results(items).await)
    }

    /// Registers the host as online and records its session (replacing any other).
    pub async fn open_session(&self, session: &SessionView) -> Result<(), DbError> {
        dispatch!(self, s => s.open_session(session).await)
    }

    /// Deletes the host's session row if it is still this session's.
    pub async fn close_session(&self, hostname: &str, session: &str) -> Result<(), DbError> {
        dispatch!(self, s => s.close_session(hostname, session).await)
    }

    /// Refreshes `seen_at` of every session of `replica` (and keeps their hosts online).
    pub async fn touch_sessions(&self, replica: &str) -> Result<(), DbError> {
        dispatch!(self, s => s.touch_sessions(replica).await)
    }

    /// The sessions recorded for `replica`: (hostname, session id).
    pub async fn replica_sessions(&self, replica: &str) -> Result<Vec<(String, String)>, DbError> {
        dispatch!(self, s => s.replica_sessions(replica).await)
    }

    /// At a replica's start: forgets its sessions and marks what it had sent lost.
    pub async fn reset_replica(&self, replica: &str) -> Result<(), DbError> {
        dispatch!(self, s => s.reset_replica(replica).await)
    }

    /// Marks lost the host jobs sent before `stale_before` by replicas that have no session
    /// seen since then: a replica that died (kill -9, lost machine) can no longer mark its own;
    /// its agents reconnect elsewhere and a late result still replaces `lost`. Returns how many.
    pub async fn sweep_dead_replicas(&self, stale_before: DateTime<Utc>) -> Result<u64, DbError> {
        dispatch!(self, s => s.sweep_dead_replicas(stale_before).await)
    }

    /// Sessions seen after `fresh_after`, by hostname.
    pub async fn sessions(&self, fresh_after: DateTime<Utc>) -> Result<Vec<SessionView>, DbError> {
        dispatch!(self, s => s.sessions(fresh_after).await)
    }

    /// Stores a cron run; `false` when the host already has this `run_id` (ignored).
    pub async fn store_cron_run(&self, hostname: &str, run: &CronRun) -> Result<bool, DbError> {
        dispatch!(self, s => s.store_cron_run(hostname, run).await)
    }

    /// A host's cron runs, newest first, optionally of one entry.
    pub async fn cron_runs(
        &self,
        hostname: &str,
        cron_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CronRunView>, DbError> {
        dispatch!(self, s => s.cron_runs(hostname, cron_id, limit).await)
    }
}
