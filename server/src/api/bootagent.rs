//! The BootAgent protocol, exactly the seed's shapes (`wire::boot`): a status report registers
//! or updates the host and its agents and is answered with the host's pending jobs; job results
//! are stored all or none, so an agent re-sends only what can succeed. Both need the host's
//! client certificate ([`AgentIdentity`]): a report speaks only for the host the certificate
//! names, and results are accepted only for that host's own jobs.

use axum::Json;
use axum::extract::State;
use wire::boot::{JobResult, ResultReply, StatusReply, StatusReport};

use super::identity::{AgentJson, shorten};
use crate::error::{ApiError, ErrorBody};
use crate::limits::too_long;
use crate::state::AppState;

/// Longest hostname, as the seed's `hostname CHAR(256)`.
const MAX_HOSTNAME: usize = 256;

fn check_report(report: &StatusReport) -> Result<(), ApiError> {
    if report.hostname.trim().is_empty() || too_long(&report.hostname, MAX_HOSTNAME) {
        return Err(ApiError::invalid(format!(
            "hostname must be 1 to {MAX_HOSTNAME} characters"
        )));
    }
    if report.step == 0 {
        return Err(ApiError::invalid("step must be at least 1 second"));
    }
    if too_long(&report.version, 64)
        || report
            .region
            .as_ref()
            .is_some_and(|r| r.is_empty() || too_long(r, 64))
    {
        return Err(ApiError::invalid(
            "version and region must be at most 64 characters (region not empty)",
        ));
    }
    let mut names: Vec<&str> = report.agents.iter().map(|a| a.name.as_str()).collect();
    names.sort_unstable();
    if names.iter().any(|n| n.is_empty() || too_long(n, 64))
        || names.windows(2).any(|w| w[0] == w[1])
    {
        return Err(ApiError::invalid(
            "agent names must be unique and 1 to 64 characters",
        ));
    }
    Ok(())
}

/// `POST /agent/status`: the BootAgent's periodic report.
#[utoipa::path(post, path = "/agent/status", tag = "bootagent", request_body = StatusReport,
    security(("mutualTLS" = [])),
    responses(
        (status = 200, description = "Registered; pending jobs for this host", body = StatusReply),
        (status = 400, description = "Malformed report", body = ErrorBody),
        (status = 401, description = "No client certificate (3031)", body = ErrorBody),
        (status = 403, description = "The certificate names another host, or is revoked (3034)", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    AgentJson {
        identity,
        body: report,
    }: AgentJson<StatusReport>,
) -> Result<Json<StatusReply>, ApiError> {
    // A malformed report is answered 400 as such; a well-formed one must speak for the host
    // of the certificate (the certificate itself was checked by the extractor already).
    check_report(&report)?;
    identity.must_be(&report.hostname, "status report")?;
    state.config.limits.check_report(&report)?;
    let host_id = state.db.report_status(&report).await?;
    let jobs = state.db.pending_jobs(host_id).await?;
    Ok(Json(StatusReply { errcode: 0, jobs }))
}

/// `POST /agent/job/result`: results of jobs, all stored or none.
#[utoipa::path(post, path = "/agent/job/result", tag = "bootagent", request_body = Vec<JobResult>,
    security(("mutualTLS" = [])),
    responses(
        (status = 200, description = "Every result stored", body = ResultReply),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No client certificate (3031)", body = ErrorBody),
        (status = 403, description = "The certificate names another host, or is revoked (3034)", body = ErrorBody),
        (status = 404, description = "A job id that was never handed out (errcode 3030); nothing stored", body = ErrorBody)))]
pub async fn job_result(
    State(state): State<AppState>,
    AgentJson {
        identity,
        body: mut results,
    }: AgentJson<Vec<JobResult>>,
) -> Result<Json<ResultReply>, ApiError> {
    if results.is_empty() {
        return Err(ApiError::invalid("no results in the body"));
    }
    state.config.limits.check_results(&results)?;
    if let Some(bad) = results
        .iter()
        .find(|r| r.id.is_empty() || r.id.len() > 64 || r.message.len() > 4096)
    {
        return Err(ApiError::invalid(format!(
            "result `{}`: id must be 1 to 64 characters, message at most 4096",
            shorten(&bad.id)
        )));
    }
    // Only this host's jobs: a result for another host's job id is an unknown job (404).
    for result in &mut results {
        if let Some(claimed) = &result.hostname {
            identity.must_be(claimed, "job result")?;
        }
        result.hostname = Some(identity.hostname.clone());
    }
    state.db.store_results(&results).await?;
    Ok(Json(ResultReply {
        errcode: 0,
        message: None,
    }))
}
