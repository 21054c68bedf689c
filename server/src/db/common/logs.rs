//! Log records in the database, written once for the three backends (see `store` for the
//! dialect rules): a batch is inserted in one transaction with the backend's "skip what is
//! held" insert, so a resent record is counted as a duplicate and stored once; queries page by
//! (time, id); retention deletes the oldest records first.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use super::{Dialect, SqlStore, now, unsigned};
use crate::db::logs::{
    LogEntry, LogQuery, LogRetention, LogSource, LogStore, NewLogRecord, NewSourceState, Pruned,
    StoredCount, field_line,
};
use crate::db::{DbError, DbFuture};

/// Binds per inserted record.
const RECORD_BINDS: usize = 14;
/// Most bytes of messages and fields per insert statement, below MariaDB's default
/// `max_allowed_packet` (16 MiB).
const INSERT_BYTES: usize = 4 << 20;
/// Records read per round when deleting for size.
const PRUNE_PAGE: i64 = 5000;

const COLUMNS: &str = "id, host, source, file, file_offset, time, time_from_read, path, \
    message, fields, truncated_bytes, parse_error, received_at";

/// A `log_records` row.
#[derive(sqlx::FromRow)]
pub struct LogRow {
    id: i64,
    host: String,
    source: String,
    file: String,
    file_offset: i64,
    time: f64,
    time_from_read: i64,
    path: String,
    message: String,
    fields: String,
    truncated_bytes: Option<i64>,
    parse_error: Option<String>,
    received_at: DateTime<Utc>,
}

/// A `log_sources` row.
#[derive(sqlx::FromRow)]
pub struct SourceRow {
    name: String,
    path: String,
    files: i64,
    open_files: i64,
    read_offset: i64,
    size: i64,
    lag_bytes: i64,
    state: String,
    lost_bytes: i64,
    truncations: i64,
    parse_errors: i64,
    truncated_records: i64,
    last_error: Option<String>,
    updated: DateTime<Utc>,
    rejected_records: i64,
}

impl From<LogRow> for LogEntry {
    fn from(row: LogRow) -> Self {
        LogEntry {
            id: row.id,
            host: row.host,
            source: row.source,
            file: row.file,
            offset: unsigned(row.file_offset),
            path: row.path,
            time: row.time,
            time_from_read: row.time_from_read != 0,
            message: row.message,
            fields: row.fields,
            truncated_bytes: row.truncated_bytes.map(unsigned),
            parse_error: row.parse_error,
            received_at: row.received_at,
        }
    }
}

/// Splits records into inserts of at most `max_binds` binds and about [`INSERT_BYTES`].
fn insert_chunks(records: &[NewLogRecord], max_binds: usize) -> Vec<&[NewLogRecord]> {
    let most = (max_binds / RECORD_BINDS).max(1);
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, record) in records.iter().enumerate() {
        let size = record.message.len() + record.fields.len() + record.path.len();
        if i > start && (i - start == most || bytes + size > INSERT_BYTES) {
            chunks.push(&records[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < records.len() {
        chunks.push(&records[start..]);
    }
    chunks
}

impl<D> LogStore for SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    f64: Type<D> + for<'q> Encode<'q, D>,
    Option<i64>: Type<D> + for<'q> Encode<'q, D>,
    DateTime<Utc>: Type<D> + for<'q> Encode<'q, D>,
    String: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    for<'a> Option<&'a str>: Type<D> + Encode<'a, D>,
    Arc<str>: Type<D> + for<'q> Encode<'q, D>,
    Option<Arc<str>>: Type<D> + for<'q> Encode<'q, D>,
    for<'r> (i64,): FromRow<'r, D::Row>,
    for<'r> (i64, i64): FromRow<'r, D::Row>,
    for<'r> (String, i64): FromRow<'r, D::Row>,
    for<'r> LogRow: FromRow<'r, D::Row>,
    for<'r> SourceRow: FromRow<'r, D::Row>,
{
    fn store_logs<'a>(
        &'a self,
        host: &'a str,
        records: &'a [NewLogRecord],
        sources: &'a [NewSourceState],
    ) -> DbFuture<'a, StoredCount> {
        Box::pin(async move {
            let received = now();
            let host_text: Arc<str> = Arc::from(host);
            let mut tx = self.begin_write().await?;
            let mut stored = 0;
            for chunk in insert_chunks(records, D::MAX_BINDS) {
                let mut insert = QueryBuilder::<D>::new(D::INSERT_LOGS_HEAD);
                insert.push(
                    "(host, source, file, file_offset, time, time_from_read, path, message, \
                     fields, field_index, bytes, truncated_bytes, parse_error, received_at) ",
                );
                // Shared texts: bound without a copy where the driver allows (SQLite).
                insert.push_values(chunk, |mut row, record| {
                    row.push_bind(host_text.clone())
                        .push_bind(record.source.clone())
                        .push_bind(record.file.clone())
                        .push_bind(record.offset)
                        .push_bind(record.time)
                        .push_bind(i64::from(record.time_from_read))
                        .push_bind(record.path.clone())
                        .push_bind(record.message.clone())
                        .push_bind(record.fields.clone())
                        .push_bind(record.field_index.clone())
                        .push_bind(record.bytes())
                        .push_bind(record.truncated_bytes)
                        .push_bind(record.parse_error.clone())
                        .push_bind(received);
                });
                insert.push(D::INSERT_LOGS_TAIL);
                let done = insert.build().execute(&mut *tx).await?;
                stored += D::rows_affected(&done);
            }
            for source in sources {
                sqlx::query::<D>(D::sql(D::UPSERT_LOG_SOURCE))
                    .bind(host)
                    .bind(source.name.as_str())
                    .bind(source.path.as_str())
                    .bind(source.files)
                    .bind(source.open_files)
                    .bind(source.offset)
                    .bind(source.size)
                    .bind(source.lag)
                    .bind(source.state.as_str())
                    .bind(source.lost_bytes)
                    .bind(source.truncations)
                    .bind(source.parse_errors)
                    .bind(source.truncated_records)
                    .bind(source.last_error.as_deref())
                    .bind(received)
                    .bind(source.rejected_records)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(StoredCount {
                stored,
                duplicates: (records.len() as u64).saturating_sub(stored),
            })
        })
    }

    fn query_logs<'a>(&'a self, query: &'a LogQuery) -> DbFuture<'a, Vec<LogEntry>> {
        Box::pin(async move {
            let mut select = QueryBuilder::<D>::new("SELECT ");
            select.push(COLUMNS);
            select.push(" FROM log_records WHERE 1 = 1");
            if let Some(host) = &query.host {
                select.push(" AND host = ").push_bind(host.as_str());
            }
            if let Some(source) = &query.source {
                select.push(" AND source = ").push_bind(source.as_str());
            }
            if let Some(from) = query.from {
                select.push(" AND time >= ").push_bind(from);
            }
            if let Some(to) = query.to {
                select.push(" AND time < ").push_bind(to);
            }
            let (open, close) = D::CONTAINS;
            if let Some(text) = &query.contains {
                select.push(" AND ").push(open.replace("{}", "message"));
                select
                    .push_bind(text.as_str())
                    .push(close.replace("{}", "message"));
            }
            for (name, value) in &query.fields {
                let line = format!("\n{}\n", field_line(name, value));
                select.push(" AND ").push(open.replace("{}", "field_index"));
                select
                    .push_bind(line)
                    .push(close.replace("{}", "field_index"));
            }
            if let Some((time, id)) = query.after {
                // `time >= ?` alone starts the index range at the cursor; the OR alone would
                // make every backend scan the pages before it (quadratic over a paging).
                select.push(" AND time >= ").push_bind(time);
                select.push(" AND (time > ").push_bind(time);
                select.push(" OR (time = ").push_bind(time);
                select.push(" AND id > ").push_bind(id).push("))");
            }
            select.push(" ORDER BY time, id LIMIT ");
            select.push_bind(i64::from(query.limit));
            let rows: Vec<LogRow> = select.build_query_as().fetch_all(&self.pool).await?;
            Ok(rows.into_iter().map(LogEntry::from).collect())
        })
    }

    fn log_sources<'a>(&'a self, host: &'a str) -> DbFuture<'a, Vec<LogSource>> {
        Box::pin(async move {
            let rows: Vec<SourceRow> = sqlx::query_as(D::sql(
                "SELECT name, path, files, open_files, read_offset, size, lag_bytes, state, \
                 lost_bytes, truncations, parse_errors, truncated_records, last_error, updated, \
                 rejected_records FROM log_sources WHERE host = ?",
            ))
            .bind(host)
            .fetch_all(&self.pool)
            .await?;
            let counts: Vec<(String, i64)> = sqlx::query_as(D::sql(
                "SELECT source, COUNT(*) FROM log_records WHERE host = ? GROUP BY source",
            ))
            .bind(host)
            .fetch_all(&self.pool)
            .await?;
            let counts: std::collections::HashMap<String, i64> = counts.into_iter().collect();
            let mut sources: Vec<LogSource> = rows
                .into_iter()
                .map(|row| LogSource {
                    records: counts.get(&row.name).copied().map(unsigned).unwrap_or(0),
                    updated: row.updated,
                    status: wire::logs::SourceStatus {
                        name: row.name,
                        path: row.path,
                        files: unsigned(row.files),
                        open_files: unsigned(row.open_files),
                        offset: unsigned(row.read_offset),
                        size: unsigned(row.size),
                        lag: unsigned(row.lag_bytes),
                        state: row.state,
                        lost_bytes: unsigned(row.lost_bytes),
                        truncations: unsigned(row.truncations),
                        parse_errors: unsigned(row.parse_errors),
                        truncated_records: unsigned(row.truncated_records),
                        rejected_records: unsigned(row.rejected_records),
                        last_error: row.last_error,
                    },
                })
                .collect();
            sources.sort_by(|a, b| a.status.name.cmp(&b.status.name));
            Ok(sources)
        })
    }

    fn prune_logs(&self, retention: LogRetention, now: f64) -> DbFuture<'_, Pruned> {
        Box::pin(async move {
            let mut pruned = Pruned::default();
            if let Some(age) = retention.max_age {
                let done = sqlx::query::<D>(D::sql("DELETE FROM log_records WHERE time < ?"))
                    .bind(now - age as f64)
                    .execute(&self.pool)
                    .await?;
                pruned.by_age = D::rows_affected(&done);
            }
            if let Some(max) = retention.max_bytes {
                pruned.by_size = self.prune_to(max).await?;
            }
            Ok(pruned)
        })
    }

    fn log_bytes(&self) -> DbFuture<'_, u64> {
        Box::pin(async move {
            let (total,): (i64,) = sqlx::query_as(D::sql(D::LOG_BYTES))
                .fetch_one(&self.pool)
                .await?;
            Ok(unsigned(total))
        })
    }
}

impl<D> SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    for<'r> (i64,): FromRow<'r, D::Row>,
    for<'r> (i64, i64): FromRow<'r, D::Row>,
{
    /// Deletes the oldest records (by time, then id) until the rest total at most `max`
    /// bytes; returns how many. Another writer may add records meanwhile: the next round
    /// takes care of them.
    async fn prune_to(&self, max: u64) -> Result<u64, DbError> {
        let (total,): (i64,) = sqlx::query_as(D::sql(D::LOG_BYTES))
            .fetch_one(&self.pool)
            .await?;
        let mut excess = total.saturating_sub(i64::try_from(max).unwrap_or(i64::MAX));
        let mut deleted = 0;
        while excess > 0 {
            let oldest: Vec<(i64, i64)> = sqlx::query_as(D::sql(
                "SELECT id, bytes FROM log_records ORDER BY time, id LIMIT ?",
            ))
            .bind(PRUNE_PAGE)
            .fetch_all(&self.pool)
            .await?;
            if oldest.is_empty() {
                break;
            }
            let mut ids = Vec::new();
            for (id, bytes) in oldest {
                if excess <= 0 {
                    break;
                }
                ids.push(id);
                excess -= bytes;
            }
            for chunk in ids.chunks(D::MAX_BINDS.min(10_000)) {
                let mut delete = QueryBuilder::<D>::new("DELETE FROM log_records WHERE id IN (");
                let mut list = delete.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                delete.push(")");
                let done = delete.build().execute(&self.pool).await?;
                deleted += D::rows_affected(&done);
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(bytes: usize) -> NewLogRecord {
        NewLogRecord {
            source: "s".into(),
            file: "0123456789abcdef".into(),
            offset: 0,
            path: "".into(),
            time: 0.0,
            time_from_read: false,
            message: "x".repeat(bytes).into(),
            fields: "".into(),
            field_index: "".into(),
            truncated_bytes: None,
            parse_error: None,
        }
    }

    #[test]
    fn inserts_are_cut_by_binds_and_bytes() {
        let small: Vec<_> = (0..10).map(|_| record(1)).collect();
        let chunks = insert_chunks(&small, RECORD_BINDS * 4);
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [4, 4, 2]
        );
        let big: Vec<_> = (0..3).map(|_| record(INSERT_BYTES)).collect();
        assert_eq!(insert_chunks(&big, 65_535).len(), 3);
        assert!(insert_chunks(&[], 100).is_empty());
    }
}
