//! Metrics: the ingest endpoint that nodus's `http` writer (or a stock collectd's write_http
//! with `Format "JSON"`) posts batches to, and the query endpoint (host, metric, time range,
//! step).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use wire::metrics::ValueListJson;

use super::identity::AgentJson;
use super::views::SeriesPoints;
use crate::db::MetricQuery;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// The answer to an ingest.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IngestReply {
    /// 0 = stored.
    pub errcode: u32,
    /// Values stored.
    pub values: usize,
}

/// `POST /api/v1/metrics`: stores a batch of value lists (collectd write_http JSON).
#[utoipa::path(post, path = "/api/v1/metrics", tag = "metrics", request_body = Vec<ValueListJson>,
    security(("mutualTLS" = [])),
    responses(
        (status = 200, body = IngestReply),
        (status = 401, description = "No client certificate (3031)", body = ErrorBody),
        (status = 403, description = "A value list of another host than the certificate names, or a revoked host (3034)", body = ErrorBody),
        (status = 400, description = "Malformed batch; nothing stored", body = ErrorBody),
        (status = 413, description = "Batch over the body limit", body = ErrorBody)))]
pub async fn ingest(
    State(state): State<AppState>,
    AgentJson {
        identity,
        body: batch,
    }: AgentJson<Vec<ValueListJson>>,
) -> Result<Json<IngestReply>, ApiError> {
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    state.config.limits.check_batch(&batch, now)?;
    for vl in &batch {
        identity.must_be(&vl.host, "value list")?;
        let n = vl.values.len();
        if n == 0 || vl.dsnames.len() != n || vl.dstypes.len() != n {
            return Err(ApiError::invalid(format!(
                "value list {}/{}: values, dsnames and dstypes must be non-empty and of equal length",
                vl.plugin, vl.type_
            )));
        }
        if vl.host.is_empty() || vl.plugin.is_empty() || vl.type_.is_empty() || !vl.time.is_finite()
        {
            return Err(ApiError::invalid(
                "every value list needs host, plugin, type and a finite time",
            ));
        }
    }
    let values = state
        .db
        .ingest(&batch, state.config.limits.series())
        .await?;
    state.telemetry.ingested(values);
    Ok(Json(IngestReply { errcode: 0, values }))
}

/// What `GET /api/v1/metrics/query` takes.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueryParams {
    /// Host name.
    pub host: String,
    /// Plugin, e.g. `load`.
    pub plugin: String,
    /// Type, e.g. `load`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub type_: String,
    /// Plugin instance (default: all).
    pub plugin_instance: Option<String>,
    /// Type instance (default: all).
    pub type_instance: Option<String>,
    /// Data source name (default: all).
    pub dsname: Option<String>,
    /// Range start, Unix seconds (default: to - 3600).
    pub from: Option<f64>,
    /// Range end, Unix seconds (default: now).
    pub to: Option<f64>,
    /// Bucket width in seconds (default 60).
    pub step: Option<f64>,
}

/// `GET /api/v1/metrics/query`: averages per step of one host's series.
#[utoipa::path(get, path = "/api/v1/metrics/query", tag = "metrics", params(QueryParams),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<SeriesPoints>), (status = 400, body = ErrorBody)))]
pub async fn query(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<QueryParams>,
) -> Result<Json<Vec<SeriesPoints>>, ApiError> {
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let to = params.to.unwrap_or(now);
    let from = params.from.unwrap_or(to - 3600.0);
    let step = params.step.unwrap_or(60.0);
    if !(from.is_finite() && to.is_finite() && from < to) {
        return Err(ApiError::invalid("`from` must be before `to`"));
    }
    if !(step.is_finite() && step > 0.0) || (to - from) / step > 100_000.0 {
        return Err(ApiError::invalid(
            "`step` must be > 0 and give at most 100000 buckets",
        ));
    }
    let query = MetricQuery {
        host: params.host,
        plugin: params.plugin,
        plugin_instance: params.plugin_instance,
        type_: params.type_,
        type_instance: params.type_instance,
        dsname: params.dsname,
        from,
        to,
        step,
    };
    let series = state.db.query_metrics(&query).await?;
    Ok(Json(series.into_iter().map(SeriesPoints::from).collect()))
}
