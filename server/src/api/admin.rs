//! The admin API (`/api/v1`, bearer token): hosts with their agents, and boot jobs for one
//! host, a list of hosts or a region, with their per-host status and results.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use wire::boot::{BootAction, BootJob};
use wire::retcode;

use super::views::{HostView, JobView};
use crate::db::Target;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::limits::too_long;
use crate::state::AppState;

/// Filters of the host list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HostFilter {
    /// Only hosts of this region.
    pub region: Option<String>,
}

/// `GET /api/v1/hosts`: registered hosts and their agents.
#[utoipa::path(get, path = "/api/v1/hosts", tag = "admin", params(HostFilter),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<HostView>), (status = 401, body = ErrorBody)))]
pub async fn hosts(
    State(state): State<AppState>,
    ApiQuery(filter): ApiQuery<HostFilter>,
) -> Result<Json<Vec<HostView>>, ApiError> {
    let hosts = state.db.hosts(filter.region.as_deref()).await?;
    Ok(Json(hosts.into_iter().map(HostView::from).collect()))
}

/// `GET /api/v1/hosts/{hostname}`: one host and its agents.
#[utoipa::path(get, path = "/api/v1/hosts/{hostname}", tag = "admin",
    params(("hostname" = String, Path, description = "Host name / AgentSN")),
    security(("bearer" = [])),
    responses((status = 200, body = HostView), (status = 404, description = "No such host (203)", body = ErrorBody)))]
pub async fn host(
    State(state): State<AppState>,
    ApiPath(hostname): ApiPath<String>,
) -> Result<Json<HostView>, ApiError> {
    let host = state.db.host(&hostname).await?;
    host.map(|host| Json(host.into())).ok_or_else(|| {
        ApiError::not_found(retcode::NO_SUCH_HOST, format!("No such host: {hostname}"))
    })
}

/// A new boot job: what to do, and for which hosts (`hosts` or `region`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    /// install, upgrade, uninstall, restart, stop or config.
    pub action: BootAction,
    /// The agent concerned (all actions but config).
    pub name: Option<String>,
    /// Package URL (install, upgrade): http, https or ftp.
    pub url: Option<String>,
    /// `SHA256:<64 hex digits>` of the package (install, upgrade).
    pub checksum: Option<String>,
    /// Environment for the agent.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Limits, e.g. `{"CPU": "10%", "memory": "20M"}`.
    #[serde(default)]
    pub limits: BTreeMap<String, String>,
    /// config: servers to report to, comma separated.
    pub svrlist: Option<String>,
    /// config: seconds between reports.
    pub step: Option<u64>,
    /// Target hosts by name (one or more).
    pub hosts: Option<Vec<String>>,
    /// Target every host of this region.
    pub region: Option<String>,
}

fn validate(job: &NewJob) -> Result<(), ApiError> {
    let needs_name = job.action != BootAction::Config;
    if needs_name
        && job
            .name
            .as_deref()
            .is_none_or(|n| n.is_empty() || too_long(n, 64))
        || job
            .name
            .as_deref()
            .is_some_and(|n| n.is_empty() || too_long(n, 64))
    {
        return Err(ApiError::invalid(format!(
            "`{}` needs the agent's name (1 to 64 characters)",
            job.action.as_str()
        )));
    }
    // A url or checksum must be valid whenever it is given; install and upgrade need both.
    let install = matches!(job.action, BootAction::Install | BootAction::Upgrade);
    if install || job.url.is_some() {
        let url = job.url.as_deref().unwrap_or("");
        if !["http://", "https://", "ftp://"]
            .iter()
            .any(|s| url.starts_with(s))
            || too_long(url, 512)
        {
            return Err(ApiError::invalid(
                "install and upgrade need an http, https or ftp `url` (at most 512 characters)",
            ));
        }
    }
    if install || job.checksum.is_some() {
        let hex = job
            .checksum
            .as_deref()
            .and_then(|c| c.strip_prefix("SHA256:"))
            .unwrap_or("");
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::invalid(
                "install and upgrade need `checksum` as SHA256:<64 hex digits>",
            ));
        }
    }
    if job.action == BootAction::Config && job.svrlist.is_none() && job.step.is_none() {
        return Err(ApiError::invalid("config needs `svrlist` or `step`"));
    }
    if job.step == Some(0) {
        return Err(ApiError::invalid("step must be at least 1 second"));
    }
    Ok(())
}

fn target(job: &mut NewJob) -> Result<Target, ApiError> {
    match (job.hosts.take(), job.region.take()) {
        (Some(hosts), None) if !hosts.is_empty() => Ok(Target::Hosts(hosts)),
        (None, Some(region)) if !region.is_empty() => Ok(Target::Region(region)),
        _ => Err(ApiError::invalid(
            "give either a non-empty `hosts` list or a `region`",
        )),
    }
}

/// `POST /api/v1/jobs`: creates a boot job for hosts or a region; each host receives it with
/// its next status report until it posts a result.
#[utoipa::path(post, path = "/api/v1/jobs", tag = "admin", request_body = NewJob,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = JobView),
        (status = 400, description = "Invalid params (3021)", body = ErrorBody),
        (status = 404, description = "No such host (203), naming every unknown host; nothing created", body = ErrorBody)))]
pub async fn create_job(
    State(state): State<AppState>,
    ApiJson(mut job): ApiJson<NewJob>,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    validate(&job)?;
    if let Some(hosts) = &job.hosts {
        state.config.limits.check_hosts(hosts)?;
    }
    let target = target(&mut job)?;
    let spec = BootJob {
        id: uuid::Uuid::new_v4().to_string(),
        action: job.action,
        name: job.name,
        url: job.url,
        checksum: job.checksum,
        env: job.env,
        limits: job.limits,
        svrlist: job.svrlist,
        step: job.step,
    };
    let job = state.db.create_job(&spec, &target).await?;
    Ok((StatusCode::CREATED, Json(job.into())))
}

/// `GET /api/v1/jobs/{id}`: a job's status and results per host.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "admin",
    params(("id" = String, Path, description = "Job id")),
    security(("bearer" = [])),
    responses((status = 200, body = JobView), (status = 404, description = "No such job (3030)", body = ErrorBody)))]
pub async fn job(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<JobView>, ApiError> {
    state
        .db
        .job(&id)
        .await?
        .map(|job| Json(job.into()))
        .ok_or_else(|| ApiError::not_found(retcode::NO_SUCH_JOB, format!("No such job: {id}")))
}
