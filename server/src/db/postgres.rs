//! PostgreSQL. Shares the `ON CONFLICT ... RETURNING` upserts with SQLite; statements written
//! with `?` get PostgreSQL's `$n` placeholders here. Times are `TIMESTAMPTZ`.

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPoolOptions, PgQueryResult};
use sqlx::{AssertSqlSafe, Postgres, SqlSafeStr, SqlStr};

use super::common::{self, Dialect};
use super::{Backend, DbError};

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// The PostgreSQL store.
pub type Store = common::SqlStore<Postgres>;

impl Store {
    /// Connects to the database a `postgres://` or `postgresql://` URL names.
    pub async fn connect(url: &str) -> Result<Store, DbError> {
        Ok(Store::new(PgPoolOptions::new().connect(url).await?))
    }
}

impl Dialect for Postgres {
    const BACKEND: Backend = Backend::Postgres;
    const BEGIN_SNAPSHOT: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    const MARK_OFFLINE: &'static str = "UPDATE hosts SET status = 'offline', gmt_modify = ? \
        WHERE status = 'online' AND last_seen < ? - make_interval(secs => ? * step)";

    const LOG_BYTES: &'static str = "SELECT COALESCE(SUM(bytes), 0)::BIGINT FROM log_chunks";
    const LOG_SOURCE_RECORDS: &'static str =
        "SELECT source, SUM(records)::BIGINT FROM log_chunks WHERE host = ? GROUP BY source";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn sql(text: &'static str) -> SqlStr {
        AssertSqlSafe(common::numbered(text)).into_sql_str()
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }
}
