//! MySQL / MariaDB. No `RETURNING`: the upserts return no row and the store looks the id up in
//! the same transaction. Tables use `utf8mb4_bin`, so names compare byte for byte as on the
//! other backends; sqlx sets the session time zone to UTC, and times are `DATETIME(6)` in UTC.
//! InnoDB's REPEATABLE READ gives a query's reads of chunks and staged values one snapshot.

use sqlx::MySql;
use sqlx::migrate::Migrator;
use sqlx::mysql::{MySqlPoolOptions, MySqlQueryResult};

use super::common::{self, Dialect};
use super::{Backend, DbError};

static MIGRATOR: Migrator = sqlx::migrate!("migrations/mysql");

/// The MySQL / MariaDB store.
pub type Store = common::SqlStore<MySql>;

impl Store {
    /// Connects to the database a `mysql://` or `mariadb://` URL names.
    pub async fn connect(url: &str) -> Result<Store, DbError> {
        let url = match url.strip_prefix("mariadb:") {
            Some(rest) => format!("mysql:{rest}"),
            None => url.to_owned(),
        };
        Ok(Store::new(MySqlPoolOptions::new().connect(&url).await?))
    }
}

impl Dialect for MySql {
    const BACKEND: Backend = Backend::MySql;
    const UPSERT_HOST: &'static str = "INSERT INTO hosts \
        (hostname, region, status, step, version, last_seen, gmt_create, gmt_modify) \
        VALUES (?, ?, 'online', ?, ?, ?, ?, ?) \
        ON DUPLICATE KEY UPDATE region = COALESCE(?, region), status = 'online', \
        step = VALUES(step), \
        version = VALUES(version), last_seen = VALUES(last_seen), gmt_modify = VALUES(gmt_modify)";
    const UPSERT_AGENT_HOST: &'static str = "INSERT INTO hosts \
        (hostname, status, last_seen, gmt_create, gmt_modify) VALUES (?, 'online', ?, ?, ?) \
        ON DUPLICATE KEY UPDATE status = 'online', last_seen = VALUES(last_seen), \
        gmt_modify = VALUES(gmt_modify)";
    const UPSERT_SESSION: &'static str = "INSERT INTO agent_sessions \
        (hostname, replica, session, version, address, connected_at, seen_at) \
        VALUES (?, ?, ?, ?, ?, ?, ?) \
        ON DUPLICATE KEY UPDATE replica = VALUES(replica), session = VALUES(session), \
        version = VALUES(version), address = VALUES(address), \
        connected_at = VALUES(connected_at), seen_at = VALUES(seen_at)";
    const LATEST_READ: &'static str = " LOCK IN SHARE MODE";
    const UPSERT_SERIES: &'static str = "INSERT INTO metric_series \
        (host, plugin, plugin_instance, type, type_instance, dsname, dstype) \
        VALUES (?, ?, ?, ?, ?, ?, ?) \
        ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)";
    // A plain SELECT would read the transaction's snapshot, which may predate a series another
    // ingest just committed; LAST_INSERT_ID() holds the id the upsert inserted or met.
    const SERIES_ID_AFTER_UPSERT: Option<&'static str> =
        Some("SELECT CAST(LAST_INSERT_ID() AS SIGNED)");
    // STRAIGHT_JOIN: the series first (a few, by their unique key), then their chunks by
    // (series_id, last).
    const CHUNK_JOIN: &'static str = "STRAIGHT_JOIN metric_chunks c ON c.series_id = s.id";
    const MARK_OFFLINE: &'static str = "UPDATE hosts SET status = 'offline', gmt_modify = ? \
        WHERE status = 'online' AND last_seen < ? - INTERVAL (? * step) SECOND";

    // An update of the duplicate row locks it exclusively at once (INSERT IGNORE's shared lock
    // followed by a FOR UPDATE would deadlock two ingests of one file).
    const LOCK_LOG_FILE: &'static str = "INSERT INTO log_files (host, source, file) \
        VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE file = VALUES(file)";
    const UPSERT_LOG_SOURCE: &'static str = "INSERT INTO log_sources \
        (host, name, path, files, open_files, read_offset, size, lag_bytes, state, lost_bytes, \
        truncations, parse_errors, truncated_records, last_error, updated, rejected_records) \
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
        ON DUPLICATE KEY UPDATE path = VALUES(path), files = VALUES(files), \
        open_files = VALUES(open_files), read_offset = VALUES(read_offset), \
        size = VALUES(size), lag_bytes = VALUES(lag_bytes), state = VALUES(state), \
        lost_bytes = VALUES(lost_bytes), truncations = VALUES(truncations), \
        parse_errors = VALUES(parse_errors), truncated_records = VALUES(truncated_records), \
        last_error = VALUES(last_error), updated = VALUES(updated), \
        rejected_records = VALUES(rejected_records)";
    const LOG_BYTES: &'static str =
        "SELECT CAST(COALESCE(SUM(bytes), 0) AS SIGNED) FROM log_chunks";
    const LOG_SOURCE_RECORDS: &'static str = "SELECT source, CAST(SUM(records) AS SIGNED) \
        FROM log_chunks WHERE host = ? GROUP BY source";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn rows_affected(result: &MySqlQueryResult) -> u64 {
        result.rows_affected()
    }
}
