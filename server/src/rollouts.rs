//! The rollout scheduler: one [`round`] carries every unfinished rollout a step further,
//! through the existing command machinery. A step settles the running hosts from their
//! commands (`host_job`: done → succeeded, failed → failed with the agent's message, no answer
//! by the host's deadline → timed_out), which stops the rollout when more than `max_errors`
//! hosts failed (pending hosts are cancelled, those in flight finish and are recorded); then
//! begins as many pending hosts as `max_concurrency` allows, each as a single-host command that
//! the dispatcher of the replica holding the host's connection sends; and finishes the rollout
//! once no host is pending or running.
//!
//! Every replica runs rounds (`crate::background`); the database (`db::RolloutStore`) makes
//! them safe together: each change locks the rollout's row first, and a host is begun and
//! settled by conditional updates, so two replicas neither exceed `max_concurrency` together
//! nor begin or settle a host twice. A replica that stops between beginning a host and making
//! its command leaves a running host without one: the next round of any replica makes it (a
//! command id is made once, so two replicas cannot make it twice).

use std::time::Duration;

use chrono::{DateTime, Utc};
use wire::{Command, CommandResult, Resp, retcode};

use crate::api::commands::StoredCommand;
use crate::db::plugins::{Begun, Rollout, RolloutHostState, RunningHost, Settled};
use crate::db::{Db, DbError, HostState, NewCommand};
use crate::links::Hub;

/// Time between rounds when nothing kicks the scheduler (a result stored, a new rollout).
pub const TICK: Duration = Duration::from_millis(500);

/// What a running host's command says now.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Its command is not made yet (the replica that began it stopped first).
    Missing,
    /// No answer yet, and its deadline has not passed.
    Waiting,
    /// It ended.
    Settled(Settled),
}

/// The message of a result: the agent's, or the retcode's standard one.
fn message_of(result: &CommandResult) -> String {
    if result.message.is_empty() {
        retcode::message(result.retcode)
            .unwrap_or("Failed")
            .to_owned()
    } else {
        result.message.clone()
    }
}

/// Where a running host stands at `now`, from its command's part (pure: the rules of
/// settling, tested below).
pub fn verdict(host: &RunningHost, deadline: DateTime<Utc>, now: DateTime<Utc>) -> Verdict {
    let settled = |state, retcode, message: String| {
        Verdict::Settled(Settled {
            hostname: host.hostname.clone(),
            state,
            retcode,
            message,
        })
    };
    let past = now >= deadline;
    let Some(part) = &host.command else {
        return Verdict::Missing;
    };
    let Some(part) = part else {
        return settled(
            RolloutHostState::Failed,
            retcode::NO_SUCH_HOST,
            "No such host".into(),
        );
    };
    match part.state {
        HostState::Done | HostState::Failed => {
            let result = part
                .result
                .clone()
                .unwrap_or_else(|| CommandResult::code(retcode::INTERNAL));
            let state = if part.state == HostState::Done && result.resp == Resp::Success {
                RolloutHostState::Succeeded
            } else {
                RolloutHostState::Failed
            };
            settled(state, result.retcode, message_of(&result))
        }
        HostState::Lost if past => settled(
            RolloutHostState::TimedOut,
            retcode::AGENT_DISCONNECTED,
            "Agent disconnected, and no answer before the timeout".into(),
        ),
        HostState::Queued | HostState::Sent if past => settled(
            RolloutHostState::TimedOut,
            retcode::NO_ANSWER,
            "No answer before the timeout".into(),
        ),
        HostState::Lost | HostState::Queued | HostState::Sent => Verdict::Waiting,
    }
}

/// One round: a step for each unfinished rollout (a failing one is logged and left for the
/// next round).
pub async fn round(db: &Db, hub: &Hub) -> Result<(), DbError> {
    for rollout in db.active_rollouts().await? {
        if let Err(e) = step(db, hub, &rollout).await {
            tracing::warn!(rollout = %rollout.id, error = %e, "Rollout step failed; retried next round.");
        }
    }
    Ok(())
}

/// The deadline of a host begun at `started`.
fn deadline(rollout: &Rollout, started: DateTime<Utc>) -> DateTime<Utc> {
    started + chrono::Duration::seconds(i64::try_from(rollout.timeout).unwrap_or(i64::MAX / 2))
}

/// Settles, begins, finishes one rollout.
async fn step(db: &Db, hub: &Hub, rollout: &Rollout) -> Result<(), DbError> {
    let command: Command = serde_json::from_str(&rollout.command)
        .map_err(|e| DbError::Invalid(format!("stored command is unreadable: {e}")))?;
    let now = crate::db::now();
    let mut settled = Vec::new();
    for host in db.running_hosts(&rollout.id).await? {
        match verdict(&host, deadline(rollout, host.started), now) {
            Verdict::Missing => {
                let begun = Begun {
                    hostname: host.hostname.clone(),
                    job_id: host.job_id.clone(),
                    started: host.started,
                };
                make_command(db, hub, rollout, &command, &begun).await?;
            }
            Verdict::Waiting => {}
            Verdict::Settled(s) => settled.push(s),
        }
    }
    if !settled.is_empty() {
        db.settle_hosts(&rollout.id, &settled).await?;
        for s in &settled {
            tracing::debug!(rollout = %rollout.id, host = %s.hostname, state = s.state.as_str(),
                "Rollout host settled: {}", s.message);
        }
    }
    let begun = db.begin_hosts(&rollout.id).await?;
    for host in &begun {
        make_command(db, hub, rollout, &command, host).await?;
    }
    if !begun.is_empty() {
        // The dispatcher of this replica sends what it can at once; the others' next tick.
        hub.kick();
    }
    if let Some(state) = db.finish_rollout(&rollout.id).await? {
        tracing::info!(rollout = %rollout.id, state = state.as_str(), "Rollout finished.");
    }
    Ok(())
}

/// Makes the single-host command of a begun host (once: a command id is unique, so a second
/// attempt, by this replica or another, is a conflict that changes nothing).
async fn make_command(
    db: &Db,
    hub: &Hub,
    rollout: &Rollout,
    command: &Command,
    host: &Begun,
) -> Result<(), DbError> {
    let hosts = vec![host.hostname.clone()];
    let spec = serde_json::to_string(&StoredCommand {
        hosts: hosts.clone(),
        command: command.clone(),
    })
    .map_err(|e| DbError::Invalid(format!("cannot encode the command: {e}")))?;
    let made = db
        .create_command(&NewCommand {
            id: &host.job_id,
            method: &rollout.method,
            spec: &spec,
            hosts: &hosts,
            deadline: deadline(rollout, host.started),
            max_concurrency: None,
            fresh_after: hub.fresh_after(),
        })
        .await;
    match made {
        Ok(_) => {
            hub.telemetry.command_created(1);
            Ok(())
        }
        Err(DbError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::CommandPart;

    fn host(command: Option<Option<CommandPart>>) -> RunningHost {
        RunningHost {
            hostname: "h".into(),
            job_id: "j".into(),
            started: crate::db::now(),
            command,
        }
    }

    fn state(v: Verdict) -> Option<(RolloutHostState, u32, String)> {
        match v {
            Verdict::Settled(s) => Some((s.state, s.retcode, s.message)),
            _ => None,
        }
    }

    #[test]
    fn running_hosts_settle_by_their_commands_and_deadline() {
        let now = crate::db::now();
        let later = now + chrono::Duration::seconds(10);
        let part = |state, result| Some(Some(CommandPart { state, result }));
        assert_eq!(verdict(&host(None), later, now), Verdict::Missing);
        assert_eq!(
            verdict(&host(part(HostState::Sent, None)), later, now),
            Verdict::Waiting
        );
        assert_eq!(
            state(verdict(&host(part(HostState::Sent, None)), now, now)),
            Some((
                RolloutHostState::TimedOut,
                205,
                "No answer before the timeout".into()
            ))
        );
        assert_eq!(
            verdict(&host(part(HostState::Lost, None)), later, now),
            Verdict::Waiting,
            "a late result may still replace lost"
        );
        let ok = CommandResult::success(serde_json::json!("installed 1.0.0"));
        assert_eq!(
            state(verdict(&host(part(HostState::Done, Some(ok))), later, now)),
            Some((RolloutHostState::Succeeded, 2, "Normal termination".into()))
        );
        let failed = CommandResult::failed(3023, "kept 1.0.0: init panicked: boom");
        assert_eq!(
            state(verdict(
                &host(part(HostState::Failed, Some(failed))),
                later,
                now
            )),
            Some((
                RolloutHostState::Failed,
                3023,
                "kept 1.0.0: init panicked: boom".into()
            ))
        );
        let offline = CommandResult::code(retcode::HOST_OFFLINE);
        assert_eq!(
            state(verdict(
                &host(part(HostState::Failed, Some(offline))),
                later,
                now
            )),
            Some((RolloutHostState::Failed, 204, "Host offline".into()))
        );
        assert_eq!(
            state(verdict(&host(Some(None)), later, now)),
            Some((RolloutHostState::Failed, 203, "No such host".into()))
        );
    }
}
