//! Detached runs (`async.bash` and cron runs) that outlive a killed agent, on the one process
//! engine, `supervise`, as one-shot programs ([`supervise::Kind::Once`]: run once, never
//! restarted, adopted by pid and start time after a restart, the same path as `daemon.*`).
//!
//! Each task gets a row in `gearman.db` and a directory `<state_dir>/tasks/<id>/`. The program
//! the engine starts for it, detached in its own session, is `gearman __run-task <dir>`
//! ([`shim_main`]): it runs the command through [`crate::exec::run_with`] (user, group,
//! timeout, output cap, as `sync.bash`) and leaves `result.json`. Something outside gearman
//! must hold the output and exit status while gearman is down (only a parent sees an exit),
//! and that is all the runner does; its lifecycle is the engine's, whose run state is in
//! `<state_dir>/tasks/.supervise/task-<id>.json`.
//!
//! Collection (at most once per task, guarded by the row's `running` state in one
//! transaction with the outbox insert): one watcher per running task waits for the engine's
//! [`State::Finished`]; at [`Tasks::open`] the engine's `recover` adopts the runners an
//! earlier agent left (and a task started by release 0.1's runner is adopted from its row).
//! A finished task is `done` (or `killed` after [`Tasks::kill`]); a runner that ended without
//! `result.json` makes the task `lost` with a 3023 result saying so (what it left in its
//! session is killed by the engine). A cron run's outcome goes to the outbox as a
//! [`wire::agent::CronRun`] whatever the state.
//!
//! Finished async tasks stay queryable for 7 days, finished cron runs (already in the outbox)
//! for an hour; the task directory is deleted once its outcome is in the database.

mod shim;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};
use supervise::{Kind, LimitMode, Options, ProgramSpec, State, Status, StopSpec, Supervisor};
use tokio::runtime::Handle;
use wire::agent::CronRun;
use wire::{CommandResult, retcode};

use crate::exec::RunSpec;
use crate::store::{Outgoing, Store, TaskRow, now_secs};
pub use shim::shim_main;
use shim::{KILL_FILE, LOG_FILE, Outcome, RESULT_FILE, RUNNER_FILE, RunnerId, SPEC_FILE, TaskSpec};

/// How often old finished tasks are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How long a finished cron run stays in `tasks` (its outcome is in the outbox).
const KEEP_CRON_RUNS_SECS: f64 = 3600.0;
/// How long a finished async task stays queryable.
const KEEP_ASYNC_SECS: f64 = 7.0 * 86_400.0;
/// After `kill_grace` plus this, a runner that has not stopped its command is killed with its
/// whole process group (the engine's `stop_timeout`), and its session's leftovers with it.
const KILL_BACKSTOP: Duration = Duration::from_secs(2);
/// The engine's run-state folder inside `<state_dir>/tasks` (a dot name: never a task id).
const ENGINE_DIR: &str = ".supervise";

/// The engine's name of the runner of task `id`.
fn program_name(id: &str) -> String {
    format!("task-{id}")
}

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
    /// The process engine: one one-shot program per running task.
    engine: Supervisor,
    /// For the watchers this spawns (they end when the agent drops `Tasks`).
    me: Weak<Tasks>,
}

impl Tasks {
    /// Opens the tasks of `state_dir`: the engine adopts the runners an earlier agent left,
    /// tasks that ended while no agent ran are collected, and every running one is watched.
    /// Needs a tokio runtime.
    pub fn open(
        store: Arc<Store>,
        state_dir: &Path,
        exe: PathBuf,
        kill_grace: Duration,
    ) -> anyhow::Result<Arc<Tasks>> {
        let runtime = Handle::try_current().context("Tasks::open needs a tokio runtime")?;
        // The engine starts the runner through `/bin/sh -c`, where `/proc/self` would be the
        // shell: name this process instead (still the running image after an upgrade).
        let exe = match exe.strip_prefix("/proc/self") {
            Ok(rest) => Path::new("/proc")
                .join(std::process::id().to_string())
                .join(rest),
            Err(_) => exe,
        };
        let dir = state_dir.join("tasks");
        agentkit::private::private_dir(&dir)
            .with_context(|| format!("create {} (mode 0700)", dir.display()))?;
        let mut options = Options::new(&dir.join(ENGINE_DIR));
        // Tasks have no limits: no cgroup folder is made for them.
        options.limits = LimitMode::Sampler;
        let tasks = Arc::new_cyclic(|me| Tasks {
            store,
            dir,
            exe,
            kill_grace,
            runtime: runtime.clone(),
            engine: Supervisor::with_options(options),
            me: me.clone(),
        });
        tasks.resume();
        tasks.prune();
        let weak = Arc::downgrade(&tasks);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(PRUNE_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(tasks) = weak.upgrade() else { break };
                let _ = tokio::task::spawn_blocking(move || tasks.prune()).await;
            }
        });
        Ok(tasks)
    }

    /// Adopts and watches what an earlier agent left: the engine's own run states first, then
    /// running rows the engine has no record of (release 0.1 started its runners itself; its
    /// row or `runner.json` names the runner by pid and start time).
    fn resume(&self) {
        let recovered = self.engine.recover();
        let running = match self.store.task_list(true) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "Cannot list running tasks.");
                return;
            }
        };
        for row in &running {
            let name = program_name(&row.id);
            if self.engine.status(&name).is_none()
                && let Some(RunnerId {
                    pid,
                    start: Some(start),
                }) = runner_of(row, &self.dir.join(&row.id))
                && let (Ok(pid), Ok(start)) = (u32::try_from(pid), u64::try_from(start))
            {
                let status = self.engine.adopt(self.program(&row.id), pid, start);
                tracing::info!(task = %row.id, pid, state = status.state.as_str(),
                    "Task of an earlier gearman taken over by the engine.");
            }
            match self.engine.status(&name) {
                // Ended while no agent ran (or never known to the engine): collected now, so
                // the answers after a restart already show it.
                None => self.collect(&row.id, None),
                Some(status) if status.state == State::Finished => {
                    self.collect(&row.id, Some(&status));
                    let _ = self.engine.forget(&name);
                }
                Some(_) => self.watch(row.id.clone()),
            }
        }
        // Runners whose outcome is already recorded (the agent stopped before forgetting them).
        for status in recovered {
            let id = status.name.trim_start_matches("task-");
            if !running.iter().any(|r| r.id == id) && !status.state.is_active() {
                let _ = self.engine.forget(&status.name);
            }
        }
    }

    /// The engine's program for task `id`: the runner, once, stopped by SIGTERM (it stops the
    /// command: TERM, then KILL after `kill_grace`), killed with its group after
    /// `kill_grace` + 2 s.
    fn program(&self, id: &str) -> ProgramSpec {
        let dir = self.dir.join(id);
        let mut spec = ProgramSpec::new(
            program_name(id),
            format!(
                "exec {} __run-task {}",
                shell_quote(&self.exe),
                shell_quote(&dir)
            ),
        );
        spec.kind = Kind::Once;
        spec.stop = StopSpec::Kill(libc::SIGTERM);
        spec.stop_timeout = self.kill_grace + KILL_BACKSTOP;
        spec.start_delay = Duration::ZERO;
        spec.check_interval = Duration::ZERO;
        spec.max_retries = 0;
        spec.workdir = Some(PathBuf::from("/"));
        spec.log = Some(dir.join(LOG_FILE));
        // The command sees gearman's PATH, as a `sync.bash` command does.
        if let Ok(path) = std::env::var("PATH") {
            spec.env.insert("PATH".into(), path);
        }
        spec
    }

    /// Starts `spec` detached and returns the task id at once. Fails with 3028 when the runner
    /// cannot be started, 3023 when the task cannot be recorded.
    #[allow(
        clippy::result_large_err,
        reason = "the failure is the result object the caller answers with; failures are rare"
    )]
    pub fn start(&self, spec: RunSpec, origin: Origin) -> Result<String, CommandResult> {
        if !is_executable(&self.exe) {
            return Err(CommandResult::failed(
                retcode::NOT_STARTED,
                format!(
                    "Could not start the task runner {}: not an executable file",
                    self.exe.display()
                ),
            ));
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = self.dir.join(&id);
        let task = TaskSpec {
            id: id.clone(),
            spec: spec.clone(),
            kill_grace: self.kill_grace,
        };
        let prepared = std::os::unix::fs::DirBuilderExt::mode(&mut fs::DirBuilder::new(), 0o700)
            .create(&dir)
            .with_context(|| format!("create {}", dir.display()))
            .and_then(|()| shim::write_json(&dir, SPEC_FILE, &task))
            .and_then(|()| {
                // Created here, private, before the engine appends the runner's errors to it.
                agentkit::private::create_private(&dir.join(LOG_FILE))
                    .map(drop)
                    .context("create the runner's log")
            });
        if let Err(e) = prepared {
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
            let _ = fs::remove_dir_all(&dir);
            return Err(CommandResult::failed(
                retcode::FAILED,
                format!("Failed: cannot record the task: {e:#}"),
            ));
        }
        let launched = {
            let _runtime = self.runtime.enter();
            self.engine.launch(self.program(&id))
        };
        match launched {
            Ok(Status {
                pid: Some(pid),
                start_time,
                ..
            }) => {
                let start = start_time.and_then(|t| i64::try_from(t).ok());
                if let Err(e) = self.store.task_set_pid(&id, pid.into(), start) {
                    // The engine's run state still names the runner for an adopting agent.
                    tracing::warn!(task = %id, error = %e, "Cannot record a task's runner.");
                }
            }
            failed => {
                let why = match failed {
                    Ok(status) => status.last_error.unwrap_or_default(),
                    Err(e) => e.to_string(),
                };
                let _ = self.engine.forget(&program_name(&id));
                let _ = self.store.task_delete(&id);
                let _ = fs::remove_dir_all(&dir);
                return Err(CommandResult::failed(
                    retcode::NOT_STARTED,
                    format!(
                        "Could not start the task runner {}: {why}",
                        self.exe.display()
                    ),
                ));
            }
        }
        self.watch(id.clone());
        Ok(id)
    }

    /// Watches task `id` until the engine says its runner finished, then collects the task
    /// and forgets the runner.
    fn watch(&self, id: String) {
        let name = program_name(&id);
        let status = self.engine.watch(&name);
        let me = self.me.clone();
        self.runtime.spawn(async move {
            if let Some(mut status) = status
                && status
                    .wait_for(|s| s.state == State::Finished)
                    .await
                    .is_err()
            {
                // The engine went away with the agent: the next agent adopts the runner.
                return;
            }
            let Some(tasks) = me.upgrade() else { return };
            let _ = tokio::task::spawn_blocking(move || {
                let status = tasks.engine.status(&name);
                tasks.collect(&id, status.as_ref());
                if status.is_some()
                    && let Err(e) = tasks.engine.forget(&name)
                {
                    tracing::warn!(task = %id, error = %e, "Cannot forget a task's runner.");
                }
            })
            .await;
        });
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

    /// Stops a running task: the engine stops its runner (SIGTERM, on which the runner sends
    /// TERM and, `kill_grace` later, KILL to the command's process group; after a further
    /// 2 s the runner's group and what is left of its session are killed). The task ends in
    /// state `killed`. Unknown id: 3033; a task that already ended: 3023.
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
        let name = program_name(id);
        // Sent whatever the runner's state: a stop the engine cannot apply yet is logged.
        if self
            .engine
            .status(&name)
            .is_some_and(|s| s.state != State::Finished)
        {
            let me = self.me.clone();
            self.runtime.spawn(async move {
                if let Some(tasks) = me.upgrade()
                    && let Err(e) = tasks.engine.stop(&name).await
                {
                    tracing::warn!(program = %name, error = %e, "Cannot stop a task.");
                }
            });
        }
        Ok(())
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
            if id.starts_with('.') {
                continue;
            }
            let running =
                matches!(self.store.task_get(&id), Ok(Some(row)) if row.state == "running");
            if !running && self.engine.status(&program_name(&id)).is_none() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }

    fn collect(&self, id: &str, runner: Option<&Status>) {
        if let Err(e) = self.try_collect(id, runner) {
            tracing::error!(task = %id, error = %format!("{e:#}"), "Cannot collect a task.");
        }
    }

    /// Records the outcome of a task whose runner finished (`runner`: the engine's last word
    /// on it; none when the engine never had it).
    fn try_collect(&self, id: &str, runner: Option<&Status>) -> anyhow::Result<()> {
        let Some(row) = self.store.task_get(id)? else {
            return Ok(());
        };
        if row.state != "running" {
            return Ok(());
        }
        let dir = self.dir.join(id);
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
            None if killed => (
                "killed",
                CommandResult::failed(retcode::KILLED_BY_SIGNAL, "Killed by task.kill"),
                row.started,
                now_secs(),
            ),
            None => {
                let pid = row.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
                let why = runner
                    .and_then(|s| s.last_error.clone())
                    .unwrap_or_else(|| "killed or crashed".into());
                let message =
                    format!("Failed: task lost: its runner{pid} ended without a result ({why})");
                (
                    "lost",
                    CommandResult::failed(retcode::FAILED, message),
                    row.started,
                    now_secs(),
                )
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

/// `path` as one word of `/bin/sh`: in single quotes, each `'` written `'\''`.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', "'\\''"))
}

/// Whether `path` is a file this process may execute.
fn is_executable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access(2) on a NUL-terminated path; no memory is kept.
    path.is_file() && unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0
}

/// The runner of a task started by release 0.1: from the row, else from the `runner.json`
/// that release's runner wrote first thing.
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
