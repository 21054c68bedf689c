//! Metric values, written once for the three backends (see `store` for the dialect rules):
//! ingest and the bucket query. MySQL and PostgreSQL insert values straight into the indexed
//! `metric_values`; a dialect with [`Staging`] (SQLite) stages each batch as one packed row and
//! moves the staged values, many at a time, into per-series chunks (see `chunks`). Queries read
//! every place values are kept, in one snapshot.

use std::collections::{BTreeSet, HashMap};

use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};
use wire::metrics::ValueListJson;

use super::chunks::{self, Buckets};
use super::series::{self, BucketRow, SeriesRow, ValueRow};
use super::{Dialect, Store};
use crate::db::{DbError, MetricQuery, SeriesPoints};
use crate::limits::SeriesLimits;

/// The indexed table of values, one row each (every backend; on a staging backend, the rows
/// written before chunks existed).
const VALUES: &str = "metric_values";

const SERIES_ID: &str = "SELECT id FROM metric_series WHERE host = ? AND plugin = ? \
    AND plugin_instance = ? AND type = ? AND type_instance = ? AND dsname = ?";

/// The number of series of one host (`limits.series_per_host`).
const SERIES_OF_HOST: &str = "SELECT COUNT(*) FROM metric_series WHERE host = ?";

/// Staged values and per-series chunks (SQLite). Every commit of SQLite's WAL writes each page it
/// changed, and values of different series land on different pages of a `(series_id, time)`
/// index, so values are not inserted there batch by batch. An ingest stages its values as one
/// packed row (binding three parameters per value took half of an ingest's time); once enough
/// are staged, that ingest reads the staged rows back (one per batch), packs each series' values
/// into one chunk row and empties the staging table, in the same transaction. A flush thus
/// writes one index entry per series instead of one per value, in a few tens of milliseconds
/// however many values are stored (moving 128 Ki staged rows into the index took 77 ms at
/// first and grew with the table).
#[derive(Clone, Copy)]
pub struct Staging {
    /// Stages one batch and returns the number of values staged in all. Binds: the batch's
    /// number of values, its packed values ([`chunks::pack_staged`]).
    pub stage: &'static str,
    /// Staged values at which an ingest moves them into chunks.
    pub limit: i64,
    /// Selects the staged blobs, oldest first.
    pub staged: &'static str,
    /// Empties the staging table.
    pub clear: &'static str,
    /// The start of an insert of chunks: rows of `(series_id, first, last, n, data)` follow.
    pub insert_chunks: &'static str,
    /// Joins `metric_series s` to its chunks `c` (columns `first`, `last`, `data`).
    pub chunk_join: &'static str,
}

impl<D> Store<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    f64: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    Option<f64>: Type<D> + for<'q> Encode<'q, D>,
    Vec<u8>: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a [u8]: Type<D> + Encode<'a, D>,
    for<'r> (i64,): FromRow<'r, D::Row>,
    for<'r> (Vec<u8>,): FromRow<'r, D::Row>,
    for<'r> (i64, Vec<u8>): FromRow<'r, D::Row>,
    for<'r> BucketRow: FromRow<'r, D::Row>,
    for<'r> SeriesRow: FromRow<'r, D::Row>,
{
    /// Stores a batch of value lists in one transaction (creating their series as needed) and
    /// returns the number of values stored; with [`Staging`], moves the staged values into
    /// chunks in the same transaction once there are enough.
    ///
    /// A batch that would give a host more than `limits.per_host` series is refused whole.
    pub async fn ingest(
        &self,
        batch: &[ValueListJson],
        limits: SeriesLimits,
    ) -> Result<usize, DbError> {
        let plan = self.series.plan(batch)?;
        if plan.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        // New series are inserted in one global order (by identity), so concurrent ingests
        // that meet the same new series take their locks in the same order and never deadlock.
        let mut order: Vec<usize> = (0..plan.new_series.len()).collect();
        order.sort_by_key(|&i| plan.new_series[i].identity());
        let mut ids = vec![0i64; plan.new_series.len()];
        // Hosts that may have gained a series here: those whose upsert inserted a row, or may
        // have (MySQL's upsert does not say).
        let mut grown = BTreeSet::new();
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
        match D::STAGING {
            None => insert_rows(&mut tx, &rows).await?,
            Some(staging) => {
                let staged: i64 = sqlx::query_scalar(D::sql(staging.stage))
                    .bind(rows.len() as i64)
                    .bind(chunks::pack_staged(&rows))
                    .fetch_one(&mut *tx)
                    .await?;
                if staged >= staging.limit {
                    flush(&mut tx, staging).await?;
                }
            }
        }
        tx.commit().await?;
        self.series.remember(plan, &ids, limits.cache);
        Ok(rows.len())
    }

    /// The average of each `step`-long bucket of the matching series' values in the query's
    /// range, read from every place values are kept.
    pub async fn query_metrics(&self, query: &MetricQuery) -> Result<Vec<SeriesPoints>, DbError> {
        series::check_query(query)?;
        let mut select = QueryBuilder::new("");
        push_buckets(&mut select, query);
        select.push(" ORDER BY series_id, bucket");
        let Some(staging) = D::STAGING else {
            let rows = select
                .build_query_as::<BucketRow>()
                .fetch_all(&self.pool)
                .await?;
            return Ok(series::series_points(rows, query.step));
        };
        // One read transaction, so that a flush cannot move values between the reads.
        let mut tx = self.pool.begin().await?;
        let mut rows = select
            .build_query_as::<BucketRow>()
            .fetch_all(&mut *tx)
            .await?;
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
        if !matching.is_empty() {
            let mut buckets = Buckets::new(query);
            let mut select = QueryBuilder::new("SELECT s.id, c.data FROM metric_series s ");
            select.push(staging.chunk_join);
            push_filters(&mut select, query);
            select.push(" AND c.last >= ").push_bind(query.from);
            select.push(" AND c.first < ").push_bind(query.to);
            let chunks: Vec<(i64, Vec<u8>)> = select.build_query_as().fetch_all(&mut *tx).await?;
            for (series, data) in &chunks {
                for (time, value) in chunks::unpack_chunk(data)? {
                    buckets.add(*series, time, value);
                }
            }
            let staged: Vec<(Vec<u8>,)> = sqlx::query_as(D::sql(staging.staged))
                .fetch_all(&mut *tx)
                .await?;
            for (data,) in &staged {
                for (series, time, value) in chunks::unpack_staged(data)? {
                    if matching.contains_key(&series) {
                        buckets.add(series, time, value);
                    }
                }
            }
            rows.extend(buckets.rows(&matching));
            rows.sort_by_key(BucketRow::order);
        }
        tx.commit().await?;
        Ok(series::series_points(rows, query.step))
    }
}

/// Inserts value rows into `metric_values`, as many per statement as the binds allow.
async fn insert_rows<D>(conn: &mut D::Connection, rows: &[ValueRow]) -> Result<(), DbError>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    f64: Type<D> + for<'q> Encode<'q, D>,
    Option<f64>: Type<D> + for<'q> Encode<'q, D>,
{
    for chunk in rows.chunks(D::MAX_BINDS / 3) {
        let mut insert =
            QueryBuilder::new(format!("INSERT INTO {VALUES} (series_id, time, value) "));
        insert.push_values(chunk, |mut row, &(series, time, value)| {
            row.push_bind(series).push_bind(time).push_bind(value);
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Moves the staged values into one chunk per series and empties the staging table.
async fn flush<D>(conn: &mut D::Connection, staging: Staging) -> Result<(), DbError>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    f64: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a [u8]: Type<D> + Encode<'a, D>,
    for<'r> (Vec<u8>,): FromRow<'r, D::Row>,
{
    let staged: Vec<(Vec<u8>,)> = sqlx::query_as(D::sql(staging.staged))
        .fetch_all(&mut *conn)
        .await?;
    let mut rows = Vec::new();
    for (data,) in &staged {
        rows.extend(chunks::unpack_staged(data)?);
    }
    let chunks = chunks::chunks(rows);
    for group in chunks.chunks(D::MAX_BINDS / 5) {
        let mut insert = QueryBuilder::new(staging.insert_chunks);
        insert.push_values(group, |mut row, chunk| {
            row.push_bind(chunk.series_id)
                .push_bind(chunk.first)
                .push_bind(chunk.last);
            row.push_bind(chunk.n).push_bind(chunk.data.as_slice());
        });
        insert.build().execute(&mut *conn).await?;
    }
    sqlx::query(D::sql(staging.clear))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Appends the select of the sum and count of each bucket of the matching series in
/// `metric_values`.
fn push_buckets<D>(select: &mut QueryBuilder<D>, query: &MetricQuery)
where
    D: Dialect,
    f64: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
{
    select
        .push("SELECT s.id AS series_id, s.plugin_instance, s.type_instance, s.dsname, s.dstype, ");
    D::push_bucket(select, query.step);
    select.push(format_args!(
        " AS bucket, SUM(v.value) AS total, COUNT(v.value) AS n \
         FROM metric_series s JOIN {VALUES} v ON v.series_id = s.id"
    ));
    push_filters(select, query);
    select.push(" AND v.time >= ").push_bind(query.from);
    select.push(" AND v.time < ").push_bind(query.to);
    select.push(" GROUP BY s.id, s.plugin_instance, s.type_instance, s.dsname, s.dstype, bucket");
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
