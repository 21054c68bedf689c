//! PostgreSQL. Shares the `ON CONFLICT ... RETURNING` upserts with SQLite; statements written
//! with `?` get PostgreSQL's `$n` placeholders here. Times are `TIMESTAMPTZ`.

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPoolOptions, PgQueryResult};
use sqlx::{AssertSqlSafe, Postgres, QueryBuilder, SqlSafeStr, SqlStr};

use super::DbError;
use super::common::{self, Dialect};

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// The PostgreSQL store.
pub type Store = common::Store<Postgres>;

impl Store {
    /// Connects to the database a `postgres://` or `postgresql://` URL names.
    pub async fn connect(url: &str) -> Result<Store, DbError> {
        Ok(Store::new(PgPoolOptions::new().connect(url).await?))
    }
}

impl Dialect for Postgres {
    const MARK_OFFLINE: &'static str = "UPDATE hosts SET status = 'offline', gmt_modify = ? \
        WHERE status = 'online' AND last_seen < ? - make_interval(secs => ? * step)";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn sql(text: &'static str) -> SqlStr {
        AssertSqlSafe(common::numbered(text)).into_sql_str()
    }

    fn push_bucket(query: &mut QueryBuilder<Postgres>, step: f64) {
        query
            .push("FLOOR(v.time / ")
            .push_bind(step)
            .push(")::BIGINT");
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }
}
