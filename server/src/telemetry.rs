//! Polaris's own metrics, served at `/metrics` in the Prometheus text format: HTTP requests by
//! route and status, hosts by status (agents online), values ingested, and the database's
//! round-trip latency measured at each scrape.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

/// The registry and the metrics Polaris updates.
pub struct Telemetry {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Histogram,
    hosts: Family<StatusLabels, Gauge>,
    ingested: Counter,
    db_latency: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl Default for Telemetry {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("polaris");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        let latency = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "http_request_duration_seconds",
            "HTTP request duration",
            latency.clone(),
        );
        let hosts = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "hosts",
            "Registered hosts by status (online = agents reporting)",
            hosts.clone(),
        );
        let ingested = Counter::default();
        registry.register("ingested_values", "Metric values stored", ingested.clone());
        let db_latency = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "db_latency_seconds",
            "Database round trip measured at the last scrape",
            db_latency.clone(),
        );
        Telemetry {
            registry,
            requests,
            latency,
            hosts,
            ingested,
            db_latency,
        }
    }
}

impl Telemetry {
    /// Counts stored metric values.
    pub fn ingested(&self, values: usize) {
        self.ingested.inc_by(values as u64);
    }
}

/// Middleware: counts and times every request by its route pattern.
pub async fn track(
    State(telemetry): State<Arc<Telemetry>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    telemetry.latency.observe(started.elapsed().as_secs_f64());
    telemetry
        .requests
        .get_or_create(&RequestLabels {
            route,
            method,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// `GET /metrics`: Polaris's own metrics in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "telemetry",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let telemetry = &state.telemetry;
    match state.db.ping().await {
        Ok(latency) => {
            telemetry.db_latency.set(latency.as_secs_f64());
        }
        Err(e) => tracing::warn!("database ping failed: {e}"),
    }
    if let Ok(counts) = state.db.status_counts().await {
        for status in ["unknown", "online", "offline"] {
            let n = counts.get(status).copied().unwrap_or(0);
            telemetry
                .hosts
                .get_or_create(&StatusLabels {
                    status: status.into(),
                })
                .set(n as i64);
        }
    }
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &telemetry.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}
