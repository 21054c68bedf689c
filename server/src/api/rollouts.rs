//! Rollouts (admin API, bearer token): `POST /api/v1/rollouts` creates one plugin action for
//! a list of hosts or a region, with a concurrency limit and a failure threshold (SSM's
//! MaxConcurrency and MaxErrors); `GET /api/v1/rollouts/{id}` shows its state and each host's,
//! `GET /api/v1/rollouts` lists them. The request is checked here and turned into the one
//! single-host `wire::Command` every host gets (install and upgrade name a catalogue release:
//! its URL on the package server and its digest fill `url` and `checksum`); the scheduler in
//! `crate::rollouts` carries it out.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use wire::plugins::{PluginAgent, plugin_name};
use wire::{Command, retcode};

use super::plugin_views::{RolloutActionView, RolloutView};
use crate::catalogue::release_version;
use crate::db::Target;
use crate::db::plugins::{NewRollout, RolloutAction};
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

/// Hosts in flight at once when the request does not say (SSM's default).
const DEFAULT_CONCURRENCY: u32 = 50;
/// Seconds one host may take when the request does not say.
const DEFAULT_TIMEOUT: u64 = 300;
/// Longest per-host timeout (a day).
const TIMEOUT_MAX: u64 = 24 * 3600;
/// Most rollouts one list returns.
const LIMIT_MAX: u32 = 1000;

/// A new rollout.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRolloutBody {
    /// What each host does: install, upgrade, remove, start, stop or configure.
    pub action: RolloutActionView,
    /// The agent whose plugin it is: `gearman` or `nodus` (gearman manages nodus's).
    pub agent: PluginAgent,
    /// The plugin's name.
    pub plugin: String,
    /// install, upgrade: the release, which must be in the catalogue (`POST
    /// /api/v1/plugins`); not for the other actions.
    pub version: Option<String>,
    /// start, stop, configure: one instance (`primary` of `http/primary`); every instance
    /// when absent (configure: the plugin's only one).
    pub instance: Option<String>,
    /// configure: the instance's whole option set, by the plugin schema's option names.
    #[schema(value_type = Option<Object>)]
    pub options: Option<Map<String, Value>>,
    /// Target hosts by name (all must be registered); or `region`.
    pub hosts: Option<Vec<String>>,
    /// Target every host of this region, by hostname; or `hosts`.
    pub region: Option<String>,
    /// Hosts in flight at once (default 50).
    pub max_concurrency: Option<u32>,
    /// Hosts that may fail or time out (default 0): once more do, the rollout stops, the
    /// hosts not begun are cancelled and those in flight finish.
    pub max_errors: Option<u32>,
    /// Seconds one host may take before it counts as timed out (default 300, at most a day).
    pub timeout: Option<u64>,
}

fn invalid_params(e: wire::CommandError) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, e.retcode(), e.to_string())
}

/// Checks what does not need the database; returns the target.
fn check(body: &mut NewRolloutBody, limits: &crate::limits::Limits) -> Result<Target, ApiError> {
    plugin_name("plugin", &body.plugin).map_err(ApiError::invalid)?;
    let release = matches!(
        body.action,
        RolloutActionView::Install | RolloutActionView::Upgrade
    );
    match (&body.version, release) {
        (Some(version), true) => release_version(version).map_err(ApiError::invalid)?,
        (None, true) => return Err(ApiError::invalid("install and upgrade need `version`")),
        (Some(_), false) => {
            return Err(ApiError::invalid(
                "`version` is for install and upgrade: the other actions act on the installed one",
            ));
        }
        (None, false) => {}
    }
    let instance_ok = matches!(
        body.action,
        RolloutActionView::Start | RolloutActionView::Stop | RolloutActionView::Configure
    );
    if body.instance.is_some() && !instance_ok {
        return Err(ApiError::invalid(
            "`instance` is for start, stop and configure",
        ));
    }
    if let Some(instance) = &body.instance {
        plugin_name("instance", instance).map_err(ApiError::invalid)?;
    }
    match (&body.options, body.action == RolloutActionView::Configure) {
        (None, true) => return Err(ApiError::invalid("configure needs `options`")),
        (Some(_), false) => return Err(ApiError::invalid("`options` is for configure")),
        _ => {}
    }
    if body.max_concurrency == Some(0) {
        return Err(ApiError::invalid("`max_concurrency` must be at least 1"));
    }
    match body.timeout {
        Some(0) => return Err(ApiError::invalid("`timeout` must be at least 1 second")),
        Some(t) if t > TIMEOUT_MAX => {
            return Err(ApiError::invalid(format!(
                "`timeout` must be at most {TIMEOUT_MAX} seconds"
            )));
        }
        _ => {}
    }
    match (body.hosts.take(), body.region.take()) {
        (Some(hosts), None) if !hosts.is_empty() => {
            limits.check_hosts(&hosts)?;
            let mut seen = std::collections::HashSet::new();
            for host in &hosts {
                if host.is_empty() {
                    return Err(ApiError::invalid("a host name is empty"));
                }
                if !seen.insert(host.as_str()) {
                    return Err(ApiError::invalid(format!(
                        "host `{}` is listed twice",
                        crate::limits::excerpt(host)
                    )));
                }
            }
            Ok(Target::Hosts(hosts))
        }
        (None, Some(region)) if !region.is_empty() => Ok(Target::Region(region)),
        _ => Err(ApiError::invalid(
            "give either a non-empty `hosts` list or a `region`",
        )),
    }
}

/// The single-host command of a rollout, checked as the agent will parse it.
async fn command(state: &AppState, body: &NewRolloutBody) -> Result<Command, ApiError> {
    let mut fields = json!({"agent": body.agent, "name": body.plugin});
    let method = match body.action {
        RolloutActionView::Install | RolloutActionView::Upgrade => {
            let version = body.version.as_deref().unwrap_or_default();
            let release = state
                .db
                .release(body.agent, &body.plugin, version)
                .await?
                .ok_or_else(|| {
                    ApiError::not_found(
                        retcode::NOT_FOUND,
                        format!(
                            "Not found: {} plugin `{}` {version} is not in the catalogue \
                             (upload it with POST /api/v1/plugins)",
                            body.agent, body.plugin
                        ),
                    )
                })?;
            let url = state.catalogue.url(&release.path).ok_or_else(|| {
                ApiError::invalid(
                    "Polaris does not know the URL agents reach its package server at: \
                     set plugins.package_url",
                )
            })?;
            fields["version"] = json!(version);
            fields["url"] = json!(url);
            fields["checksum"] = json!(release.digest);
            if body.action == RolloutActionView::Install {
                "plugin.install"
            } else {
                "plugin.upgrade"
            }
        }
        RolloutActionView::Remove => "plugin.remove",
        RolloutActionView::Start => "plugin.start",
        RolloutActionView::Stop => "plugin.stop",
        RolloutActionView::Configure => {
            fields["options"] = json!(body.options);
            "plugin.configure"
        }
    };
    if let Some(instance) = &body.instance {
        fields["instance"] = json!(instance);
    }
    let Value::Object(fields) = fields else {
        return Err(ApiError::invalid("the command is not an object"));
    };
    let command = Command::from_fields(method, fields).map_err(invalid_params)?;
    super::command_schema::check_plugin_command(&command).map_err(ApiError::invalid)?;
    Ok(command)
}

/// `POST /api/v1/rollouts`: creates a rollout; the scheduler begins its first hosts at once.
#[utoipa::path(post, path = "/api/v1/rollouts", tag = "plugins", operation_id = "create_rollout", request_body = NewRolloutBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = RolloutView),
        (status = 400, description = "Invalid params (3021)", body = ErrorBody),
        (status = 404, description = "No such host (203), naming every unknown host, or the release is not in the catalogue (3033); nothing created", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(mut body): ApiJson<NewRolloutBody>,
) -> Result<(StatusCode, Json<RolloutView>), ApiError> {
    let target = check(&mut body, &state.config.limits)?;
    let command = command(&state, &body).await?;
    let text = serde_json::to_string(&command).map_err(ApiError::invalid)?;
    let method = command.method();
    let id = uuid::Uuid::new_v4().to_string();
    let rollout = state
        .db
        .create_rollout(&NewRollout {
            id: &id,
            action: RolloutAction::from(body.action),
            agent: body.agent,
            plugin: &body.plugin,
            version: body.version.as_deref(),
            instance: body.instance.as_deref(),
            method: &method,
            command: &text,
            target: &target,
            max_concurrency: body.max_concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            max_errors: body.max_errors.unwrap_or(0),
            timeout: body.timeout.unwrap_or(DEFAULT_TIMEOUT),
        })
        .await?;
    tracing::info!(%id, %method, plugin = %body.plugin, hosts = rollout.hosts.len(), "Rollout created.");
    state.hub.kick_rollouts();
    Ok((StatusCode::CREATED, Json(RolloutView::new(rollout, true))))
}

fn no_such(id: &str) -> ApiError {
    ApiError::not_found(
        retcode::NOT_FOUND,
        format!("Not found: no rollout {}", crate::limits::excerpt(id)),
    )
}

/// `GET /api/v1/rollouts/{id}`: the rollout's state and counts, and each host's state, the
/// agent's message, when it started and finished.
#[utoipa::path(get, path = "/api/v1/rollouts/{id}", tag = "plugins", operation_id = "rollout",
    params(("id" = String, Path, description = "Rollout id")),
    security(("bearer" = [])),
    responses((status = 200, body = RolloutView),
        (status = 404, description = "No such rollout (3033)", body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RolloutView>, ApiError> {
    if id.is_empty() || id.len() > 64 || id.contains('\0') {
        return Err(no_such(&id));
    }
    let rollout = state.db.rollout(&id).await?.ok_or_else(|| no_such(&id))?;
    Ok(Json(RolloutView::new(rollout, true)))
}

/// Filters of the rollout list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RolloutFilter {
    /// At most this many rollouts, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// `GET /api/v1/rollouts`: rollouts, newest first, with their counts.
#[utoipa::path(get, path = "/api/v1/rollouts", tag = "plugins", operation_id = "rollouts",
    params(RolloutFilter),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<RolloutView>),
        (status = 400, description = "Invalid params (3021)", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(filter): ApiQuery<RolloutFilter>,
) -> Result<Json<Vec<RolloutView>>, ApiError> {
    let limit = filter.limit.unwrap_or(100);
    if limit == 0 || limit > LIMIT_MAX {
        return Err(ApiError::invalid(format!(
            "`limit` must be between 1 and {LIMIT_MAX}"
        )));
    }
    let rollouts = state.db.rollouts(limit).await?;
    Ok(Json(
        rollouts
            .into_iter()
            .map(|r| RolloutView::new(r, false))
            .collect(),
    ))
}
