//! Detached runs (`async.bash` and cron runs) that outlive a killed agent.
//!
//! Each task gets a directory `<state_dir>/tasks/<id>/` and a row in `gearman.db`. The agent
//! starts itself as `gearman __run-task <dir>` ([`shim_main`]) in a new session (`setsid`), so
//! the runner and its command survive `kill -9` of the agent. The runner records its pid and
//! start time, runs the command with [`crate::exec::run_with`], and leaves `result.json`
//! (written atomically); see `shim.rs` for the files.
//!
//! Collection (at most once per task, guarded by the row's `running` state in one
//! transaction with the outbox insert): the agent waits on the runners it started; at
//! [`Tasks::open`] and every second it looks at the tasks it adopted from an earlier agent.
//! A finished task is `done` (or `killed` after [`Tasks::kill`]); a runner that is gone (pid
//! dead, or reused: start time differs) without `result.json` makes the task `lost` with a
//! 3023 result saying so, and whatever is left in its session is killed. A cron run's outcome
//! goes to the outbox as a [`wire::agent::CronRun`] whatever the state.
//!
//! Finished async tasks stay queryable for 7 days, finished cron runs (already in the outbox)
//! for an hour; the task directory is deleted once its outcome is in the database.

mod proc;
mod shim;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};
use tokio::runtime::Handle;
use wire::agent::CronRun;
use wire::{CommandResult, retcode};

use crate::exec::RunSpec;
use crate::store::{Outgoing, Store, TaskRow, now_secs};
pub use shim::shim_main;
use shim::{KILL_FILE, LOG_FILE, Outcome, RESULT_FILE, RUNNER_FILE, RunnerId, SPEC_FILE, TaskSpec};

/// How often adopted tasks are checked for completion.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Sweeps between two prunes of old finished tasks.
const PRUNE_EVERY_SWEEPS: u64 = 60;
/// How long a finished cron run stays in `tasks` (its outcome is in the outbox).
const KEEP_CRON_RUNS_SECS: f64 = 3600.0;
/// How long a finished async task stays queryable.
const KEEP_ASYNC_SECS: f64 = 7.0 * 86_400.0;
/// After `kill_grace` plus this, a runner that has not stopped its command is killed with its
/// whole session.
const KILL_BACKSTOP: Duration = Duration::from_secs(2);

/// Who started a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `async.bash`.
    Async,
    /// A run of a cron entry, fired for `scheduled` (Unix seconds).
    Cron {
        /// The entry's id.
        cron_id: String,
        /// The scheduled fire time, Unix seconds.
        scheduled: i64,
    },
}

/// The detached tasks of one agent.
pub struct Tasks {
    store: Arc<Store>,
    /// `<state_dir>/tasks`.
    dir: PathBuf,
    /// The gearman executable started as the runner.
    exe: PathBuf,
    kill_grace: Duration,
    runtime: Handle,
    /// Tasks whose runner is a child of this process (or is being started): their waiter
    /// collects them, so the sweep leaves them alone.
    live: Mutex<HashSet<String>>,
    /// For the waiters and timers this spawns (they end when the agent drops `Tasks`).
    me: Weak<Tasks>,
}

impl Tasks {
    /// Opens the tasks of `state_dir`, collects those that ended while no agent ran, adopts
    /// the ones still running and starts the periodic sweep. Needs a tokio runtime.
    pub fn open(
        store: Arc<Store>,
        state_dir: &Path,
        exe: PathBuf,
        kill_grace: Duration,
    ) -> anyhow::Result<Arc<Tasks>> {
        let runtime = Handle::try_current().context("Tasks::open needs a tokio runtime")?;
        let dir = state_dir.join("tasks");
        agentkit::private::private_dir(&dir)
            .with_context(|| format!("create {} (mode 0700)", dir.display()))?;
        let tasks = Arc::new_cyclic(|me| Tasks {
            store,
            dir,
            exe,
            kill_grace,
            runtime: runtime.clone(),
            live: Mutex::new(HashSet::new()),
            me: me.clone(),
        });
        tasks.sweep();
        tasks.prune();
        let weak = Arc::downgrade(&tasks);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            let mut sweeps = 0u64;
            loop {
                tick.tick().await;
                let Some(tasks) = weak.upgrade() else { break };
                sweeps += 1;
                let prune = sweeps.is_multiple_of(PRUNE_EVERY_SWEEPS);
                let _ = tokio::task::spawn_blocking(move || {
                    tasks.sweep();
                    if prune {
                        tasks.prune();
                    }
                })
                .await;
            }
        });
        Ok(tasks)
    }

    /// Starts `spec` detached and returns the task id at once. Fails with 3028 when the runner
    /// cannot be started, 3023 when the task cannot be recorded.
    #[allow(
        clippy::result_large_err,
        reason = "the failure is the result object the caller answers with; failures are rare"
    )]
    pub fn start(&self, spec: RunSpec, origin: Origin) -> Result<String, CommandResult> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        // Live before its directory exists, so a concurrent prune never deletes it.
        self.set_live(&id, true);
        let dir = self.dir.join(&id);
        let task = TaskSpec {
            id: id.clone(),
            spec: spec.clone(),
            kill_grace: self.kill_grace,
        };
        let prepared = std::os::unix::fs::DirBuilderExt::mode(&mut fs::DirBuilder::new(), 0o700)
            .create(&dir)
            .with_context(|| format!("create {}", dir.display()))
            .and_then(|()| shim::write_json(&dir, SPEC_FILE, &task));
        if let Err(e) = prepared {
            self.set_live(&id, false);
            let _ = fs::remove_dir_all(&dir);
            return Err(CommandResult::failed(
                retcode::FAILED,
                format!("Failed: cannot prepare the task: {e:#}"),
            ));
        }
        let (origin_name, cron_id, scheduled) = match &origin {
            Origin::Async => ("async", None, None),
            Origin::Cron { cron_id, scheduled } => {
                ("cron", Some(cron_id.clone()), Some(*scheduled))
            }
        };
        let row = TaskRow {
            id: id.clone(),
            origin: origin_name.into(),
            cron_id,
            scheduled,
            cmd: spec.cmd.clone(),
            user: spec.user.clone(),
            group: spec.group.clone(),
            state: "running".into(),
            started: now_secs(),
            finished: None,
            pid: None,
            pid_start: None,
            result: None,
        };
        if let Err(e) = self.store.task_insert(&row) {
            self.set_live(&id, false);
            let _ = fs::remove_dir_all(&dir);
            return Err(CommandResult::failed(
                retcode::FAILED,
                format!("Failed: cannot record the task: {e:#}"),
            ));
        }
        let mut child = match self.spawn_runner(&dir) {
            Ok(child) => child,
            Err(e) => {
                self.set_live(&id, false);
                let _ = self.store.task_delete(&id);
                let _ = fs::remove_dir_all(&dir);
                return Err(CommandResult::failed(
                    retcode::NOT_STARTED,
                    format!(
                        "Could not start the task runner {}: {e}",
                        self.exe.display()
                    ),
                ));
            }
        };
        if let Some(pid) = child.id() {
            let pid = pid as i32;
            if let Err(e) = self
                .store
                .task_set_pid(&id, pid.into(), proc::start_time(pid))
            {
                // runner.json still names the runner for an agent that adopts it.
                tracing::warn!(task = %id, error = %e, "Cannot record a task's runner.");
            }
        }
        let me = self.me.clone();
        let waited = id.clone();
        self.runtime.spawn(async move {
            let _ = child.wait().await;
            if let Some(tasks) = me.upgrade() {
                tasks.set_live(&waited, false);
                tasks.collect(&waited);
            }
        });
        Ok(id)
    }

    fn spawn_runner(&self, dir: &Path) -> std::io::Result<tokio::process::Child> {
        let log = agentkit::private::create_private(&dir.join(LOG_FILE))?;
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.arg("__run-task")
            .arg(dir)
            .current_dir("/")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log);
        // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let _runtime = self.runtime.enter();
        cmd.spawn()
    }

    /// The task `id` as JSON: `{task_id, state, origin, cmd, user, pid, started, finished,
    /// result}` (`state` is `running`, `done`, `killed` or `lost`; times in Unix seconds).
    pub fn query(&self, id: &str) -> Option<Value> {
        match self.store.task_get(id) {
            Ok(row) => row.map(|row| view(&row, true)),
            Err(e) => {
                tracing::error!(task = %id, error = %e, "Cannot read a task.");
                None
            }
        }
    }

    /// Every task, newest first, as in [`Tasks::query`] but without the output.
    pub fn list(&self) -> Value {
        match self.store.task_list(false) {
            Ok(rows) => Value::Array(rows.iter().map(|r| view(r, false)).collect()),
            Err(e) => {
                tracing::error!(error = %e, "Cannot list tasks.");
                Value::Array(Vec::new())
            }
        }
    }

    /// Stops a running task: TERM to the runner, which sends TERM and, `kill_grace` later,
    /// KILL to the command's process group; if the runner has not finished after a further
    /// 2 s, its whole session is killed. The task ends in state `killed`. Unknown id: 3033;
    /// a task that already ended: 3023.
    #[allow(
        clippy::result_large_err,
        reason = "the failure is the result object the caller answers with; failures are rare"
    )]
    pub fn kill(&self, id: &str) -> Result<(), CommandResult> {
        let row = match self.store.task_get(id) {
            Ok(Some(row)) => row,
            Ok(None) => {
                return Err(CommandResult::failed(
                    retcode::NOT_FOUND,
                    format!("Not found: no task `{id}`"),
                ));
            }
            Err(e) => {
                return Err(CommandResult::failed(
                    retcode::FAILED,
                    format!("Failed: cannot read task `{id}`: {e:#}"),
                ));
            }
        };
        if row.state != "running" {
            return Err(CommandResult::failed(
                retcode::FAILED,
                format!("Failed: task `{id}` is not running (it is {})", row.state),
            ));
        }
        let dir = self.dir.join(id);
        if let Err(e) = agentkit::private::create_private(&dir.join(KILL_FILE)) {
            return Err(CommandResult::failed(
                retcode::FAILED,
                format!("Failed: cannot mark task `{id}` killed: {e}"),
            ));
        }
        match runner_of(&row, &dir) {
            Some(runner) if proc::is_alive(runner.pid, runner.start) => {
                // SAFETY: kill(2) on the runner, identified by pid and start time.
                unsafe {
                    libc::kill(runner.pid, libc::SIGTERM);
                }
                let deadline = self.kill_grace + KILL_BACKSTOP;
                self.runtime.spawn(async move {
                    tokio::time::sleep(deadline).await;
                    if proc::is_alive(runner.pid, runner.start) {
                        proc::signal_session(runner.pid, runner.start, libc::SIGKILL);
                    }
                });
            }
            _ if !self.is_live(id) => self.collect(id),
            _ => {}
        }
        Ok(())
    }

    fn set_live(&self, id: &str, live: bool) {
        let mut set = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if live {
            set.insert(id.to_string());
        } else {
            set.remove(id);
        }
    }

    fn is_live(&self, id: &str) -> bool {
        let set = self.live.lock().unwrap_or_else(|p| p.into_inner());
        set.contains(id)
    }

    /// Collects every running task that is not a child of this process and has ended.
    fn sweep(&self) {
        let rows = match self.store.task_list(true) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "Cannot list running tasks.");
                return;
            }
        };
        for row in rows {
            if !self.is_live(&row.id) {
                self.collect(&row.id);
            }
        }
    }

    /// Forgets old finished tasks and deletes directories no running task owns.
    fn prune(&self) {
        let now = now_secs();
        if let Err(e) = self
            .store
            .task_prune(now - KEEP_CRON_RUNS_SECS, now - KEEP_ASYNC_SECS)
        {
            tracing::warn!(error = %e, "Cannot prune old tasks.");
        }
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            let running =
                matches!(self.store.task_get(&id), Ok(Some(row)) if row.state == "running");
            if !running && !self.is_live(&id) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }

    fn collect(&self, id: &str) {
        if let Err(e) = self.try_collect(id) {
            tracing::error!(task = %id, error = %format!("{e:#}"), "Cannot collect a task.");
        }
    }

    /// Records the task's outcome if it has ended (see the module documentation).
    fn try_collect(&self, id: &str) -> anyhow::Result<()> {
        let Some(row) = self.store.task_get(id)? else {
            return Ok(());
        };
        if row.state != "running" {
            return Ok(());
        }
        let dir = self.dir.join(id);
        let runner = runner_of(&row, &dir);
        if runner.is_some_and(|r| proc::is_alive(r.pid, r.start)) {
            return Ok(());
        }
        let killed = dir.join(KILL_FILE).exists();
        let outcome: Option<Outcome> = shim::read_json(&dir, RESULT_FILE).unwrap_or_else(|e| {
            tracing::warn!(task = %id, error = %format!("{e:#}"), "Unreadable task result.");
            None
        });
        let (state, result, started, finished) = match outcome {
            Some(outcome) => {
                let mut result = outcome.result;
                let stopped = killed && result.retcode != retcode::NORMAL_TERMINATION;
                if stopped && result.retcode == retcode::KILLED_BY_SIGNAL {
                    result.message = "Killed by task.kill".into();
                }
                let state = if stopped { "killed" } else { "done" };
                (state, result, outcome.started, outcome.finished)
            }
            None => {
                let left = runner
                    .map(|r| proc::signal_session(r.pid, r.start, libc::SIGKILL))
                    .unwrap_or(0);
                let (state, result) = if killed {
                    (
                        "killed",
                        CommandResult::failed(retcode::KILLED_BY_SIGNAL, "Killed by task.kill"),
                    )
                } else {
                    let pid = runner
                        .map(|r| format!(" (pid {})", r.pid))
                        .unwrap_or_default();
                    let left = if left > 0 {
                        format!("; {left} process(es) it left were killed")
                    } else {
                        String::new()
                    };
                    let message = format!(
                        "Failed: task lost: its runner{pid} ended without a result (killed or crashed){left}"
                    );
                    ("lost", CommandResult::failed(retcode::FAILED, message))
                };
                (state, result, row.started, now_secs())
            }
        };
        let outgoing = match (&row.cron_id, row.scheduled) {
            (Some(cron_id), Some(scheduled)) if row.origin == "cron" => {
                Some(Outgoing::CronRun(CronRun {
                    cron_id: cron_id.clone(),
                    run_id: row.id.clone(),
                    scheduled,
                    started,
                    finished,
                    result: result.clone(),
                }))
            }
            _ => None,
        };
        self.store
            .task_finish(id, state, finished, &result, outgoing.as_ref())?;
        if let Err(e) = fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(task = %id, error = %e, "Cannot remove a task directory.");
        }
        Ok(())
    }
}

/// The runner of a task: from the row, else from the runner's own `runner.json`.
fn runner_of(row: &TaskRow, dir: &Path) -> Option<RunnerId> {
    match row.pid {
        Some(pid) => Some(RunnerId {
            pid: pid as i32,
            start: row.pid_start,
        }),
        None => shim::read_json(dir, RUNNER_FILE).ok().flatten(),
    }
}

/// The JSON view of a task; `data` (the output) only `with_output`.
fn view(row: &TaskRow, with_output: bool) -> Value {
    let mut result: Option<Value> = row
        .result
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok());
    if !with_output && let Some(Value::Object(fields)) = result.as_mut() {
        fields.remove("data");
    }
    let mut doc = json!({
        "task_id": row.id,
        "state": row.state,
        "origin": row.origin,
        "cmd": row.cmd,
        "user": row.user,
        "started": row.started,
        "finished": row.finished,
        "result": result,
    });
    if let Value::Object(fields) = &mut doc {
        if let Some(group) = &row.group {
            fields.insert("group".into(), json!(group));
        }
        if let Some(pid) = row.pid {
            fields.insert("pid".into(), json!(pid));
        }
        if let Some(cron_id) = &row.cron_id {
            fields.insert("cron_id".into(), json!(cron_id));
            fields.insert("scheduled".into(), json!(row.scheduled));
        }
    }
    doc
}

/// Whether a task view says the task has ended.
pub(crate) fn view_is_finished(view: &Value) -> bool {
    view.get("state").and_then(Value::as_str) != Some("running")
}

#[cfg(test)]
pub(crate) mod tests;
