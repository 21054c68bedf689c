//! `gearman __run-task <dir>`: the detached runner of one task. It lives in its own session,
//! so it outlives a killed agent, runs the command through [`crate::exec::run_with`], and
//! leaves the outcome in `<dir>/result.json` (written to a temporary file and renamed, so a
//! reader never sees half a file). SIGTERM stops the command (TERM, then KILL to its group).
//!
//! Files of a task directory:
//! - `spec.json` ([`TaskSpec`]): written by the agent before it starts the runner;
//! - `runner.json` ([`RunnerId`]): only in directories of release 0.1, whose runner wrote its
//!   pid and start time there (the engine keeps them now);
//! - `result.json` ([`Outcome`]): written last;
//! - `kill`: present when `task.kill` asked for the task to stop;
//! - `runner.log`: the runner's own errors (stderr).

use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::exec::{self, RunSpec};
use crate::store::now_secs;

pub(crate) const SPEC_FILE: &str = "spec.json";
pub(crate) const RUNNER_FILE: &str = "runner.json";
pub(crate) const RESULT_FILE: &str = "result.json";
pub(crate) const KILL_FILE: &str = "kill";
pub(crate) const LOG_FILE: &str = "runner.log";

/// What the runner is to run.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct TaskSpec {
    pub id: String,
    pub spec: RunSpec,
    pub kill_grace: Duration,
}

/// Which process a release-0.1 runner was (read to adopt its task).
#[derive(Serialize, Deserialize, Debug, Clone, Copy)]
pub(crate) struct RunnerId {
    pub pid: i32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start: Option<i64>,
}

/// How the run ended.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct Outcome {
    pub result: wire::CommandResult,
    /// Unix seconds.
    pub started: f64,
    pub finished: f64,
}

/// Entry point of `gearman __run-task <dir>`; `args` are the arguments after the sub-command
/// (a leading `__run-task` is skipped too).
pub fn shim_main(args: &[String]) -> ExitCode {
    let Some(dir) = args.iter().find(|a| a.as_str() != "__run-task") else {
        eprintln!("usage: gearman __run-task <task directory>");
        return ExitCode::from(2);
    };
    match run(Path::new(dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gearman __run-task {dir}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &Path) -> anyhow::Result<()> {
    let task: TaskSpec = read_json(dir, SPEC_FILE)?.context("the task has no spec.json")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let outcome = runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("handle SIGTERM")?;
        let stop = async move {
            term.recv().await;
        };
        let started = now_secs();
        let result = exec::run_with(&task.spec, task.kill_grace, stop, |_| {}).await;
        anyhow::Ok(Outcome {
            result,
            started,
            finished: now_secs(),
        })
    })?;
    write_json(dir, RESULT_FILE, &outcome)
}

/// Writes `value` to `dir/name` atomically: a temporary file (mode 0600), fsync, rename,
/// fsync of `dir`.
pub(crate) fn write_json(dir: &Path, name: &str, value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_vec(value)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let mut file = agentkit::private::create_private(&tmp)
        .with_context(|| format!("create {}", tmp.display()))?;
    file.write_all(&text)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("write {}", tmp.display()))?;
    fs::rename(&tmp, &path).with_context(|| format!("rename to {}", path.display()))?;
    if let Ok(d) = fs::File::open(dir) {
        // Makes the rename durable; a failure here loses nothing already written.
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads `dir/name`: `Ok(None)` when it does not exist.
pub(crate) fn read_json<T: DeserializeOwned>(dir: &Path, name: &str) -> anyhow::Result<Option<T>> {
    let path = dir.join(name);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("read {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}
