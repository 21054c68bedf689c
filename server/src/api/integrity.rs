//! Integrity reports: the endpoint the hosts' `secureagent` posts each run's report to (mutual
//! TLS; the host is the certificate's), and the admin API: findings by host (unacknowledged or
//! all, by id with a cursor), their acknowledgement (by ids, or all of a host up to a report,
//! with who and when), and each host's integrity state (accepted digest, last report, whether
//! its last check used the accepted baseline, flags not acknowledged).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use wire::integrity::{
    Change, IntegrityAck, IntegrityReport, MAX_ATTRIBUTE, MAX_FINDINGS, MAX_PATH, MAX_VALUE,
    RunKind, is_digest,
};

use super::identity::{AgentBody, shorten};
use crate::db::integrity::{AckTarget, FindingEntry, FindingQuery, IntegrityState, ReportSummary};
use crate::error::{ApiError, ApiJson, ErrorBody, parse_json};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

/// Findings a page holds when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;
/// Most findings one page holds.
pub const MAX_LIMIT: u32 = 1000;
/// Most finding ids one acknowledgement names.
pub const MAX_ACK_IDS: usize = 1000;
/// Longest `by` of an acknowledgement, in bytes.
pub const MAX_BY: usize = 128;
/// Longest host name in a query, in bytes.
const MAX_HOST: usize = 256;

/// Checks a report against the limits of `wire::integrity`: 3021 naming what is wrong.
pub fn check_report(report: &IntegrityReport) -> Result<(), ApiError> {
    if !is_digest(&report.baseline_digest) {
        return Err(ApiError::invalid(
            "`baseline_digest` must be 64 lowercase hex digits (SHA-256)",
        ));
    }
    match (report.kind, &report.previous_digest) {
        (RunKind::Update, None) => {
            return Err(ApiError::invalid(
                "an `update` report needs `previous_digest`, the baseline its check used",
            ));
        }
        (RunKind::Update, Some(previous)) if !is_digest(previous) => {
            return Err(ApiError::invalid(
                "`previous_digest` must be 64 lowercase hex digits (SHA-256)",
            ));
        }
        (RunKind::Init | RunKind::Check | RunKind::Realtime, Some(_)) => {
            return Err(ApiError::invalid(
                "`previous_digest` is for `update` reports only",
            ));
        }
        _ => {}
    }
    for (what, value) in [
        ("started", report.started),
        ("duration_s", report.duration_s),
    ] {
        if !value.is_finite() || value < 0.0 {
            return Err(ApiError::invalid(format!(
                "`{what}` must be a finite number of seconds, not negative"
            )));
        }
    }
    let counts = [
        ("entries", report.entries),
        ("added", report.added),
        ("removed", report.removed),
        ("changed", report.changed),
        ("unreadable", report.unreadable),
        ("findings_dropped", report.findings_dropped),
    ];
    for (what, value) in counts {
        if i64::try_from(value).is_err() {
            return Err(ApiError::invalid(format!("`{what}` is out of range")));
        }
    }
    if report.findings.len() > MAX_FINDINGS {
        return Err(ApiError::invalid(format!(
            "{} findings: a report holds at most {MAX_FINDINGS} (send the rest's count in \
             `findings_dropped`)",
            report.findings.len()
        )));
    }
    for (i, finding) in report.findings.iter().enumerate() {
        let bad = |why: String| ApiError::invalid(format!("finding {i}: {why}"));
        text("path", &finding.path, MAX_PATH).map_err(bad)?;
        match (finding.change, &finding.attribute) {
            (Change::Changed, None) => {
                return Err(bad("a changed entry's finding names its `attribute`".into()));
            }
            (Change::Changed, Some(attribute)) => {
                text("attribute", attribute, MAX_ATTRIBUTE).map_err(bad)?;
            }
            (Change::Added | Change::Removed, _) => {
                if finding.attribute.is_some() || finding.old.is_some() || finding.new.is_some() {
                    return Err(bad(
                        "an added or removed entry's finding has no attribute, old or new".into(),
                    ));
                }
            }
        }
        for (what, value) in [("old", &finding.old), ("new", &finding.new)] {
            if let Some(value) = value
                && (value.len() > MAX_VALUE || value.contains('\0'))
            {
                return Err(bad(format!(
                    "`{what}` must be at most {MAX_VALUE} bytes without NUL"
                )));
            }
        }
    }
    Ok(())
}

/// A text of 1 to `max` bytes without NUL.
fn text(what: &str, value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() || value.len() > max || value.contains('\0') {
        return Err(format!("`{what}` must be 1 to {max} bytes without NUL"));
    }
    Ok(())
}

/// `POST /api/v1/integrity/reports`: stores one run's report of the certificate's host and
/// says whether the baseline it used is the accepted one.
#[utoipa::path(post, path = "/api/v1/integrity/reports", tag = "integrity",
    operation_id = "integrity_report", request_body = IntegrityReport,
    security(("mutualTLS" = [])),
    responses(
        (status = 200, description = "Stored; `baseline_ok: false` when flagged", body = IntegrityAck),
        (status = 401, description = "No client certificate (3031)", body = ErrorBody),
        (status = 403, description = "A revoked host (3034)", body = ErrorBody),
        (status = 400, description = "A bad report (3021, naming the field or finding, or the limit of 10000 findings); nothing stored", body = ErrorBody),
        (status = 413, description = "Body over `wire::integrity::MAX_REPORT_BYTES` (16 MiB)", body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    AgentBody { identity, body }: AgentBody,
) -> Result<Json<IntegrityAck>, ApiError> {
    let report: IntegrityReport = parse_json(&body)?;
    check_report(&report)?;
    let stored = state
        .db
        .store_integrity_report(&identity.hostname, &report)
        .await?;
    if !stored.baseline_ok {
        tracing::warn!(host = %identity.hostname, report = stored.id,
            reason = stored.reason.as_deref().unwrap_or(""), "integrity: baseline flagged");
    }
    Ok(Json(IntegrityAck {
        id: stored.id,
        baseline_ok: stored.baseline_ok,
        reason: stored.reason,
    }))
}

/// Which findings `GET /api/v1/integrity/findings` lists.
#[derive(Deserialize, Serialize, utoipa::ToSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FindingState {
    /// Not acknowledged yet (the default).
    #[default]
    Unacknowledged,
    /// Acknowledged or not.
    All,
}

/// What `GET /api/v1/integrity/findings` takes (every parameter optional).
#[derive(Deserialize, utoipa::IntoParams, Default, Debug)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FindingParams {
    /// Only this host's findings.
    pub host: Option<String>,
    /// `unacknowledged` (default) or `all`.
    pub state: Option<FindingState>,
    /// Findings per page, 1 to 1000 (default 100).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of findings, by id.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FindingPage {
    /// The findings.
    pub findings: Vec<FindingView>,
    /// Pass it as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Who acknowledged and when.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AckView {
    /// The `by` of the acknowledgement.
    pub by: String,
    /// When (RFC 3339).
    pub at: String,
}

fn ack_view(ack: Option<(String, chrono::DateTime<chrono::Utc>)>) -> Option<AckView> {
    ack.map(|(by, at)| AckView {
        by,
        at: at.to_rfc3339(),
    })
}

/// A stored finding.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FindingView {
    /// Its id.
    pub id: i64,
    /// The report it came in.
    pub report_id: i64,
    /// The host.
    pub host: String,
    /// The kind of the report it came in: `check` and `update` (a full check) or `realtime`
    /// (the daemon's real-time watch saw it).
    pub kind: RunKind,
    /// The entry's path.
    pub path: String,
    /// Added, removed or changed.
    pub change: Change,
    /// The changed attribute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// Its old value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// Its new value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// When Polaris received the report (RFC 3339).
    pub received_at: String,
    /// Its acknowledgement, once acknowledged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<AckView>,
}

impl From<FindingEntry> for FindingView {
    fn from(entry: FindingEntry) -> Self {
        FindingView {
            id: entry.id,
            report_id: entry.report_id,
            host: entry.host,
            kind: entry.kind,
            path: entry.path,
            change: entry.change,
            attribute: entry.attribute,
            old: entry.old,
            new: entry.new,
            received_at: entry.received_at.to_rfc3339(),
            acknowledged: ack_view(entry.acknowledged),
        }
    }
}

fn host_param(host: Option<String>) -> Result<Option<String>, ApiError> {
    if let Some(host) = &host {
        text("host", host, MAX_HOST).map_err(ApiError::invalid)?;
    }
    Ok(host)
}

/// `GET /api/v1/integrity/findings`: findings by id, of one host or all, unacknowledged or all.
#[utoipa::path(get, path = "/api/v1/integrity/findings", tag = "integrity",
    operation_id = "integrity_findings", params(FindingParams),
    security(("bearer" = [])),
    responses((status = 200, body = FindingPage),
        (status = 400, description = "A bad parameter (3021)", body = ErrorBody)))]
pub async fn findings(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<FindingParams>,
) -> Result<Json<FindingPage>, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "`limit` must be 1 to {MAX_LIMIT}"
        )));
    }
    let after = match params.cursor.as_deref() {
        Some(cursor) => Some(
            cursor
                .parse::<i64>()
                .ok()
                .filter(|id| *id >= 0)
                .ok_or_else(|| ApiError::invalid("`cursor` is not one this API gave"))?,
        ),
        None => None,
    };
    let mut entries = state
        .db
        .integrity_findings(&FindingQuery {
            host: host_param(params.host)?,
            all: params.state == Some(FindingState::All),
            after,
            limit: limit + 1,
        })
        .await?;
    let next_cursor = if entries.len() > limit as usize {
        entries.truncate(limit as usize);
        entries.last().map(|last| last.id.to_string())
    } else {
        None
    };
    Ok(Json(FindingPage {
        findings: entries.into_iter().map(FindingView::from).collect(),
        next_cursor,
    }))
}

/// What `POST /api/v1/integrity/acknowledge` takes: `by` and either `ids`, or `host` and
/// `up_to_report`.
#[derive(Deserialize, utoipa::ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// Who acknowledges (1 to 128 bytes), recorded with the time.
    pub by: String,
    /// These findings (1 to 1000 ids).
    #[serde(default)]
    pub ids: Option<Vec<i64>>,
    /// Every finding and flagged report of this host ...
    #[serde(default)]
    pub host: Option<String>,
    /// ... up to this report id (inclusive).
    #[serde(default)]
    pub up_to_report: Option<i64>,
}

/// What an acknowledgement changed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AckResult {
    /// Findings acknowledged now (those acknowledged before are left as they were).
    pub findings: u64,
    /// Flagged reports acknowledged now.
    pub reports: u64,
}

fn ack_target(request: AckRequest) -> Result<(AckTarget, String), ApiError> {
    text("by", &request.by, MAX_BY).map_err(ApiError::invalid)?;
    let target = match (request.ids, request.host, request.up_to_report) {
        (Some(ids), None, None) => {
            if ids.is_empty() || ids.len() > MAX_ACK_IDS {
                return Err(ApiError::invalid(format!(
                    "`ids` must name 1 to {MAX_ACK_IDS} findings"
                )));
            }
            AckTarget::Findings(ids)
        }
        (None, Some(host), Some(report_id)) => {
            text("host", &host, MAX_HOST).map_err(ApiError::invalid)?;
            AckTarget::HostUpTo { host, report_id }
        }
        _ => {
            return Err(ApiError::invalid(
                "give either `ids`, or `host` and `up_to_report`",
            ));
        }
    };
    Ok((target, request.by))
}

/// `POST /api/v1/integrity/acknowledge`: acknowledges findings by id, or every finding and
/// flagged report of a host up to a report.
#[utoipa::path(post, path = "/api/v1/integrity/acknowledge", tag = "integrity",
    operation_id = "integrity_acknowledge", request_body = AckRequest,
    security(("bearer" = [])),
    responses((status = 200, body = AckResult),
        (status = 400, description = "A bad request (3021)", body = ErrorBody)))]
pub async fn acknowledge(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<AckRequest>,
) -> Result<Json<AckResult>, ApiError> {
    let (target, by) = ack_target(request)?;
    let done = state.db.acknowledge_integrity(&target, &by).await?;
    Ok(Json(AckResult {
        findings: done.findings,
        reports: done.reports,
    }))
}

/// A stored report, without its findings.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReportView {
    /// Its id.
    pub id: i64,
    /// The verb.
    pub kind: RunKind,
    /// The digest of the baseline used (check) or written (init, update).
    pub baseline_digest: String,
    /// `update`: the digest of the baseline its check used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_digest: Option<String>,
    /// Whether the baseline it used was the accepted one.
    pub baseline_ok: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the run started, Unix seconds.
    pub started: f64,
    /// How long it took, seconds.
    pub duration_s: f64,
    /// Entries scanned.
    pub entries: u64,
    /// Entries added.
    pub added: u64,
    /// Entries removed.
    pub removed: u64,
    /// Entries changed.
    pub changed: u64,
    /// Entries unreadable.
    pub unreadable: u64,
    /// Findings stored.
    pub findings: u64,
    /// Findings the agent left out (over its limit).
    pub findings_dropped: u64,
    /// When Polaris received it (RFC 3339).
    pub received_at: String,
    /// A flagged report's acknowledgement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<AckView>,
}

impl From<ReportSummary> for ReportView {
    fn from(report: ReportSummary) -> Self {
        ReportView {
            id: report.id,
            kind: report.kind,
            baseline_digest: report.baseline_digest,
            previous_digest: report.previous_digest,
            baseline_ok: report.baseline_ok,
            reason: report.reason,
            started: report.started,
            duration_s: report.duration_s,
            entries: report.entries,
            added: report.added,
            removed: report.removed,
            changed: report.changed,
            unreadable: report.unreadable,
            findings: report.findings,
            findings_dropped: report.findings_dropped,
            received_at: report.received_at.to_rfc3339(),
            acknowledged: ack_view(report.acknowledged),
        }
    }
}

/// A host's integrity state.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HostIntegrityView {
    /// The host.
    pub host: String,
    /// Its accepted baseline digest (absent: no `init` or `update` yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_digest: Option<String>,
    /// Whether its latest check (or update) used the accepted baseline (absent: none yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_ok: Option<bool>,
    /// Flagged reports not acknowledged; a later `update` does not clear them.
    pub unacknowledged_flags: u64,
    /// Findings not acknowledged.
    pub unacknowledged_findings: u64,
    /// Its latest report.
    pub last_report: ReportView,
}

impl From<IntegrityState> for HostIntegrityView {
    fn from(state: IntegrityState) -> Self {
        HostIntegrityView {
            host: state.host,
            accepted_digest: state.accepted_digest,
            baseline_ok: state.last_check_baseline_ok,
            unacknowledged_flags: state.unacknowledged_flags,
            unacknowledged_findings: state.unacknowledged_findings,
            last_report: state.last_report.into(),
        }
    }
}

/// `GET /api/v1/integrity/hosts`: the integrity state of every host that reported, by name.
#[utoipa::path(get, path = "/api/v1/integrity/hosts", tag = "integrity",
    operation_id = "integrity_hosts",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<HostIntegrityView>)))]
pub async fn hosts(
    State(state): State<AppState>,
) -> Result<Json<Vec<HostIntegrityView>>, ApiError> {
    let states = state.db.integrity_states(None).await?;
    Ok(Json(
        states.into_iter().map(HostIntegrityView::from).collect(),
    ))
}

/// `GET /api/v1/integrity/hosts/{hostname}`: one host's integrity state.
#[utoipa::path(get, path = "/api/v1/integrity/hosts/{hostname}", tag = "integrity",
    operation_id = "integrity_host",
    params(("hostname" = String, Path, description = "Host name")),
    security(("bearer" = [])),
    responses((status = 200, body = HostIntegrityView),
        (status = 404, description = "The host sent no integrity report (3033)", body = ErrorBody)))]
pub async fn host(
    State(state): State<AppState>,
    ApiPath(hostname): ApiPath<String>,
) -> Result<Json<HostIntegrityView>, ApiError> {
    let states = state.db.integrity_states(Some(&hostname)).await?;
    match states.into_iter().next() {
        Some(state) => Ok(Json(state.into())),
        None => Err(ApiError::not_found(
            wire::retcode::NOT_FOUND,
            format!(
                "Not found: host `{}` sent no integrity report",
                shorten(&hostname)
            ),
        )),
    }
}
