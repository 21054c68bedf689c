//! [`Phase`]: the runner's state with the data each state carries: the watched process while
//! running, the time a back-off or a cool-down ends, the deadline of a stop, how a one-shot
//! run ended. [`Phase::state`] is the transition table's [`State`], which is all that is
//! shown and persisted; the runner keeps no state anywhere else.

use tokio::time::Instant;

use crate::Exit;
use crate::state::{Event, State};

/// Where a program is, with what being there holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Phase {
    /// Not running, on purpose.
    Stopped,
    /// Precheck, start command, start delay, until the first check decides.
    Starting,
    /// Started and passing its checks: the process watched (pid and start time).
    Running { pid: u32, start_time: u64 },
    /// Failed; starts again at `until`.
    Backoff { until: Instant },
    /// Stop sent; SIGKILL to the group at `deadline` (none once it was sent).
    Stopping { deadline: Option<Instant> },
    /// Failed `max_retries` times in a row; starts again at `until`.
    Fatal { until: Instant },
    /// Killed for its limits; starts again at `until`.
    Killed { until: Instant },
    /// A one-shot program ended, and how, when the supervisor saw it.
    Finished { exit: Option<Exit> },
}

impl Phase {
    /// The table's state of this phase.
    pub(super) fn state(&self) -> State {
        match self {
            Phase::Stopped => State::Stopped,
            Phase::Starting => State::Starting,
            Phase::Running { .. } => State::Running,
            Phase::Backoff { .. } => State::Backoff,
            Phase::Stopping { .. } => State::Stopping,
            Phase::Fatal { .. } => State::Fatal,
            Phase::Killed { .. } => State::Killed,
            Phase::Finished { .. } => State::Finished,
        }
    }

    /// The phase entered on a transition to `state`: the watched process (`proc`) for
    /// `Running`, the last exit for `Finished`; the times of `Backoff`, `Fatal`, `Killed` and
    /// `Stopping` are set by the actions that come with them (`ArmRetry`, `ArmCooldown`,
    /// `SendStop`), and are `now` until then.
    pub(super) fn enter(state: State, proc: Option<(u32, u64)>, exit: Option<Exit>) -> Phase {
        let now = Instant::now();
        match state {
            State::Stopped => Phase::Stopped,
            State::Starting => Phase::Starting,
            State::Running => {
                let (pid, start_time) = proc.unwrap_or((0, 0));
                Phase::Running { pid, start_time }
            }
            State::Backoff => Phase::Backoff { until: now },
            State::Stopping => Phase::Stopping { deadline: None },
            State::Fatal => Phase::Fatal { until: now },
            State::Killed => Phase::Killed { until: now },
            State::Finished => Phase::Finished { exit },
        }
    }

    /// When this phase ends by itself, and the event that says so.
    pub(super) fn deadline(&self) -> Option<(Instant, Event)> {
        match *self {
            Phase::Backoff { until } => Some((until, Event::RetryTimer)),
            Phase::Fatal { until } | Phase::Killed { until } => Some((until, Event::Cooldown)),
            Phase::Stopping { deadline: Some(at) } => Some((at, Event::StopTimedOut)),
            _ => None,
        }
    }

    /// The same phase, ending by itself at `at` (back-off, cool-down, stop deadline).
    pub(super) fn until(self, at: Instant) -> Phase {
        match self {
            Phase::Backoff { .. } => Phase::Backoff { until: at },
            Phase::Fatal { .. } => Phase::Fatal { until: at },
            Phase::Killed { .. } => Phase::Killed { until: at },
            Phase::Stopping { .. } => Phase::Stopping { deadline: Some(at) },
            other => other,
        }
    }

    /// The phase once its own deadline fired (a stop's SIGKILL is sent once).
    pub(super) fn fired(self) -> Phase {
        match self {
            Phase::Stopping { .. } => Phase::Stopping { deadline: None },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_state_has_its_phase_and_the_waiting_ones_their_deadline() {
        for state in State::ALL {
            let phase = Phase::enter(state, Some((42, 7)), None);
            assert_eq!(phase.state(), state);
            let at = Instant::now() + Duration::from_secs(5);
            let timed = phase.until(at).deadline();
            match state {
                State::Backoff => assert_eq!(timed, Some((at, Event::RetryTimer))),
                State::Fatal | State::Killed => assert_eq!(timed, Some((at, Event::Cooldown))),
                State::Stopping => assert_eq!(timed, Some((at, Event::StopTimedOut))),
                _ => assert_eq!(timed, None, "{state:?} waits for nothing"),
            }
        }
        assert_eq!(
            Phase::enter(State::Running, Some((42, 7)), None),
            Phase::Running {
                pid: 42,
                start_time: 7
            }
        );
        let exit = Some(Exit {
            code: Some(3),
            signal: None,
        });
        assert_eq!(
            Phase::enter(State::Finished, None, exit),
            Phase::Finished { exit }
        );
    }

    #[test]
    fn a_stop_deadline_fires_once() {
        let stopping = Phase::enter(State::Stopping, None, None).until(Instant::now());
        assert!(stopping.deadline().is_some());
        assert_eq!(stopping.fired().deadline(), None);
        let backoff = Phase::enter(State::Backoff, None, None);
        assert_eq!(backoff.fired(), backoff, "a back-off's end is a transition");
    }
}
