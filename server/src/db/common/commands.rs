//! The statements of commands, agent sessions and cron runs, written once for the three
//! backends (see `store` for the dialect rules). Claims are safe across replicas: a claim round
//! marks rows with its own token (`host_job.claim`) in `UPDATE ... WHERE status = 'queued'`,
//! which every backend re-checks under the row lock, then reads back the rows that carry it; a
//! job with `max_concurrency` is locked first, so two replicas never overfill it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};
use uuid::Uuid;
use wire::CommandResult;

use super::{Dialect, SqlStore, check_text, conflict, now};
use crate::db::commands::{Claimed, CommandPart, CommandRecord, HostState, NewCommand};
use crate::db::{CommandStore, DbError, DbFuture};

/// A queued host job that may be claimed.
#[derive(sqlx::FromRow)]
pub struct CandidateRow {
    id: String,
    job_id: String,
    hostname: String,
    max_concurrency: Option<i64>,
}

const CANDIDATES: &str = "SELECT hj.id, hj.job_id, h.hostname, j.max_concurrency \
    FROM host_job hj JOIN jobs j ON j.id = hj.job_id JOIN hosts h ON h.id = hj.host_id \
    JOIN agent_sessions s ON s.hostname = h.hostname \
    WHERE hj.status = 'queued' AND s.replica = ";
const STORED_RESULT: &str = "UPDATE host_job SET status = ?, result = ?, errcode = ?, \
    message = ?, gmt_modify = ? WHERE id = ? AND status IN ('sent', 'lost')";
const RESULT_JOBS: &str = "SELECT hj.id, hj.job_id, h.hostname FROM host_job hj \
    JOIN hosts h ON h.id = hj.host_id JOIN jobs j ON j.id = hj.job_id \
    WHERE j.kind = 'command' AND hj.id IN (";
/// `value` as stored JSON.
pub(super) fn json<T: serde::Serialize>(value: &T) -> Result<String, DbError> {
    serde_json::to_string(value).map_err(|e| DbError::Invalid(format!("cannot encode: {e}")))
}

impl<D> CommandStore for SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    f64: Type<D> + for<'q> Encode<'q, D>,
    DateTime<Utc>: Type<D> + for<'q> Encode<'q, D>,
    Option<i64>: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    for<'a> Option<&'a str>: Type<D> + Encode<'a, D>,
    for<'r> (i64,): FromRow<'r, D::Row>,
    for<'r> (String,): FromRow<'r, D::Row>,
    for<'r> (String, String): FromRow<'r, D::Row>,
    for<'r> (String, Option<DateTime<Utc>>): FromRow<'r, D::Row>,
    for<'r> (String, String, Option<String>): FromRow<'r, D::Row>,
    for<'r> (String, String, String): FromRow<'r, D::Row>,
    for<'r> (i64, String, Option<DateTime<Utc>>): FromRow<'r, D::Row>,
    for<'r> CandidateRow: FromRow<'r, D::Row>,
{
    fn create_command<'a>(&'a self, new: &'a NewCommand<'a>) -> DbFuture<'a, CommandRecord> {
        Box::pin(async move {
            check_text("id", new.id, true, super::JOB_ID_MAX)?;
            check_text("method", new.method, true, 128)?;
            for host in new.hosts {
                check_text("host", host, true, super::HOSTNAME_MAX)?;
            }
            let now = now();
            let mut tx = self.pool.begin_with(D::BEGIN_WRITE).await?;
            let mut found: Vec<(i64, String, Option<DateTime<Utc>>)> = Vec::new();
            for chunk in new.hosts.chunks(D::MAX_BINDS) {
                let mut select = QueryBuilder::new(
                    "SELECT h.id, h.hostname, s.seen_at FROM hosts h \
                     LEFT JOIN agent_sessions s ON s.hostname = h.hostname WHERE h.hostname IN (",
                );
                let mut list = select.separated(", ");
                for name in chunk {
                    list.push_bind(name.as_str());
                }
                select.push(")");
                found.extend(select.build_query_as().fetch_all(&mut *tx).await?);
            }
            sqlx::query(D::sql(
                "INSERT INTO jobs (id, action, spec, gmt_create, kind, method, deadline, \
                 max_concurrency) VALUES (?, 'command', ?, ?, 'command', ?, ?, ?)",
            ))
            .bind(new.id)
            .bind(new.spec)
            .bind(now)
            .bind(new.method)
            .bind(new.deadline)
            .bind(new.max_concurrency.map(i64::from))
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict(e, || format!("job `{}` already exists", new.id)))?;
            let offline = json(&CommandResult::code(wire::retcode::HOST_OFFLINE))?;
            let mut parts = HashMap::new();
            let rows: Vec<(i64, String, HostState, String)> = found
                .into_iter()
                .map(|(id, hostname, seen)| {
                    let live = seen.is_some_and(|seen| seen >= new.fresh_after);
                    let state = if live {
                        HostState::Queued
                    } else {
                        HostState::Failed
                    };
                    (id, hostname, state, Uuid::new_v4().to_string())
                })
                .collect();
            // Nine binds per row.
            for chunk in rows.chunks(D::MAX_BINDS / 9) {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO host_job (id, job_id, host_id, status, handed_out, errcode, \
                     message, result, gmt_create, gmt_modify) ",
                );
                insert.push_values(chunk, |mut row, (host_id, _, state, part_id)| {
                    let failed = *state == HostState::Failed;
                    row.push_bind(part_id.as_str())
                        .push_bind(new.id)
                        .push_bind(*host_id)
                        .push_bind(state.as_str())
                        .push("0");
                    row.push_bind(failed.then_some(i64::from(wire::retcode::HOST_OFFLINE)))
                        .push_bind(failed.then_some("Host offline"))
                        .push_bind(failed.then_some(offline.as_str()))
                        .push_bind(now)
                        .push_bind(now);
                });
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            for (_, hostname, state, _) in rows {
                let result = (state == HostState::Failed)
                    .then(|| CommandResult::code(wire::retcode::HOST_OFFLINE));
                parts.insert(hostname, CommandPart { state, result });
            }
            Ok(CommandRecord {
                id: new.id.to_owned(),
                hosts: new.hosts.to_vec(),
                deadline: new.deadline,
                parts,
            })
        })
    }

    fn command<'a>(&'a self, id: &'a str) -> DbFuture<'a, Option<CommandRecord>> {
        Box::pin(async move {
            let job: Option<(String, Option<DateTime<Utc>>)> = sqlx::query_as(D::sql(
                "SELECT spec, deadline FROM jobs WHERE id = ? AND kind = 'command'",
            ))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
            let Some((spec, deadline)) = job else {
                return Ok(None);
            };
            let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(D::sql(
                "SELECT h.hostname, hj.status, hj.result FROM host_job hj \
                 JOIN hosts h ON h.id = hj.host_id WHERE hj.job_id = ?",
            ))
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
            let request: serde_json::Value = serde_json::from_str(&spec)
                .map_err(|e| DbError::Invalid(format!("stored command is unreadable: {e}")))?;
            let hosts = request["hosts"]
                .as_array()
                .map(|hosts| {
                    hosts
                        .iter()
                        .filter_map(|h| h.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let mut parts = HashMap::new();
            for (hostname, status, result) in rows {
                let state = HostState::parse(&status).ok_or_else(|| {
                    DbError::Invalid(format!("stored state `{status}` is unknown"))
                })?;
                let result = result.and_then(|text| serde_json::from_str(&text).ok());
                parts.insert(hostname, CommandPart { state, result });
            }
            Ok(Some(CommandRecord {
                id: id.to_owned(),
                hosts,
                deadline: deadline.unwrap_or_else(now),
                parts,
            }))
        })
    }

    fn command_unanswered<'a>(&'a self, id: &'a str) -> DbFuture<'a, u64> {
        Box::pin(async move {
            let n: i64 = sqlx::query_scalar(D::sql(
                "SELECT COUNT(*) FROM host_job WHERE job_id = ? AND status IN ('queued', 'sent')",
            ))
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
            Ok(u64::try_from(n).unwrap_or_default())
        })
    }

    fn claim<'a>(
        &'a self,
        replica: &'a str,
        job: Option<&'a str>,
        limit: u32,
    ) -> DbFuture<'a, Vec<Claimed>> {
        Box::pin(async move {
            let now = now();
            // Read first, outside any transaction: an idle dispatcher takes no write lock.
            let mut select = QueryBuilder::new(CANDIDATES);
            select.push_bind(replica);
            select.push(" AND j.deadline > ").push_bind(now);
            if let Some(job) = job {
                select.push(" AND hj.job_id = ").push_bind(job);
            }
            select.push(" ORDER BY j.gmt_create, hj.job_id, h.hostname LIMIT ");
            select.push_bind(i64::from(limit));
            let candidates: Vec<CandidateRow> =
                select.build_query_as().fetch_all(&self.pool).await?;
            if candidates.is_empty() {
                return Ok(Vec::new());
            }
            let mut tx = self.pool.begin_with(D::BEGIN_WRITE).await?;
            // Jobs with a limit, locked in one order (no deadlock between replicas), then counted.
            let mut limited: Vec<(&str, i64)> = candidates
                .iter()
                .filter_map(|c| c.max_concurrency.map(|m| (c.job_id.as_str(), m)))
                .collect::<HashMap<_, _>>()
                .into_iter()
                .collect();
            limited.sort();
            let mut room: HashMap<&str, i64> = HashMap::new();
            for (job_id, max) in limited {
                let mut lock = QueryBuilder::<D>::new("SELECT id FROM jobs WHERE id = ");
                lock.push_bind(job_id).push(D::FOR_UPDATE);
                lock.build().execute(&mut *tx).await?;
                let mut count = QueryBuilder::<D>::new(
                    "SELECT COUNT(*) FROM host_job WHERE status = 'sent' AND job_id = ",
                );
                count.push_bind(job_id).push(D::LATEST_READ);
                let sent: i64 = count.build_query_scalar().fetch_one(&mut *tx).await?;
                room.insert(job_id, max - sent);
            }
            let chosen: Vec<&CandidateRow> = candidates
                .iter()
                .filter(|c| match room.get_mut(c.job_id.as_str()) {
                    Some(left) if *left > 0 => {
                        *left -= 1;
                        true
                    }
                    Some(_) => false,
                    None => true,
                })
                .collect();
            let token = Uuid::new_v4().to_string();
            for chunk in chosen.chunks(D::MAX_BINDS.saturating_sub(8)) {
                let mut update =
                    QueryBuilder::new("UPDATE host_job SET status = 'sent', replica = ");
                update
                    .push_bind(replica)
                    .push(", claim = ")
                    .push_bind(token.as_str());
                update.push(", gmt_modify = ").push_bind(now);
                update.push(" WHERE status = 'queued' AND id IN (");
                let mut list = update.separated(", ");
                for row in chunk {
                    list.push_bind(row.id.as_str());
                }
                update.push(")");
                update.build().execute(&mut *tx).await?;
            }
            let taken: Vec<(String,)> =
                sqlx::query_as(D::sql("SELECT id FROM host_job WHERE claim = ?"))
                    .bind(token.as_str())
                    .fetch_all(&mut *tx)
                    .await?;
            tx.commit().await?;
            let taken: HashSet<String> = taken.into_iter().map(|(id,)| id).collect();
            let chosen: Vec<&CandidateRow> = chosen
                .into_iter()
                .filter(|c| taken.contains(&c.id))
                .collect();
            // Each job's request once per round, not once per host: a request to 10,000 hosts
            // carries all their names.
            let jobs: HashSet<&str> = chosen.iter().map(|c| c.job_id.as_str()).collect();
            let mut specs: HashMap<String, Arc<str>> = HashMap::new();
            for chunk in jobs.into_iter().collect::<Vec<_>>().chunks(D::MAX_BINDS) {
                let mut select = QueryBuilder::new("SELECT id, spec FROM jobs WHERE id IN (");
                let mut list = select.separated(", ");
                for job in chunk {
                    list.push_bind(*job);
                }
                select.push(")");
                let rows: Vec<(String, String)> =
                    select.build_query_as().fetch_all(&self.pool).await?;
                specs.extend(rows.into_iter().map(|(id, spec)| (id, Arc::from(spec))));
            }
            Ok(chosen
                .into_iter()
                .filter_map(|c| {
                    Some(Claimed {
                        id: c.id.clone(),
                        job_id: c.job_id.clone(),
                        hostname: c.hostname.clone(),
                        spec: specs.get(&c.job_id)?.clone(),
                    })
                })
                .collect())
        })
    }

    fn unclaim<'a>(&'a self, ids: &'a [String]) -> DbFuture<'a, ()> {
        Box::pin(self.set_sent_rows(ids, "queued"))
    }

    fn mark_lost<'a>(&'a self, ids: &'a [String]) -> DbFuture<'a, ()> {
        Box::pin(self.set_sent_rows(ids, "lost"))
    }

    fn store_command_results<'a>(
        &'a self,
        items: &'a [(&'a str, &'a CommandResult)],
    ) -> DbFuture<'a, Vec<Option<String>>> {
        Box::pin(async move {
            let ids: Vec<&str> = items.iter().filter_map(|(_, r)| r.id.as_deref()).collect();
            let mut owners: HashMap<String, (String, String)> = HashMap::new();
            let mut tx = self.pool.begin_with(D::BEGIN_WRITE).await?;
            for chunk in ids.chunks(D::MAX_BINDS) {
                let mut select = QueryBuilder::new(RESULT_JOBS);
                let mut list = select.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                select.push(")");
                let rows: Vec<(String, String, String)> =
                    select.build_query_as().fetch_all(&mut *tx).await?;
                owners.extend(rows.into_iter().map(|(id, job, host)| (id, (job, host))));
            }
            let now = now();
            let mut stored = Vec::with_capacity(items.len());
            for (hostname, result) in items {
                let owner = result.id.as_deref().and_then(|id| owners.get(id));
                let Some((job_id, _)) = owner.filter(|(_, host)| host == hostname) else {
                    stored.push(None);
                    continue;
                };
                let state = if result.resp == wire::Resp::Success {
                    HostState::Done
                } else {
                    HostState::Failed
                };
                let mut kept = (*result).clone();
                kept.host = Some((*hostname).to_owned());
                let Ok(text) = json(&kept) else {
                    stored.push(None);
                    continue;
                };
                let updated = sqlx::query(D::sql(STORED_RESULT))
                    .bind(state.as_str())
                    .bind(text.as_str())
                    .bind(i64::from(result.retcode))
                    .bind(result.message.replace('\0', "\u{fffd}").as_str())
                    .bind(now)
                    .bind(result.id.as_deref())
                    .execute(&mut *tx)
                    .await?;
                stored.push((D::rows_affected(&updated) == 1).then(|| job_id.clone()));
            }
            tx.commit().await?;
            Ok(stored)
        })
    }
}

impl<D> SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    DateTime<Utc>: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
{
    /// Moves `sent` rows among `ids` to `status` (queued or lost).
    async fn set_sent_rows(&self, ids: &[String], status: &str) -> Result<(), DbError> {
        let now = now();
        for chunk in ids.chunks(D::MAX_BINDS.saturating_sub(4)) {
            let mut update = QueryBuilder::new("UPDATE host_job SET status = ");
            update
                .push_bind(status)
                .push(", gmt_modify = ")
                .push_bind(now);
            update.push(" WHERE status = 'sent' AND id IN (");
            let mut list = update.separated(", ");
            for id in chunk {
                list.push_bind(id.as_str());
            }
            update.push(")");
            update.build().execute(&self.pool).await?;
        }
        Ok(())
    }
}
