//! The statements of what gearman connections leave in the database, written once for the three
//! backends (see `store` for the dialect rules): agent sessions (which replica holds which
//! host's connection; refreshed by the session keeper, swept when a replica dies) and the runs
//! of hosts' cron entries.

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};
use wire::agent::CronRun;

use super::commands::json;
use super::{Dialect, SqlStore, check_text, now};
use crate::db::commands::{CronRunRecord, SessionView};
use crate::db::{DbError, DbFuture, SessionStore};

/// A `cron_runs` row.
#[derive(sqlx::FromRow)]
pub struct CronRow {
    hostname: String,
    cron_id: String,
    run_id: String,
    scheduled: i64,
    started: f64,
    finished: f64,
    result: String,
}

/// Longest cron or run id (`cron_runs.cron_id`, `run_id`).
const CRON_ID_MAX: usize = 128;

impl<D> SessionStore for SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    f64: Type<D> + for<'q> Encode<'q, D>,
    DateTime<Utc>: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    for<'r> (String, String): FromRow<'r, D::Row>,
    for<'r> CronRow: FromRow<'r, D::Row>,
    for<'r> SessionView: FromRow<'r, D::Row>,
{
    fn open_session<'a>(&'a self, session: &'a SessionView) -> DbFuture<'a, ()> {
        Box::pin(async move {
            check_text("hostname", &session.hostname, true, super::HOSTNAME_MAX)?;
            check_text("version", &session.version, false, super::NAME_MAX)?;
            let mut tx = self.pool.begin_with(D::BEGIN_WRITE).await?;
            sqlx::query(D::sql(D::UPSERT_AGENT_HOST))
                .bind(session.hostname.as_str())
                .bind(session.connected_at)
                .bind(session.connected_at)
                .bind(session.connected_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(D::sql(D::UPSERT_SESSION))
                .bind(session.hostname.as_str())
                .bind(session.replica.as_str())
                .bind(session.session.as_str())
                .bind(session.version.as_str())
                .bind(session.address.as_str())
                .bind(session.connected_at)
                .bind(session.seen_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn close_session<'a>(&'a self, hostname: &'a str, session: &'a str) -> DbFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(D::sql(
                "DELETE FROM agent_sessions WHERE hostname = ? AND session = ?",
            ))
            .bind(hostname)
            .bind(session)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn touch_sessions<'a>(&'a self, replica: &'a str) -> DbFuture<'a, ()> {
        Box::pin(async move {
            let now = now();
            sqlx::query(D::sql(
                "UPDATE agent_sessions SET seen_at = ? WHERE replica = ?",
            ))
            .bind(now)
            .bind(replica)
            .execute(&self.pool)
            .await?;
            // Keep gearman-only hosts online for the BootAgent sweeper (at most once a minute).
            sqlx::query(D::sql(
                "UPDATE hosts SET status = 'online', last_seen = ?, gmt_modify = ? \
                 WHERE hostname IN (SELECT hostname FROM agent_sessions WHERE replica = ?) \
                 AND (status <> 'online' OR last_seen IS NULL OR last_seen < ?)",
            ))
            .bind(now)
            .bind(now)
            .bind(replica)
            .bind(now - chrono::Duration::seconds(60))
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn replica_sessions<'a>(&'a self, replica: &'a str) -> DbFuture<'a, Vec<(String, String)>> {
        Box::pin(async move {
            Ok(sqlx::query_as(D::sql(
                "SELECT hostname, session FROM agent_sessions WHERE replica = ?",
            ))
            .bind(replica)
            .fetch_all(&self.pool)
            .await?)
        })
    }

    fn reset_replica<'a>(&'a self, replica: &'a str) -> DbFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(D::sql("DELETE FROM agent_sessions WHERE replica = ?"))
                .bind(replica)
                .execute(&self.pool)
                .await?;
            sqlx::query(D::sql(
                "UPDATE host_job SET status = 'lost', gmt_modify = ? \
                 WHERE status = 'sent' AND replica = ?",
            ))
            .bind(now())
            .bind(replica)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn sweep_dead_replicas<'a>(&'a self, stale_before: DateTime<Utc>) -> DbFuture<'a, u64> {
        Box::pin(async move {
            let swept = sqlx::query(D::sql(
                "UPDATE host_job SET status = 'lost', gmt_modify = ? \
                 WHERE status = 'sent' AND gmt_modify < ? \
                 AND replica NOT IN (SELECT replica FROM agent_sessions WHERE seen_at >= ?)",
            ))
            .bind(now())
            .bind(stale_before)
            .bind(stale_before)
            .execute(&self.pool)
            .await?;
            Ok(D::rows_affected(&swept))
        })
    }

    fn sessions<'a>(&'a self, fresh_after: DateTime<Utc>) -> DbFuture<'a, Vec<SessionView>> {
        Box::pin(async move {
            Ok(sqlx::query_as(D::sql(
                "SELECT hostname, replica, session, version, address, connected_at, seen_at \
                 FROM agent_sessions WHERE seen_at >= ? ORDER BY hostname",
            ))
            .bind(fresh_after)
            .fetch_all(&self.pool)
            .await?)
        })
    }

    fn session<'a>(&'a self, hostname: &'a str) -> DbFuture<'a, Option<SessionView>> {
        Box::pin(async move {
            check_text("hostname", hostname, true, super::HOSTNAME_MAX)?;
            Ok(sqlx::query_as(D::sql(
                "SELECT hostname, replica, session, version, address, connected_at, seen_at \
                 FROM agent_sessions WHERE hostname = ?",
            ))
            .bind(hostname)
            .fetch_optional(&self.pool)
            .await?)
        })
    }

    fn store_cron_run<'a>(&'a self, hostname: &'a str, run: &'a CronRun) -> DbFuture<'a, bool> {
        Box::pin(async move {
            check_text("cron_id", &run.cron_id, true, CRON_ID_MAX)?;
            check_text("run_id", &run.run_id, true, CRON_ID_MAX)?;
            let result = json(&run.result)?;
            let inserted = sqlx::query(D::sql(
                "INSERT INTO cron_runs (hostname, cron_id, run_id, scheduled, started, finished, \
                 result, gmt_create) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ))
            .bind(hostname)
            .bind(run.cron_id.as_str())
            .bind(run.run_id.as_str())
            .bind(run.scheduled)
            .bind(run.started)
            .bind(run.finished)
            .bind(result.as_str())
            .bind(now())
            .execute(&self.pool)
            .await;
            match inserted {
                Ok(_) => Ok(true),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn cron_runs<'a>(
        &'a self,
        hostname: &'a str,
        cron_id: Option<&'a str>,
        limit: u32,
    ) -> DbFuture<'a, Vec<CronRunRecord>> {
        Box::pin(async move {
            let mut select = QueryBuilder::new(
                "SELECT hostname, cron_id, run_id, scheduled, started, finished, result \
                 FROM cron_runs WHERE hostname = ",
            );
            select.push_bind(hostname);
            if let Some(cron_id) = cron_id {
                select.push(" AND cron_id = ").push_bind(cron_id);
            }
            select.push(" ORDER BY started DESC, id DESC LIMIT ");
            select.push_bind(i64::from(limit));
            let rows: Vec<CronRow> = select.build_query_as().fetch_all(&self.pool).await?;
            rows.into_iter()
                .map(|row| {
                    let result = serde_json::from_str(&row.result).map_err(|e| {
                        DbError::Invalid(format!("stored cron result is unreadable: {e}"))
                    })?;
                    Ok(CronRunRecord {
                        hostname: row.hostname,
                        run: CronRun {
                            cron_id: row.cron_id,
                            run_id: row.run_id,
                            scheduled: row.scheduled,
                            started: row.started,
                            finished: row.finished,
                            result,
                        },
                    })
                })
                .collect()
        })
    }
}
