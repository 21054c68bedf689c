//! The lifecycle as data: [`State`], [`Event`], [`Action`] and the one transition table,
//! [`next`], a pure function. The runner (`runner`) turns what happens into events and
//! carries out the actions; nothing else decides a state.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wire::boot::AgentState;

/// Where a program is in its life.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Not running, on purpose (the seed's `stoped`).
    Stopped,
    /// Precheck, start command and start delay, until the first check decides.
    Starting,
    /// Started and passing its checks.
    Running,
    /// Failed or crashed; waits 1, 2, 4 … s before starting again.
    Backoff,
    /// Stop sent; waits for the exit, SIGKILL to the group after `stop_timeout`.
    Stopping,
    /// Failed `max_retries` times in a row; starts again after `fatal_cooldown`.
    Fatal,
    /// Killed for its limits (by the kernel's cgroup OOM killer or the sampler); starts again
    /// after `fatal_cooldown`.
    Killed,
    /// A one-shot program ([`crate::Kind::Once`]) ended: on its own, stopped, killed, or found
    /// gone. Final: it is never started again.
    Finished,
}

impl State {
    /// What the seed's status reports show: `stoped`, `running`, `fatal` or `killed`.
    /// Starting and backing off count as running (the program is wanted and being worked
    /// on), stopping as `stoped`.
    pub fn seed_status(&self) -> AgentState {
        match self {
            State::Stopped | State::Stopping | State::Finished => AgentState::Stoped,
            State::Starting | State::Running | State::Backoff => AgentState::Running,
            State::Fatal => AgentState::Fatal,
            State::Killed => AgentState::Killed,
        }
    }

    /// The lowercase name (`stopped`, `starting`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Stopped => "stopped",
            State::Starting => "starting",
            State::Running => "running",
            State::Backoff => "backoff",
            State::Stopping => "stopping",
            State::Fatal => "fatal",
            State::Killed => "killed",
            State::Finished => "finished",
        }
    }

    /// Every state, for tables and tests.
    pub const ALL: [State; 8] = [
        State::Stopped,
        State::Starting,
        State::Running,
        State::Backoff,
        State::Stopping,
        State::Fatal,
        State::Killed,
        State::Finished,
    ];

    /// Whether a process may exist in this state.
    pub fn is_active(&self) -> bool {
        matches!(self, State::Starting | State::Running | State::Stopping)
    }
}

/// Something that happened to a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// An operator (or an adoption of a dead pid) asks for it to run.
    Start,
    /// The check after `start_delay` passed.
    Started,
    /// The precheck, the start, or a check failed.
    CheckFailed,
    /// The process ended (not for its limits).
    Exited,
    /// An operator asks for it to stop.
    Stop,
    /// `stop_timeout` passed in `Stopping`.
    StopTimedOut,
    /// The cgroup's OOM killer or the sampler found it over its limits.
    OverLimit,
    /// The back-off delay passed.
    RetryTimer,
    /// `fatal_cooldown` passed in `Fatal` or `Killed`.
    Cooldown,
}

impl Event {
    /// Every event, for tables and tests.
    pub const ALL: [Event; 9] = [
        Event::Start,
        Event::Started,
        Event::CheckFailed,
        Event::Exited,
        Event::Stop,
        Event::StopTimedOut,
        Event::OverLimit,
        Event::RetryTimer,
        Event::Cooldown,
    ];
}

/// What the runner does on a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Run the precheck (with its retries), the start command, and after `start_delay` the
    /// check, which reports [`Event::Started`] or [`Event::CheckFailed`].
    Launch,
    /// Arm the periodic check (`check_interval`).
    ArmCheck,
    /// Report [`Event::RetryTimer`] after this delay.
    ArmRetry(Duration),
    /// Report [`Event::Cooldown`] after `fatal_cooldown`.
    ArmCooldown,
    /// Send the stop signal or run the stop command; arm `stop_timeout`.
    SendStop,
    /// SIGKILL to the process group and to everything left in the program's cgroup.
    KillGroup,
}

/// The outcome of one event: the new state, the new count of consecutive failures, and what
/// to do. An event that does not apply in a state is refused: both unchanged, no actions,
/// `refused` set (the runner logs it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The state after the event.
    pub state: State,
    /// Consecutive failed starts or crashes.
    pub retries: u32,
    /// What to do, in order.
    pub actions: Vec<Action>,
    /// The event does not apply in the state it came in.
    pub refused: bool,
}

/// The back-off before retry number `retries` (1-based): 1, 2, 4 … s, at most 60 s.
pub fn backoff(retries: u32) -> Duration {
    Duration::from_secs(1u64 << retries.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

/// The transition table. `retries` counts consecutive failures; at `max_retries` the next
/// failure is fatal (so a program is started `max_retries + 1` times in a row).
pub fn next(state: State, event: Event, retries: u32, max_retries: u32) -> Transition {
    use Action::*;
    use Event::*;
    use State::*;
    let go = |state: State, retries: u32, actions: Vec<Action>| Transition {
        state,
        retries,
        actions,
        refused: false,
    };
    let refused = Transition {
        state,
        retries,
        actions: vec![],
        refused: true,
    };
    // A failure while starting or running: back off, or give up for the cool-down.
    let fail = |kill: bool| {
        let mut actions = if kill { vec![KillGroup] } else { vec![] };
        if retries < max_retries {
            actions.push(ArmRetry(backoff(retries + 1)));
            go(Backoff, retries + 1, actions)
        } else {
            actions.push(ArmCooldown);
            go(Fatal, retries, actions)
        }
    };
    match (state, event) {
        (Stopped | Fatal | Killed, Start) => go(Starting, 0, vec![Launch]),
        (Backoff, Start | RetryTimer) => go(Starting, retries, vec![Launch]),
        (Fatal | Killed, Cooldown) => go(Starting, 0, vec![Launch]),

        (Starting, Started) => go(Running, 0, vec![ArmCheck]),
        (Starting, CheckFailed) => fail(true),
        (Starting, Exited) => fail(true),
        (Running, CheckFailed) => fail(true),
        (Running, Exited) => fail(true),
        (Starting | Running, OverLimit) => go(Killed, retries, vec![KillGroup, ArmCooldown]),

        (Starting | Running, Stop) => go(Stopping, retries, vec![SendStop]),
        (Backoff | Fatal | Killed, Stop) => go(Stopped, 0, vec![]),
        (Stopping, StopTimedOut) => go(Stopping, retries, vec![KillGroup]),
        (Stopping, Exited | OverLimit) => go(Stopped, 0, vec![]),

        _ => refused,
    }
}

/// The transition table of a one-shot program ([`crate::Kind::Once`]): started once, never
/// restarted; every end (exit, failed start, stop, limit) is [`State::Finished`].
pub fn next_once(state: State, event: Event) -> Transition {
    use Action::*;
    use Event::*;
    use State::*;
    let go = |state: State, actions: Vec<Action>| Transition {
        state,
        retries: 0,
        actions,
        refused: false,
    };
    match (state, event) {
        (Stopped, Start) => go(Starting, vec![Launch]),
        (Starting, Started) => go(Running, vec![]),
        (Starting | Running, CheckFailed | Exited | OverLimit) => go(Finished, vec![KillGroup]),
        (Starting | Running, Stop) => go(Stopping, vec![SendStop]),
        (Stopping, StopTimedOut) => go(Stopping, vec![KillGroup]),
        (Stopping, Exited | OverLimit) => go(Finished, vec![KillGroup]),
        _ => Transition {
            state,
            retries: 0,
            actions: vec![],
            refused: true,
        },
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
