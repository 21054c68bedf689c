//! How a runner comes to be: for a program not running yet, for one started here and now
//! (one-shot `launch`), for a process adopted by pid and start time, and from a run-state
//! file (`recover`), services and one-shot programs each by their own rules.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;
use tokio::time::Instant;

use super::limits::Sampler;
use super::phase::Phase;
use super::wait::{kill_leftovers, unix_to_system};
use super::{Runner, Watched};
use crate::spawn;
use crate::state::{Event, State};
use crate::supervisor::Ctx;
use crate::{Kind, ProgramSpec, RunState, Status, procfs};

impl Runner {
    /// A runner for a program not running yet, in `state` (normally `Stopped`).
    pub(crate) fn new(
        ctx: Arc<Ctx>,
        spec: ProgramSpec,
        state: State,
    ) -> (Runner, watch::Receiver<Status>) {
        let (tx, rx) = watch::channel(Status::stopped(&spec.name));
        let runner = Runner {
            ctx,
            spec,
            creds: None,
            phase: Phase::enter(state, None, None),
            retries: 0,
            since: SystemTime::now(),
            last_error: None,
            exit: None,
            limit_hits: 0,
            limiter: "none",
            proc: None,
            group: None,
            sampler: None,
            timer: None,
            job: None,
            pending_start: false,
            waiters: vec![],
            queue: VecDeque::new(),
            tx,
        };
        runner.publish();
        (runner, rx)
    }

    /// A runner whose program is started here and now, in the caller's thread (needs a tokio
    /// runtime context): when this returns the process runs (or its start failed) and its
    /// run state is on disk.
    pub(crate) fn launched(ctx: Arc<Ctx>, spec: ProgramSpec) -> (Runner, watch::Receiver<Status>) {
        let (mut r, rx) = Runner::new(ctx, spec, State::Stopped);
        r.queue.push_back(Event::Start);
        r.drain();
        (r, rx)
    }

    /// A runner that re-attaches to `pid` (identity: `start`), or, when that process is gone,
    /// starts the program afresh.
    pub(crate) fn adopted(
        ctx: Arc<Ctx>,
        spec: ProgramSpec,
        pid: u32,
        start: u64,
    ) -> (Runner, watch::Receiver<Status>) {
        let (mut r, rx) = Runner::new(ctx, spec, State::Stopped);
        if procfs::is_alive(pid, start) {
            r.creds = spawn::resolve(r.spec.user.as_deref(), r.spec.group.as_deref())
                .ok()
                .flatten();
            r.proc = Some(Watched {
                pid,
                start,
                child: None,
            });
            r.group = r
                .ctx
                .cgroups
                .as_ref()
                .and_then(|c| c.group_of(pid, &r.spec.name));
            if !r.spec.limits.is_empty() && r.group.is_none() {
                r.sampler = Some(Sampler::default());
            }
            r.set_limiter();
            r.set_phase(Phase::Running {
                pid,
                start_time: start,
            });
            r.arm_check();
            tracing::info!(program = %r.spec.name, pid, "Adopted a running program.");
        } else if r.spec.kind == Kind::Once {
            // Ran once already: its end happened while no supervisor watched.
            let left = kill_leftovers(pid, start);
            r.set_phase(Phase::Finished { exit: None });
            r.last_error = Some(format!(
                "pid {pid} ended while no supervisor watched it (exit status unknown)"
            ));
            tracing::info!(program = %r.spec.name, pid, left, "A one-shot program ended unwatched.");
        } else {
            tracing::info!(program = %r.spec.name, pid, "The program's process is gone; starting it again.");
            r.queue.push_back(Event::Start);
        }
        r.publish();
        (r, rx)
    }

    /// A runner restored from a run-state file.
    pub(crate) fn restored(ctx: Arc<Ctx>, run: RunState) -> (Runner, watch::Receiver<Status>) {
        if run.spec.kind == Kind::Once {
            return Runner::restored_once(ctx, run);
        }
        match (run.state, run.pid, run.start_time) {
            (State::Starting | State::Running | State::Backoff, Some(pid), Some(start)) => {
                Runner::adopted(ctx, run.spec, pid, start)
            }
            (State::Stopping, Some(pid), Some(start)) => {
                let (mut r, rx) = Runner::adopted(ctx, run.spec, pid, start);
                r.queue.clear();
                if r.proc.is_some() {
                    r.queue.push_back(Event::Stop);
                }
                (r, rx)
            }
            (State::Starting | State::Running | State::Backoff, _, _) => {
                let (mut r, rx) = Runner::new(ctx, run.spec, State::Stopped);
                r.queue.push_back(Event::Start);
                (r, rx)
            }
            (State::Fatal | State::Killed, _, _) => {
                let (mut r, rx) = Runner::new(ctx, run.spec, run.state);
                r.since = unix_to_system(run.since);
                r.retries = run.retries;
                r.last_error = run.last_error;
                let elapsed = r.since.elapsed().unwrap_or_default();
                let left = r.spec.fatal_cooldown.saturating_sub(elapsed);
                r.phase = r.phase.until(Instant::now() + left);
                r.publish();
                (r, rx)
            }
            (State::Stopped | State::Stopping | State::Finished, _, _) => {
                Runner::new(ctx, run.spec, State::Stopped)
            }
        }
    }

    /// A one-shot program restored from its run-state file: adopted while its process lives
    /// (a stop in progress goes on), finished otherwise; never started again.
    fn restored_once(ctx: Arc<Ctx>, run: RunState) -> (Runner, watch::Receiver<Status>) {
        match (run.state, run.pid, run.start_time) {
            (State::Starting | State::Running | State::Stopping, Some(pid), Some(start)) => {
                let stopping = run.state == State::Stopping;
                let (mut r, rx) = Runner::adopted(ctx, run.spec, pid, start);
                if stopping && r.proc.is_some() {
                    r.queue.push_back(Event::Stop);
                }
                (r, rx)
            }
            (State::Stopped, _, _) => Runner::new(ctx, run.spec, State::Stopped),
            (state, _, _) => {
                let (mut r, rx) = Runner::new(ctx, run.spec, State::Finished);
                r.since = unix_to_system(run.since);
                r.exit = run.exit;
                r.set_phase(Phase::Finished { exit: run.exit });
                r.last_error = run.last_error.or_else(|| {
                    (state != State::Finished)
                        .then(|| format!("was {} with no process recorded", state.as_str()))
                });
                r.publish();
                (r, rx)
            }
        }
    }
}
