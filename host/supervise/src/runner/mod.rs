//! One program's executor: a tokio task that turns what happens (commands, the child's exit,
//! timers, check results, limit samples) into [`Event`]s, feeds them to [`next`] and carries
//! out the [`Action`]s. It owns the program's process, cgroup and timers; it publishes its
//! [`Status`] on a watch channel and persists its run state after every change.
//!
//! Waiting costs nothing: a child of ours is awaited (SIGCHLD), timers sleep; only an adopted
//! process (not our child) is polled, every second, or every 50 ms while it is being stopped.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::process::Child;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::cgroup::Group;
use crate::spawn::{self, Credentials};
use crate::state::{Action, Event, State, Transition, next, next_once};
use crate::supervisor::Ctx;
use crate::{Exit, Kind, ProgramSpec, RunState, Status, procfs};

mod limits;
mod phase;
mod restore;
mod wait;
use limits::Sampler;
use phase::Phase;
use wait::{
    check_job, kill_leftovers, poll_job, session_gone, signal_watched, sleep_until, system_to_unix,
    wait_exit,
};

/// A request from the [`crate::Supervisor`] to a runner.
pub(crate) enum Cmd {
    /// Start (with this spec when given and the program is not active); answer when settled.
    Start(Option<Box<ProgramSpec>>, oneshot::Sender<Status>),
    /// Stop; answer when settled.
    Stop(oneshot::Sender<Status>),
}

type Job = Pin<Box<dyn Future<Output = JobDone> + Send>>;

enum JobDone {
    Precheck(Result<(), String>),
    /// The check's verdict and, for `process` checks with a pidfile, the pid found there.
    Check(Result<Option<(u32, u64)>, String>),
}

/// The check timers (the phase's own deadlines are in [`Phase`]).
#[derive(Clone, Copy, Debug)]
enum Timer {
    FirstCheck,
    Check,
}

/// The process being watched: our child, or an adopted (or pidfile) pid we poll.
struct Watched {
    pid: u32,
    start: u64,
    child: Option<Child>,
}

enum Wake {
    Cmd(Option<Cmd>),
    Exit(Option<ExitStatus>),
    Timer,
    Job(JobDone),
    Sample,
}

pub(crate) struct Runner {
    ctx: Arc<Ctx>,
    spec: ProgramSpec,
    creds: Option<Credentials>,
    /// The state and its data; nothing else holds a state.
    phase: Phase,
    retries: u32,
    since: SystemTime,
    last_error: Option<String>,
    /// How the last run ended, when this runner saw it (its own child).
    exit: Option<Exit>,
    limit_hits: u32,
    /// How the limits of the current (or last) run are enforced.
    limiter: &'static str,
    proc: Option<Watched>,
    group: Option<Group>,
    sampler: Option<Sampler>,
    /// The next check.
    timer: Option<(Instant, Timer)>,
    job: Option<Job>,
    /// A start asked for while stopping: done once stopped (restart).
    pending_start: bool,
    /// Answered when the state settles (neither starting nor stopping).
    waiters: Vec<oneshot::Sender<Status>>,
    queue: VecDeque<Event>,
    tx: watch::Sender<Status>,
}

impl Runner {
    /// The table's state of the current phase.
    fn state(&self) -> State {
        self.phase.state()
    }

    /// Moves to `phase` directly (adoption, restore), not through the table.
    fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
    }

    /// The task body: runs until the supervisor drops the command channel or aborts it.
    pub(crate) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        let mut tick = tokio::time::interval(self.ctx.sample_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            self.drain();
            let poll = if self.state() == State::Stopping {
                Duration::from_millis(50)
            } else {
                self.ctx.poll_interval
            };
            let sampling = self.sampler.is_some() && self.proc.is_some();
            let deadline = match (self.timer.map(|(at, _)| at), self.phase.deadline()) {
                (Some(a), Some((b, _))) => Some(a.min(b)),
                (a, b) => a.or(b.map(|(at, _)| at)),
            };
            let wake = tokio::select! {
                cmd = rx.recv() => Wake::Cmd(cmd),
                exit = wait_exit(&mut self.proc, poll) => Wake::Exit(exit),
                () = sleep_until(deadline) => Wake::Timer,
                done = poll_job(&mut self.job) => Wake::Job(done),
                _ = tick.tick(), if sampling => Wake::Sample,
            };
            match wake {
                Wake::Cmd(None) => return,
                Wake::Cmd(Some(cmd)) => self.command(cmd),
                Wake::Exit(status) => {
                    if self.state() == State::Stopping
                        && let Some(w) = &self.proc
                    {
                        session_gone(w.pid, Duration::from_secs(1)).await;
                    }
                    self.on_exit(status)
                }
                Wake::Timer => self.on_timer(),
                Wake::Job(done) => {
                    self.job = None;
                    self.on_job(done);
                }
                Wake::Sample => self.sample(),
            }
        }
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Start(spec, reply) => {
                if let Some(spec) = spec
                    && !self.state().is_active()
                {
                    self.spec = *spec;
                }
                if self.state() == State::Stopping {
                    self.pending_start = true;
                } else {
                    self.queue.push_back(Event::Start);
                }
                self.waiters.push(reply);
            }
            Cmd::Stop(reply) => {
                self.pending_start = false;
                self.queue.push_back(Event::Stop);
                self.waiters.push(reply);
            }
        }
    }

    /// Applies queued events, then answers waiters when the state has settled.
    fn drain(&mut self) {
        let mut changed = false;
        while let Some(event) = self.queue.pop_front() {
            self.apply(event);
            changed = true;
        }
        if self.state() == State::Stopped && self.pending_start {
            self.pending_start = false;
            self.apply(Event::Start);
            changed = true;
        }
        if !self.state().is_active()
            && self.proc.is_none()
            && let Some(group) = self.group.take()
        {
            group.kill_all();
            group.remove();
        }
        if changed {
            self.publish();
            self.persist();
        }
        let settled =
            !matches!(self.state(), State::Starting | State::Stopping) && !self.pending_start;
        if settled && !self.waiters.is_empty() {
            let status = self.status();
            for w in self.waiters.drain(..) {
                let _ = w.send(status.clone());
            }
        }
    }

    fn apply(&mut self, event: Event) {
        let t: Transition = match self.spec.kind {
            Kind::Service => next(self.state(), event, self.retries, self.spec.max_retries),
            Kind::Once => next_once(self.state(), event),
        };
        if t.refused {
            tracing::info!(program = %self.spec.name, state = self.state().as_str(), event = ?event,
                "Transition refused: the event does not apply in this state.");
            return;
        }
        if t.state != self.state() {
            tracing::info!(program = %self.spec.name, from = self.state().as_str(), to = t.state.as_str(),
                event = ?event, retries = t.retries, error = self.last_error.as_deref().unwrap_or(""),
                "Program state changed.");
            let watched = self.proc.as_ref().map(|w| (w.pid, w.start));
            self.phase = Phase::enter(t.state, watched, self.exit);
            self.since = SystemTime::now();
            self.timer = None;
            self.job = None;
        }
        self.retries = t.retries;
        for action in t.actions {
            self.act(action);
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Launch => self.launch(),
            Action::ArmCheck => self.arm_check(),
            Action::ArmRetry(delay) => self.phase = self.phase.until(Instant::now() + delay),
            Action::ArmCooldown => {
                self.phase = self.phase.until(Instant::now() + self.spec.fatal_cooldown)
            }
            Action::SendStop => self.send_stop(),
            Action::KillGroup => self.kill_group(),
        }
    }

    fn launch(&mut self) {
        self.limit_hits = 0;
        self.creds = match spawn::resolve(self.spec.user.as_deref(), self.spec.group.as_deref()) {
            Ok(creds) => creds,
            Err(e) => return self.fail(e),
        };
        let Some(precheck) = self.spec.precheck.clone() else {
            return self.spawn_now();
        };
        let (spec, creds) = (self.spec.clone(), self.creds.clone());
        self.job = Some(Box::pin(async move {
            let mut result = Ok(());
            for attempt in 0..=spec.precheck_retries {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                result =
                    spawn::run_command(&precheck, &spec, &creds, Duration::from_secs(60), None)
                        .await;
                if result.is_ok() {
                    break;
                }
            }
            JobDone::Precheck(result.map_err(|e| format!("precheck: {e}")))
        }));
    }

    fn spawn_now(&mut self) {
        self.group = None;
        self.sampler = None;
        let mut procs = vec![];
        if !self.spec.limits.is_empty() {
            match self
                .ctx
                .cgroups
                .as_ref()
                .map(|c| c.create(&self.spec.name, &self.spec.limits))
            {
                Some(Ok(group)) => {
                    procs = group.procs_files();
                    self.group = Some(group);
                }
                Some(Err(e)) => {
                    tracing::warn!(program = %self.spec.name, error = %e,
                        "Cannot make the program's cgroup; measuring its process tree instead.");
                    self.sampler = Some(Sampler::default());
                }
                None => self.sampler = Some(Sampler::default()),
            }
        }
        self.set_limiter();
        match spawn::spawn_program(&self.spec, &self.creds, procs) {
            Ok(child) => {
                let pid = child.id().unwrap_or(0);
                let start = procfs::start_time(pid).unwrap_or(0);
                tracing::debug!(program = %self.spec.name, pid, "Program started.");
                self.proc = Some(Watched {
                    pid,
                    start,
                    child: Some(child),
                });
                self.exit = None;
                match self.spec.kind {
                    Kind::Service => {
                        self.timer =
                            Some((Instant::now() + self.spec.start_delay, Timer::FirstCheck))
                    }
                    // No check decides: a one-shot program is started once it runs.
                    Kind::Once => self.queue.push_back(Event::Started),
                }
            }
            Err(e) => self.fail(format!("cannot start `{}`: {e}", self.spec.start)),
        }
    }

    fn fail(&mut self, error: String) {
        self.last_error = Some(error);
        self.queue.push_back(Event::CheckFailed);
    }

    fn arm_check(&mut self) {
        if self.spec.kind == Kind::Service && !self.spec.check_interval.is_zero() {
            self.timer = Some((Instant::now() + self.spec.check_interval, Timer::Check));
        }
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        if let Some((at, event)) = self.phase.deadline()
            && at <= now
        {
            self.phase = self.phase.fired();
            self.queue.push_back(event);
            return;
        }
        let Some((at, timer)) = self.timer else {
            return;
        };
        if at > now {
            return;
        }
        self.timer = None;
        match timer {
            Timer::FirstCheck | Timer::Check => {
                self.job = Some(check_job(
                    &self.spec,
                    &self.creds,
                    self.proc.as_ref().map(|w| w.pid),
                ))
            }
        }
    }

    fn on_job(&mut self, done: JobDone) {
        match done {
            JobDone::Precheck(Ok(())) => self.spawn_now(),
            JobDone::Precheck(Err(e)) => self.fail(e),
            JobDone::Check(Err(e)) => self.fail(format!("check: {e}")),
            JobDone::Check(Ok(found)) => {
                if let Some((pid, start)) = found
                    && self
                        .proc
                        .as_ref()
                        .is_none_or(|w| w.child.is_none() && w.pid != pid)
                {
                    // A program that forked away from its start command: watch its pidfile pid.
                    self.proc = Some(Watched {
                        pid,
                        start,
                        child: None,
                    });
                    if let Phase::Running { .. } = self.phase {
                        self.set_phase(Phase::Running {
                            pid,
                            start_time: start,
                        });
                    }
                    self.persist();
                }
                if self.proc.is_none() {
                    return self.fail("check: no process to watch".into());
                }
                match self.state() {
                    State::Starting => {
                        self.last_error = None;
                        self.queue.push_back(Event::Started);
                    }
                    State::Running => self.arm_check(),
                    _ => {}
                }
            }
        }
    }

    fn on_exit(&mut self, status: Option<ExitStatus>) {
        let Some(gone) = self.proc.take() else {
            return;
        };
        self.exit = status.map(Exit::from);
        // A one-shot program that exited 0 keeps its deliberate background children (as a
        // shell's would); any other end (a signal, a stop, an error, an end not seen) takes
        // what it left in its session with it.
        if self.spec.kind == Kind::Once && !status.is_some_and(|s| s.success()) {
            let left = kill_leftovers(gone.pid, gone.start);
            if left > 0 {
                tracing::info!(program = %self.spec.name, pid = gone.pid, left,
                    "Killed what a one-shot program left running.");
            }
        }
        let how = status.map_or("ended".to_string(), |s| format!("exited ({s})"));
        if self.state() == State::Starting
            && self.spec.pidfile.is_some()
            && gone.child.is_some()
            && status.is_some_and(|s| s.success())
        {
            // The start command daemonised; the first check reads the pidfile.
            return;
        }
        if self.group.as_ref().is_some_and(Group::oom_killed) {
            self.last_error = Some(format!("killed by the kernel for its memory limit; {how}"));
            self.limit_hits += 1;
            self.queue.push_back(Event::OverLimit);
        } else {
            if matches!(self.state(), State::Starting | State::Running) {
                self.last_error = Some(format!("pid {} {how}", gone.pid));
            }
            self.queue.push_back(Event::Exited);
        }
    }

    fn send_stop(&mut self) {
        let Some(w) = &self.proc else {
            self.queue.push_back(Event::Exited);
            return;
        };
        if !procfs::is_alive(w.pid, w.start) && w.child.is_none() {
            self.proc = None;
            self.queue.push_back(Event::Exited);
            return;
        }
        match &self.spec.stop {
            crate::StopSpec::Kill(sig) => signal_watched(w, *sig),
            crate::StopSpec::Command(cmd) => {
                let (cmd, spec, creds, pid) =
                    (cmd.clone(), self.spec.clone(), self.creds.clone(), w.pid);
                tokio::spawn(async move {
                    if let Err(e) =
                        spawn::run_command(&cmd, &spec, &creds, spec.stop_timeout, Some(pid)).await
                    {
                        tracing::warn!(program = %spec.name, error = %e, "Stop command failed.");
                    }
                });
            }
        }
        self.phase = self.phase.until(Instant::now() + self.spec.stop_timeout);
    }

    fn kill_group(&mut self) {
        if let Some(w) = &self.proc
            && (w.child.is_some() || procfs::is_alive(w.pid, w.start))
        {
            signal_watched(w, libc::SIGKILL);
        }
        if let Some(group) = &self.group {
            group.kill_all();
        }
    }

    fn status(&self) -> Status {
        let running = self.proc.as_ref().filter(|_| self.state().is_active());
        Status {
            name: self.spec.name.clone(),
            state: self.state(),
            seed_status: self.state().seed_status(),
            pid: running.map(|w| w.pid),
            start_time: running.map(|w| w.start),
            since: system_to_unix(self.since),
            uptime: 0,
            retries: self.retries,
            last_error: self.last_error.clone(),
            exit: self.exit,
            limit_hits: self.limit_hits,
            limiter: self.limiter.to_string(),
        }
    }

    fn publish(&self) {
        self.tx.send_replace(self.status());
    }

    fn persist(&self) {
        let run = RunState {
            spec: self.spec.clone(),
            state: self.state(),
            pid: self.proc.as_ref().map(|w| w.pid),
            start_time: self.proc.as_ref().map(|w| w.start),
            retries: self.retries,
            since: system_to_unix(self.since),
            last_error: self.last_error.clone(),
            exit: self.exit,
        };
        if let Err(e) = crate::persist::save(&self.ctx.state_dir, &run) {
            tracing::warn!(program = %self.spec.name, error = %e, "Cannot save the run state.");
        }
    }
}
