//! `POST /api/v1/commands` and `GET /api/v1/commands/{id}`: one command to many hosts (seed
//! "REST API"). The request is the fan-out fields plus a typed [`wire::Command`]; it is checked
//! and typed here, at the edge (3022 for an unknown method, 3021 for a bad parameter), stored with one host job per known host, sent at once to
//! the hosts whose connection this replica holds (the other replicas' dispatchers pick up
//! theirs), and answered with one entry per host in the caller's order: when every host has
//! answered or the deadline passed (sync), or at once with `pending` entries (`"async": true`).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use wire::{Command, CommandResult, Resp, retcode};

use crate::db::{CommandRecord, HostState, NewCommand};
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::extract::ApiPath;
use crate::state::AppState;

/// Seconds of a command's `timeout` when the request gives none (seed: 120).
const DEFAULT_TIMEOUT: u64 = wire::params::DEFAULT_TIMEOUT_SECS;
/// Seconds the deadline leaves past the timeout by default, for the trip and the answer.
const DEADLINE_MARGIN: u64 = 10;
/// Longest deadline accepted (a day).
const DEADLINE_MAX: u64 = 24 * 3600;
/// The longest method name the database keeps (`jobs.method`).
const METHOD_MAX: usize = 128;
/// How often a waiting call looks at the database for results other replicas stored.
const POLL: Duration = Duration::from_millis(200);

/// A command for many hosts as posted: the fan-out fields, and every other top-level field
/// (`method` and its parameters) still untyped; [`validate`] makes it a [`CommandRequest`].
#[derive(Deserialize)]
pub struct CommandBody {
    /// The command's id (default: a new UUID); must be new.
    #[serde(default)]
    pub id: Option<String>,
    /// Target hosts (hostname / AgentSN), each once; answers come in this order.
    pub hosts: Vec<String>,
    /// Hosts in flight at once (default: all).
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// Seconds for the whole request (default: the command's timeout + 10); silent hosts
    /// then get 205.
    #[serde(default)]
    pub deadline: Option<u64>,
    /// Answer at once (202) with `pending` entries; poll `GET /api/v1/commands/{id}`.
    #[serde(default, rename = "async")]
    pub r#async: bool,
    /// `method` and the method's parameters, at the top level as in the seed.
    #[serde(flatten)]
    pub command: Map<String, Value>,
}

/// A command for many hosts, checked: how to fan it out, and the typed command each host gets
/// (the seed's request: `{"hosts": [...], "method": "sync.bash", "cmd": "ls"}`). Its
/// OpenAPI schema (one per method, discriminated by `method`) is in
/// [`super::command_schema`].
#[derive(Clone, Debug, PartialEq)]
pub struct CommandRequest {
    /// The command's id (default: a new UUID); must be new.
    pub id: Option<String>,
    /// Target hosts, each once; answers come in this order.
    pub hosts: Vec<String>,
    /// Hosts in flight at once (default: all).
    pub max_concurrency: Option<u32>,
    /// Seconds for the whole request.
    pub deadline: Option<u64>,
    /// Answer at once (202) with `pending` entries.
    pub r#async: bool,
    /// What each host runs.
    pub command: Command,
}

/// What is stored for a command (the job's `spec`) and read back by the dispatcher: the
/// target hosts in the caller's order (read by the database layer), and the typed command that
/// every host's frame is made of. Nothing else of the request reaches a host.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StoredCommand {
    /// The target hosts in the caller's order.
    pub hosts: Vec<String>,
    /// The command.
    pub command: Command,
}

impl StoredCommand {
    /// Reads a stored spec: this shape, or the whole request as the release before typed
    /// commands stored it (`{"hosts": [...], "method": ..., <parameters>}`).
    pub fn parse(spec: &str) -> Result<StoredCommand, String> {
        let value: Value = serde_json::from_str(spec).map_err(|e| e.to_string())?;
        if value.get("command").is_some_and(Value::is_object) {
            return serde_json::from_value(value).map_err(|e| e.to_string());
        }
        let body: CommandBody = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let command = Command::from_map(body.command).map_err(|e| e.to_string())?;
        Ok(StoredCommand {
            hosts: body.hosts,
            command,
        })
    }
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

/// Checks a posted request and types its command before anything is stored (public for the
/// fuzz target in `fuzz/`): an unknown method is 400 with 3022, a bad parameter 400 with 3021.
pub fn validate(body: CommandBody) -> Result<CommandRequest, ApiError> {
    if body.hosts.is_empty() {
        return Err(ApiError::invalid("`hosts` is empty"));
    }
    let mut seen = std::collections::HashSet::new();
    for host in &body.hosts {
        if host.is_empty() {
            return Err(ApiError::invalid("a host name is empty"));
        }
        if !seen.insert(host.as_str()) {
            return Err(ApiError::invalid(format!("host `{host}` is listed twice")));
        }
    }
    if body.max_concurrency == Some(0) {
        return Err(ApiError::invalid("`max_concurrency` must be at least 1"));
    }
    match body.deadline {
        Some(0) => return Err(ApiError::invalid("`deadline` must be at least 1 second")),
        Some(d) if d > DEADLINE_MAX => {
            return Err(ApiError::invalid(format!(
                "`deadline` must be at most {DEADLINE_MAX} seconds"
            )));
        }
        _ => {}
    }
    let command = Command::from_map(body.command)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.retcode(), e.to_string()))?;
    super::command_schema::check_plugin_command(&command).map_err(ApiError::invalid)?;
    let method = command.method();
    if method.chars().count() > METHOD_MAX {
        return Err(ApiError::invalid(format!(
            "`method` is longer than {METHOD_MAX} characters"
        )));
    }
    if method.contains('\0') {
        return Err(ApiError::invalid("`method` contains a NUL character"));
    }
    Ok(CommandRequest {
        id: body.id,
        hosts: body.hosts,
        max_concurrency: body.max_concurrency,
        deadline: body.deadline,
        r#async: body.r#async,
        command,
    })
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
        (status = 400, description = "Invalid params (3021), or no such method (3022)", body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CommandBody>,
) -> Result<(StatusCode, Json<CommandView>), ApiError> {
    state.config.limits.check_hosts(&body.hosts)?;
    let request = validate(body)?;
    let id = request
        .id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let seconds = request
        .deadline
        .unwrap_or_else(|| {
            request
                .command
                .timeout_secs()
                .unwrap_or(DEFAULT_TIMEOUT)
                .saturating_add(DEADLINE_MARGIN)
        })
        .min(DEADLINE_MAX);
    let deadline = crate::db::now() + chrono::Duration::seconds(seconds as i64);
    let stored = StoredCommand {
        hosts: request.hosts.clone(),
        command: request.command.clone(),
    };
    let spec = serde_json::to_string(&stored).map_err(ApiError::invalid)?;
    let method = request.command.method();
    let hub = &state.hub;
    // Registered before anything is sent, so that no result of ours slips by unnoticed.
    let waiter = hub.waiter(&id);
    let record = state
        .db
        .create_command(&NewCommand {
            id: &id,
            method: &method,
            spec: &spec,
            hosts: &request.hosts,
            deadline,
            max_concurrency: request.max_concurrency,
            fresh_after: hub.fresh_after(),
        })
        .await?;
    state.telemetry.command_created(request.hosts.len());
    if let Err(e) = crate::links::send::send_queued(hub, &state.db, Some(&id)).await {
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

    fn body(json: serde_json::Value) -> CommandBody {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn refuses_what_cannot_run() {
        let bad = [
            (
                serde_json::json!({"hosts": [], "method": "getinfo.users"}),
                3021,
            ),
            (serde_json::json!({"hosts": ["a"], "method": ""}), 3022),
            (serde_json::json!({"hosts": ["a"], "method": "x"}), 3022),
            (serde_json::json!({"hosts": ["a"]}), 3021),
            (
                serde_json::json!({"hosts": ["a"], "method": "sync.bash"}),
                3021,
            ),
            (
                serde_json::json!({"hosts": ["a"], "method": "sync.bash", "cmd": "ls", "timeout": 0}),
                3021,
            ),
            (
                serde_json::json!({"hosts": ["a"], "method": "task.list", "max_concurrency": 0}),
                3021,
            ),
            (
                serde_json::json!({"hosts": ["a", "a"], "method": "task.list"}),
                3021,
            ),
            (
                serde_json::json!({"hosts": ["a"], "method": "getinfo.os", "name": "x"}),
                3021,
            ),
            (
                serde_json::json!({"hosts": ["a"], "method": "sync.bash", "cmd": "ls", "timout": 5}),
                3021,
            ),
            (
                serde_json::json!({"hosts": ["a"], "method": format!("getinfo.{}", "x".repeat(128))}),
                3021,
            ),
        ];
        for (json, code) in bad {
            let error = validate(body(json.clone())).expect_err(&json.to_string());
            assert_eq!(
                (error.status, error.errcode),
                (StatusCode::BAD_REQUEST, code),
                "{json}: {}",
                error.message
            );
        }
        let good = validate(body(
            serde_json::json!({"hosts": ["a"], "method": "sync.bash", "cmd": "ls"}),
        ))
        .unwrap();
        assert_eq!(good.command.method(), "sync.bash");
        // The seed's daemon.init: its parameters at the top level.
        let init = validate(body(serde_json::json!({
            "hosts": ["a"], "method": "daemon.init", "name": "mon", "version": "1.0",
            "url": "http://pkg/mon.tgz", "start": "./start", "stop": "kill:TERM",
            "env": {"PATH": "/usr/bin"}, "limits": {"memory": "100M"},
        })))
        .unwrap();
        let Command::DaemonInit(init) = init.command else {
            panic!("{init:?}")
        };
        assert_eq!(init.limits.unwrap()["memory"], "100M");
    }

    /// What is stored holds the hosts beside the command, never in it; a spec stored by the
    /// release before typed commands (the whole request) still reads.
    #[test]
    fn stored_commands_keep_hosts_apart_and_old_specs_read() {
        let request = validate(body(
            serde_json::from_str(wire::seed::REST_REQUEST).unwrap(),
        ))
        .unwrap();
        let stored = StoredCommand {
            hosts: request.hosts.clone(),
            command: request.command.clone(),
        };
        let spec = serde_json::to_string(&stored).unwrap();
        assert_eq!(
            spec,
            r#"{"hosts":["eccb24a7","b19ffa7e"],"command":{"method":"sync.bash","cmd":"ls"}}"#
        );
        assert_eq!(StoredCommand::parse(&spec).unwrap(), stored);
        let old = r#"{"id":"j","hosts":["a","b"],"method":"daemon.status","args":"mon","max_concurrency":2,"async":true}"#;
        let read = StoredCommand::parse(old).unwrap();
        assert_eq!(read.hosts, ["a", "b"]);
        assert_eq!(
            serde_json::to_string(&read.command).unwrap(),
            r#"{"method":"daemon.status","args":"mon"}"#
        );
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
