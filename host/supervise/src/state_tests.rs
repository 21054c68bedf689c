//! Walks every (state, event) pair of the transition table against the table of the README.

use super::*;
use Action::*;
use Event::*;
use State::*;

const S1: Duration = Duration::from_secs(1);

/// The README's table with `retries = 0`, `max_retries = 3`: (from, event, to, actions).
/// Pairs not listed are refused: the state unchanged, no actions.
fn expected() -> Vec<(State, Event, State, Vec<Action>)> {
    vec![
        (Stopped, Start, Starting, vec![Launch]),
        (Starting, Started, Running, vec![ArmCheck]),
        (
            Starting,
            CheckFailed,
            Backoff,
            vec![KillGroup, ArmRetry(S1)],
        ),
        (Starting, Exited, Backoff, vec![KillGroup, ArmRetry(S1)]),
        (Starting, Stop, Stopping, vec![SendStop]),
        (Starting, OverLimit, Killed, vec![KillGroup, ArmCooldown]),
        (Running, CheckFailed, Backoff, vec![KillGroup, ArmRetry(S1)]),
        (Running, Exited, Backoff, vec![KillGroup, ArmRetry(S1)]),
        (Running, Stop, Stopping, vec![SendStop]),
        (Running, OverLimit, Killed, vec![KillGroup, ArmCooldown]),
        (Backoff, Start, Starting, vec![Launch]),
        (Backoff, RetryTimer, Starting, vec![Launch]),
        (Backoff, Stop, Stopped, vec![]),
        (Stopping, StopTimedOut, Stopping, vec![KillGroup]),
        (Stopping, Exited, Stopped, vec![]),
        (Stopping, OverLimit, Stopped, vec![]),
        (Fatal, Start, Starting, vec![Launch]),
        (Fatal, Cooldown, Starting, vec![Launch]),
        (Fatal, Stop, Stopped, vec![]),
        (Killed, Start, Starting, vec![Launch]),
        (Killed, Cooldown, Starting, vec![Launch]),
        (Killed, Stop, Stopped, vec![]),
    ]
}

#[test]
fn every_pair_follows_the_table() {
    let table = expected();
    for state in State::ALL {
        for event in Event::ALL {
            let got = next(state, event, 0, 3);
            match table.iter().find(|(s, e, _, _)| *s == state && *e == event) {
                Some((_, _, to, actions)) => {
                    assert_eq!(
                        (got.state, &got.actions, got.refused),
                        (*to, actions, false),
                        "{state:?} + {event:?}"
                    );
                }
                None => assert_eq!(
                    got,
                    Transition {
                        state,
                        retries: 0,
                        actions: vec![],
                        refused: true,
                    },
                    "{state:?} + {event:?} must be refused"
                ),
            }
        }
    }
}

#[test]
fn failures_count_up_then_end_fatal_after_max_retries() {
    // max_retries = 3: four starts in a row fail, the fourth failure is fatal.
    let mut state = next(Stopped, Start, 0, 3);
    let mut delays = vec![];
    for _ in 0..3 {
        let failed = next(state.state, Exited, state.retries, 3);
        assert_eq!(failed.state, Backoff);
        if let Some(ArmRetry(d)) = failed.actions.last() {
            delays.push(d.as_secs());
        }
        state = next(failed.state, RetryTimer, failed.retries, 3);
        assert_eq!(state.state, Starting);
    }
    assert_eq!(delays, vec![1, 2, 4]);
    let last = next(state.state, CheckFailed, state.retries, 3);
    assert_eq!((last.state, last.retries), (Fatal, 3));
    assert_eq!(last.actions, vec![KillGroup, ArmCooldown]);
    // The cool-down starts a fresh series.
    let again = next(Fatal, Cooldown, 3, 3);
    assert_eq!((again.state, again.retries), (Starting, 0));
}

#[test]
fn running_resets_the_failure_count_and_stop_resets_it_too() {
    assert_eq!(next(Starting, Started, 2, 3).retries, 0);
    assert_eq!(next(Backoff, Stop, 2, 3).retries, 0);
    assert_eq!(next(Stopping, Exited, 2, 3).retries, 0);
}

#[test]
fn zero_retries_is_fatal_at_the_first_failure() {
    assert_eq!(next(Starting, Exited, 0, 0).state, Fatal);
}

#[test]
fn backoff_doubles_and_is_capped() {
    let secs: Vec<u64> = (1..=9).map(|r| backoff(r).as_secs()).collect();
    assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
}

#[test]
fn seed_statuses() {
    use wire::boot::AgentState as A;
    let got: Vec<A> = State::ALL.iter().map(State::seed_status).collect();
    assert_eq!(
        got,
        vec![
            A::Stoped,
            A::Running,
            A::Running,
            A::Running,
            A::Stoped,
            A::Fatal,
            A::Killed,
            A::Stoped
        ]
    );
}

/// The one-shot table of the README: (from, event, to, actions); pairs not listed are refused.
fn expected_once() -> Vec<(State, Event, State, Vec<Action>)> {
    vec![
        (Stopped, Start, Starting, vec![Launch]),
        (Starting, Started, Running, vec![]),
        (Starting, CheckFailed, Finished, vec![KillGroup]),
        (Starting, Exited, Finished, vec![KillGroup]),
        (Starting, OverLimit, Finished, vec![KillGroup]),
        (Starting, Stop, Stopping, vec![SendStop]),
        (Running, CheckFailed, Finished, vec![KillGroup]),
        (Running, Exited, Finished, vec![KillGroup]),
        (Running, OverLimit, Finished, vec![KillGroup]),
        (Running, Stop, Stopping, vec![SendStop]),
        (Stopping, StopTimedOut, Stopping, vec![KillGroup]),
        (Stopping, Exited, Finished, vec![KillGroup]),
        (Stopping, OverLimit, Finished, vec![KillGroup]),
    ]
}

#[test]
fn every_one_shot_pair_follows_its_table_and_finished_is_final() {
    let table = expected_once();
    for state in State::ALL {
        for event in Event::ALL {
            let got = next_once(state, event);
            match table.iter().find(|(s, e, _, _)| *s == state && *e == event) {
                Some((_, _, to, actions)) => assert_eq!(
                    (got.state, &got.actions, got.refused),
                    (*to, actions, false),
                    "{state:?} + {event:?}"
                ),
                None => assert!(
                    got.refused && got.state == state && got.actions.is_empty(),
                    "{state:?} + {event:?} must be refused: {got:?}"
                ),
            }
        }
    }
    // Nothing ever leaves Finished, and nothing is retried or cooled down.
    for event in Event::ALL {
        assert!(next_once(Finished, event).refused);
    }
    assert!(
        expected_once()
            .iter()
            .all(|(_, _, to, _)| ![Backoff, Fatal, Killed].contains(to))
    );
}
