//! Queries of log records held in chunks (`log_chunks`), the same on every backend: the
//! database selects the chunks of the host and source whose time range meets the query's, in
//! the order of their earliest time; they are decompressed here and their records filtered
//! (time, cursor, text contained, field equality: the field index of format 1 chunks, made
//! from the fields' text for later ones) and merged into exact (time, id) order. A
//! record's id is its chunk's id × 2^16 + its index in the chunk, so (time, id) is a total,
//! stable order and a cursor pages through every matching record once.
//!
//! The merge stops reading chunks once it holds `limit` records and the next chunk's earliest
//! time is after the last of them: no later chunk can hold a record before it.

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder, Type};

use super::log_pack::{self, CHUNK_SPAN, PackedRecord};
use super::{Dialect, unsigned};
use crate::db::DbError;
use crate::db::logs::{LogEntry, LogQuery, field_line};

/// Chunks read per statement.
const CHUNK_PAGE: i64 = 16;

/// A `log_chunks` row as a query reads it.
#[derive(sqlx::FromRow)]
pub struct ChunkRow {
    id: i64,
    host: String,
    source: String,
    file: String,
    time_min: f64,
    received_at: DateTime<Utc>,
    data: Vec<u8>,
}

/// A query's conditions on one record, prepared once.
struct Filter<'q> {
    query: &'q LogQuery,
    /// The field index lines every record must hold, `\n<name>=<value>\n`.
    lines: Vec<String>,
}

impl Filter<'_> {
    fn keeps(&self, record: &PackedRecord<'_>, id: i64) -> bool {
        let query = self.query;
        let time = record.time;
        query.from.is_none_or(|from| time >= from)
            && query.to.is_none_or(|to| time < to)
            && query
                .after
                .is_none_or(|(t, after)| time > t || (time == t && id > after))
            && query
                .contains
                .as_deref()
                .is_none_or(|text| record.message.contains(text))
            && (self.lines.is_empty() || {
                let made;
                let index = match record.field_index {
                    Some(index) => index,
                    None => {
                        made = record.fields.index(record.message);
                        made.as_str()
                    }
                };
                self.lines.iter().all(|line| index.contains(line.as_str()))
            })
    }
}

fn entry(chunk: &ChunkRow, id: i64, record: &PackedRecord<'_>) -> LogEntry {
    LogEntry {
        id,
        host: chunk.host.clone(),
        source: chunk.source.clone(),
        file: chunk.file.clone(),
        offset: unsigned(record.offset),
        path: record.path.to_owned(),
        time: record.time,
        time_from_read: record.time_from_read,
        message: record.message.to_owned(),
        fields: record.fields.text(record.message).into_owned(),
        truncated_bytes: record.truncated_bytes.map(unsigned),
        parse_error: record.parse_error.map(str::to_owned),
        received_at: chunk.received_at,
    }
}

fn order(a: &LogEntry, b: &LogEntry) -> std::cmp::Ordering {
    a.time.total_cmp(&b.time).then(a.id.cmp(&b.id))
}

/// The records `query` selects, in (time, id) order, at most `query.limit`.
pub async fn query<D>(pool: &Pool<D>, query: &LogQuery) -> Result<Vec<LogEntry>, DbError>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    f64: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    for<'r> ChunkRow: FromRow<'r, D::Row>,
{
    let limit = query.limit as usize;
    let filter = Filter {
        query,
        lines: query
            .fields
            .iter()
            .map(|(name, value)| format!("\n{}\n", field_line(name, value)))
            .collect(),
    };
    // Records before the cursor's time cannot follow it.
    let low = match (query.from, query.after) {
        (Some(from), Some((time, _))) => Some(from.max(time)),
        (from, after) => from.or(after.map(|(time, _)| time)),
    };
    let mut found: Vec<LogEntry> = Vec::new();
    let mut next: Option<(f64, i64)> = None;
    if limit == 0 {
        return Ok(found);
    }
    loop {
        let mut select = QueryBuilder::<D>::new(
            "SELECT id, host, source, file, time_min, received_at, data FROM log_chunks \
             WHERE 1 = 1",
        );
        if let Some(host) = &query.host {
            select.push(" AND host = ").push_bind(host.as_str());
        }
        if let Some(source) = &query.source {
            select.push(" AND source = ").push_bind(source.as_str());
        }
        if let Some(low) = low {
            // A chunk spans at most CHUNK_SPAN: this bound makes the look-up an index range
            // (a second more, against rounding).
            select
                .push(" AND time_min >= ")
                .push_bind(low - CHUNK_SPAN - 1.0);
            select.push(" AND time_max >= ").push_bind(low);
        }
        if let Some(to) = query.to {
            select.push(" AND time_min < ").push_bind(to);
        }
        if let Some((time, id)) = next {
            select.push(" AND time_min >= ").push_bind(time);
            select.push(" AND (time_min > ").push_bind(time);
            select.push(" OR id > ").push_bind(id).push(")");
        }
        select
            .push(" ORDER BY time_min, id LIMIT ")
            .push_bind(CHUNK_PAGE);
        let chunks: Vec<ChunkRow> = select.build_query_as().fetch_all(pool).await?;
        let Some(last) = chunks.last() else {
            return Ok(found);
        };
        next = Some((last.time_min, last.id));
        for chunk in &chunks {
            if found.len() == limit && found[limit - 1].time < chunk.time_min {
                return Ok(found);
            }
            // What the page holds already when full: a record after its last cannot be in it.
            let worst =
                (found.len() == limit).then(|| (found[limit - 1].time, found[limit - 1].id));
            let packed = log_pack::unpack(&chunk.data)?;
            for (index, record) in log_pack::records(&packed).enumerate() {
                let record = record?;
                let id = (chunk.id << 16) | index as i64;
                let beyond = worst.is_some_and(|(time, last)| {
                    record.time > time || (record.time == time && id > last)
                });
                if !beyond && filter.keeps(&record, id) {
                    found.push(entry(chunk, id, &record));
                }
            }
            found.sort_by(order);
            found.truncate(limit);
        }
        if chunks.len() < CHUNK_PAGE as usize {
            return Ok(found);
        }
    }
}
