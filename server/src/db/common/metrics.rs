//! Metric values, written once for the three backends (see `store` for the dialect rules): the
//! one storage model, ingest and the bucket query. An ingest stages its values as one packed
//! `metric_staged` row; once enough are staged, that ingest moves them, in the same
//! transaction, into one `metric_chunks` row per series (see `chunks` for the packing). Queries
//! read the chunks that overlap their range and the staged rows, in one snapshot. Rows of
//! `metric_values` (databases written before chunks) move into chunks at `migrate` (`upgrade`).
//!
//! Why: a value per row costs an index entry per value. On SQLite every commit of the WAL writes
//! each page it changed, and values of different series land on different pages of a
//! `(series_id, time)` index; on MariaDB and PostgreSQL each row and index entry costs a bound
//! parameter set, a row header and its share of the redo/WAL log (~250k and ~220k values/s).
//! A staged batch is one row with one index entry, and a flush writes one index entry per series
//! (~3,800) instead of one per value (131,072), in a few tens of milliseconds however many
//! values are stored.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};
use wire::metrics::ValueListJson;

use super::chunks::{self, Buckets, Chunk};
use super::series::{self, BucketRow, SeriesRow};
use super::{Dialect, SqlStore};
use crate::db::{DbError, DbFuture, MetricQuery, MetricStore, SeriesPoints};
use crate::limits::SeriesLimits;

const SERIES_ID: &str = "SELECT id FROM metric_series WHERE host = ? AND plugin = ? \
    AND plugin_instance = ? AND type = ? AND type_instance = ? AND dsname = ?";

/// The number of series of one host (`limits.series_per_host`).
const SERIES_OF_HOST: &str = "SELECT COUNT(*) FROM metric_series WHERE host = ?";

/// Stages one batch. Binds: its packed values ([`chunks::pack_staged`]).
const STAGE: &str = "INSERT INTO metric_staged (data) VALUES (?)";

/// Staged values at which an ingest moves them into chunks.
pub const STAGING_LIMIT: i64 = 131_072;

/// Bytes of chunk data one insert statement carries at most (MariaDB's `max_allowed_packet`
/// is 16 MiB by default; a flush's ~3,800 chunks take ~2 MiB).
const INSERT_BYTES: usize = 4 << 20;

impl<D> MetricStore for SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    f64: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    Vec<u8>: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a [u8]: Type<D> + Encode<'a, D>,
    for<'r> (i64,): FromRow<'r, D::Row>,
    for<'r> (Vec<u8>,): FromRow<'r, D::Row>,
    for<'r> (i64, Vec<u8>): FromRow<'r, D::Row>,
    for<'r> SeriesRow: FromRow<'r, D::Row>,
{
    fn ingest<'a>(
        &'a self,
        batch: &'a [ValueListJson],
        limits: SeriesLimits,
    ) -> DbFuture<'a, usize> {
        Box::pin(async move {
            let plan = self.series.plan(batch)?;
            if plan.is_empty() {
                return Ok(0);
            }
            let n = plan.len() as i64;
            // Which ingest flushes is decided by this process's count of what it staged since its
            // last flush (several servers on one database each flush their share; a flush takes
            // every staged row, whoever staged it).
            let flush_due = self.staged.fetch_add(n, Ordering::Relaxed) + n >= STAGING_LIMIT;
            if flush_due {
                self.staged.store(0, Ordering::Relaxed);
            } else if plan.new_series.is_empty() {
                // The common case, every series known: one statement, no transaction to open and
                // commit (two round trips fewer).
                let rows = plan.rows(&[]);
                sqlx::query(D::sql(STAGE))
                    .bind(chunks::pack_staged(&rows))
                    .execute(&self.pool)
                    .await?;
                return Ok(rows.len());
            }
            let mut tx = self.begin_write().await?;
            // New series are inserted in one global order (by identity), so concurrent ingests
            // that meet the same new series take their locks in the same order and never deadlock.
            let mut order: Vec<usize> = (0..plan.new_series.len()).collect();
            order.sort_by_key(|&i| plan.new_series[i].identity());
            let mut ids = vec![0i64; plan.new_series.len()];
            // Hosts that may have gained a series here: those whose upsert inserted a row, or may
            // have (MySQL's upsert does not say).
            let mut grown = std::collections::BTreeSet::new();
            for index in order {
                let series = &plan.new_series[index];
                let mut upsert = sqlx::query_scalar(D::sql(D::UPSERT_SERIES));
                for field in series.identity().into_iter().chain([series.dstype]) {
                    upsert = upsert.bind(field);
                }
                ids[index] = match (
                    upsert.fetch_optional(&mut *tx).await?,
                    D::SERIES_ID_AFTER_UPSERT,
                ) {
                    (Some(id), _) => {
                        grown.insert(series.host);
                        id
                    }
                    (None, Some(last)) => {
                        grown.insert(series.host);
                        sqlx::query_scalar(D::sql(last)).fetch_one(&mut *tx).await?
                    }
                    (None, None) => {
                        let mut select = sqlx::query_scalar(D::sql(SERIES_ID));
                        for field in series.identity() {
                            select = select.bind(field);
                        }
                        select.fetch_one(&mut *tx).await?
                    }
                };
            }
            for host in grown {
                let n: i64 = sqlx::query_scalar(D::sql(SERIES_OF_HOST))
                    .bind(host)
                    .fetch_one(&mut *tx)
                    .await?;
                if u64::try_from(n).unwrap_or(0) > limits.per_host {
                    // Dropping the transaction rolls the new series back.
                    return Err(DbError::Invalid(format!(
                        "host `{}` would have {n} metric series, over limits.series_per_host = {}; \
                         nothing stored",
                        crate::limits::excerpt(host),
                        limits.per_host
                    )));
                }
            }
            let rows = plan.rows(&ids);
            sqlx::query(D::sql(STAGE))
                .bind(chunks::pack_staged(&rows))
                .execute(&mut *tx)
                .await?;
            if flush_due {
                flush::<D>(&mut tx).await?;
            }
            tx.commit().await?;
            self.series.remember(plan, &ids, limits.cache);
            Ok(rows.len())
        })
    }

    fn query_metrics<'a>(&'a self, query: &'a MetricQuery) -> DbFuture<'a, Vec<SeriesPoints>> {
        Box::pin(async move {
            series::check_query(query)?;
            let mut tx = self.pool.begin_with(D::BEGIN_SNAPSHOT).await?;
            let mut matching = QueryBuilder::new(
                "SELECT s.id, s.plugin_instance, s.type_instance, s.dsname, s.dstype \
                 FROM metric_series s",
            );
            push_filters(&mut matching, query);
            let matching: HashMap<i64, SeriesRow> = matching
                .build_query_as::<SeriesRow>()
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|series| (series.id, series))
                .collect();
            let mut buckets = Buckets::new(query);
            if !matching.is_empty() {
                let mut select = QueryBuilder::new("SELECT s.id, c.data FROM metric_series s ");
                select.push(D::CHUNK_JOIN);
                push_filters(&mut select, query);
                select.push(" AND c.last >= ").push_bind(query.from);
                select.push(" AND c.first < ").push_bind(query.to);
                let chunks: Vec<(i64, Vec<u8>)> =
                    select.build_query_as().fetch_all(&mut *tx).await?;
                for (series, data) in &chunks {
                    for (time, value) in chunks::unpack_chunk(data)? {
                        buckets.add(*series, time, value);
                    }
                }
                let staged: Vec<(Vec<u8>,)> =
                    sqlx::query_as(D::sql("SELECT data FROM metric_staged"))
                        .fetch_all(&mut *tx)
                        .await?;
                for (data,) in &staged {
                    for (series, time, value) in chunks::unpack_staged(data)? {
                        if matching.contains_key(&series) {
                            buckets.add(series, time, value);
                        }
                    }
                }
            }
            tx.commit().await?;
            let mut rows = buckets.rows(&matching);
            rows.sort_by_key(BucketRow::order);
            Ok(series::series_points(rows, query.step))
        })
    }
}

/// Moves every staged value into one chunk per series and deletes the staged rows it read. The
/// rows are read with a lock ([`Dialect::FOR_UPDATE`]) and deleted by id, so a row staged by a
/// transaction that commits meanwhile stays for the next flush, and two flushes never move the
/// same row.
async fn flush<D>(conn: &mut D::Connection) -> Result<(), DbError>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    f64: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a [u8]: Type<D> + Encode<'a, D>,
    for<'r> (i64, Vec<u8>): FromRow<'r, D::Row>,
{
    let mut select = QueryBuilder::<D>::new("SELECT id, data FROM metric_staged ORDER BY id");
    select.push(D::FOR_UPDATE);
    let staged: Vec<(i64, Vec<u8>)> = select.build_query_as().fetch_all(&mut *conn).await?;
    if staged.is_empty() {
        return Ok(());
    }
    let mut rows = Vec::new();
    for (_, data) in &staged {
        rows.extend(chunks::unpack_staged(data)?);
    }
    insert_chunks(&mut *conn, &chunks::chunks(rows)).await?;
    let ids: Vec<i64> = staged.iter().map(|(id, _)| *id).collect();
    for group in ids.chunks(D::MAX_BINDS) {
        let mut delete = QueryBuilder::<D>::new("DELETE FROM metric_staged WHERE id IN (");
        let mut list = delete.separated(", ");
        for id in group {
            list.push_bind(*id);
        }
        delete.push(")");
        delete.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts chunks, as many per statement as the binds and [`INSERT_BYTES`] allow.
pub(super) async fn insert_chunks<D>(
    conn: &mut D::Connection,
    chunks: &[Chunk],
) -> Result<(), DbError>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    f64: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a [u8]: Type<D> + Encode<'a, D>,
{
    let mut rest = chunks;
    while !rest.is_empty() {
        let mut take = 0;
        let mut bytes = 0;
        while take < rest.len()
            && take < D::MAX_BINDS / 5
            && (take == 0 || bytes + rest[take].data.len() <= INSERT_BYTES)
        {
            bytes += rest[take].data.len();
            take += 1;
        }
        let (group, next) = rest.split_at(take);
        let mut insert =
            QueryBuilder::new("INSERT INTO metric_chunks (series_id, first, last, n, data) ");
        insert.push_values(group, |mut row, chunk| {
            row.push_bind(chunk.series_id)
                .push_bind(chunk.first)
                .push_bind(chunk.last);
            row.push_bind(chunk.n).push_bind(chunk.data.as_slice());
        });
        insert.build().execute(&mut *conn).await?;
        rest = next;
    }
    Ok(())
}

/// Appends the `WHERE` clause that selects the query's series `s`.
fn push_filters<D>(select: &mut QueryBuilder<D>, query: &MetricQuery)
where
    D: Dialect,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
{
    select
        .push(" WHERE s.host = ")
        .push_bind(query.host.as_str());
    select
        .push(" AND s.plugin = ")
        .push_bind(query.plugin.as_str());
    select
        .push(" AND s.type = ")
        .push_bind(query.type_.as_str());
    let optional = [
        ("plugin_instance", &query.plugin_instance),
        ("type_instance", &query.type_instance),
        ("dsname", &query.dsname),
    ];
    for (column, value) in optional {
        if let Some(value) = value {
            select
                .push(format_args!(" AND s.{column} = "))
                .push_bind(value.as_str());
        }
    }
}
