//! [`Supervisor`]: the programs by name, each driven by its own runner task (`runner`), and
//! the public API over them. Dropping a supervisor stops watching but never stops a program:
//! a new supervisor on the same state directory adopts them ([`Supervisor::recover`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::cgroup::Cgroups;
use crate::runner::{Cmd, Runner};
use crate::{Error, ProgramSpec, RunState, State, Status, persist, procfs};

/// How limits are enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LimitMode {
    /// cgroups (v2 or v1, detected) where available, else the process-tree sampler.
    #[default]
    Auto,
    /// Always the sampler (RSS sum and CPU % of the process tree, `hits` samples in a row).
    Sampler,
}

/// Supervisor settings; [`Options::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct Options {
    /// Holds one run-state file per program (`<name>.json`).
    pub state_dir: PathBuf,
    /// cgroups or the sampler.
    pub limits: LimitMode,
    /// Time between limit samples (sampler only; default 1 s).
    pub sample_interval: Duration,
    /// Time between liveness polls of adopted processes (default 1 s; 50 ms while stopping).
    pub poll_interval: Duration,
    /// Name of this supervisor's cgroup folder; default `supervise-<hash of state_dir>`.
    pub cgroup_tag: Option<String>,
}

impl Options {
    /// Defaults for a state directory.
    pub fn new(state_dir: &Path) -> Options {
        Options {
            state_dir: state_dir.to_path_buf(),
            limits: LimitMode::Auto,
            sample_interval: Duration::from_secs(1),
            poll_interval: Duration::from_secs(1),
            cgroup_tag: None,
        }
    }
}

/// What every runner shares.
pub(crate) struct Ctx {
    pub state_dir: PathBuf,
    pub cgroups: Option<Cgroups>,
    pub sample_interval: Duration,
    pub poll_interval: Duration,
}

struct Handle {
    tx: mpsc::UnboundedSender<Cmd>,
    status: watch::Receiver<Status>,
    task: JoinHandle<()>,
}

/// Owns N programs. Must be used inside a tokio runtime (the methods that register a program
/// spawn its runner task).
pub struct Supervisor {
    ctx: Arc<Ctx>,
    programs: Mutex<BTreeMap<String, Handle>>,
}

impl Supervisor {
    /// A supervisor with default [`Options`] keeping its run state in `state_dir`.
    pub fn new(state_dir: &Path) -> Supervisor {
        Supervisor::with_options(Options::new(state_dir))
    }

    /// A supervisor with `options`. Detects the cgroup layout once.
    pub fn with_options(options: Options) -> Supervisor {
        let tag = options
            .cgroup_tag
            .clone()
            .unwrap_or_else(|| format!("supervise-{:08x}", fnv(&options.state_dir)));
        let cgroups = match options.limits {
            LimitMode::Auto => Cgroups::detect(&tag),
            LimitMode::Sampler => None,
        };
        tracing::debug!(
            cgroups = cgroups.as_ref().map_or("none", |c| c.version()),
            "Limits."
        );
        Supervisor {
            ctx: Arc::new(Ctx {
                state_dir: options.state_dir,
                cgroups,
                sample_interval: options.sample_interval,
                poll_interval: options.poll_interval,
            }),
            programs: Mutex::new(BTreeMap::new()),
        }
    }

    /// `"v1"`, `"v2"` or `"none"` (sampler): how limits are enforced here.
    pub fn limiter(&self) -> &'static str {
        self.ctx.cgroups.as_ref().map_or("none", |c| c.version())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Handle>> {
        self.programs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(&self, runner: Runner, status: watch::Receiver<Status>, name: &str) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(runner.run(rx));
        self.lock()
            .insert(name.to_string(), Handle { tx, status, task });
    }

    async fn ask(
        &self,
        name: &str,
        make: impl FnOnce(oneshot::Sender<Status>) -> Cmd,
    ) -> Result<Status, Error> {
        let (reply, answer) = oneshot::channel();
        let sent = match self.lock().get(name) {
            Some(handle) => handle.tx.send(make(reply)).is_ok(),
            None => return Err(Error::NotFound(name.to_string())),
        };
        if !sent {
            return Err(Error::Gone(name.to_string()));
        }
        let status = answer.await.map_err(|_| Error::Gone(name.to_string()))?;
        Ok(with_uptime(status))
    }

    /// Registers `spec` (replacing the spec of a program that is not running) and starts it.
    /// Answers once the start is decided: `Running` after `start_delay` and a passing check,
    /// or `Backoff`/`Fatal`/`Killed` when it failed. A running program is left as it is.
    pub async fn start(&self, spec: ProgramSpec) -> Result<Status, Error> {
        spec.validate()?;
        let name = spec.name.clone();
        if !self.lock().contains_key(&name) {
            let (runner, status) = Runner::new(self.ctx.clone(), spec.clone(), State::Stopped);
            self.register(runner, status, &name);
        }
        self.ask(&name, |reply| Cmd::Start(Some(Box::new(spec)), reply))
            .await
    }

    /// Starts the one-shot program `spec` ([`crate::Kind::Once`]) now, in the caller's thread
    /// (inside a tokio runtime), and answers its status without waiting for its end: when
    /// this returns, the process runs and its run state (pid, start time) is on disk, or its
    /// start failed (`Finished` with `last_error`). Its end shows as [`State::Finished`] in
    /// [`Supervisor::watch`]. A name already supervised is refused (a one-shot program runs
    /// once).
    pub fn launch(&self, spec: ProgramSpec) -> Result<Status, Error> {
        spec.validate()?;
        if spec.kind != crate::Kind::Once {
            return Err(Error::InvalidSpec(format!(
                "`{}`: only a one-shot program is launched; start a service",
                spec.name
            )));
        }
        let name = spec.name.clone();
        if self.lock().contains_key(&name) {
            return Err(Error::InvalidSpec(format!(
                "`{name}` is already supervised"
            )));
        }
        let (runner, status) = Runner::launched(self.ctx.clone(), spec);
        let now = with_uptime(status.borrow().clone());
        self.register(runner, status, &name);
        Ok(now)
    }

    /// The status channel of `name`: every change of its status, as it happens.
    pub fn watch(&self, name: &str) -> Option<watch::Receiver<Status>> {
        self.lock().get(name).map(|h| h.status.clone())
    }

    /// Forgets `name` (its runner and run-state file) without stopping anything: for a
    /// program that is not active (stopped, or a finished one-shot program). An active one is
    /// refused.
    pub fn forget(&self, name: &str) -> Result<(), Error> {
        let mut programs = self.lock();
        let Some(handle) = programs.get(name) else {
            return Err(Error::NotFound(name.to_string()));
        };
        let state = handle.status.borrow().state;
        if state.is_active() {
            return Err(Error::InvalidSpec(format!(
                "`{name}` is {}: stop it before forgetting it",
                state.as_str()
            )));
        }
        if let Some(handle) = programs.remove(name) {
            handle.task.abort();
        }
        drop(programs);
        persist::delete(&self.ctx.state_dir, name).map_err(Error::Io)
    }

    /// Stops `name`: its stop signal or command, SIGKILL to the group after `stop_timeout`.
    /// Answers once it is `Stopped`.
    pub async fn stop(&self, name: &str) -> Result<Status, Error> {
        self.ask(name, Cmd::Stop).await
    }

    /// Stops, then starts `name` with its current spec.
    pub async fn restart(&self, name: &str) -> Result<Status, Error> {
        self.stop(name).await?;
        self.ask(name, |reply| Cmd::Start(None, reply)).await
    }

    /// The status of `name`.
    pub fn status(&self, name: &str) -> Option<Status> {
        let status = self.lock().get(name).map(|h| h.status.borrow().clone())?;
        Some(with_uptime(status))
    }

    /// Every program's status, by name.
    pub fn list(&self) -> Vec<Status> {
        let all: Vec<Status> = self
            .lock()
            .values()
            .map(|h| h.status.borrow().clone())
            .collect();
        all.into_iter().map(with_uptime).collect()
    }

    /// Stops `name`, then forgets it (runner, run-state file).
    pub async fn remove(&self, name: &str) -> Result<(), Error> {
        self.stop(name).await?;
        if let Some(handle) = self.lock().remove(name) {
            handle.task.abort();
        }
        persist::delete(&self.ctx.state_dir, name).map_err(Error::Io)
    }

    /// Re-attaches to `pid` started at `start_time` (clock ticks since boot, field 22 of
    /// `/proc/<pid>/stat`) as the running program `spec`. Never starts twice: a name already
    /// supervised is left alone; a pid that is gone or now names another process (different
    /// start time) is not touched, and the program is started afresh instead.
    pub fn adopt(&self, spec: ProgramSpec, pid: u32, start_time: u64) -> Status {
        if let Some(status) = self.status(&spec.name) {
            return status;
        }
        let name = spec.name.clone();
        let (runner, status) = Runner::adopted(self.ctx.clone(), spec, pid, start_time);
        let now = with_uptime(status.borrow().clone());
        self.register(runner, status, &name);
        now
    }

    /// Restores every program of the state directory not supervised yet: running ones are
    /// adopted (or started again when their process is gone), `fatal`/`killed` ones wait out
    /// the rest of their cool-down, stopped ones stay stopped. Returns their statuses.
    pub fn recover(&self) -> Vec<Status> {
        let mut out = vec![];
        for run in persist::load_all(&self.ctx.state_dir) {
            let name = run.spec.name.clone();
            if self.lock().contains_key(&name) || run.spec.validate().is_err() {
                continue;
            }
            let (runner, status) = Runner::restored(self.ctx.clone(), run);
            out.push(with_uptime(status.borrow().clone()));
            self.register(runner, status, &name);
        }
        out
    }

    /// The persisted run states of the state directory (what [`Supervisor::recover`] reads).
    pub fn run_states(&self) -> Vec<RunState> {
        persist::load_all(&self.ctx.state_dir)
    }
}

impl Drop for Supervisor {
    /// Stops the runner tasks; the programs keep running (and are not killed).
    fn drop(&mut self) {
        for handle in self.lock().values() {
            handle.task.abort();
        }
    }
}

fn with_uptime(mut status: Status) -> Status {
    status.uptime = match (status.state, status.start_time) {
        (State::Running, Some(start)) => procfs::uptime_secs(start),
        _ => 0,
    };
    status
}

/// FNV-1a of a path: a stable short tag.
fn fnv(path: &Path) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in path.as_os_str().as_encoded_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}
