//! The OpenAPI 3 document of the whole HTTP API, generated from the handlers' `#[utoipa::path]`
//! annotations and the types' `ToSchema` derives, served at `/api/openapi.json` with the
//! configured limits and the error answers added ([`crate::openapi_limits`]).

use axum::Json;
use axum::extract::State;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{
    admin, bootagent, catalogue, commands, enroll, gearman, integrity, inventory, logs, metrics,
    rollouts,
};
use crate::state::AppState;
use crate::telemetry;

/// Adds the security schemes: the admin API's bearer token and the agents' client
/// certificates (mutual TLS with a certificate from enrollment).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "mutualTLS",
            SecurityScheme::MutualTls {
                description: Some(
                    "The host's client certificate, issued by the Polaris CA at enrollment \
                     (POST /agent/enroll); the host is the certificate's common name."
                        .into(),
                ),
                extensions: None,
            },
        );
    }
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Polaris", description = "The platform's central server: BootAgent protocol, admin API, commands to gearman agents, plugins, metrics, logs."),
    paths(
        bootagent::status,
        bootagent::job_result,
        enroll::enroll,
        enroll::renew,
        enroll::create_token,
        enroll::revoke,
        admin::hosts,
        admin::host,
        admin::create_job,
        admin::job,
        commands::create,
        commands::get,
        gearman::agents,
        gearman::cron_runs,
        inventory::host_plugins,
        inventory::plugin_hosts,
        inventory::problems,
        catalogue::upload,
        catalogue::list,
        rollouts::create,
        rollouts::list,
        rollouts::get,
        metrics::ingest,
        metrics::query,
        logs::ingest,
        logs::query,
        logs::sources,
        integrity::report,
        integrity::findings,
        integrity::acknowledge,
        integrity::hosts,
        integrity::host,
        telemetry::metrics,
        openapi_json,
    ),
    components(schemas(crate::error::ErrorBody, wire::metrics::ValueListJson,
        wire::logs::LogBatch, wire::logs::LogRecord, wire::logs::LogFile, wire::logs::FileRecord, wire::logs::Preset,
        wire::logs::SourceStatus, wire::logs::LogAck,
        wire::integrity::IntegrityReport, wire::integrity::Finding, wire::integrity::IntegrityAck, integrity::FindingState)),
    modifiers(&BearerAuth),
    tags(
        (name = "bootagent", description = "Agent-initiated BootAgent protocol"),
        (name = "admin", description = "Hosts and boot jobs (bearer token)"),
        (name = "commands", description = "Commands to many hosts through their gearman agents, connected agents, cron runs (bearer token)"),
        (name = "plugins", description = "Plugins managed from Polaris: where each runs and its problems (the agents' inventories), the catalogue of releases, rollouts (bearer token)"),
        (name = "metrics", description = "Metric ingest and queries"),
        (name = "logs", description = "Log records: the hosts' logagent batches (mutual TLS), queries and each host's sources (bearer token)"),
        (name = "integrity", description = "File integrity: the hosts' secureagent reports (mutual TLS), findings, acknowledgements and each host's accepted baseline (bearer token)"),
        (name = "telemetry", description = "Polaris's own metrics"),
    )
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`: this document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "telemetry",
    responses((status = 200, description = "The OpenAPI 3 document", content_type = "application/json")))]
pub async fn openapi_json(State(state): State<AppState>) -> Json<serde_json::Value> {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let now = chrono::Utc::now().timestamp() as f64;
    crate::openapi_limits::apply(&mut doc, &state.config.limits, now);
    Json(doc)
}
