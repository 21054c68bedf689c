//! The database: hosts and their agents, boot jobs and their per-host results, metric series
//! and values, gearman sessions, commands and cron runs (in `commands`), on SQLite (default),
//! MySQL/MariaDB or PostgreSQL, chosen by the URL.
//!
//! One API ([`Db`]) over one module per backend (`sqlite`, `mysql`, `postgres`), because sqlx's
//! `Any` driver neither rewrites placeholders nor covers the types needed; each backend has its
//! own migration folder under `server/migrations/<backend>/`. Times are UTC.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use wire::boot::{AgentState, BootJob, JobResult, StatusReport};
use wire::metrics::ValueListJson;

/// A database error that handlers turn into an API error.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A job result names a job id that was never handed out.
    #[error("no such job: {0}")]
    UnknownJob(String),
    /// A job targets hosts that are not registered.
    #[error("no such host: {}", .0.join(", "))]
    UnknownHosts(Vec<String>),
    /// A request the data does not allow (e.g. an empty region).
    #[error("{0}")]
    Invalid(String),
    /// Credentials that are not (or no longer) valid, e.g. a used-up enrollment token.
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials that do not allow this, e.g. enrolling a host that is enrolled.
    #[error("{0}")]
    Forbidden(String),
    /// The request conflicts with what is stored (e.g. a job id that exists).
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Which backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// `sqlite://...`
    Sqlite,
    /// `mysql://...` or `mariadb://...`
    MySql,
    /// `postgres://...` or `postgresql://...`
    Postgres,
}

impl Backend {
    /// The backend a database URL selects, if any.
    pub fn of_url(url: &str) -> Option<Backend> {
        let scheme = url.split(':').next()?;
        Some(match scheme {
            "sqlite" => Backend::Sqlite,
            "mysql" | "mariadb" => Backend::MySql,
            "postgres" | "postgresql" => Backend::Postgres,
            _ => return None,
        })
    }
}

/// A host's status as Polaris sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HostStatus {
    /// Registered but never reported, or state not known.
    Unknown,
    /// Reported within `offline_after_steps` × step.
    Online,
    /// Silent for longer than that.
    Offline,
}

/// A registered host with its managed agents.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HostView {
    /// Database id.
    pub id: i64,
    /// Host name / AgentSN (unique).
    pub hostname: String,
    /// Region (default `unknown`).
    pub region: String,
    /// unknown / online / offline.
    pub status: HostStatus,
    /// Seconds between its reports.
    pub step: u64,
    /// BootAgent version last reported.
    pub version: String,
    /// When it last reported.
    pub last_seen: Option<DateTime<Utc>>,
    /// When it was registered.
    pub gmt_create: DateTime<Utc>,
    /// When its row last changed.
    pub gmt_modify: DateTime<Utc>,
    /// Its agents as last reported.
    pub agents: Vec<AgentView>,
}

/// One managed agent of a host.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentView {
    /// Agent name.
    pub name: String,
    /// Agent version.
    pub version: String,
    /// stoped / running / fatal / killed.
    pub status: AgentState,
    /// Seconds running.
    pub uptime: u64,
    /// When this was reported.
    pub gmt_modify: DateTime<Utc>,
}

/// Which hosts a new job is for.
#[derive(Debug, Clone)]
pub enum Target {
    /// These hosts (by hostname); all must be registered.
    Hosts(Vec<String>),
    /// Every host of a region; the region must have hosts.
    Region(String),
}

/// The state of a job on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HostJobStatus {
    /// Waiting to be handed out, or handed out and no result yet.
    Pending,
    /// The agent reported errcode 0.
    Done,
    /// The agent reported a non-zero errcode.
    Failed,
}

/// A job on one host.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HostJobView {
    /// The id the agent sees for this host's part of the job.
    pub id: String,
    /// The host.
    pub hostname: String,
    /// pending / done / failed.
    pub status: HostJobStatus,
    /// How many times it was handed out.
    pub handed_out: u32,
    /// The agent's errcode, once reported.
    pub errcode: Option<u32>,
    /// The agent's message, once reported.
    pub message: Option<String>,
    /// Last change.
    pub gmt_modify: DateTime<Utc>,
}

/// A job with its per-host parts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobView {
    /// The job's id (the admin API's handle).
    pub id: String,
    /// What it asks (its `id` field is the job id; each host gets its own id, see `hosts`).
    pub spec: BootJob,
    /// When it was created.
    pub gmt_create: DateTime<Utc>,
    /// Per host.
    pub hosts: Vec<HostJobView>,
}

/// A metrics query: one host's series of one plugin/type, averaged per `step` seconds.
#[derive(Debug, Clone)]
pub struct MetricQuery {
    /// Host name.
    pub host: String,
    /// Plugin, e.g. `cpu`.
    pub plugin: String,
    /// Plugin instance; `None` = all.
    pub plugin_instance: Option<String>,
    /// Type, e.g. `cpu`.
    pub type_: String,
    /// Type instance; `None` = all.
    pub type_instance: Option<String>,
    /// Data source name; `None` = all.
    pub dsname: Option<String>,
    /// Range start, Unix seconds (inclusive).
    pub from: f64,
    /// Range end, Unix seconds (exclusive).
    pub to: f64,
    /// Bucket width in seconds (> 0).
    pub step: f64,
}

/// One series in a query answer.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SeriesPoints {
    /// Plugin instance.
    pub plugin_instance: String,
    /// Type instance.
    pub type_instance: String,
    /// Data source name.
    pub dsname: String,
    /// gauge / derive / counter / absolute.
    pub dstype: String,
    /// `[bucket start, average]`, oldest first; empty buckets are left out.
    pub points: Vec<(f64, f64)>,
}

/// Hosts by region, for [`Db::region_counts`].
pub type RegionCounts = BTreeMap<String, u64>;

/// The database handle; cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Pool,
}

#[derive(Clone)]
enum Pool {
    Sqlite(sqlite::Store),
    MySql(mysql::Store),
    Postgres(postgres::Store),
}

mod common;
mod mysql;
mod postgres;
mod sqlite;

macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match &$self.inner {
            Pool::Sqlite($store) => $call,
            Pool::MySql($store) => $call,
            Pool::Postgres($store) => $call,
        }
    };
}

mod commands;
mod trust;

pub use commands::{
    Claimed, CommandPart, CommandRecord, CronRunView, HostState, NewCommand, SessionView,
};
pub use common::now;
pub use trust::NewCert;

impl Db {
    /// Connects to the database a URL names (creating a SQLite file if needed).
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        let inner = match Backend::of_url(url) {
            Some(Backend::Sqlite) => Pool::Sqlite(sqlite::Store::connect(url).await?),
            Some(Backend::MySql) => Pool::MySql(mysql::Store::connect(url).await?),
            Some(Backend::Postgres) => Pool::Postgres(postgres::Store::connect(url).await?),
            None => {
                return Err(DbError::Invalid(format!(
                    "unsupported database URL `{url}`"
                )));
            }
        };
        Ok(Db { inner })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self.inner {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::MySql(_) => Backend::MySql,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the backend's migrations (idempotent).
    pub async fn migrate(&self) -> Result<(), DbError> {
        dispatch!(self, s => s.migrate().await)
    }

    /// Round-trip time of a trivial query.
    pub async fn ping(&self) -> Result<Duration, DbError> {
        let started = std::time::Instant::now();
        dispatch!(self, s => s.ping().await)?;
        Ok(started.elapsed())
    }

    /// Registers or updates the reporting host (online, last seen now, its step, version and
    /// region) and replaces its agents with the reported ones, in one transaction. Returns the
    /// host id.
    pub async fn report_status(&self, report: &StatusReport) -> Result<i64, DbError> {
        dispatch!(self, s => s.report_status(report).await)
    }

    /// The host's jobs without a result yet, each with the host's own job id, counting the
    /// hand-out.
    pub async fn pending_jobs(&self, host_id: i64) -> Result<Vec<BootJob>, DbError> {
        dispatch!(self, s => s.pending_jobs(host_id).await)
    }

    /// Stores job results, all or none: an unknown id fails the whole call with
    /// [`DbError::UnknownJob`]. A repeated result for a finished job is accepted and ignored.
    pub async fn store_results(&self, results: &[JobResult]) -> Result<(), DbError> {
        dispatch!(self, s => s.store_results(results).await)
    }

    /// Marks offline every online host silent for more than `steps` × its step; returns how
    /// many changed.
    pub async fn mark_offline(&self, steps: u32) -> Result<u64, DbError> {
        dispatch!(self, s => s.mark_offline(steps).await)
    }

    /// Registered hosts with their agents, optionally of one region, by hostname.
    pub async fn hosts(&self, region: Option<&str>) -> Result<Vec<HostView>, DbError> {
        dispatch!(self, s => s.hosts(region).await)
    }

    /// One host with its agents.
    pub async fn host(&self, hostname: &str) -> Result<Option<HostView>, DbError> {
        dispatch!(self, s => s.host(hostname).await)
    }

    /// Hosts per status, for Polaris's own `/metrics`.
    pub async fn status_counts(&self) -> Result<BTreeMap<String, u64>, DbError> {
        dispatch!(self, s => s.status_counts().await)
    }

    /// Creates a boot job for the target hosts (`spec.id` is the job's id); each host gets its
    /// own id for the agent. Fails with [`DbError::UnknownHosts`] naming every unknown host, or
    /// [`DbError::Invalid`] for a region without hosts; nothing is stored then.
    pub async fn create_job(&self, spec: &BootJob, target: &Target) -> Result<JobView, DbError> {
        dispatch!(self, s => s.create_job(spec, target).await)
    }

    /// A job with its per-host parts.
    pub async fn job(&self, id: &str) -> Result<Option<JobView>, DbError> {
        dispatch!(self, s => s.job(id).await)
    }

    /// Stores a batch of value lists (one row per value); returns the number of values stored.
    pub async fn ingest(&self, batch: &[ValueListJson]) -> Result<usize, DbError> {
        self.ingest_limited(batch, crate::limits::SeriesLimits::default())
            .await
    }

    /// [`Db::ingest`] with the series caps of `[limits]` (series per host, series cache).
    pub async fn ingest_limited(
        &self,
        batch: &[ValueListJson],
        limits: crate::limits::SeriesLimits,
    ) -> Result<usize, DbError> {
        dispatch!(self, s => s.ingest(batch, limits).await)
    }

    /// Averages per step of the series a query selects.
    pub async fn query_metrics(&self, query: &MetricQuery) -> Result<Vec<SeriesPoints>, DbError> {
        dispatch!(self, s => s.query_metrics(query).await)
    }
}
