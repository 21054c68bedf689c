//! Log records written before chunks (migration 0009): the rows of `log_records` move into
//! `log_chunks` when the server migrates, a page of rows per transaction, through the same
//! store as an ingest (so a record an ingest already holds in a chunk is not stored twice). A
//! chunk made of old rows takes the latest `received_at` of its rows.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::logs::{group, plan_chunks, store_files};
use super::{Dialect, SqlStore};
use crate::db::DbError;
use crate::db::logs::{LogFields, NewLogRecord};

/// Rows moved per transaction.
const PAGE: i64 = 5000;

/// A `log_records` row.
#[derive(sqlx::FromRow)]
pub struct OldLogRow {
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

impl<D> SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    f64: Type<D> + for<'q> Encode<'q, D>,
    DateTime<Utc>: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    for<'a> &'a [u8]: Type<D> + Encode<'a, D>,
    for<'r> (Vec<u8>,): FromRow<'r, D::Row>,
    for<'r> OldLogRow: FromRow<'r, D::Row>,
{
    /// Moves every row of `log_records` into chunks; returns how many rows moved (0 once done).
    pub(super) async fn move_log_rows_to_chunks(&self) -> Result<u64, DbError> {
        let mut moved = 0;
        loop {
            let mut tx = self.begin_write().await?;
            let rows: Vec<OldLogRow> = sqlx::query_as(D::sql(
                "SELECT id, host, source, file, file_offset, time, time_from_read, path, \
                 message, fields, truncated_bytes, parse_error, received_at \
                 FROM log_records ORDER BY id LIMIT ?",
            ))
            .bind(PAGE)
            .fetch_all(&mut *tx)
            .await?;
            let Some(last) = rows.last().map(|row| row.id) else {
                break;
            };
            let mut by_host: BTreeMap<&str, (Vec<NewLogRecord>, DateTime<Utc>)> = BTreeMap::new();
            for row in &rows {
                let (records, received) = by_host
                    .entry(&row.host)
                    .or_insert_with(|| (Vec::new(), row.received_at));
                *received = (*received).max(row.received_at);
                records.push(NewLogRecord {
                    source: Arc::from(row.source.as_str()),
                    file: Arc::from(row.file.as_str()),
                    offset: row.file_offset,
                    path: Arc::from(row.path.as_str()),
                    time: row.time,
                    time_from_read: row.time_from_read != 0,
                    message: Cow::Borrowed(&row.message),
                    fields: LogFields::Json(Cow::Borrowed(&row.fields)),
                    truncated_bytes: row.truncated_bytes,
                    parse_error: row.parse_error.clone(),
                });
            }
            for (host, (records, received)) in &by_host {
                let (mut files, _) = group(records);
                for file in &mut files {
                    file.chunks = plan_chunks(&file.records)?;
                }
                store_files::<D>(&mut tx, host, &mut files, *received).await?;
            }
            sqlx::query::<D>(D::sql("DELETE FROM log_records WHERE id <= ?"))
                .bind(last)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            moved += rows.len() as u64;
        }
        if moved > 0 {
            tracing::info!(records = moved, "Moved the log record rows into chunks.");
        }
        Ok(moved)
    }
}
