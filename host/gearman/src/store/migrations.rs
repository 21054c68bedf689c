//! The versions of `gearman.db`'s schema: an ordered list of migrations, the version reached
//! kept in SQLite's `PRAGMA user_version` (0 in a database no migration has touched, which is
//! what every gearman before versioning left). Each migration runs in one transaction with the
//! version bump, so a crash leaves the database at the old or the new version. A database at
//! a version newer than this gearman knows is refused with [`NewerSchema`], never misread.
//!
//! The SQL of a released migration never changes: a new schema is a new entry at the end.

use rusqlite::{Connection, Transaction};

/// One step from version `index` to `index + 1`.
struct Migration {
    /// What it does, for the log.
    what: &'static str,
    apply: fn(&Transaction<'_>) -> rusqlite::Result<()>,
}

/// Every migration, oldest first; the schema version is the number applied.
const MIGRATIONS: &[Migration] = &[
    Migration {
        what: "the schema of release 0.1 (tasks, outbox, cron, daemon, daemon_run)",
        apply: release_0_1,
    },
    Migration {
        what: "drop daemon_run (a write-only mirror of the engine's run state)",
        apply: |tx| tx.execute_batch("DROP TABLE IF EXISTS daemon_run;"),
    },
];

/// The schema version this gearman writes.
pub const LATEST: u32 = MIGRATIONS.len() as u32;

/// The database was written by a newer gearman.
#[derive(Debug, thiserror::Error)]
#[error(
    "gearman.db is at schema version {found}, newer than the {LATEST} this gearman {ours} knows: \
     it was written by a newer gearman; refusing to open it rather than misread it \
     (run the newer gearman, or move the file away to start afresh)"
)]
pub struct NewerSchema {
    /// The database's `user_version`.
    pub found: u32,
    /// This gearman's version.
    pub ours: &'static str,
}

/// The schema version of `conn` (`PRAGMA user_version`).
pub fn version(conn: &Connection) -> rusqlite::Result<u32> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(u32::try_from(v).unwrap_or(u32::MAX))
}

/// Brings `conn` to [`LATEST`], one transaction per migration; returns the version found.
pub fn migrate(conn: &mut Connection) -> anyhow::Result<u32> {
    let found = version(conn)?;
    if found > LATEST {
        return Err(NewerSchema {
            found,
            ours: env!("CARGO_PKG_VERSION"),
        }
        .into());
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let to = index as u32 + 1;
        let tx = conn.transaction()?;
        (migration.apply)(&tx)
            .map_err(|e| anyhow::anyhow!("migration to schema {to} ({}): {e}", migration.what))?;
        tx.pragma_update(None, "user_version", to)?;
        tx.commit()?;
        tracing::info!(version = to, what = migration.what, "gearman.db migrated.");
    }
    Ok(found)
}

/// Version 1: the tables exactly as release 0.1 created them (`IF NOT EXISTS`, so a 0.1
/// database is taken as it is), plus the `checksum` column an earlier 0.1 build added later.
fn release_0_1(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "
CREATE TABLE IF NOT EXISTS tasks (
    id        TEXT PRIMARY KEY NOT NULL,
    origin    TEXT NOT NULL,
    cron_id   TEXT,
    scheduled INTEGER,
    cmd       TEXT NOT NULL,
    user      TEXT NOT NULL,
    \"group\" TEXT,
    state     TEXT NOT NULL,
    started   REAL NOT NULL,
    finished  REAL,
    pid       INTEGER,
    pid_start INTEGER,
    result    TEXT
);
CREATE INDEX IF NOT EXISTS tasks_state ON tasks(state);
CREATE TABLE IF NOT EXISTS outbox (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    item    TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cron (
    id TEXT PRIMARY KEY NOT NULL,
    schedule TEXT NOT NULL,
    user TEXT NOT NULL,
    grp TEXT,
    cmd TEXT NOT NULL,
    timeout INTEGER NOT NULL,
    created INTEGER NOT NULL,
    last_fire INTEGER
);
CREATE TABLE IF NOT EXISTS daemon (
    name             CHAR(64) PRIMARY KEY NOT NULL,
    version          CHAR(64) NOT NULL,
    url              CHAR(512) NOT NULL,
    precheck         CHAR(512),
    precheck_retries INT,
    start            CHAR(512) NOT NULL,
    start_delay      INT,
    stop             CHAR(512) NOT NULL,
    stop_timeout     INT,
    \"check\"        CHAR(64),
    check_interval   INT,
    user             CHAR(64),
    \"group\"        CHAR(64),
    pidfile          CHAR(512),
    socket           CHAR(512),
    env              TEXT,
    limits           TEXT,
    gmt_modify       NOT NULL DEFAULT CURRENT_TIMESTAMP,
    gmt_create       NOT NULL DEFAULT CURRENT_TIMESTAMP,
    checksum         CHAR(80)
);
CREATE TABLE IF NOT EXISTS daemon_run (
    name      TEXT PRIMARY KEY NOT NULL,
    wanted    TEXT NOT NULL,
    version   TEXT,
    dir       TEXT,
    state     TEXT,
    pid       INTEGER,
    pid_start INTEGER,
    updated   REAL NOT NULL
);
",
    )?;
    let has_checksum = tx
        .prepare("SELECT 1 FROM pragma_table_info('daemon') WHERE name = 'checksum'")?
        .exists([])?;
    if !has_checksum {
        tx.execute_batch("ALTER TABLE daemon ADD COLUMN checksum CHAR(80)")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_database_gets_every_migration_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 0);
        assert_eq!(version(&conn).unwrap(), LATEST);
        assert_eq!(
            migrate(&mut conn).unwrap(),
            LATEST,
            "a second run finds it current"
        );
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            tables,
            ["cron", "daemon", "outbox", "sqlite_sequence", "tasks"]
        );
    }

    #[test]
    fn a_daemon_table_from_before_the_checksum_gets_the_column() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE daemon (name CHAR(64) PRIMARY KEY NOT NULL, version CHAR(64) NOT NULL,
             url CHAR(512) NOT NULL, start CHAR(512) NOT NULL, stop CHAR(512) NOT NULL);
             INSERT INTO daemon VALUES ('old', '1', 'file:///x', './run', 'kill:TERM');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let (name, checksum): (String, Option<String>) = conn
            .query_row("SELECT name, checksum FROM daemon", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((name.as_str(), checksum), ("old", None));
    }
}
