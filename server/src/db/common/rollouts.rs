//! Rollouts in the database, written once for the three backends (see `store` for the dialect
//! rules). Schedulers on several replicas may work on one rollout at once: every statement that
//! changes a rollout's hosts runs in a transaction that first locks the rollout's row
//! (`SELECT ... FOR UPDATE`; SQLite's writers are serialised anyway), so their rounds take
//! turns; hosts are begun with a conditional `UPDATE ... WHERE state = 'pending'` after counting
//! the running ones under that lock, so that together they never run more than
//! `max_concurrency` hosts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Transaction, Type};
use uuid::Uuid;

use super::bounded::{clip, parse_agent};
use super::{Dialect, SqlStore, check_text, now, unsigned};
use crate::db::plugins::{
    Begun, NewRollout, Rollout, RolloutAction, RolloutCounts, RolloutHost, RolloutHostState,
    RolloutState, RunningHost, Settled,
};
use crate::db::{CommandPart, DbError, DbFuture, HostState, RolloutStore, Target};

/// Longest message kept per host.
const MESSAGE_MAX: usize = 4096;

/// A `rollouts` row.
#[derive(sqlx::FromRow)]
pub struct RolloutRow {
    id: String,
    action: String,
    agent: String,
    plugin: String,
    version: Option<String>,
    instance: Option<String>,
    method: String,
    command: String,
    max_concurrency: i64,
    max_errors: i64,
    timeout: i64,
    state: String,
    reason: Option<String>,
    created: DateTime<Utc>,
    finished: Option<DateTime<Utc>>,
}

/// A `rollout_hosts` row.
#[derive(sqlx::FromRow)]
pub struct RolloutHostRow {
    hostname: String,
    state: String,
    job_id: Option<String>,
    retcode: Option<i64>,
    message: Option<String>,
    started: Option<DateTime<Utc>>,
    finished: Option<DateTime<Utc>>,
}

/// A running host with its command's part (LEFT JOINs: `job` is NULL before the command
/// exists, `status` when it has no part for the host).
#[derive(sqlx::FromRow)]
pub struct RunningRow {
    hostname: String,
    job_id: Option<String>,
    started: Option<DateTime<Utc>>,
    job: Option<String>,
    status: Option<String>,
    result: Option<String>,
}

const ROLLOUTS: &str = "SELECT id, action, agent, plugin, version, instance, method, command, \
    max_concurrency, max_errors, timeout, state, reason, created, finished FROM rollouts";
const RUNNING: &str = "SELECT rh.hostname, rh.job_id, rh.started, j.id AS job, hj.status, \
    hj.result FROM rollout_hosts rh LEFT JOIN jobs j ON j.id = rh.job_id \
    LEFT JOIN host_job hj ON hj.job_id = rh.job_id \
    WHERE rh.rollout_id = ? AND rh.state = 'running'";

fn corrupt(what: &str, value: &str) -> DbError {
    DbError::Invalid(format!("stored {what} `{value}` is not known"))
}

impl RolloutRow {
    fn rollout(self, counts: RolloutCounts, hosts: Vec<RolloutHost>) -> Result<Rollout, DbError> {
        Ok(Rollout {
            action: RolloutAction::parse(&self.action)
                .ok_or_else(|| corrupt("action", &self.action))?,
            agent: parse_agent(&self.agent)?,
            state: RolloutState::parse(&self.state).ok_or_else(|| corrupt("state", &self.state))?,
            id: self.id,
            plugin: self.plugin,
            version: self.version,
            instance: self.instance,
            method: self.method,
            command: self.command,
            max_concurrency: unsigned(self.max_concurrency),
            max_errors: unsigned(self.max_errors),
            timeout: unsigned(self.timeout),
            reason: self.reason,
            created: self.created,
            finished: self.finished,
            counts,
            hosts,
        })
    }
}

impl RolloutHostRow {
    fn host(self) -> Result<RolloutHost, DbError> {
        Ok(RolloutHost {
            state: RolloutHostState::parse(&self.state)
                .ok_or_else(|| corrupt("host state", &self.state))?,
            hostname: self.hostname,
            job_id: self.job_id,
            retcode: self.retcode.map(unsigned),
            message: self.message,
            started: self.started,
            finished: self.finished,
        })
    }
}

/// Counts from `(state, n)` rows.
fn counts(rows: &[(String, i64)]) -> Result<RolloutCounts, DbError> {
    let mut counts = RolloutCounts::default();
    for (state, n) in rows {
        let state = RolloutHostState::parse(state).ok_or_else(|| corrupt("host state", state))?;
        counts.add(state, unsigned(*n));
    }
    Ok(counts)
}

/// The locked facts of a rollout: state, max_concurrency, max_errors, finished.
type Locked = (String, i64, i64, Option<DateTime<Utc>>);

impl<D> RolloutStore for SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    DateTime<Utc>: Type<D> + for<'q> Encode<'q, D>,
    Option<i64>: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    for<'a> Option<&'a str>: Type<D> + Encode<'a, D>,
    for<'r> (String,): FromRow<'r, D::Row>,
    for<'r> (String, i64): FromRow<'r, D::Row>,
    for<'r> (String, String, i64): FromRow<'r, D::Row>,
    for<'r> Locked: FromRow<'r, D::Row>,
    for<'r> RolloutRow: FromRow<'r, D::Row>,
    for<'r> RolloutHostRow: FromRow<'r, D::Row>,
    for<'r> RunningRow: FromRow<'r, D::Row>,
{
    fn create_rollout<'a>(&'a self, new: &'a NewRollout<'a>) -> DbFuture<'a, Rollout> {
        Box::pin(async move {
            check_text("id", new.id, true, 36)?;
            check_text("plugin", new.plugin, true, 64)?;
            check_text("method", new.method, true, 128)?;
            if let Some(version) = new.version {
                check_text("version", version, true, 64)?;
            }
            if let Some(instance) = new.instance {
                check_text("instance", instance, true, 64)?;
            }
            check_text("command", new.command, true, usize::MAX)?;
            let timeout = i64::try_from(new.timeout)
                .map_err(|_| DbError::Invalid("timeout is out of range".into()))?;
            let now = now();
            let mut tx = self.begin_write().await?;
            let hosts = self.target_hosts(&mut tx, new.target).await?;
            sqlx::query::<D>(D::sql(
                "INSERT INTO rollouts (id, action, agent, plugin, version, instance, method, \
                 command, max_concurrency, max_errors, timeout, state, created) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?)",
            ))
            .bind(new.id)
            .bind(new.action.as_str())
            .bind(new.agent.as_str())
            .bind(new.plugin)
            .bind(new.version)
            .bind(new.instance)
            .bind(new.method)
            .bind(new.command)
            .bind(i64::from(new.max_concurrency))
            .bind(i64::from(new.max_errors))
            .bind(timeout)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| super::conflict(e, || format!("rollout `{}` already exists", new.id)))?;
            let rows: Vec<(i64, &str)> = hosts
                .iter()
                .enumerate()
                .map(|(i, h)| (i as i64, h.as_str()))
                .collect();
            for chunk in rows.chunks(D::MAX_BINDS / 3) {
                let mut insert = QueryBuilder::<D>::new(
                    "INSERT INTO rollout_hosts (rollout_id, hostname, position, state) ",
                );
                insert.push_values(chunk, |mut row, (position, hostname)| {
                    row.push_bind(new.id)
                        .push_bind(*hostname)
                        .push_bind(*position)
                        .push("'pending'");
                });
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            self.rollout_with_hosts(new.id)
                .await?
                .ok_or_else(|| DbError::Invalid("the new rollout vanished".into()))
        })
    }

    fn rollout<'a>(&'a self, id: &'a str) -> DbFuture<'a, Option<Rollout>> {
        Box::pin(self.rollout_with_hosts(id))
    }

    fn rollouts<'a>(&'a self, limit: u32) -> DbFuture<'a, Vec<Rollout>> {
        Box::pin(async move {
            let mut select = QueryBuilder::<D>::new(ROLLOUTS);
            select.push(" ORDER BY created DESC, id LIMIT ");
            select.push_bind(i64::from(limit));
            let rows: Vec<RolloutRow> = select.build_query_as().fetch_all(&self.pool).await?;
            self.with_counts(rows).await
        })
    }

    fn active_rollouts<'a>(&'a self) -> DbFuture<'a, Vec<Rollout>> {
        Box::pin(async move {
            let mut select = QueryBuilder::<D>::new(ROLLOUTS);
            select.push(" WHERE finished IS NULL ORDER BY created, id");
            let rows: Vec<RolloutRow> = select.build_query_as().fetch_all(&self.pool).await?;
            self.with_counts(rows).await
        })
    }

    fn running_hosts<'a>(&'a self, id: &'a str) -> DbFuture<'a, Vec<RunningHost>> {
        Box::pin(async move {
            let rows: Vec<RunningRow> = sqlx::query_as(D::sql(RUNNING))
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
            rows.into_iter()
                .map(|row| {
                    let (Some(job_id), Some(started)) = (row.job_id, row.started) else {
                        return Err(DbError::Invalid(format!(
                            "running host {} of rollout {id} has no command",
                            row.hostname
                        )));
                    };
                    let command = match (row.job, row.status) {
                        (None, _) => None,
                        (Some(_), None) => Some(None),
                        (Some(_), Some(status)) => {
                            let state = HostState::parse(&status)
                                .ok_or_else(|| corrupt("command state", &status))?;
                            let result = row.result.and_then(|r| serde_json::from_str(&r).ok());
                            Some(Some(CommandPart { state, result }))
                        }
                    };
                    Ok(RunningHost {
                        hostname: row.hostname,
                        job_id,
                        started,
                        command,
                    })
                })
                .collect()
        })
    }

    fn settle_hosts<'a>(&'a self, id: &'a str, settled: &'a [Settled]) -> DbFuture<'a, u64> {
        Box::pin(async move {
            if settled.is_empty() {
                return Ok(0);
            }
            let now = now();
            let mut tx = self.begin_write().await?;
            let Some((state, _, max_errors, _)) = self.lock(&mut tx, id).await? else {
                return Ok(0);
            };
            let mut changed = 0;
            for host in settled {
                let message = clip(&host.message, MESSAGE_MAX);
                let updated = sqlx::query::<D>(D::sql(
                    "UPDATE rollout_hosts SET state = ?, retcode = ?, message = ?, finished = ? \
                     WHERE rollout_id = ? AND hostname = ? AND state = 'running'",
                ))
                .bind(host.state.as_str())
                .bind(Some(i64::from(host.retcode)))
                .bind(message.as_str())
                .bind(now)
                .bind(id)
                .bind(host.hostname.as_str())
                .execute(&mut *tx)
                .await?;
                changed += D::rows_affected(&updated);
            }
            let counts = self.count_hosts(&mut tx, id).await?;
            let errors = counts.errors();
            if state == RolloutState::Running.as_str() && errors > unsigned::<u64>(max_errors) {
                let reason = format!(
                    "{errors} host(s) failed or timed out, more than max_errors = {max_errors}: \
                     {} host(s) not begun were cancelled",
                    counts.pending
                );
                sqlx::query::<D>(D::sql(
                    "UPDATE rollouts SET state = 'stopped', reason = ? WHERE id = ? \
                     AND state = 'running'",
                ))
                .bind(reason.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query::<D>(D::sql(
                    "UPDATE rollout_hosts SET state = 'cancelled', finished = ? \
                     WHERE rollout_id = ? AND state = 'pending'",
                ))
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(changed)
        })
    }

    fn begin_hosts<'a>(&'a self, id: &'a str) -> DbFuture<'a, Vec<Begun>> {
        Box::pin(async move {
            let now = now();
            let mut tx = self.begin_write().await?;
            let Some((state, max_concurrency, _, _)) = self.lock(&mut tx, id).await? else {
                return Ok(Vec::new());
            };
            if state != RolloutState::Running.as_str() {
                return Ok(Vec::new());
            }
            let counts = self.count_hosts(&mut tx, id).await?;
            let room = max_concurrency - i64::try_from(counts.running).unwrap_or(i64::MAX);
            if room <= 0 || counts.pending == 0 {
                return Ok(Vec::new());
            }
            let mut select = QueryBuilder::<D>::new(
                "SELECT hostname FROM rollout_hosts WHERE state = 'pending' AND rollout_id = ",
            );
            select
                .push_bind(id)
                .push(" ORDER BY position LIMIT ")
                .push_bind(room);
            let pending: Vec<(String,)> = select.build_query_as().fetch_all(&mut *tx).await?;
            let mut begun = Vec::with_capacity(pending.len());
            for (hostname,) in pending {
                let job_id = Uuid::new_v4().to_string();
                let updated = sqlx::query::<D>(D::sql(
                    "UPDATE rollout_hosts SET state = 'running', job_id = ?, started = ? \
                     WHERE rollout_id = ? AND hostname = ? AND state = 'pending'",
                ))
                .bind(job_id.as_str())
                .bind(now)
                .bind(id)
                .bind(hostname.as_str())
                .execute(&mut *tx)
                .await?;
                if D::rows_affected(&updated) == 1 {
                    begun.push(Begun {
                        hostname,
                        job_id,
                        started: now,
                    });
                }
            }
            tx.commit().await?;
            Ok(begun)
        })
    }

    fn finish_rollout<'a>(&'a self, id: &'a str) -> DbFuture<'a, Option<RolloutState>> {
        Box::pin(async move {
            let mut tx = self.begin_write().await?;
            let Some((state, _, max_errors, finished)) = self.lock(&mut tx, id).await? else {
                return Ok(None);
            };
            let state = RolloutState::parse(&state).ok_or_else(|| corrupt("state", &state))?;
            if finished.is_some() {
                return Ok(Some(state));
            }
            let counts = self.count_hosts(&mut tx, id).await?;
            if counts.pending + counts.running > 0 {
                return Ok(None);
            }
            let (last, reason) = match state {
                RolloutState::Stopped => (RolloutState::Stopped, None),
                _ if counts.errors() == 0 => (RolloutState::Succeeded, None),
                _ => (
                    RolloutState::Failed,
                    Some(format!(
                        "{} host(s) failed or timed out (max_errors = {max_errors})",
                        counts.errors()
                    )),
                ),
            };
            let mut update = QueryBuilder::<D>::new("UPDATE rollouts SET state = ");
            update
                .push_bind(last.as_str())
                .push(", finished = ")
                .push_bind(now());
            if let Some(reason) = &reason {
                update.push(", reason = ").push_bind(reason.as_str());
            }
            update.push(" WHERE id = ").push_bind(id);
            update.build().execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(last))
        })
    }
}

impl<D> SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    for<'r> (String,): FromRow<'r, D::Row>,
    for<'r> (String, i64): FromRow<'r, D::Row>,
    for<'r> (String, String, i64): FromRow<'r, D::Row>,
    for<'r> Locked: FromRow<'r, D::Row>,
    for<'r> RolloutRow: FromRow<'r, D::Row>,
    for<'r> RolloutHostRow: FromRow<'r, D::Row>,
{
    /// Locks a rollout's row for the transaction; `None` when there is no such rollout.
    async fn lock(
        &self,
        tx: &mut Transaction<'static, D>,
        id: &str,
    ) -> Result<Option<Locked>, DbError> {
        let mut select = QueryBuilder::<D>::new(
            "SELECT state, max_concurrency, max_errors, finished FROM rollouts WHERE id = ",
        );
        select.push_bind(id).push(D::FOR_UPDATE);
        Ok(select.build_query_as().fetch_optional(&mut **tx).await?)
    }

    /// A rollout's hosts per state, as committed (read under the rollout's lock).
    async fn count_hosts(
        &self,
        tx: &mut Transaction<'static, D>,
        id: &str,
    ) -> Result<RolloutCounts, DbError> {
        let mut select =
            QueryBuilder::<D>::new("SELECT state, COUNT(*) FROM rollout_hosts WHERE rollout_id = ");
        select
            .push_bind(id)
            .push(" GROUP BY state")
            .push(D::LATEST_READ);
        let rows: Vec<(String, i64)> = select.build_query_as().fetch_all(&mut **tx).await?;
        counts(&rows)
    }

    /// The hostnames a target names: all registered (in the caller's order, each once), or a
    /// region's (by hostname).
    async fn target_hosts(
        &self,
        tx: &mut Transaction<'static, D>,
        target: &Target,
    ) -> Result<Vec<String>, DbError> {
        match target {
            Target::Hosts(names) => {
                let names = super::unique_names(names)?;
                let mut found: Vec<(i64, String)> = Vec::with_capacity(names.len());
                for chunk in names.chunks(D::MAX_BINDS) {
                    let mut select =
                        QueryBuilder::<D>::new("SELECT hostname FROM hosts WHERE hostname IN (");
                    let mut list = select.separated(", ");
                    for name in chunk {
                        list.push_bind(*name);
                    }
                    select.push(")");
                    let rows: Vec<(String,)> = select.build_query_as().fetch_all(&mut **tx).await?;
                    found.extend(rows.into_iter().map(|(h,)| (0, h)));
                }
                super::all_found(&names, &found)?;
                Ok(names.into_iter().map(str::to_owned).collect())
            }
            Target::Region(region) => {
                check_text("region", region, true, super::REGION_MAX)?;
                let mut select =
                    QueryBuilder::<D>::new("SELECT hostname FROM hosts WHERE region = ");
                select.push_bind(region.as_str());
                let mut rows: Vec<(String,)> = select.build_query_as().fetch_all(&mut **tx).await?;
                if rows.is_empty() {
                    return Err(DbError::UnknownHosts(vec![format!(
                        "any host of region `{region}`"
                    )]));
                }
                rows.sort();
                Ok(rows.into_iter().map(|(h,)| h).collect())
            }
        }
    }

    /// One rollout with its hosts in order.
    async fn rollout_with_hosts(&self, id: &str) -> Result<Option<Rollout>, DbError> {
        check_text("id", id, true, 64)?;
        let mut select = QueryBuilder::<D>::new(ROLLOUTS);
        select.push(" WHERE id = ").push_bind(id);
        let row: Option<RolloutRow> = select.build_query_as().fetch_optional(&self.pool).await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut select = QueryBuilder::<D>::new(
            "SELECT hostname, state, job_id, retcode, message, started, finished \
             FROM rollout_hosts WHERE rollout_id = ",
        );
        select.push_bind(id).push(" ORDER BY position");
        let rows: Vec<RolloutHostRow> = select.build_query_as().fetch_all(&self.pool).await?;
        let hosts = rows
            .into_iter()
            .map(RolloutHostRow::host)
            .collect::<Result<Vec<_>, _>>()?;
        let mut counts = RolloutCounts::default();
        for host in &hosts {
            counts.add(host.state, 1);
        }
        row.rollout(counts, hosts).map(Some)
    }

    /// Rollouts with their counts.
    async fn with_counts(&self, rows: Vec<RolloutRow>) -> Result<Vec<Rollout>, DbError> {
        let mut by_rollout: HashMap<String, Vec<(String, i64)>> = HashMap::new();
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        for chunk in ids.chunks(D::MAX_BINDS) {
            let mut select = QueryBuilder::<D>::new(
                "SELECT rollout_id, state, COUNT(*) FROM rollout_hosts WHERE rollout_id IN (",
            );
            let mut list = select.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            select.push(") GROUP BY rollout_id, state");
            let counted: Vec<(String, String, i64)> =
                select.build_query_as().fetch_all(&self.pool).await?;
            for (id, state, n) in counted {
                by_rollout.entry(id).or_default().push((state, n));
            }
        }
        rows.into_iter()
            .map(|row| {
                let counts = counts(by_rollout.get(&row.id).map_or(&[][..], Vec::as_slice))?;
                row.rollout(counts, Vec::new())
            })
            .collect()
    }
}
