//! The plugin inventory of the fleet as the gearman agents report it (admin API, bearer
//! token): one host's plugins (`GET /api/v1/hosts/{hostname}/plugins`), the hosts running a
//! plugin (`GET /api/v1/plugins/{name}/hosts`), and every host with a plugin skipped, failing
//! or penalised, or an agent that could not be asked (`GET /api/v1/plugin-problems`). The
//! inventories themselves arrive over the agent links (`links::session`).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use wire::plugins::{PluginAgent, plugin_name};
use wire::retcode;

use super::plugin_views::{AgentPluginsView, HostPluginsView, PluginHostView, PluginProblemView};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

/// Most problems one call returns.
const LIMIT_MAX: u32 = 1000;

/// `GET /api/v1/hosts/{hostname}/plugins`: the host's plugins per agent, with their
/// instances, states and options (secrets masked by the agent), the files skipped, when each
/// agent's inventory last changed, and when the host's gearman was last seen connected.
#[utoipa::path(get, path = "/api/v1/hosts/{hostname}/plugins", tag = "plugins",
    params(("hostname" = String, Path, description = "Host name / AgentSN")),
    security(("bearer" = [])),
    responses((status = 200, body = HostPluginsView),
        (status = 404, description = "No such host (203)", body = ErrorBody)))]
pub async fn host_plugins(
    State(state): State<AppState>,
    ApiPath(hostname): ApiPath<String>,
) -> Result<Json<HostPluginsView>, ApiError> {
    if state.db.host(&hostname).await?.is_none() {
        return Err(ApiError::not_found(
            retcode::NO_SUCH_HOST,
            format!("No such host: {}", crate::limits::excerpt(&hostname)),
        ));
    }
    let agents = state.db.host_plugins(&hostname).await?;
    let fresh_after = state.hub.fresh_after();
    let agent_seen = state
        .db
        .session(&hostname)
        .await?
        .map(|s| s.seen_at)
        .filter(|seen| *seen >= fresh_after);
    Ok(Json(HostPluginsView {
        hostname,
        agent_seen,
        agents: agents.into_iter().map(AgentPluginsView::from).collect(),
    }))
}

/// Filters of the hosts running a plugin.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PluginHostsFilter {
    /// Only hosts running this version.
    pub version: Option<String>,
    /// Only this agent's plugin.
    pub agent: Option<PluginAgent>,
}

/// A version as a filter: any version a plugin may report (1 to 64 characters, no control
/// characters).
pub fn check_version_filter(version: &str) -> Result<(), ApiError> {
    if version.is_empty()
        || version.chars().count() > wire::plugins::VERSION_MAX
        || version.chars().any(char::is_control)
    {
        return Err(ApiError::invalid(format!(
            "`version` must be 1 to {} characters without control characters",
            wire::plugins::VERSION_MAX
        )));
    }
    Ok(())
}

/// `GET /api/v1/plugins/{name}/hosts`: the hosts whose inventory shows plugin `name` (at
/// `version`, of `agent`), by hostname.
#[utoipa::path(get, path = "/api/v1/plugins/{name}/hosts", tag = "plugins",
    params(("name" = String, Path, description = "The plugin's name"), PluginHostsFilter),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<PluginHostView>),
        (status = 400, description = "Invalid params (3021)", body = ErrorBody)))]
pub async fn plugin_hosts(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(filter): ApiQuery<PluginHostsFilter>,
) -> Result<Json<Vec<PluginHostView>>, ApiError> {
    plugin_name("name", &name).map_err(ApiError::invalid)?;
    if let Some(version) = &filter.version {
        check_version_filter(version)?;
    }
    let hosts = state
        .db
        .plugin_hosts(&name, filter.version.as_deref(), filter.agent)
        .await?;
    Ok(Json(hosts.into_iter().map(PluginHostView::from).collect()))
}

/// Filters of the problem list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProblemFilter {
    /// At most this many problems (default 1000, at most 1000).
    pub limit: Option<u32>,
}

/// `GET /api/v1/plugin-problems`: every host with a plugin file skipped, an instance failing
/// or penalised, or an agent that could not be asked, with the reason, by hostname.
#[utoipa::path(get, path = "/api/v1/plugin-problems", tag = "plugins",
    operation_id = "plugin_problems", params(ProblemFilter),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<PluginProblemView>),
        (status = 400, description = "Invalid params (3021)", body = ErrorBody)))]
pub async fn problems(
    State(state): State<AppState>,
    ApiQuery(filter): ApiQuery<ProblemFilter>,
) -> Result<Json<Vec<PluginProblemView>>, ApiError> {
    let limit = filter.limit.unwrap_or(LIMIT_MAX);
    if limit == 0 || limit > LIMIT_MAX {
        return Err(ApiError::invalid(format!(
            "`limit` must be between 1 and {LIMIT_MAX}"
        )));
    }
    let problems = state.db.plugin_problems(limit).await?;
    Ok(Json(
        problems.into_iter().map(PluginProblemView::from).collect(),
    ))
}
