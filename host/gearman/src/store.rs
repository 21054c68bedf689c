//! `gearman.db`: one SQLite file (WAL, `synchronous=FULL`) behind one mutex, holding the
//! detached tasks, the cron entries (read and written by `cron`), the daemons (by `daemon`)
//! and the outbox of results not yet acknowledged by Polaris. Its schema is versioned:
//! `migrations` brings any older database to the current version when it is opened and
//! refuses one from a newer gearman.
//!
//! `tasks.state` is `running`, `done`, `killed` or `lost`.
//!
//! The outbox is at-least-once: an item gets an increasing `seq` (never reused, even after
//! deletes), is on disk before [`Store::outbox_push`] returns, and is deleted only by
//! [`Store::outbox_ack`]. The link sends [`Store::outbox_pending`] after each (re)connect and
//! whenever [`Store::outbox_changed`] fires.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

pub mod migrations;

/// Something the agent sends to Polaris, kept in the outbox until acknowledged.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Outgoing {
    /// The answer to a request.
    Result(wire::CommandResult),
    /// One finished run of a cron entry.
    CronRun(wire::agent::CronRun),
}

/// One row of `tasks`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TaskRow {
    pub id: String,
    /// `async` or `cron`.
    pub origin: String,
    pub cron_id: Option<String>,
    pub scheduled: Option<i64>,
    pub cmd: String,
    pub user: String,
    pub group: Option<String>,
    /// `running`, `done`, `killed` or `lost`.
    pub state: String,
    /// Unix seconds.
    pub started: f64,
    pub finished: Option<f64>,
    pub pid: Option<i64>,
    pub pid_start: Option<i64>,
    /// The [`wire::CommandResult`] as JSON, once finished.
    pub result: Option<String>,
}

const TASK_COLUMNS: &str = "id, origin, cron_id, scheduled, cmd, user, \"group\", state, started, \
                            finished, pid, pid_start, result";

fn task_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TaskRow> {
    Ok(TaskRow {
        id: row.get(0)?,
        origin: row.get(1)?,
        cron_id: row.get(2)?,
        scheduled: row.get(3)?,
        cmd: row.get(4)?,
        user: row.get(5)?,
        group: row.get(6)?,
        state: row.get(7)?,
        started: row.get(8)?,
        finished: row.get(9)?,
        pid: row.get(10)?,
        pid_start: row.get(11)?,
        result: row.get(12)?,
    })
}

/// The agent's database.
pub struct Store {
    /// One connection: the agent's writes are small and few, and one writer avoids
    /// `SQLITE_BUSY` between its own threads.
    conn: Mutex<Connection>,
    /// Wakes the link when the outbox gains an item.
    changed: Notify,
}

/// Creates the database file `0600` before SQLite opens it (SQLite would make it `0644`, and
/// gives its `-wal` and `-shm` files the database's mode), and narrows an existing database
/// and its `-wal` and `-shm` files to `0600`.
fn make_private(path: &Path) -> anyhow::Result<()> {
    use agentkit::private::{FILE_MODE, narrow};
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)
        .with_context(|| format!("create {} (mode 0600)", path.display()))?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = std::path::PathBuf::from(name);
        narrow(&file, FILE_MODE).with_context(|| format!("chmod 0600 {}", file.display()))?;
    }
    Ok(())
}

impl Store {
    /// Opens (creating if needed, mode 0600) the database at `path`, migrated to
    /// [`migrations::LATEST`]; a database from a newer gearman is refused
    /// ([`migrations::NewerSchema`]).
    pub fn open(path: &Path) -> anyhow::Result<Arc<Store>> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        make_private(path)?;
        let mut conn =
            Connection::open(path).with_context(|| format!("open {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .context("switch gearman.db to WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        migrations::migrate(&mut conn)
            .with_context(|| format!("upgrade the schema of {}", path.display()))?;
        Ok(Arc::new(Store {
            conn: Mutex::new(conn),
            changed: Notify::new(),
        }))
    }

    /// Runs `f` with the connection, holding the store's lock (keep it short).
    pub fn with_conn<R>(&self, f: impl FnOnce(&Connection) -> R) -> R {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn)
    }

    fn with_conn_mut<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }

    /// Appends `item` to the outbox and returns its sequence number; the item is on disk when
    /// this returns. Wakes [`Store::outbox_changed`].
    pub fn outbox_push(&self, item: &Outgoing) -> anyhow::Result<u64> {
        let seq = self.with_conn(|conn| insert_outgoing(conn, item))?;
        self.notify();
        Ok(seq)
    }

    /// Up to `limit` items with `seq > after`, oldest first.
    pub fn outbox_pending(&self, after: u64, limit: usize) -> anyhow::Result<Vec<(u64, Outgoing)>> {
        let rows: Vec<(i64, String)> = self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, item FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![seq_param(after), limit as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            anyhow::Ok(rows)
        })?;
        let mut items = Vec::with_capacity(rows.len());
        for (seq, text) in rows {
            match serde_json::from_str(&text) {
                Ok(item) => items.push((seq as u64, item)),
                // A row this version cannot read would block the outbox forever if kept.
                Err(e) => {
                    tracing::error!(seq, error = %e, "Dropping an unreadable outbox item.");
                    self.outbox_ack(seq as u64)?;
                }
            }
        }
        Ok(items)
    }

    /// Forgets the item `seq` (Polaris stored it). Unknown sequence numbers are ignored.
    pub fn outbox_ack(&self, seq: u64) -> anyhow::Result<()> {
        self.with_conn(|conn| conn.execute("DELETE FROM outbox WHERE seq = ?1", [seq_param(seq)]))?;
        Ok(())
    }

    /// Notified after every push. Both forms fire: waiters present are all woken, and one
    /// permit is stored for a waiter that arrives later, so a push is never missed.
    pub fn outbox_changed(&self) -> &Notify {
        &self.changed
    }

    fn notify(&self) {
        self.changed.notify_waiters();
        self.changed.notify_one();
    }

    /// Inserts a new task row.
    pub(crate) fn task_insert(&self, row: &TaskRow) -> anyhow::Result<()> {
        self.with_conn(|conn| {
            conn.execute(
                &format!("INSERT INTO tasks ({TASK_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
                params![
                    row.id, row.origin, row.cron_id, row.scheduled, row.cmd, row.user, row.group,
                    row.state, row.started, row.finished, row.pid, row.pid_start, row.result
                ],
            )
        })?;
        Ok(())
    }

    /// Records the runner process of a task.
    pub(crate) fn task_set_pid(
        &self,
        id: &str,
        pid: i64,
        pid_start: Option<i64>,
    ) -> anyhow::Result<()> {
        self.with_conn(|conn| {
            conn.execute(
                "UPDATE tasks SET pid = ?2, pid_start = ?3 WHERE id = ?1",
                params![id, pid, pid_start],
            )
        })?;
        Ok(())
    }

    /// Marks a running task finished and, in the same transaction, queues `outgoing`. Returns
    /// false (and queues nothing) when the task was not running any more, so a completion
    /// seen twice is reported once.
    pub(crate) fn task_finish(
        &self,
        id: &str,
        state: &str,
        finished: f64,
        result: &wire::CommandResult,
        outgoing: Option<&Outgoing>,
    ) -> anyhow::Result<bool> {
        let result = serde_json::to_string(result)?;
        let changed = self.with_conn_mut(|conn| {
            let tx = conn.transaction()?;
            let n = tx.execute(
                "UPDATE tasks SET state = ?2, finished = ?3, result = ?4 WHERE id = ?1 AND state = 'running'",
                params![id, state, finished, result],
            )?;
            if n == 1
                && let Some(item) = outgoing
            {
                insert_outgoing(&tx, item)?;
            }
            tx.commit()?;
            anyhow::Ok(n == 1)
        })?;
        if changed && outgoing.is_some() {
            self.notify();
        }
        Ok(changed)
    }

    /// The task `id`.
    pub(crate) fn task_get(&self, id: &str) -> anyhow::Result<Option<TaskRow>> {
        let row = self.with_conn(|conn| {
            conn.query_row(
                &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"),
                [id],
                task_row,
            )
            .optional()
        })?;
        Ok(row)
    }

    /// Tasks, newest first; only running ones when `running_only`.
    pub(crate) fn task_list(&self, running_only: bool) -> anyhow::Result<Vec<TaskRow>> {
        let filter = if running_only {
            "WHERE state = 'running'"
        } else {
            ""
        };
        let rows = self.with_conn(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks {filter} ORDER BY started DESC, id"
            ))?;
            let rows = stmt
                .query_map([], task_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            anyhow::Ok(rows)
        })?;
        Ok(rows)
    }

    /// Deletes the task `id` (a task whose runner could not be started).
    pub(crate) fn task_delete(&self, id: &str) -> anyhow::Result<()> {
        self.with_conn(|conn| conn.execute("DELETE FROM tasks WHERE id = ?1", [id]))?;
        Ok(())
    }

    /// Forgets finished tasks: cron runs finished before `cron_before` (their result is in
    /// the outbox), async tasks finished before `async_before`. Returns how many went.
    pub(crate) fn task_prune(&self, cron_before: f64, async_before: f64) -> anyhow::Result<usize> {
        let n = self.with_conn(|conn| {
            conn.execute(
                "DELETE FROM tasks WHERE state <> 'running' AND \
                 ((origin = 'cron' AND finished < ?1) OR (origin = 'async' AND finished < ?2))",
                params![cron_before, async_before],
            )
        })?;
        Ok(n)
    }
}

fn insert_outgoing(conn: &Connection, item: &Outgoing) -> anyhow::Result<u64> {
    let text = serde_json::to_string(item)?;
    conn.execute(
        "INSERT INTO outbox (item, created) VALUES (?1, ?2)",
        params![text, now_secs()],
    )?;
    Ok(conn.last_insert_rowid() as u64)
}

fn seq_param(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Unix time in seconds with milliseconds.
pub(crate) fn now_secs() -> f64 {
    let ms = chrono::Utc::now().timestamp_millis();
    ms as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::CommandResult;

    fn result(n: u32) -> Outgoing {
        Outgoing::Result(CommandResult::success(serde_json::json!(n)).with_id(format!("r{n}")))
    }

    #[test]
    fn outbox_survives_reopen_and_keeps_order_until_acked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gearman.db");
        let store = Store::open(&path).unwrap();
        let seqs: Vec<u64> = (1..=3)
            .map(|n| store.outbox_push(&result(n)).unwrap())
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        store.outbox_ack(seqs[0]).unwrap();
        drop(store);

        let store = Store::open(&path).unwrap();
        let pending = store.outbox_pending(0, 10).unwrap();
        assert_eq!(pending, vec![(seqs[1], result(2)), (seqs[2], result(3))]);
        assert_eq!(
            store.outbox_pending(seqs[1], 10).unwrap(),
            vec![(seqs[2], result(3))]
        );
        assert_eq!(store.outbox_pending(0, 1).unwrap().len(), 1);
        // Sequence numbers are never reused, even after the newest item is acknowledged.
        store.outbox_ack(seqs[2]).unwrap();
        assert!(store.outbox_push(&result(4)).unwrap() > seqs[2]);
    }

    #[test]
    fn the_database_and_its_wal_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gearman.db");
        let store = Store::open(&path).unwrap();
        store.outbox_push(&result(1)).unwrap();
        assert_eq!(mode(&path), 0o600);
        for suffix in ["-wal", "-shm"] {
            let file = dir.path().join(format!("gearman.db{suffix}"));
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        drop(store);
        // A database an older gearman left 0644 is narrowed when it is opened again.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let _store = Store::open(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[tokio::test]
    async fn a_push_wakes_a_waiter_that_arrives_later() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("gearman.db")).unwrap();
        store.outbox_push(&result(1)).unwrap();
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            store.outbox_changed().notified(),
        )
        .await
        .expect("the push was remembered");
    }
}
