//! The database: hosts and their agents, boot jobs and their per-host results, metric series
//! and values, gearman sessions, commands and cron runs (in `commands`), plugin inventories,
//! the plugin catalogue and rollouts (in `plugins`), log records and sources (in `logs`), on
//! SQLite (default), MySQL/MariaDB or PostgreSQL, chosen by the URL.
//!
//! It returns domain types (the API layer, `crate::api`, owns their JSON and OpenAPI shapes).
//! One API, the [`Store`] trait (in parts: [`HostStore`], [`MetricStore`], [`CommandStore`],
//! [`SessionStore`], [`TrustStore`], for plugins [`PluginStore`] and [`RolloutStore`], for logs
//! [`LogStore`]), implemented once for `common::SqlStore<D>` generic over a backend's dialect, with one module per backend (`sqlite`, `mysql`, `postgres`) for the
//! statements that differ, because sqlx's `Any` driver neither rewrites placeholders nor covers
//! the types needed; each backend has its own migration folder under
//! `server/migrations/<backend>/`. [`Db`] is the `dyn Store` a URL selects. Times are UTC.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostStatus {
    /// Registered but never reported, or state not known.
    Unknown,
    /// Reported within `offline_after_steps` × step.
    Online,
    /// Silent for longer than that.
    Offline,
}

/// A registered host with its managed agents.
#[derive(Debug, Clone)]
pub struct Host {
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
    pub agents: Vec<HostAgent>,
}

/// One managed agent of a host.
#[derive(Debug, Clone)]
pub struct HostAgent {
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostJobStatus {
    /// Waiting to be handed out, or handed out and no result yet.
    Pending,
    /// The agent reported errcode 0.
    Done,
    /// The agent reported a non-zero errcode.
    Failed,
}

/// A job on one host.
#[derive(Debug, Clone)]
pub struct HostJob {
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
#[derive(Debug, Clone)]
pub struct Job {
    /// The job's id (the admin API's handle).
    pub id: String,
    /// What it asks (its `id` field is the job id; each host gets its own id, see `hosts`).
    pub spec: BootJob,
    /// When it was created.
    pub gmt_create: DateTime<Utc>,
    /// Per host.
    pub hosts: Vec<HostJob>,
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
#[derive(Debug, Clone, PartialEq)]
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

mod common;
mod mysql;
mod postgres;
mod sqlite;

mod commands;
pub mod integrity;
pub mod logs;
pub mod plugins;
mod trust;

pub use commands::{
    Claimed, CommandPart, CommandRecord, CommandStore, CronRunRecord, HostState, NewCommand,
    SessionStore, SessionView,
};
pub use common::now;
pub use integrity::IntegrityStore;
pub use logs::LogStore;
pub use plugins::{PluginStore, RolloutStore};
pub use trust::{NewCert, TrustStore};

/// What every part of the API returns: a boxed future, so that the traits are object safe and
/// [`Db`] is one `dyn Store` whatever the backend.
pub type DbFuture<'a, T> = BoxFuture<'a, Result<T, DbError>>;

/// The database API: one trait object over the three backends. Each part is implemented once,
/// generically, for `common::SqlStore<D>` of every [`Dialect`](common::Dialect) `D` (the
/// statements that differ live in `sqlite.rs`, `mysql.rs`, `postgres.rs`).
pub trait Store:
    HostStore
    + MetricStore
    + CommandStore
    + SessionStore
    + TrustStore
    + PluginStore
    + RolloutStore
    + LogStore
    + IntegrityStore
{
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// Applies the backend's migrations and the upgrades of stored data (idempotent).
    fn migrate(&self) -> DbFuture<'_, ()>;

    /// Round-trip time of a trivial query.
    fn ping(&self) -> DbFuture<'_, Duration>;
}

/// Hosts, their agents and boot jobs (implemented in `common/store.rs`).
pub trait HostStore: Send + Sync {
    /// Registers or updates the reporting host (online, last seen now, its step, version and
    /// region) and replaces its agents with the reported ones, in one transaction. Returns the
    /// host id.
    fn report_status<'a>(&'a self, report: &'a StatusReport) -> DbFuture<'a, i64>;

    /// The host's jobs without a result yet, each with the host's own job id, counting the
    /// hand-out.
    fn pending_jobs<'a>(&'a self, host_id: i64) -> DbFuture<'a, Vec<BootJob>>;

    /// Stores job results, all or none: an unknown id fails the whole call with
    /// [`DbError::UnknownJob`]. A repeated result for a finished job is accepted and ignored.
    fn store_results<'a>(&'a self, results: &'a [JobResult]) -> DbFuture<'a, ()>;

    /// Marks offline every online host silent for more than `steps` × its step; returns how
    /// many changed.
    fn mark_offline<'a>(&'a self, steps: u32) -> DbFuture<'a, u64>;

    /// Registered hosts with their agents, optionally of one region, by hostname.
    fn hosts<'a>(&'a self, region: Option<&'a str>) -> DbFuture<'a, Vec<Host>>;

    /// One host with its agents.
    fn host<'a>(&'a self, hostname: &'a str) -> DbFuture<'a, Option<Host>>;

    /// Hosts per status, for Polaris's own `/metrics`.
    fn status_counts<'a>(&'a self) -> DbFuture<'a, BTreeMap<String, u64>>;

    /// Creates a boot job for the target hosts (`spec.id` is the job's id); each host gets its
    /// own id for the agent. Fails with [`DbError::UnknownHosts`] naming every unknown host, or
    /// [`DbError::Invalid`] for a region without hosts; nothing is stored then.
    fn create_job<'a>(&'a self, spec: &'a BootJob, target: &'a Target) -> DbFuture<'a, Job>;

    /// A job with its per-host parts.
    fn job<'a>(&'a self, id: &'a str) -> DbFuture<'a, Option<Job>>;
}

/// Metric series and values (implemented in `common/metrics.rs`).
pub trait MetricStore: Send + Sync {
    /// Stores a batch of value lists (creating their series as needed) with the series caps
    /// of `[limits]`; returns the number of values stored. A batch that would give a host more
    /// than `limits.per_host` series, or has a bad value list, is refused whole.
    fn ingest<'a>(
        &'a self,
        batch: &'a [ValueListJson],
        limits: crate::limits::SeriesLimits,
    ) -> DbFuture<'a, usize>;

    /// Averages per step of the series a query selects.
    fn query_metrics<'a>(&'a self, query: &'a MetricQuery) -> DbFuture<'a, Vec<SeriesPoints>>;
}

/// The database handle: the store of the backend a URL names; cheap to clone. Every method of
/// [`Store`] and its parts is called on it directly (`db.hosts(None).await`).
#[derive(Clone)]
pub struct Db(Arc<dyn Store>);

impl std::ops::Deref for Db {
    type Target = dyn Store;

    fn deref(&self) -> &(dyn Store + 'static) {
        &*self.0
    }
}

impl Db {
    /// Connects to the database a URL names (creating a SQLite file if needed).
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        let store: Arc<dyn Store> = match Backend::of_url(url) {
            Some(Backend::Sqlite) => Arc::new(sqlite::Store::connect(url).await?),
            Some(Backend::MySql) => Arc::new(mysql::Store::connect(url).await?),
            Some(Backend::Postgres) => Arc::new(postgres::Store::connect(url).await?),
            None => {
                return Err(DbError::Invalid(format!(
                    "unsupported database URL `{url}`"
                )));
            }
        };
        Ok(Db(store))
    }
}
