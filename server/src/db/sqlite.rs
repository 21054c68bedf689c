//! SQLite: the default backend, one file. WAL journal, `synchronous = NORMAL`, foreign keys on,
//! the file created if missing; every writing transaction is `BEGIN IMMEDIATE`, so writers queue
//! on the busy timeout instead of failing when they upgrade a read lock. Metric values are
//! staged and chunked as on every backend (`common/metrics.rs`, migrations 0003 and 0005).

use std::str::FromStr;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};

use super::common::{self, Dialect};
use super::{Backend, DbError};

static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// The SQLite store.
pub type Store = common::SqlStore<Sqlite>;

impl Store {
    /// Opens (creating if needed) the database file a `sqlite://` URL names.
    pub async fn connect(url: &str) -> Result<Store, DbError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Room for the pages a staging flush touches, and fewer, larger checkpoints: both
            // measured (ingest_rate in tests/db) to matter for the metrics rate.
            .pragma("cache_size", "-32768")
            .pragma("wal_autocheckpoint", "10000")
            .pragma("journal_size_limit", "67108864");
        // One writer at a time anyway; a few readers beside it. Bounds the page caches too.
        let mut pool = SqlitePoolOptions::new().max_connections(4);
        if url.contains(":memory:") || url.contains("mode=memory") {
            // Every connection to an in-memory database is a database of its own: keep one.
            pool = pool
                .max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        Ok(Store::new(pool.connect_with(options).await?))
    }
}

impl Dialect for Sqlite {
    const BACKEND: Backend = Backend::Sqlite;
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const MAX_BINDS: usize = 32_766;
    const FOR_UPDATE: &'static str = "";
    // CROSS JOIN: SQLite then reads the series first (a query names a few by their unique key)
    // and their chunks by (series_id, last), whatever its statistics say.
    const CHUNK_JOIN: &'static str = "CROSS JOIN metric_chunks c ON c.series_id = s.id";
    const MARK_OFFLINE: &'static str = "UPDATE hosts SET status = 'offline', gmt_modify = ? \
        WHERE status = 'online' \
        AND unixepoch(last_seen, 'subsec') < unixepoch(?, 'subsec') - ? * step";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}
