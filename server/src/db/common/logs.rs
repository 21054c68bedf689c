//! Log records in the database, written once for the three backends (see `store` for the
//! dialect rules), as compressed chunks (`log_chunks`, packed by `log_pack`): a batch becomes
//! one chunk per (source, file generation) it holds, in one transaction. A record is stored once
//! per (host, source, file, offset): each file of a batch is locked (`log_files`), the chunks of
//! that file whose offset range overlaps the batch's are decompressed and the records they hold
//! are dropped from the batch (counted as duplicates); with no overlap, the usual case, nothing
//! is decompressed. Queries are in `log_query`; retention deletes whole chunks, oldest first.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use super::log_pack::{self, CHUNK_BYTES, CHUNK_RECORDS, CHUNK_SPAN};
use super::{Dialect, SqlStore, now, unsigned};
use crate::db::logs::{
    LogEntry, LogQuery, LogRetention, LogSource, LogStore, NewLogRecord, NewSourceState, Pruned,
    StoredCount,
};
use crate::db::{DbError, DbFuture};

/// Chunks read per round when deleting.
const PRUNE_PAGE: i64 = 1000;

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

/// A chunk retention deletes: its id, size and file.
#[derive(sqlx::FromRow)]
pub struct OldChunk {
    id: i64,
    bytes: i64,
    records: i64,
    host: String,
    source: String,
    file: String,
}

/// A chunk to insert: the packed records of one (source, file), in time order.
#[derive(Debug)]
pub struct NewChunk {
    first_offset: i64,
    last_offset: i64,
    time_min: f64,
    time_max: f64,
    records: i64,
    bytes: i64,
    data: Vec<u8>,
}

/// The records of one (source, file) of a batch, in offset order, one per offset, and the
/// chunks they make.
pub struct FileBatch<'a> {
    source: &'a Arc<str>,
    file: &'a Arc<str>,
    pub(super) records: Vec<&'a NewLogRecord<'a>>,
    pub(super) chunks: Vec<NewChunk>,
}

/// Groups records by (source, file) in that order (the order files are locked in, so that two
/// ingests never wait on each other crosswise), each in offset order without repeated offsets;
/// returns the groups and how many records repeated an offset of the same batch.
pub fn group<'a>(records: &'a [NewLogRecord<'a>]) -> (Vec<FileBatch<'a>>, u64) {
    let mut by_file: BTreeMap<(&str, &str), FileBatch<'_>> = BTreeMap::new();
    for record in records {
        by_file
            .entry((&record.source, &record.file))
            .or_insert_with(|| FileBatch {
                source: &record.source,
                file: &record.file,
                records: Vec::new(),
                chunks: Vec::new(),
            })
            .records
            .push(record);
    }
    let mut repeated = 0;
    let files = by_file
        .into_values()
        .map(|mut file| {
            // Stable: of records at one offset the first sent is kept, as the row store did.
            file.records.sort_by_key(|record| record.offset);
            let before = file.records.len();
            file.records.dedup_by_key(|record| record.offset);
            repeated += (before - file.records.len()) as u64;
            file
        })
        .collect();
    (files, repeated)
}

/// Packs the records of one file into chunks of at most [`CHUNK_RECORDS`] records, about
/// [`CHUNK_BYTES`] and [`CHUNK_SPAN`] seconds from earliest to latest record, each in time
/// order (a record whose time is far from the others' makes a chunk of its own), so that a
/// query finds every chunk reaching into its range within `CHUNK_SPAN` before it.
pub fn plan_chunks(records: &[&NewLogRecord<'_>]) -> Result<Vec<NewChunk>, DbError> {
    let mut records = records.to_vec();
    // Stable: records of equal times stay in offset order. Times are finite (checked).
    records.sort_by(|a, b| a.time.total_cmp(&b.time));
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for i in 0..=records.len() {
        let (len, time) = records.get(i).map_or((0, 0.0), |record| {
            (log_pack::packed_len(record), record.time)
        });
        let end = i == records.len();
        if i > start
            && (end
                || i - start == CHUNK_RECORDS
                || size + len > CHUNK_BYTES
                || time - records[start].time > CHUNK_SPAN)
        {
            let part = &records[start..i];
            let offsets = part.iter().map(|r| r.offset);
            chunks.push(NewChunk {
                first_offset: offsets.clone().min().unwrap_or_default(),
                last_offset: offsets.max().unwrap_or_default(),
                time_min: part[0].time,
                time_max: part[part.len() - 1].time,
                records: part.len() as i64,
                bytes: part.iter().map(|r| r.bytes()).sum(),
                data: log_pack::pack(part.iter().copied())?,
            });
            start = i;
            size = 0;
        }
        size += len;
    }
    Ok(chunks)
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
    for<'a> &'a [u8]: Type<D> + Encode<'a, D>,
    for<'r> (i64,): FromRow<'r, D::Row>,
    for<'r> (Vec<u8>,): FromRow<'r, D::Row>,
    for<'r> (String, i64): FromRow<'r, D::Row>,
    for<'r> SourceRow: FromRow<'r, D::Row>,
    for<'r> OldChunk: FromRow<'r, D::Row>,
    for<'r> super::log_query::ChunkRow: FromRow<'r, D::Row>,
{
    fn store_logs<'a>(
        &'a self,
        host: &'a str,
        records: &'a [NewLogRecord<'_>],
        sources: &'a [NewSourceState],
    ) -> DbFuture<'a, StoredCount> {
        Box::pin(async move {
            let received = now();
            let (mut files, repeated) = group(records);
            // Packed and compressed before the write lock is taken: a resend is rare, and only
            // the files it overlaps are packed again.
            for file in &mut files {
                file.chunks = plan_chunks(&file.records)?;
            }
            let mut tx = self.begin_write().await?;
            let count = store_files::<D>(&mut tx, host, &mut files, received).await?;
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
                stored: count.stored,
                duplicates: count.duplicates + repeated,
            })
        })
    }

    fn query_logs<'a>(&'a self, query: &'a LogQuery) -> DbFuture<'a, Vec<LogEntry>> {
        Box::pin(super::log_query::query::<D>(&self.pool, query))
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
            let counts: Vec<(String, i64)> = sqlx::query_as(D::sql(D::LOG_SOURCE_RECORDS))
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
                pruned.by_age = self.prune_older(now - age as f64).await?;
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

/// Stores the files of a batch of `host` in the open transaction `tx`: locks each file, drops
/// the records its chunks overlapping the batch hold already, inserts the rest's chunks (packed
/// again if records were dropped). Returns the records stored and dropped.
pub async fn store_files<D>(
    tx: &mut D::Connection,
    host: &str,
    files: &mut [FileBatch<'_>],
    received: DateTime<Utc>,
) -> Result<StoredCount, DbError>
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
{
    let mut count = StoredCount::default();
    for file in files.iter_mut() {
        let (Some(first), Some(last)) = (file.records.first(), file.records.last()) else {
            continue;
        };
        let (low, high) = (first.offset, last.offset);
        sqlx::query::<D>(D::sql(D::LOCK_LOG_FILE))
            .bind(host)
            .bind(&**file.source)
            .bind(&**file.file)
            .execute(&mut *tx)
            .await?;
        let mut select = QueryBuilder::<D>::new("SELECT data FROM log_chunks WHERE host = ");
        select
            .push_bind(host)
            .push(" AND source = ")
            .push_bind(&**file.source)
            .push(" AND file = ")
            .push_bind(&**file.file)
            .push(" AND last_offset >= ")
            .push_bind(low)
            .push(" AND first_offset <= ")
            .push_bind(high)
            .push(D::LATEST_READ);
        let overlapping: Vec<(Vec<u8>,)> = select.build_query_as().fetch_all(&mut *tx).await?;
        if !overlapping.is_empty() {
            let mut held = Vec::new();
            for (data,) in &overlapping {
                let packed = log_pack::unpack(data)?;
                for record in log_pack::records(&packed) {
                    let offset = record?.offset;
                    if (low..=high).contains(&offset) {
                        held.push(offset);
                    }
                }
            }
            held.sort_unstable();
            let before = file.records.len();
            file.records
                .retain(|record| held.binary_search(&record.offset).is_err());
            if file.records.len() < before {
                count.duplicates += (before - file.records.len()) as u64;
                file.chunks = plan_chunks(&file.records)?;
            }
        }
        for chunk in &file.chunks {
            sqlx::query::<D>(D::sql(
                "INSERT INTO log_chunks (host, source, file, first_offset, last_offset, \
                 time_min, time_max, records, bytes, received_at, data) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ))
            .bind(host)
            .bind(&**file.source)
            .bind(&**file.file)
            .bind(chunk.first_offset)
            .bind(chunk.last_offset)
            .bind(chunk.time_min)
            .bind(chunk.time_max)
            .bind(chunk.records)
            .bind(chunk.bytes)
            .bind(received)
            .bind(chunk.data.as_slice())
            .execute(&mut *tx)
            .await?;
            count.stored += unsigned::<u64>(chunk.records);
        }
    }
    Ok(count)
}

impl<D> SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    f64: Type<D> + for<'q> Encode<'q, D>,
    for<'r> (i64,): FromRow<'r, D::Row>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    for<'r> OldChunk: FromRow<'r, D::Row>,
{
    /// Deletes the chunks whose newest record is older than `time`; returns their records.
    async fn prune_older(&self, time: f64) -> Result<u64, DbError> {
        let mut deleted = 0;
        loop {
            let old: Vec<OldChunk> = sqlx::query_as(D::sql(
                "SELECT id, bytes, records, host, source, file FROM log_chunks \
                 WHERE time_max < ? LIMIT ?",
            ))
            .bind(time)
            .bind(PRUNE_PAGE)
            .fetch_all(&self.pool)
            .await?;
            if old.is_empty() {
                return Ok(deleted);
            }
            deleted += self.delete_chunks(&old).await?;
        }
    }

    /// Deletes the oldest chunks (by their newest record's time, then id) until the rest's
    /// records total at most `max` bytes; returns their records. Another writer may add
    /// chunks meanwhile: the next round takes care of them.
    async fn prune_to(&self, max: u64) -> Result<u64, DbError> {
        let (total,): (i64,) = sqlx::query_as(D::sql(D::LOG_BYTES))
            .fetch_one(&self.pool)
            .await?;
        let mut excess = total.saturating_sub(i64::try_from(max).unwrap_or(i64::MAX));
        let mut deleted = 0;
        while excess > 0 {
            let oldest: Vec<OldChunk> = sqlx::query_as(D::sql(
                "SELECT id, bytes, records, host, source, file FROM log_chunks \
                 ORDER BY time_max, id LIMIT ?",
            ))
            .bind(PRUNE_PAGE)
            .fetch_all(&self.pool)
            .await?;
            if oldest.is_empty() {
                break;
            }
            let mut chunks = Vec::new();
            for chunk in oldest {
                if excess <= 0 {
                    break;
                }
                excess -= chunk.bytes;
                chunks.push(chunk);
            }
            deleted += self.delete_chunks(&chunks).await?;
        }
        Ok(deleted)
    }

    /// Deletes `chunks`, then the `log_files` rows of their files that no chunk is left of;
    /// returns the records of the chunks.
    async fn delete_chunks(&self, chunks: &[OldChunk]) -> Result<u64, DbError> {
        let mut delete = QueryBuilder::<D>::new("DELETE FROM log_chunks WHERE id IN (");
        let mut list = delete.separated(", ");
        for chunk in chunks {
            list.push_bind(chunk.id);
        }
        delete.push(")");
        delete.build().execute(&self.pool).await?;
        let files: BTreeSet<(&str, &str, &str)> = chunks
            .iter()
            .map(|c| (c.host.as_str(), c.source.as_str(), c.file.as_str()))
            .collect();
        for (host, source, file) in files {
            // The row is only the lock an ingest of the file takes: one deleted while an
            // ingest of the file holds it (this waits for its commit) is made again by the
            // next ingest, which finds the chunks as before.
            sqlx::query(D::sql(
                "DELETE FROM log_files WHERE host = ? AND source = ? AND file = ? \
                 AND NOT EXISTS (SELECT 1 FROM log_chunks \
                 WHERE host = ? AND source = ? AND file = ?)",
            ))
            .bind(host)
            .bind(source)
            .bind(file)
            .bind(host)
            .bind(source)
            .bind(file)
            .execute(&self.pool)
            .await?;
        }
        // A chunk another round deleted meanwhile is counted twice: rounds are one a minute.
        Ok(chunks.iter().map(|c| unsigned::<u64>(c.records)).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(file: &str, offset: i64, time: f64, bytes: usize) -> NewLogRecord<'static> {
        NewLogRecord {
            source: "s".into(),
            file: file.into(),
            offset,
            path: "".into(),
            time,
            time_from_read: false,
            message: "x".repeat(bytes).into(),
            fields: crate::db::logs::LogFields::Json("{}".into()),
            truncated_bytes: None,
            parse_error: None,
        }
    }

    #[test]
    fn a_batch_is_grouped_by_file_in_offset_order_once_per_offset() {
        let records = [
            record("b", 5, 3.0, 1),
            record("a", 9, 1.0, 1),
            record("b", 1, 2.0, 1),
            record("b", 5, 4.0, 1),
        ];
        let (files, repeated) = group(&records);
        assert_eq!(repeated, 1);
        let got: Vec<(&str, Vec<(i64, f64)>)> = files
            .iter()
            .map(|f| {
                let records = f.records.iter().map(|r| (r.offset, r.time)).collect();
                (&**f.file, records)
            })
            .collect();
        assert_eq!(
            got,
            [("a", vec![(9, 1.0)]), ("b", vec![(1, 2.0), (5, 3.0)])]
        );
    }

    #[test]
    fn chunks_are_cut_by_bytes_and_time_span_and_cover_their_records() {
        let big: Vec<_> = (0..3)
            .map(|i| record("a", i * 10, 10.0 - i as f64, CHUNK_BYTES / 2 - 100))
            .collect();
        let refs: Vec<&NewLogRecord> = big.iter().collect();
        let chunks = plan_chunks(&refs).unwrap();
        assert_eq!(chunks.len(), 2);
        // In time order: offsets 20 (8 s) and 10 (9 s), then 0 (10 s).
        assert_eq!((chunks[0].first_offset, chunks[0].last_offset), (10, 20));
        assert_eq!((chunks[0].time_min, chunks[0].time_max), (8.0, 9.0));
        assert_eq!((chunks[1].first_offset, chunks[1].records), (0, 1));
        // A record an hour and more after the first starts a chunk.
        let spread = [
            record("a", 0, 0.0, 1),
            record("a", 10, CHUNK_SPAN, 1),
            record("a", 20, CHUNK_SPAN + 0.5, 1),
            record("a", 30, 1.0, 1),
        ];
        let refs: Vec<&NewLogRecord> = spread.iter().collect();
        let spans: Vec<(i64, i64, f64, f64)> = plan_chunks(&refs)
            .unwrap()
            .iter()
            .map(|c| (c.first_offset, c.last_offset, c.time_min, c.time_max))
            .collect();
        assert_eq!(
            spans,
            [
                (0, 30, 0.0, CHUNK_SPAN),
                (20, 20, CHUNK_SPAN + 0.5, CHUNK_SPAN + 0.5)
            ]
        );
        assert!(plan_chunks(&[]).unwrap().is_empty());
    }
}
