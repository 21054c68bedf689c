//! The database API implemented once, generic over a backend's [`Dialect`]: the few statements
//! that differ between SQLite, MySQL and PostgreSQL live in the dialects (`sqlite.rs`, ...),
//! every other statement is written here with `?` placeholders ([`Dialect::sql`] numbers them
//! for PostgreSQL) or built with a [`QueryBuilder`], which knows each backend's placeholders.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::{
    Database, Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder, SqlSafeStr, SqlStr,
    Transaction, Type,
};
use uuid::Uuid;
use wire::boot::{BootJob, JobResult, StatusReport};

use super::series::SeriesCache;
use super::{AgentRow, HostJobRow, HostRow, JobRow};
use crate::db::{Backend, DbError, DbFuture, Host, HostStore, Job, Target};

/// What differs between the backends. Statements use `?` placeholders, each bound once, in the
/// order the documentation gives.
pub trait Dialect: Database {
    /// Which backend this is.
    const BACKEND: Backend;
    /// Opens a transaction that writes (SQLite takes its write lock at once, so a transaction
    /// never fails half-way for a lock another one holds).
    const BEGIN_WRITE: &'static str = "BEGIN";
    /// Bind parameters one statement may carry.
    const MAX_BINDS: usize = 65_535;
    /// Registers or updates a host and returns its id, or returns no row (the id is then looked
    /// up). Binds: hostname, region of a new host, step, version, now (last_seen, gmt_create,
    /// gmt_modify), region or NULL (keep).
    const UPSERT_HOST: &'static str = "INSERT INTO hosts \
        (hostname, region, status, step, version, last_seen, gmt_create, gmt_modify) \
        VALUES (?, ?, 'online', ?, ?, ?, ?, ?) \
        ON CONFLICT (hostname) DO UPDATE SET region = COALESCE(?, hosts.region), \
        status = 'online', step = excluded.step, version = excluded.version, \
        last_seen = excluded.last_seen, \
        gmt_modify = excluded.gmt_modify \
        RETURNING id";
    /// Inserts a metric series if it is new and returns its id, or returns no row (the id is
    /// then looked up). Binds: host, plugin, plugin_instance, type, type_instance, dsname, dstype.
    const UPSERT_SERIES: &'static str = "INSERT INTO metric_series \
        (host, plugin, plugin_instance, type, type_instance, dsname, dstype) \
        VALUES (?, ?, ?, ?, ?, ?, ?) \
        ON CONFLICT (host, plugin, plugin_instance, type, type_instance, dsname) DO NOTHING \
        RETURNING id";
    /// For backends whose upsert returns no row: a statement giving the id the upsert just
    /// inserted or found, independent of the transaction's snapshot (MySQL's
    /// `LAST_INSERT_ID()`). `None`: look the id up by identity.
    const SERIES_ID_AFTER_UPSERT: Option<&'static str> = None;
    /// Joins `metric_series s` to its chunks `c`, the series read first (a query names a few by
    /// their unique key), then their chunks by `(series_id, last)`.
    const CHUNK_JOIN: &'static str = "JOIN metric_chunks c ON c.series_id = s.id";
    /// Opens a read transaction whose statements all see one snapshot (PostgreSQL's default,
    /// READ COMMITTED, gives each statement its own).
    const BEGIN_SNAPSHOT: &'static str = "BEGIN";
    /// Registers a host whose gearman connected, or marks it online, without touching what
    /// its BootAgent reports. Binds: hostname, now (last_seen, gmt_create, gmt_modify).
    const UPSERT_AGENT_HOST: &'static str = "INSERT INTO hosts \
        (hostname, status, last_seen, gmt_create, gmt_modify) VALUES (?, 'online', ?, ?, ?) \
        ON CONFLICT (hostname) DO UPDATE SET status = 'online', \
        last_seen = excluded.last_seen, gmt_modify = excluded.gmt_modify";
    /// Records a host's session, replacing any other. Binds: hostname, replica, session,
    /// version, address, connected_at, seen_at.
    const UPSERT_SESSION: &'static str = "INSERT INTO agent_sessions \
        (hostname, replica, session, version, address, connected_at, seen_at) \
        VALUES (?, ?, ?, ?, ?, ?, ?) \
        ON CONFLICT (hostname) DO UPDATE SET replica = excluded.replica, \
        session = excluded.session, version = excluded.version, address = excluded.address, \
        connected_at = excluded.connected_at, seen_at = excluded.seen_at";
    /// Appended to a select that locks the rows it reads ("" where writers are serialised).
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    /// Appended to a count that must see the latest committed rows inside a transaction
    /// (MySQL's REPEATABLE READ would otherwise read the transaction's first snapshot).
    const LATEST_READ: &'static str = "";
    /// Locks a (host, source, file) of log records until commit, registering it if new, so
    /// that an ingest's look-up of the chunks already held sees those of any other ingest of the
    /// same file. Binds: host, source, file.
    const LOCK_LOG_FILE: &'static str = "INSERT INTO log_files (host, source, file) \
        VALUES (?, ?, ?) ON CONFLICT (host, source, file) DO UPDATE SET file = excluded.file";
    /// Records a host's source state, replacing the last. Binds: host, name, path, files,
    /// open_files, read_offset, size, lag_bytes, state, lost_bytes, truncations,
    /// parse_errors, truncated_records, last_error, updated, rejected_records.
    const UPSERT_LOG_SOURCE: &'static str = "INSERT INTO log_sources \
        (host, name, path, files, open_files, read_offset, size, lag_bytes, state, lost_bytes, \
        truncations, parse_errors, truncated_records, last_error, updated, rejected_records) \
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
        ON CONFLICT (host, name) DO UPDATE SET path = excluded.path, files = excluded.files, \
        open_files = excluded.open_files, read_offset = excluded.read_offset, \
        size = excluded.size, lag_bytes = excluded.lag_bytes, state = excluded.state, \
        lost_bytes = excluded.lost_bytes, truncations = excluded.truncations, \
        parse_errors = excluded.parse_errors, truncated_records = excluded.truncated_records, \
        last_error = excluded.last_error, updated = excluded.updated, \
        rejected_records = excluded.rejected_records";
    /// The total of `log_chunks.bytes` as a 64-bit integer.
    const LOG_BYTES: &'static str = "SELECT COALESCE(SUM(bytes), 0) FROM log_chunks";
    /// The records held of each source of a host, as 64-bit integers. Binds: host.
    const LOG_SOURCE_RECORDS: &'static str =
        "SELECT source, SUM(records) FROM log_chunks WHERE host = ? GROUP BY source";
    /// Marks offline the online hosts whose `last_seen` is older than now − steps × step.
    /// Binds: now (gmt_modify), now, steps.
    const MARK_OFFLINE: &'static str;

    /// The backend's migrations (`server/migrations/<backend>`).
    fn migrator() -> &'static Migrator;

    /// A statement of this module in the backend's placeholder syntax.
    fn sql(text: &'static str) -> SqlStr {
        text.into_sql_str()
    }

    /// Rows a statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

const HOST_ID: &str = "SELECT id FROM hosts WHERE hostname = ?";
const HOSTS: &str = "SELECT h.id, h.hostname, h.region, h.status, h.step, h.version, h.last_seen, \
    h.gmt_create, h.gmt_modify FROM hosts h";
const AGENTS: &str = "SELECT a.host_id, a.name, a.version, a.status, a.uptime, a.gmt_modify \
    FROM host_agents a JOIN hosts h ON h.id = a.host_id";
const HAND_OUT: &str = "UPDATE host_job SET handed_out = handed_out + 1, gmt_modify = ? \
    WHERE host_id = ? AND status = 'pending'";
const PENDING: &str = "SELECT hj.id, j.spec FROM host_job hj JOIN jobs j ON j.id = hj.job_id \
    WHERE hj.host_id = ? AND hj.status = 'pending' ORDER BY j.gmt_create, j.id";
/// Binds: status, errcode, message, now, id, hostname or NULL, hostname or NULL.
const FINISH: &str = "UPDATE host_job SET status = ?, errcode = ?, message = ?, gmt_modify = ? \
    WHERE id = ? AND status = 'pending' \
    AND (? IS NULL OR host_id IN (SELECT id FROM hosts WHERE hostname = ?))";
const KNOWN_JOB: &str = "SELECT host_id FROM host_job WHERE id = ? \
    AND job_id IN (SELECT id FROM jobs WHERE kind = 'boot') \
    AND (? IS NULL OR host_id IN (SELECT id FROM hosts WHERE hostname = ?))";
const JOB: &str = "SELECT spec, gmt_create FROM jobs WHERE id = ? AND kind = 'boot'";
const JOB_HOSTS: &str = "SELECT hj.id, h.hostname, hj.status, hj.handed_out, hj.errcode, \
    hj.message, hj.gmt_modify FROM host_job hj JOIN hosts h ON h.id = hj.host_id \
    WHERE hj.job_id = ?";

/// A backend's database handle: its pool, the metric series cache and the count of values
/// staged since the last flush; clones share all three.
pub struct SqlStore<D: Database> {
    pub(super) pool: Pool<D>,
    pub(super) series: SeriesCache,
    /// Values this process staged since its last flush (see `metrics`).
    pub(super) staged: Arc<AtomicI64>,
}

impl<D: Database> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        SqlStore {
            pool: self.pool.clone(),
            series: self.series.clone(),
            staged: self.staged.clone(),
        }
    }
}

impl<D: Database> SqlStore<D> {
    /// A store over a connected pool.
    pub fn new(pool: Pool<D>) -> Self {
        SqlStore {
            pool,
            series: SeriesCache::default(),
            staged: Arc::default(),
        }
    }
}

impl<D: Dialect> SqlStore<D> {
    /// Opens a transaction that writes ([`Dialect::BEGIN_WRITE`]).
    pub(super) async fn begin_write(&self) -> Result<Transaction<'static, D>, DbError> {
        Ok(self.pool.begin_with(D::BEGIN_WRITE).await?)
    }
}

impl<D> HostStore for SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    f64: Type<D> + for<'q> Encode<'q, D>,
    DateTime<Utc>: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    for<'a> Option<&'a str>: Type<D> + Encode<'a, D>,
    for<'r> (i64,): FromRow<'r, D::Row>,
    for<'r> (i64, String): FromRow<'r, D::Row>,
    for<'r> (String, i64): FromRow<'r, D::Row>,
    for<'r> (String, String): FromRow<'r, D::Row>,
    for<'r> HostRow: FromRow<'r, D::Row>,
    for<'r> AgentRow: FromRow<'r, D::Row>,
    for<'r> JobRow: FromRow<'r, D::Row>,
    for<'r> HostJobRow: FromRow<'r, D::Row>,
{
    fn report_status<'a>(&'a self, report: &'a StatusReport) -> DbFuture<'a, i64> {
        Box::pin(async move {
            let report = super::check_report(report)?;
            let now = super::now();
            let mut tx = self.begin_write().await?;
            let upserted = sqlx::query_scalar::<D, i64>(D::sql(D::UPSERT_HOST))
                .bind(report.hostname)
                .bind(report.region.unwrap_or("unknown"))
                .bind(report.step)
                .bind(report.version)
                .bind(now)
                .bind(now)
                .bind(now)
                .bind(report.region)
                .fetch_optional(&mut *tx)
                .await?;
            let id = match upserted {
                Some(id) => id,
                None => {
                    sqlx::query_scalar(D::sql(HOST_ID))
                        .bind(report.hostname)
                        .fetch_one(&mut *tx)
                        .await?
                }
            };
            sqlx::query(D::sql("DELETE FROM host_agents WHERE host_id = ?"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for agents in report.agents.chunks(D::MAX_BINDS / 6) {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO host_agents (host_id, name, version, status, uptime, gmt_modify) ",
                );
                insert.push_values(agents, |mut row, agent| {
                    row.push_bind(id)
                        .push_bind(agent.name)
                        .push_bind(agent.version);
                    row.push_bind(agent.status)
                        .push_bind(agent.uptime)
                        .push_bind(now);
                });
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(id)
        })
    }

    fn pending_jobs<'a>(&'a self, host_id: i64) -> DbFuture<'a, Vec<BootJob>> {
        Box::pin(async move {
            let mut tx = self.begin_write().await?;
            let handed = sqlx::query(D::sql(HAND_OUT))
                .bind(super::now())
                .bind(host_id)
                .execute(&mut *tx)
                .await?;
            let rows: Vec<(String, String)> = if D::rows_affected(&handed) == 0 {
                Vec::new()
            } else {
                sqlx::query_as(D::sql(PENDING))
                    .bind(host_id)
                    .fetch_all(&mut *tx)
                    .await?
            };
            tx.commit().await?;
            rows.into_iter()
                .map(|(id, spec)| super::handed_out(id, &spec))
                .collect()
        })
    }

    fn store_results<'a>(&'a self, results: &'a [JobResult]) -> DbFuture<'a, ()> {
        Box::pin(async move {
            if results.is_empty() {
                return Ok(());
            }
            let now = super::now();
            let mut tx = self.begin_write().await?;
            for result in results {
                let status = if result.errcode == 0 {
                    "done"
                } else {
                    "failed"
                };
                let host = result.hostname.as_deref();
                let finished = sqlx::query(D::sql(FINISH))
                    .bind(status)
                    .bind(i64::from(result.errcode))
                    .bind(result.message.replace('\0', "\u{fffd}").as_str())
                    .bind(now)
                    .bind(result.id.as_str())
                    .bind(host)
                    .bind(host)
                    .execute(&mut *tx)
                    .await?;
                if D::rows_affected(&finished) == 0 {
                    // Already finished (a re-sent result: ignored), or not a job of this host at all.
                    let known: Option<i64> = sqlx::query_scalar(D::sql(KNOWN_JOB))
                        .bind(result.id.as_str())
                        .bind(host)
                        .bind(host)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if known.is_none() {
                        return Err(DbError::UnknownJob(result.id.clone()));
                    }
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn mark_offline<'a>(&'a self, steps: u32) -> DbFuture<'a, u64> {
        Box::pin(async move {
            let now = super::now();
            let marked = sqlx::query(D::sql(D::MARK_OFFLINE))
                .bind(now)
                .bind(now)
                .bind(i64::from(steps))
                .execute(&self.pool)
                .await?;
            Ok(D::rows_affected(&marked))
        })
    }

    fn hosts<'a>(&'a self, region: Option<&'a str>) -> DbFuture<'a, Vec<Host>> {
        Box::pin(async move { self.select_hosts(region, None).await })
    }

    fn host<'a>(&'a self, hostname: &'a str) -> DbFuture<'a, Option<Host>> {
        Box::pin(async move { Ok(self.select_hosts(None, Some(hostname)).await?.pop()) })
    }

    fn status_counts<'a>(&'a self) -> DbFuture<'a, BTreeMap<String, u64>> {
        Box::pin(async move {
            let rows = sqlx::query_as(D::sql("SELECT status, COUNT(*) FROM hosts GROUP BY status"))
                .fetch_all(&self.pool)
                .await?;
            Ok(super::status_counts(rows))
        })
    }

    fn create_job<'a>(&'a self, spec: &'a BootJob, target: &'a Target) -> DbFuture<'a, Job> {
        Box::pin(async move {
            let stored = super::check_spec(spec)?;
            let mut tx = self.begin_write().await?;
            let hosts: Vec<(i64, String)> = match target {
                Target::Hosts(names) => {
                    let names = super::unique_names(names)?;
                    let mut found = Vec::with_capacity(names.len());
                    for chunk in names.chunks(D::MAX_BINDS) {
                        let mut select =
                            QueryBuilder::new("SELECT id, hostname FROM hosts WHERE hostname IN (");
                        let mut list = select.separated(", ");
                        for name in chunk {
                            list.push_bind(*name);
                        }
                        select.push(")");
                        found.extend(
                            select
                                .build_query_as::<(i64, String)>()
                                .fetch_all(&mut *tx)
                                .await?,
                        );
                    }
                    super::all_found(&names, &found)?;
                    found
                }
                Target::Region(region) => {
                    let found: Vec<(i64, String)> =
                        sqlx::query_as(D::sql("SELECT id, hostname FROM hosts WHERE region = ?"))
                            .bind(region.as_str())
                            .fetch_all(&mut *tx)
                            .await?;
                    if found.is_empty() {
                        return Err(DbError::UnknownHosts(vec![format!(
                            "any host of region `{region}`"
                        )]));
                    }
                    found
                }
            };
            let now = super::now();
            sqlx::query(D::sql(
                "INSERT INTO jobs (id, action, spec, gmt_create) VALUES (?, ?, ?, ?)",
            ))
            .bind(spec.id.as_str())
            .bind(spec.action.as_str())
            .bind(stored.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| super::conflict(e, || format!("job `{}` already exists", spec.id)))?;
            let parts: Vec<(i64, HostJobRow)> = hosts
                .into_iter()
                .map(|(host_id, hostname)| {
                    (
                        host_id,
                        HostJobRow::pending(Uuid::new_v4().to_string(), hostname, now),
                    )
                })
                .collect();
            for chunk in parts.chunks(D::MAX_BINDS / 5) {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO host_job \
                     (id, job_id, host_id, status, handed_out, gmt_create, gmt_modify) ",
                );
                insert.push_values(chunk, |mut row, (host_id, part)| {
                    row.push_bind(part.id())
                        .push_bind(spec.id.as_str())
                        .push_bind(*host_id);
                    row.push("'pending'")
                        .push("0")
                        .push_bind(now)
                        .push_bind(now);
                });
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            let parts = parts.into_iter().map(|(_, part)| part).collect();
            super::job_view(&spec.id, super::new_job_row(stored, now), parts)
        })
    }

    fn job<'a>(&'a self, id: &'a str) -> DbFuture<'a, Option<Job>> {
        Box::pin(async move {
            let job: Option<JobRow> = sqlx::query_as(D::sql(JOB))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            let Some(job) = job else {
                return Ok(None);
            };
            let parts = sqlx::query_as(D::sql(JOB_HOSTS))
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
            super::job_view(id, job, parts).map(Some)
        })
    }
}

impl<D> SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    for<'r> HostRow: FromRow<'r, D::Row>,
    for<'r> AgentRow: FromRow<'r, D::Row>,
{
    async fn select_hosts(
        &self,
        region: Option<&str>,
        hostname: Option<&str>,
    ) -> Result<Vec<Host>, DbError> {
        // Plain `WHERE column = ?` (no `? IS NULL OR ...`), so that every backend uses its index.
        let filter = |select: &mut QueryBuilder<D>| {
            if let Some(hostname) = hostname {
                select.push(" WHERE h.hostname = ").push_bind(hostname);
            } else if let Some(region) = region {
                select.push(" WHERE h.region = ").push_bind(region);
            }
        };
        let mut select = QueryBuilder::new(HOSTS);
        filter(&mut select);
        let hosts = select
            .build_query_as::<HostRow>()
            .fetch_all(&self.pool)
            .await?;
        if hosts.is_empty() {
            return Ok(Vec::new());
        }
        let mut select = QueryBuilder::new(AGENTS);
        filter(&mut select);
        let agents = select
            .build_query_as::<AgentRow>()
            .fetch_all(&self.pool)
            .await?;
        super::host_views(hosts, agents)
    }
}
