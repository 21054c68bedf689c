//! The database side of commands fanned out to gearman agents: command jobs and their per-host
//! rows, agent sessions (which replica holds which host's connection), claims of queued host
//! jobs by the replica holding the host, results, and cron runs. The statements live in
//! `common/commands.rs`; the HTTP shapes are built by `api::commands` from what is read here.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use wire::CommandResult;
use wire::agent::CronRun;

use super::DbFuture;

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
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionView {
    /// The host.
    pub hostname: String,
    /// The replica holding the connection.
    pub replica: String,
    /// The connection's own id.
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
#[derive(Debug, Clone)]
pub struct CronRunRecord {
    /// The host.
    pub hostname: String,
    /// What ran, when, and how it ended.
    pub run: CronRun,
}

/// Commands fanned out to gearman agents, agent sessions and cron runs (implemented once for
/// every backend in `common/commands.rs`).
pub trait CommandStore: Send + Sync {
    /// Stores a command: the job and one row per known host, `queued` when the host has a
    /// fresh session, `failed` with 204 "Host offline" otherwise; unknown hosts get no row
    /// (203). A duplicate id fails with [`DbError::Invalid`]; nothing is stored then.
    fn create_command<'a>(&'a self, new: &'a NewCommand<'a>) -> DbFuture<'a, CommandRecord>;

    /// A command job with its parts, or `None` (also for boot job ids).
    fn command<'a>(&'a self, id: &'a str) -> DbFuture<'a, Option<CommandRecord>>;

    /// How many hosts of a command have not answered (queued or sent).
    fn command_unanswered<'a>(&'a self, id: &'a str) -> DbFuture<'a, u64>;

    /// Claims, for `replica`, queued host jobs whose host has a session on it (of one job, or
    /// of all), at most `limit`, honouring each job's `max_concurrency` over its sent rows;
    /// they become `sent`. Atomic across replicas.
    fn claim<'a>(
        &'a self,
        replica: &'a str,
        job: Option<&'a str>,
        limit: u32,
    ) -> DbFuture<'a, Vec<Claimed>>;

    /// Puts sent host jobs back in the queue (their frame never left this replica).
    fn unclaim<'a>(&'a self, ids: &'a [String]) -> DbFuture<'a, ()>;

    /// Marks sent host jobs lost: their connection closed before the result came (206).
    fn mark_lost<'a>(&'a self, ids: &'a [String]) -> DbFuture<'a, ()>;

    /// Stores many results (hostname, result) in one transaction; per item the command's job
    /// id when stored, `None` for a duplicate, an unknown id or another host's id.
    fn store_command_results<'a>(
        &'a self,
        items: &'a [(&'a str, &'a CommandResult)],
    ) -> DbFuture<'a, Vec<Option<String>>>;
}

/// What gearman connections leave behind: agent sessions and cron runs (implemented once for
/// every backend in `common/sessions.rs`).
pub trait SessionStore: Send + Sync {
    /// Registers the host as online and records its session (replacing any other).
    fn open_session<'a>(&'a self, session: &'a SessionView) -> DbFuture<'a, ()>;

    /// Deletes the host's session row if it is still this session's.
    fn close_session<'a>(&'a self, hostname: &'a str, session: &'a str) -> DbFuture<'a, ()>;

    /// Refreshes `seen_at` of every session of `replica` (and keeps their hosts online).
    fn touch_sessions<'a>(&'a self, replica: &'a str) -> DbFuture<'a, ()>;

    /// The sessions recorded for `replica`: (hostname, session id).
    fn replica_sessions<'a>(&'a self, replica: &'a str) -> DbFuture<'a, Vec<(String, String)>>;

    /// At a replica's start: forgets its sessions and marks what it had sent lost.
    fn reset_replica<'a>(&'a self, replica: &'a str) -> DbFuture<'a, ()>;

    /// Marks lost the host jobs sent before `stale_before` by replicas that have no session
    /// seen since then: a replica that died (kill -9, lost machine) can no longer mark its own;
    /// its agents reconnect elsewhere and a late result still replaces `lost`. Returns how many.
    fn sweep_dead_replicas<'a>(&'a self, stale_before: DateTime<Utc>) -> DbFuture<'a, u64>;

    /// Sessions seen after `fresh_after`, by hostname.
    fn sessions<'a>(&'a self, fresh_after: DateTime<Utc>) -> DbFuture<'a, Vec<SessionView>>;

    /// The session recorded for one host, fresh or not.
    fn session<'a>(&'a self, hostname: &'a str) -> DbFuture<'a, Option<SessionView>>;

    /// Stores a cron run; `false` when the host already has this `run_id` (ignored).
    fn store_cron_run<'a>(&'a self, hostname: &'a str, run: &'a CronRun) -> DbFuture<'a, bool>;

    /// A host's cron runs, newest first, optionally of one entry.
    fn cron_runs<'a>(
        &'a self,
        hostname: &'a str,
        cron_id: Option<&'a str>,
        limit: u32,
    ) -> DbFuture<'a, Vec<CronRunRecord>>;
}
