//! `POST /api/v1/commands` and `GET /api/v1/commands/{id}`: one command to many hosts (seed
//! "REST API"). The request is checked, stored with one host job per known host, sent at once to
//! the hosts whose connection this replica holds (the other replicas' dispatchers pick up
//! theirs), and answered with one entry per host in the caller's order: when every host has
//! answered or the deadline passed (sync), or at once with `pending` entries (`"async": true`).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use wire::{CommandResult, Resp, retcode};

use crate::db::{CommandRecord, HostState, NewCommand};
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::extract::ApiPath;
use crate::state::AppState;

/// Seconds of a command's `timeout` when the request gives none (seed: 120).
const DEFAULT_TIMEOUT: u64 = 120;
/// Seconds the deadline leaves past the timeout by default, for the trip and the answer.
const DEADLINE_MARGIN: u64 = 10;
/// Longest deadline accepted (a day).
const DEADLINE_MAX: u64 = 24 * 3600;
/// How often a waiting call looks at the database for results other replicas stored.
const POLL: Duration = Duration::from_millis(200);

/// Methods whose parameters the seed puts at the top level of the request rather than in
/// `args`: `daemon.init` (`name`, `version`, `url`, `start`, `stop`, ...). Any other method
/// with a field this request does not know is refused, so a misspelt field is never ignored.
const TOP_LEVEL_PARAMETERS: [&str; 1] = ["daemon.init"];

/// A command for many hosts: the seed's request plus how to fan it out.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
pub struct CommandRequest {
    /// The command's id (default: a new UUID); must be new.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Target hosts (hostname / AgentSN), each once; answers come in this order.
    pub hosts: Vec<String>,
    /// `sync.bash`, `getinfo.users`, ... (passed to the agent as is).
    pub method: String,
    /// The shell command (required by `*.bash`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    /// Seconds before the agent stops the command (default 120, at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// User to run as (agent default: root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Group to run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Per-method arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<String>,
    /// Hosts in flight at once (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// Seconds for the whole request (default: timeout + 10); silent hosts then get 205.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<u64>,
    /// Answer at once (202) with `pending` entries; poll `GET /api/v1/commands/{id}`.
    #[serde(default, rename = "async")]
    pub r#async: bool,
    /// The top-level parameters of `daemon.init` (`name`, `version`, `url`, `start`, `stop`,
    /// `env`, `limits`, ...), passed to the agent as sent; refused for other methods.
    #[serde(flatten)]
    pub parameters: serde_json::Map<String, serde_json::Value>,
}

/// A command's answer: one entry per host, in the order of the request's `hosts`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CommandView {
    /// The command's id.
    pub id: String,
    /// True when no host is still expected to answer (all answered, or the deadline passed).
    pub done: bool,
    /// Per host: the agent's result (`resp`, `retcode`, `message`, `data`, exit status...),
    /// or Polaris's: 203 No such host, 204 Host offline, 205 No answer before deadline,
    /// 206 Agent disconnected, 207 Pending.
    pub response: Vec<CommandResult>,
}

/// Checks a request before anything is stored (public for the fuzz target in `fuzz/`).
pub fn validate(request: &CommandRequest) -> Result<(), ApiError> {
    if request.hosts.is_empty() {
        return Err(ApiError::invalid("`hosts` is empty"));
    }
    let mut seen = std::collections::HashSet::new();
    for host in &request.hosts {
        if host.is_empty() {
            return Err(ApiError::invalid("a host name is empty"));
        }
        if !seen.insert(host.as_str()) {
            return Err(ApiError::invalid(format!("host `{host}` is listed twice")));
        }
    }
    if request.method.is_empty() {
        return Err(ApiError::invalid("`method` is empty"));
    }
    if let Some(field) = request.parameters.keys().next()
        && !TOP_LEVEL_PARAMETERS.contains(&request.method.as_str())
    {
        return Err(ApiError::invalid(format!(
            "unknown field `{field}` (only {} take top-level parameters)",
            TOP_LEVEL_PARAMETERS.join(", ")
        )));
    }
    if request.method.ends_with(".bash") && request.cmd.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::invalid(format!(
            "`{}` needs `cmd`",
            request.method
        )));
    }
    if request.timeout == Some(0) {
        return Err(ApiError::invalid("`timeout` must be at least 1 second"));
    }
    if request.max_concurrency == Some(0) {
        return Err(ApiError::invalid("`max_concurrency` must be at least 1"));
    }
    match request.deadline {
        Some(0) => Err(ApiError::invalid("`deadline` must be at least 1 second")),
        Some(d) if d > DEADLINE_MAX => Err(ApiError::invalid(format!(
            "`deadline` must be at most {DEADLINE_MAX} seconds"
        ))),
        _ => Ok(()),
    }
}

/// The answer for a stored command as of `now`.
pub fn view(record: &CommandRecord, now: DateTime<Utc>) -> CommandView {
    let past = now >= record.deadline;
    let mut done = true;
    let response = record
        .hosts
        .iter()
        .map(|host| {
            let mut entry = match record.parts.get(host) {
                None => CommandResult::code(retcode::NO_SUCH_HOST),
                Some(part) => match part.state {
                    HostState::Done | HostState::Failed => part
                        .result
                        .clone()
                        .unwrap_or_else(|| CommandResult::code(retcode::INTERNAL)),
                    HostState::Lost => CommandResult::code(retcode::AGENT_DISCONNECTED),
                    HostState::Queued | HostState::Sent if past => {
                        CommandResult::code(retcode::NO_ANSWER)
                    }
                    HostState::Queued | HostState::Sent => {
                        done = false;
                        let mut pending = CommandResult::code(retcode::PENDING);
                        pending.resp = Resp::Pending;
                        pending
                    }
                },
            };
            entry.id = None;
            entry.host = Some(host.clone());
            entry
        })
        .collect();
    CommandView {
        id: record.id.clone(),
        done,
        response,
    }
}

/// `POST /api/v1/commands`: runs a command on many hosts.
#[utoipa::path(post, path = "/api/v1/commands", tag = "commands", request_body = CommandRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every host answered, or the deadline passed", body = CommandView),
        (status = 202, description = "Accepted (`async`): entries are pending (207) but for 203/204", body = CommandView),
        (status = 400, description = "Invalid params (3021)", body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(mut request): ApiJson<CommandRequest>,
) -> Result<(StatusCode, Json<CommandView>), ApiError> {
    state.config.limits.check_hosts(&request.hosts)?;
    validate(&request)?;
    let id = request
        .id
        .take()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    request.id = Some(id.clone());
    let seconds = request
        .deadline
        .unwrap_or_else(|| {
            request
                .timeout
                .unwrap_or(DEFAULT_TIMEOUT)
                .saturating_add(DEADLINE_MARGIN)
        })
        .min(DEADLINE_MAX);
    let deadline = crate::db::now() + chrono::Duration::seconds(seconds as i64);
    let spec = serde_json::to_string(&request).map_err(ApiError::invalid)?;
    let hub = &state.hub;
    // Registered before anything is sent, so that no result of ours slips by unnoticed.
    let waiter = hub.waiter(&id);
    let record = state
        .db
        .create_command(&NewCommand {
            id: &id,
            method: &request.method,
            spec: &spec,
            hosts: &request.hosts,
            deadline,
            max_concurrency: request.max_concurrency,
            fresh_after: hub.fresh_after(),
        })
        .await?;
    state.telemetry.command_created(request.hosts.len());
    if let Err(e) = crate::agents::dispatch::dispatch(hub, &state.db, Some(&id)).await {
        // The dispatcher's next round sends them.
        tracing::warn!(error = %e, "Fast-path dispatch of command {id} failed.");
    }
    if request.r#async {
        return Ok((StatusCode::ACCEPTED, Json(view(&record, crate::db::now()))));
    }
    // Results this replica stores are counted as they come; the database (which also sees
    // other replicas' results and lost agents) is asked when that count says all are in, and
    // every POLL otherwise, not at every batch of results.
    let expected = record
        .parts
        .values()
        .filter(|part| part.state == HostState::Queued)
        .count();
    let mut next_poll = tokio::time::Instant::now();
    loop {
        let now = crate::db::now();
        if now >= deadline {
            break;
        }
        let at = tokio::time::Instant::now();
        if waiter.waiting.stored() >= expected || at >= next_poll {
            if state.db.command_unanswered(&id).await? == 0 {
                break;
            }
            next_poll = at + POLL;
        }
        let left = (deadline - now).to_std().unwrap_or_default();
        tokio::select! {
            _ = waiter.waiting.notify.notified() => {}
            _ = tokio::time::sleep_until(next_poll.min(at + left)) => {}
        }
    }
    drop(waiter);
    let record = state.db.command(&id).await?.ok_or_else(|| no_such(&id))?;
    Ok((StatusCode::OK, Json(view(&record, crate::db::now()))))
}

fn no_such(id: &str) -> ApiError {
    ApiError::not_found(retcode::NO_SUCH_JOB, format!("No such job: {id}"))
}

/// `GET /api/v1/commands/{id}`: the answers so far, with `done`.
#[utoipa::path(get, path = "/api/v1/commands/{id}", tag = "commands",
    params(("id" = String, Path, description = "Command id")),
    security(("bearer" = [])),
    responses((status = 200, body = CommandView),
        (status = 404, description = "No such job (3030)", body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CommandView>, ApiError> {
    let record = state.db.command(&id).await?.ok_or_else(|| no_such(&id))?;
    Ok(Json(view(&record, crate::db::now())))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::db::CommandPart;

    fn request(json: serde_json::Value) -> CommandRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn refuses_what_cannot_run() {
        let bad = [
            serde_json::json!({"hosts": [], "method": "getinfo.users"}),
            serde_json::json!({"hosts": ["a"], "method": ""}),
            serde_json::json!({"hosts": ["a"], "method": "sync.bash"}),
            serde_json::json!({"hosts": ["a"], "method": "sync.bash", "cmd": "ls", "timeout": 0}),
            serde_json::json!({"hosts": ["a"], "method": "x", "max_concurrency": 0}),
            serde_json::json!({"hosts": ["a", "a"], "method": "x"}),
            serde_json::json!({"hosts": ["a"], "method": "getinfo.os", "name": "x"}),
            serde_json::json!({"hosts": ["a"], "method": "sync.bash", "cmd": "ls", "timout": 5}),
        ];
        for body in bad {
            assert!(validate(&request(body.clone())).is_err(), "{body}");
        }
        let good = request(serde_json::json!({"hosts": ["a"], "method": "sync.bash", "cmd": "ls"}));
        assert!(validate(&good).is_ok());
        // The seed's daemon.init: its parameters at the top level.
        let init = request(serde_json::json!({
            "hosts": ["a"], "method": "daemon.init", "name": "mon", "version": "1.0",
            "url": "http://pkg/mon.tgz", "start": "./start", "stop": "kill:TERM",
            "env": {"PATH": "/usr/bin"}, "limits": {"memory": "100M"},
        }));
        assert!(validate(&init).is_ok());
        assert_eq!(init.parameters["limits"]["memory"], "100M");
    }

    #[test]
    fn view_keeps_the_callers_order_and_names_each_outcome() {
        let now = crate::db::now();
        let part = |state, result| CommandPart { state, result };
        let record = CommandRecord {
            id: "j".into(),
            hosts: vec!["ok".into(), "ghost".into(), "slow".into(), "gone".into()],
            deadline: now,
            parts: HashMap::from([
                (
                    "ok".into(),
                    part(HostState::Done, Some(CommandResult::success("x".into()))),
                ),
                ("slow".into(), part(HostState::Sent, None)),
                ("gone".into(), part(HostState::Lost, None)),
            ]),
        };
        let codes =
            |view: CommandView| -> Vec<u32> { view.response.iter().map(|r| r.retcode).collect() };
        let before = view(&record, now - chrono::Duration::seconds(1));
        assert!(!before.done);
        assert_eq!(codes(before), [2, 203, 207, 206]);
        let after = view(&record, now);
        assert!(after.done);
        assert_eq!(codes(after), [2, 203, 205, 206]);
    }
}
