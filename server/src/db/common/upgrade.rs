//! The store's own part of the API ([`Store`]: backend, migrate, ping) and the upgrades of
//! stored data that SQL alone cannot do, run by `migrate` after the backend's migrations: the value rows of `metric_values` (databases written before chunks, every backend)
//! move into `metric_chunks`, one series per transaction, so that queries read one model. The
//! values keep their exact bits (packing them in SQL would not: SQLite's JSON keeps 15 digits,
//! and MySQL has no way to write a double's bytes).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sqlx::migrate::Migrate;

use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::chunks;
use super::metrics::insert_chunks;
use super::{Dialect, SqlStore};
use crate::db::{Backend, DbError, DbFuture, Store};

// The trait needs every part of the API (its supertraits) implemented, which each file does
// under its own bounds: implemented for the three dialects by name, which meet them all.
macro_rules! store_for {
    ($($dialect:ty),*) => {$(
        impl Store for SqlStore<$dialect> {
            fn backend(&self) -> Backend {
                <$dialect as Dialect>::BACKEND
            }

            fn migrate(&self) -> DbFuture<'_, ()> {
                Box::pin(async move {
                    self.migrate_and_upgrade().await?;
                    self.move_log_rows_to_chunks().await?;
                    Ok(())
                })
            }

            fn ping(&self) -> DbFuture<'_, Duration> {
                Box::pin(self.ping_once())
            }
        }
    )*};
}

store_for!(sqlx::Sqlite, sqlx::MySql, sqlx::Postgres);

impl<D> SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Connection: Migrate,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    f64: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a [u8]: Type<D> + Encode<'a, D>,
    for<'r> (i64,): FromRow<'r, D::Row>,
    for<'r> (Vec<u8>,): FromRow<'r, D::Row>,
    for<'r> (f64, Option<f64>): FromRow<'r, D::Row>,
{
    /// Applies the backend's migrations, moves the rows of `metric_values` into chunks and
    /// counts the staged values.
    async fn migrate_and_upgrade(&self) -> Result<(), DbError> {
        D::migrator().run(&self.pool).await?;
        self.move_value_rows_to_chunks().await?;
        self.count_staged().await
    }

    /// The time a trivial query takes.
    async fn ping_once(&self) -> Result<Duration, DbError> {
        let started = Instant::now();
        sqlx::query::<D>("SELECT 1").execute(&self.pool).await?;
        Ok(started.elapsed())
    }

    /// Moves every row of `metric_values` into chunks (at most [`chunks::CHUNK_MAX`] values
    /// each) and returns how many moved; 0 once done.
    async fn move_value_rows_to_chunks(&self) -> Result<u64, DbError> {
        let series: Vec<i64> =
            sqlx::query_scalar(D::sql("SELECT DISTINCT series_id FROM metric_values"))
                .fetch_all(&self.pool)
                .await?;
        let mut moved = 0;
        for id in series {
            let mut tx = self.begin_write().await?;
            let mut select = sqlx::QueryBuilder::<D>::new(
                "SELECT time, value FROM metric_values WHERE series_id = ",
            );
            select.push_bind(id).push(" ORDER BY time");
            let values: Vec<(f64, Option<f64>)> =
                select.build_query_as().fetch_all(&mut *tx).await?;
            let chunks = chunks::chunks(values.iter().map(|&(time, value)| (id, time, value)));
            insert_chunks(&mut *tx, &chunks).await?;
            let mut delete =
                sqlx::QueryBuilder::<D>::new("DELETE FROM metric_values WHERE series_id = ");
            delete.push_bind(id);
            delete.build().execute(&mut *tx).await?;
            tx.commit().await?;
            moved += values.len() as u64;
        }
        if moved > 0 {
            tracing::info!(values = moved, "Moved the metric value rows into chunks.");
        }
        Ok(moved)
    }

    /// Counts the values staged when this process starts, so that the first flush comes when
    /// [`super::metrics::STAGING_LIMIT`] values are staged in all.
    async fn count_staged(&self) -> Result<(), DbError> {
        let staged: Vec<(Vec<u8>,)> = sqlx::query_as(D::sql("SELECT data FROM metric_staged"))
            .fetch_all(&self.pool)
            .await?;
        let mut n = 0;
        for (data,) in &staged {
            n += chunks::unpack_staged(data)?.count() as i64;
        }
        self.staged.store(n, Ordering::Relaxed);
        Ok(())
    }
}
