//! Periodic entries (seed 1.3, `cron.add` / `cron.list` / `cron.remove`): schedules with
//! seconds, the entries kept in `gearman.db`, and the timer that fires them.
//!
//! Layout:
//! - `schedule`: [`Schedule`], parsing and the next fire time (UTC), from the shared
//!   `cronspec` crate (host/cronspec).
//! - `line`: a whole crontab line `<schedule> <user> <command...>`.
//! - `timer`: the one tokio task that sleeps until the earliest fire time.
//!
//! A fire hands the command to [`Tasks::start`] with [`Origin::Cron`]; tasks runs it detached
//! and reports the [`wire::agent::CronRun`] itself. Cron only decides when.
//!
//! Guarantees:
//! - A fire time is used at most once: `last_fire` is written to the database before the run
//!   starts, and the next time is always computed strictly after it.
//! - Fire times missed while the agent was down (or while the machine slept) are not
//!   replayed, as with cron: after a start, each entry next fires at its first time after now.
//!   An entry late by several times fires once.
//! - Times are UTC, so daylight-saving changes neither skip nor repeat fires.

pub mod line;
pub mod schedule;
mod timer;

#[cfg(test)]
mod schedule_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio::sync::Notify;
use wire::CommandResult;
use wire::params::{CronAdd, CronRef, Exec};
use wire::retcode;

use crate::exec::RunSpec;
use crate::store::Store;
use crate::tasks::{Origin, Tasks};

pub use line::{CrontabLine, parse_line};
pub use schedule::Schedule;

/// One entry, as stored plus its next fire time.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    id: String,
    schedule: Schedule,
    user: String,
    group: Option<String>,
    cmd: String,
    /// Seconds before a run is stopped.
    timeout: u64,
    /// Unix seconds when the entry was added.
    created: i64,
    /// The scheduled time (Unix seconds) of the latest fire.
    last_fire: Option<i64>,
    /// The next fire time; `None` when the schedule never fires again.
    next: Option<DateTime<Utc>>,
}

impl Entry {
    /// The command a run of this entry is checked and started from, as `async.bash` would be.
    fn exec(&self) -> Exec {
        Exec {
            cmd: self.cmd.clone(),
            timeout: Some(self.timeout),
            user: Some(self.user.clone()),
            group: self.group.clone(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "cron_id": self.id,
            "schedule": self.schedule.as_str(),
            "user": self.user,
            "group": self.group,
            "cmd": self.cmd,
            "timeout": self.timeout,
            "next": self.next.map(rfc3339),
            "last_fire": self.last_fire.and_then(from_unix).map(rfc3339),
        })
    }
}

/// The cron entries and their timer; one per agent, shared by the method table.
pub struct Cron {
    store: Arc<Store>,
    tasks: Arc<Tasks>,
    /// Entries by id. Fires, adds and removes all happen under this lock, so a removed entry
    /// cannot fire after `cron.remove` answered.
    entries: Mutex<BTreeMap<String, Entry>>,
    /// Wakes the timer when the earliest fire time may have changed (add, remove, drop).
    wake: Arc<Notify>,
}

impl Cron {
    /// Loads the stored entries and starts the timer task (needs a tokio runtime). Stored
    /// entries next fire at their first time after now: times missed while the agent was
    /// down are not replayed. A stored entry whose schedule no longer parses is logged and
    /// skipped (left in the database).
    pub fn start(store: Arc<Store>, tasks: Arc<Tasks>) -> Arc<Cron> {
        let now = Utc::now();
        let entries = match store.with_conn(load) {
            Ok(rows) => rows
                .into_iter()
                .filter_map(|row| row.into_entry(now))
                .map(|entry| (entry.id.clone(), entry))
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "Cannot read the cron entries from gearman.db.");
                BTreeMap::new()
            }
        };
        let cron = Arc::new(Cron {
            store,
            tasks,
            entries: Mutex::new(entries),
            wake: Arc::new(Notify::new()),
        });
        tokio::spawn(timer::run(Arc::downgrade(&cron), cron.wake.clone()));
        cron
    }

    /// `cron.add`: `args` is the schedule and `cmd` the command, or (without `cmd`) `args`
    /// is a whole crontab line `<schedule> <user> <command...>`. `user`, `group` and
    /// `timeout` come from the request as for `async.bash`. Answers
    /// `{"cron_id": "...", "next": "<RFC3339>"}`; a bad schedule, an unknown user or group,
    /// or a schedule that never fires is 3021.
    pub fn add(&self, req: &CronAdd) -> CommandResult {
        let args = req.args.trim();
        let has_cmd = req.cmd.as_deref().is_some_and(|cmd| !cmd.trim().is_empty());
        let exec = |cmd: String, user: Option<String>| Exec {
            cmd,
            timeout: req.timeout,
            user,
            group: req.group.clone(),
        };
        let (schedule, run) = if has_cmd {
            if args.is_empty() {
                return invalid("cron.add needs the schedule in `args`".into());
            }
            match Schedule::parse(args) {
                Ok(schedule) => (
                    schedule,
                    exec(req.cmd.clone().unwrap_or_default(), req.user.clone()),
                ),
                Err(e) => return invalid(e),
            }
        } else {
            if args.is_empty() {
                return invalid(
                    "cron.add needs `args` (the schedule) and `cmd`, or a crontab line in `args`"
                        .into(),
                );
            }
            let line = match parse_line(args) {
                Ok(line) => line,
                Err(e) => return invalid(e),
            };
            if req.user.as_ref().is_some_and(|user| *user != line.user) {
                return invalid(format!(
                    "the crontab line runs as `{}` but `user` is `{}`",
                    line.user,
                    req.user.as_deref().unwrap_or_default()
                ));
            }
            (line.schedule, exec(line.cmd, Some(line.user)))
        };
        let spec = match RunSpec::from_exec(&run) {
            Ok(spec) => spec,
            Err(failed) => return failed.into_result(),
        };
        let now = Utc::now();
        let Some(next) = schedule.next_after(now) else {
            return invalid(format!("schedule `{schedule}` never fires"));
        };
        let entry = Entry {
            id: uuid::Uuid::new_v4().simple().to_string(),
            schedule,
            user: spec.user,
            group: spec.group,
            cmd: spec.cmd,
            timeout: spec.timeout.as_secs(),
            created: now.timestamp(),
            last_fire: None,
            next: Some(next),
        };
        let mut entries = self.lock();
        if let Err(e) = self.store.with_conn(|conn| insert(conn, &entry)) {
            return CommandResult::failed(
                retcode::FAILED,
                format!("Cannot save the cron entry: {e}"),
            );
        }
        let data = json!({ "cron_id": entry.id, "next": rfc3339(next) });
        entries.insert(entry.id.clone(), entry);
        drop(entries);
        self.wake.notify_one();
        CommandResult::success(data)
    }

    /// `cron.list`: every entry as `{cron_id, schedule, user, group, cmd, timeout, next,
    /// last_fire}` (times RFC 3339, `null` when none), oldest first.
    pub fn list(&self) -> CommandResult {
        let entries = self.lock();
        let mut all: Vec<&Entry> = entries.values().collect();
        all.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        CommandResult::success(Value::Array(all.into_iter().map(Entry::to_json).collect()))
    }

    /// `cron.remove`: the entry id in `args`; an unknown id is 3033 "Not found". Once this
    /// answers, the entry no longer fires (a run already started goes on).
    pub fn remove(&self, req: &CronRef) -> CommandResult {
        let id = req.cron_id();
        if id.is_empty() {
            return invalid("cron.remove needs the cron id in `args`".into());
        }
        let mut entries = self.lock();
        if !entries.contains_key(id) {
            return CommandResult::code(retcode::NOT_FOUND);
        }
        let deleted = self
            .store
            .with_conn(|conn| conn.execute("DELETE FROM cron WHERE id = ?1", [id]));
        if let Err(e) = deleted {
            return CommandResult::failed(
                retcode::FAILED,
                format!("Cannot delete the cron entry: {e}"),
            );
        }
        entries.remove(id);
        drop(entries);
        self.wake.notify_one();
        CommandResult::success(json!({ "cron_id": id }))
    }

    /// Fires every entry due at `now` and returns the earliest next fire time.
    fn fire_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut entries = self.lock();
        for fire in timer::take_due(&mut entries, now) {
            let Some(entry) = entries.get(&fire.cron_id) else {
                continue;
            };
            // Written before the run starts: a crash in between loses this run rather than
            // repeating it.
            let saved = self.store.with_conn(|conn| {
                conn.execute(
                    "UPDATE cron SET last_fire = ?1 WHERE id = ?2",
                    rusqlite::params![fire.scheduled, fire.cron_id],
                )
            });
            if let Err(e) = saved {
                tracing::error!(cron_id = %fire.cron_id, error = %e,
                    "Cannot record a cron fire; skipping it so it cannot repeat.");
                continue;
            }
            let origin = Origin::Cron {
                cron_id: fire.cron_id.clone(),
                scheduled: fire.scheduled,
            };
            // The user is checked again: it may have been deleted since `cron.add`.
            let started = match RunSpec::from_exec(&entry.exec()) {
                Ok(spec) => self.tasks.start(spec, origin),
                Err(failed) => Err(failed.into_result()),
            };
            match started {
                Ok(task_id) => tracing::debug!(cron_id = %fire.cron_id, %task_id,
                    scheduled = fire.scheduled, "Cron entry fired."),
                Err(failed) => {
                    tracing::warn!(cron_id = %fire.cron_id, retcode = failed.retcode,
                        error = %failed.message, "Cron entry could not start.");
                    self.report_not_started(&fire.cron_id, fire.scheduled, failed);
                }
            }
        }
        timer::earliest(&entries)
    }

    /// A fire that could not start is a run too: Polaris hears of it like any other.
    fn report_not_started(&self, cron_id: &str, scheduled: i64, result: CommandResult) {
        let now = Utc::now().timestamp_millis() as f64 / 1000.0;
        let run = wire::agent::CronRun {
            cron_id: cron_id.to_string(),
            run_id: uuid::Uuid::new_v4().to_string(),
            scheduled,
            started: now,
            finished: now,
            result,
        };
        if let Err(e) = self
            .store
            .outbox_push(&crate::store::Outgoing::CronRun(run))
        {
            tracing::error!(%cron_id, "cannot report a cron fire that did not start: {e:#}");
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        // A panic while holding the lock leaves the map consistent (each change is one
        // insert/remove/field write), so a poisoned lock is still usable.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Cron {
    fn drop(&mut self) {
        // Lets the timer task see that the entries are gone and end.
        self.wake.notify_one();
    }
}

/// One row of the `cron` table.
struct Row {
    id: String,
    schedule: String,
    user: String,
    group: Option<String>,
    cmd: String,
    timeout: i64,
    created: i64,
    last_fire: Option<i64>,
}

impl Row {
    /// The entry, next firing after `now` (and after its last fire, should the clock have
    /// gone back); `None`, logged, when the stored schedule does not parse.
    fn into_entry(self, now: DateTime<Utc>) -> Option<Entry> {
        let schedule = match Schedule::parse(&self.schedule) {
            Ok(schedule) => schedule,
            Err(e) => {
                tracing::warn!(cron_id = %self.id, error = %e,
                    "Stored cron entry has a bad schedule; it will not fire.");
                return None;
            }
        };
        let after = self
            .last_fire
            .and_then(from_unix)
            .map_or(now, |last| last.max(now));
        Some(Entry {
            next: schedule.next_after(after),
            id: self.id,
            schedule,
            user: self.user,
            group: self.group,
            cmd: self.cmd,
            timeout: u64::try_from(self.timeout).unwrap_or(1).max(1),
            created: self.created,
            last_fire: self.last_fire,
        })
    }
}

fn load(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<Row>> {
    let mut stmt = conn.prepare(
        "SELECT id, schedule, user, grp, cmd, timeout, created, last_fire
         FROM cron ORDER BY created",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Row {
            id: r.get(0)?,
            schedule: r.get(1)?,
            user: r.get(2)?,
            group: r.get(3)?,
            cmd: r.get(4)?,
            timeout: r.get(5)?,
            created: r.get(6)?,
            last_fire: r.get(7)?,
        })
    })?;
    rows.collect()
}

fn insert(conn: &rusqlite::Connection, entry: &Entry) -> rusqlite::Result<usize> {
    conn.execute(
        "INSERT INTO cron (id, schedule, user, grp, cmd, timeout, created, last_fire)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL)",
        rusqlite::params![
            entry.id,
            entry.schedule.as_str(),
            entry.user,
            entry.group,
            entry.cmd,
            i64::try_from(entry.timeout).unwrap_or(i64::MAX),
            entry.created,
        ],
    )
}

fn invalid(why: String) -> CommandResult {
    CommandResult::failed(retcode::INVALID_PARAMS, format!("Invalid params: {why}"))
}

fn from_unix(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
