//! What the admin API shows of gearman: the agents connected to the replicas
//! (`GET /api/v1/agents`) and the runs of a host's cron entries
//! (`GET /api/v1/hosts/{hostname}/cron-runs`).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::views::{CronRunView, SessionView};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

/// Most cron runs one call returns.
const LIMIT_MAX: u32 = 1000;

/// `GET /api/v1/agents`: connected agents, by hostname (sessions whose replica refreshed them
/// within 3 × heartbeat).
#[utoipa::path(get, path = "/api/v1/agents", tag = "commands",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionView>), (status = 401, body = ErrorBody)))]
pub async fn agents(State(state): State<AppState>) -> Result<Json<Vec<SessionView>>, ApiError> {
    let sessions = state.db.sessions(state.hub.fresh_after()).await?;
    Ok(Json(sessions.into_iter().map(SessionView::from).collect()))
}

/// Filters of the cron run list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CronRunFilter {
    /// Only runs of this cron entry.
    pub cron_id: Option<String>,
    /// At most this many runs (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// `GET /api/v1/hosts/{hostname}/cron-runs`: a host's cron runs, newest first.
#[utoipa::path(get, path = "/api/v1/hosts/{hostname}/cron-runs", tag = "commands",
    params(("hostname" = String, Path, description = "Host name / AgentSN"), CronRunFilter),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<CronRunView>),
        (status = 400, description = "Invalid params (3021)", body = ErrorBody)))]
pub async fn cron_runs(
    State(state): State<AppState>,
    ApiPath(hostname): ApiPath<String>,
    ApiQuery(filter): ApiQuery<CronRunFilter>,
) -> Result<Json<Vec<CronRunView>>, ApiError> {
    let limit = filter.limit.unwrap_or(100);
    if limit == 0 || limit > LIMIT_MAX {
        return Err(ApiError::invalid(format!(
            "`limit` must be between 1 and {LIMIT_MAX}"
        )));
    }
    let runs = state
        .db
        .cron_runs(&hostname, filter.cron_id.as_deref(), limit)
        .await?;
    Ok(Json(runs.into_iter().map(CronRunView::from).collect()))
}
