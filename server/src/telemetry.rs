//! Polaris's own metrics, served at `/metrics` in the Prometheus text format: HTTP requests by
//! route and status, hosts by status (agents online), values ingested, the database's
//! round-trip latency measured at each scrape, gearman connections held by this replica, and
//! commands, frames sent, results and cron runs.

use std::collections::HashSet;
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

/// Labels of a request. Every value comes from a bounded set: the route is the matched route
/// template (or `unmatched`), never the raw path; the method one of [`METHODS`] or `other`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

/// The HTTP methods counted by name; any other (clients may send any token) counts as `other`.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];

/// The label of a request method.
fn method_label(method: &axum::http::Method) -> &'static str {
    METHODS
        .into_iter()
        .find(|m| *m == method.as_str())
        .unwrap_or("other")
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The registry and the metrics Polaris updates.
pub struct Telemetry {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Histogram,
    hosts: Family<StatusLabels, Gauge>,
    ingested: Counter,
    db_latency: Gauge<f64, std::sync::atomic::AtomicU64>,
    agents: Gauge,
    commands: Counter,
    command_hosts: Counter,
    frames_sent: Counter,
    results: Family<OutcomeLabels, Counter>,
    cron_runs: Counter,
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
        let agents = Gauge::default();
        registry.register(
            "agents_connected",
            "gearman connections held by this replica",
            agents.clone(),
        );
        let commands = Counter::default();
        registry.register("commands", "Commands accepted", commands.clone());
        let command_hosts = Counter::default();
        registry.register(
            "command_hosts",
            "Host parts of the accepted commands",
            command_hosts.clone(),
        );
        let frames_sent = Counter::default();
        registry.register(
            "command_frames_sent",
            "Command frames this replica sent to agents",
            frames_sent.clone(),
        );
        let results = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "command_results",
            "Results received from agents: stored, or duplicate (acked and ignored)",
            results.clone(),
        );
        let cron_runs = Counter::default();
        registry.register(
            "cron_runs",
            "Cron runs received from agents",
            cron_runs.clone(),
        );
        Telemetry {
            registry,
            requests,
            latency,
            hosts,
            ingested,
            db_latency,
            agents,
            commands,
            command_hosts,
            frames_sent,
            results,
            cron_runs,
        }
    }
}

impl Telemetry {
    /// Counts stored metric values.
    pub fn ingested(&self, values: usize) {
        self.ingested.inc_by(values as u64);
    }

    /// Sets the number of gearman connections this replica holds.
    pub fn agents_connected(&self, n: usize) {
        self.agents.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Counts an accepted command for `hosts` hosts.
    pub fn command_created(&self, hosts: usize) {
        self.commands.inc();
        self.command_hosts.inc_by(hosts as u64);
    }

    /// Counts a command frame sent to an agent.
    pub fn command_sent(&self) {
        self.frames_sent.inc();
    }

    /// Counts a result from an agent: stored, or a duplicate.
    pub fn result_stored(&self, stored: bool) {
        let outcome = if stored { "stored" } else { "duplicate" };
        self.results.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Counts a cron run from an agent.
    pub fn cron_run(&self) {
        self.cron_runs.inc();
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
    let method = method_label(request.method());
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
    let mut openmetrics = String::new();
    if prometheus_client::encoding::text::encode(&mut openmetrics, &telemetry.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        text_format(&openmetrics),
    )
        .into_response()
}

/// The Prometheus text format 0.0.4 of prometheus-client's OpenMetrics 1.0 text, which differs
/// from it in what it names: OpenMetrics's `# HELP`/`# TYPE` name a counter's family without the
/// `_total` its samples carry, where 0.0.4 names the samples' family (`polaris_commands_total`),
/// or Prometheus and `promtool check metrics` see an untyped `_total` without help. The
/// OpenMetrics-only `# UNIT` and `# EOF` lines are left out.
fn text_format(openmetrics: &str) -> String {
    let counters: HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len() + 12 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].into_iter().find_map(|prefix| {
            let (name, rest) = line.strip_prefix(prefix)?.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {rest}"))
        });
        text.push_str(renamed.as_deref().unwrap_or(line));
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use axum::http::Method;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::registry::{Registry, Unit};

    #[test]
    fn counters_are_named_as_their_samples_in_the_text_format() {
        let mut registry = Registry::with_prefix("polaris");
        let commands = Counter::<u64>::default();
        commands.inc_by(3);
        registry.register("commands", "Commands accepted", commands);
        let agents = Gauge::<i64>::default();
        agents.set(2);
        registry.register("agents_connected", "Agents connected", agents);
        registry.register_with_unit("up", "Time up", Unit::Seconds, Counter::<u64>::default());
        let mut openmetrics = String::new();
        prometheus_client::encoding::text::encode(&mut openmetrics, &registry).unwrap();
        assert!(openmetrics.contains("# TYPE polaris_commands counter\n"));

        assert_eq!(
            super::text_format(&openmetrics),
            "# HELP polaris_commands_total Commands accepted.\n\
             # TYPE polaris_commands_total counter\n\
             polaris_commands_total 3\n\
             # HELP polaris_agents_connected Agents connected.\n\
             # TYPE polaris_agents_connected gauge\n\
             polaris_agents_connected 2\n\
             # HELP polaris_up_seconds_total Time up.\n\
             # TYPE polaris_up_seconds_total counter\n\
             polaris_up_seconds_total 0\n"
        );
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(super::method_label(&Method::GET), "GET");
        assert_eq!(super::method_label(&Method::PATCH), "PATCH");
        for token in ["FOO", "get", "X-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
            let method = Method::from_bytes(token.as_bytes()).unwrap();
            assert_eq!(super::method_label(&method), "other", "{token}");
        }
    }
}
