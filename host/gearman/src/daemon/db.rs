//! The `daemon` table of `gearman.db`: the seed's table as given (with `check` quoted, a
//! keyword in SQLite) plus a `checksum` column at its end (created by `store::migrations`).
//! What runs, and in which state, is the engine's own run state (`supervise`), not a table.

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::Store;

/// One row of the seed's `daemon` table.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct DaemonRow {
    /// Unique name (≤ 64).
    pub name: String,
    /// Version (≤ 64); the package unpacks into a folder of this name.
    pub version: String,
    /// Where the package comes from (http, https, ftp, file).
    pub url: String,
    /// Command that must succeed before a start.
    pub precheck: Option<String>,
    /// Times a failing precheck is run again.
    pub precheck_retries: Option<i64>,
    /// Start command.
    pub start: String,
    /// Seconds after the start before the check decides.
    pub start_delay: Option<i64>,
    /// `kill:<signal>`, `process:<command>` or a command.
    pub stop: String,
    /// Seconds before SIGKILL.
    pub stop_timeout: Option<i64>,
    /// `process`, `socket` or a command.
    pub check: Option<String>,
    /// Seconds between checks.
    pub check_interval: Option<i64>,
    /// User to run as.
    pub user: Option<String>,
    /// Group to run as.
    pub group: Option<String>,
    /// The daemon's pid file.
    pub pidfile: Option<String>,
    /// The daemon's unix socket (for the `socket` check).
    pub socket: Option<String>,
    /// JSON object of environment variables.
    pub env: Option<String>,
    /// JSON object `{hits, cpu, memory}`.
    pub limits: Option<String>,
    /// When the row last changed (SQLite `CURRENT_TIMESTAMP`, UTC).
    pub gmt_modify: String,
    /// When it was made.
    pub gmt_create: String,
    /// `SHA256:<hex>` of the package (required for http, https and ftp URLs).
    pub checksum: Option<String>,
}

const COLUMNS: &str = "name, version, url, precheck, precheck_retries, start, start_delay, stop, \
    stop_timeout, \"check\", check_interval, user, \"group\", pidfile, socket, env, limits, \
    gmt_modify, gmt_create, checksum";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DaemonRow> {
    Ok(DaemonRow {
        name: r.get(0)?,
        version: r.get(1)?,
        url: r.get(2)?,
        precheck: r.get(3)?,
        precheck_retries: r.get(4)?,
        start: r.get(5)?,
        start_delay: r.get(6)?,
        stop: r.get(7)?,
        stop_timeout: r.get(8)?,
        check: r.get(9)?,
        check_interval: r.get(10)?,
        user: r.get(11)?,
        group: r.get(12)?,
        pidfile: r.get(13)?,
        socket: r.get(14)?,
        env: r.get(15)?,
        limits: r.get(16)?,
        gmt_modify: r.get(17)?,
        gmt_create: r.get(18)?,
        checksum: r.get(19)?,
    })
}

/// Inserts or replaces the definition of a daemon (keeping `gmt_create`).
pub fn upsert(store: &Store, d: &DaemonRow) -> anyhow::Result<()> {
    store.with_conn(|conn| {
        conn.execute(
            "INSERT INTO daemon (name, version, url, precheck, precheck_retries, start, \
             start_delay, stop, stop_timeout, \"check\", check_interval, user, \"group\", \
             pidfile, socket, env, limits, checksum) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
             ?18) \
             ON CONFLICT(name) DO UPDATE SET version = excluded.version, url = excluded.url, \
             precheck = excluded.precheck, precheck_retries = excluded.precheck_retries, \
             start = excluded.start, start_delay = excluded.start_delay, stop = excluded.stop, \
             stop_timeout = excluded.stop_timeout, \"check\" = excluded.\"check\", \
             check_interval = excluded.check_interval, user = excluded.user, \
             \"group\" = excluded.\"group\", pidfile = excluded.pidfile, \
             socket = excluded.socket, env = excluded.env, limits = excluded.limits, \
             checksum = excluded.checksum, gmt_modify = CURRENT_TIMESTAMP",
            params![
                d.name,
                d.version,
                d.url,
                d.precheck,
                d.precheck_retries,
                d.start,
                d.start_delay,
                d.stop,
                d.stop_timeout,
                d.check,
                d.check_interval,
                d.user,
                d.group,
                d.pidfile,
                d.socket,
                d.env,
                d.limits,
                d.checksum
            ],
        )
    })?;
    Ok(())
}

/// The daemon `name`.
pub fn get(store: &Store, name: &str) -> anyhow::Result<Option<DaemonRow>> {
    let found = store.with_conn(|conn| {
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM daemon WHERE name = ?1"),
            [name],
            row,
        )
        .optional()
    })?;
    Ok(found)
}

/// Every daemon, by name.
pub fn list(store: &Store) -> anyhow::Result<Vec<DaemonRow>> {
    let rows = store.with_conn(|conn| {
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM daemon ORDER BY name"))?;
        let rows = stmt
            .query_map([], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        anyhow::Ok(rows)
    })?;
    Ok(rows)
}

/// Deletes the daemon.
pub fn delete(store: &Store, name: &str) -> anyhow::Result<()> {
    store.with_conn(|conn: &Connection| {
        conn.execute("DELETE FROM daemon WHERE name = ?1", [name])
    })?;
    Ok(())
}
