//! supervise: the one process lifecycle and limits engine shared by gearman's `daemon.*`
//! methods and the BootAgent. Programs run detached (own session and process group, no
//! parent-death signal), so they outlive a killed supervisor, which adopts them again by pid
//! plus process start time. See README.md for the state machine.
//!
//! Layout:
//! - `spec`: [`ProgramSpec`] and its parts, parsed from the seed's spellings.
//! - `state`: [`State`], [`Event`], [`Action`] and the pure transition table [`next`].
//! - `supervisor`: [`Supervisor`], the public API; one runner task per program.
//! - `runner`: one program's executor: events in, actions out, status and run state; its
//!   state with its data (`runner/phase.rs`), how it is created or restored (`runner/restore.rs`).
//! - `spawn`: the only code that forks (the program, precheck, check, stop commands).
//! - `cgroup`: cgroup v2 / v1 detection, one cgroup per program, OOM-kill detection.
//! - `procfs`: process identity, liveness and process-tree usage from /proc.
//! - `persist`: run-state files for adoption.

use serde::{Deserialize, Serialize};

mod cgroup;
mod persist;
pub mod procfs;
mod runner;
mod spawn;
pub mod spec;
pub mod state;
mod supervisor;

pub use spawn::{CLEAN_PATH, PASSED_ENV, clean_signal_slate};
pub use spec::{CheckSpec, Kind, Limits, ProgramSpec, StopSpec, check_name};
pub use state::{Action, Event, State, Transition, backoff, next, next_once};
pub use supervisor::{LimitMode, Options, Supervisor};
pub use wire::boot::AgentState;

/// Why a supervisor call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec is wrong (name, start command, a limit, a signal).
    #[error("invalid program spec: {0}")]
    InvalidSpec(String),
    /// No program of that name is supervised.
    #[error("no program `{0}`")]
    NotFound(String),
    /// The program's runner ended (the supervisor is shutting down).
    #[error("the runner of `{0}` is gone")]
    Gone(String),
    /// A run-state file could not be written or deleted.
    #[error("run state: {0}")]
    Io(#[from] std::io::Error),
}

/// What a supervisor says about one program.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Status {
    /// The program's name.
    pub name: String,
    /// Its state.
    pub state: State,
    /// The seed's status (`stoped`, `running`, `fatal`, `killed`).
    pub seed_status: AgentState,
    /// The watched process while starting, running or stopping.
    pub pid: Option<u32>,
    /// That process's start time (clock ticks since boot), its identity with `pid`.
    pub start_time: Option<u64>,
    /// Unix seconds of the last state change.
    pub since: u64,
    /// Seconds the process has been running (0 unless `Running`).
    pub uptime: u64,
    /// Consecutive failed starts or crashes.
    pub retries: u32,
    /// Why it last failed, was killed, or exited.
    pub last_error: Option<String>,
    /// How its last run ended, when the supervisor saw the end itself (its own child).
    #[serde(default)]
    pub exit: Option<Exit>,
    /// Consecutive over-limit samples (sampler), or OOM kills seen (cgroup).
    pub limit_hits: u32,
    /// How its limits are enforced: `v1`, `v2` (cgroups), `sampler` or `none`.
    pub limiter: String,
}

impl Status {
    /// The status of a program that is not running and has no history: `stopped`, no pid.
    pub fn stopped(name: &str) -> Status {
        Status {
            name: name.to_string(),
            state: State::Stopped,
            seed_status: AgentState::Stoped,
            pid: None,
            start_time: None,
            since: 0,
            uptime: 0,
            retries: 0,
            last_error: None,
            exit: None,
            limit_hits: 0,
            limiter: "none".into(),
        }
    }
}

/// The persisted run state of one program (`<state_dir>/<name>.json`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RunState {
    /// What runs.
    pub spec: ProgramSpec,
    /// Its state when last saved.
    pub state: State,
    /// The watched process, if any.
    pub pid: Option<u32>,
    /// That process's start time (clock ticks since boot).
    pub start_time: Option<u64>,
    /// Consecutive failures.
    pub retries: u32,
    /// Unix seconds of the last state change.
    pub since: u64,
    /// The last failure.
    pub last_error: Option<String>,
    /// How the last run ended, when known (kept for a finished one-shot program).
    #[serde(default)]
    pub exit: Option<Exit>,
}

/// How a process ended, as `wait` reported it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    /// Its exit code, when it exited.
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
}

impl From<std::process::ExitStatus> for Exit {
    fn from(status: std::process::ExitStatus) -> Exit {
        use std::os::unix::process::ExitStatusExt as _;
        Exit {
            code: status.code(),
            signal: status.signal(),
        }
    }
}
