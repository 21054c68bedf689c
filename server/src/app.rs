//! The router and the server's life: routes, body limits and the request timeout, the CA and
//! server certificate ([`pki_state`]), and `run` / `serve`, which serve HTTPS (or, configured
//! so, plain HTTP) through [`crate::listener`] and, with `[agents]`, the gearman TLS listener,
//! on listeners the caller bound (tests bind 127.0.0.1:0) until a shutdown future resolves,
//! with the background loops of [`crate::background`], stopped and joined before `serve`
//! returns.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::api::{
    self, admin, bootagent, catalogue, commands, enroll, gearman, integrity, inventory, logs,
    metrics, rollouts,
};
use crate::background::Background;
use crate::config::{Config, TlsConfig};
use crate::db::Db;
use crate::error::ApiError;
use crate::links::{self, Hub};
use crate::listener::ConnLimiter;
use crate::pki::tls::{ClientAuth, server_config};
use crate::pki::{Authority, write_private};
use crate::state::{AppState, Pki};
use crate::telemetry::{self, Telemetry};
use crate::{openapi, packages};

/// Builds the state: connects to and migrates the database, loads (or makes) the CA.
pub async fn state(config: Config) -> anyhow::Result<AppState> {
    let db = Db::connect(&config.database).await?;
    db.migrate().await?;
    let telemetry = Arc::new(Telemetry::default());
    let hub = Arc::new(Hub::new(config.agents.as_ref(), telemetry.clone()));
    let catalogue = Arc::new(crate::catalogue::Catalogue::from_config(&config)?);
    let pki = config
        .tls
        .as_ref()
        .map(pki_state)
        .transpose()?
        .map(Arc::new);
    Ok(AppState {
        db,
        config: Arc::new(config),
        telemetry,
        hub,
        pki,
        catalogue,
    })
}

/// The CA of `[tls]` and the server certificate: the configured one, or one the CA issues for
/// `names` into `ca_dir` ([`server_pair`]).
pub fn pki_state(tls: &TlsConfig) -> anyhow::Result<Pki> {
    let authority = Authority::load_or_create(&tls.ca_dir)?;
    let (server_cert, server_key) = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ => {
            let mut names = tls.names.clone();
            if names.is_empty() {
                names = vec!["localhost".into(), "127.0.0.1".into()];
                if let Ok(host) = nix::unistd::gethostname()
                    && let Ok(host) = host.into_string()
                {
                    names.push(host);
                }
            }
            let pair = server_pair(&authority, &tls.ca_dir, &names)?;
            (pair.clone(), pair)
        }
    };
    // Fail at start, not at the first connection, when the files do not fit together.
    server_config(
        &server_cert,
        &server_key,
        &authority.ca_path,
        ClientAuth::Optional,
    )?;
    Ok(Pki {
        authority,
        server_cert,
        server_key,
        host_cert_lifetime: i64::try_from(tls.host_cert_lifetime).unwrap_or(i64::MAX),
    })
}

/// The server certificate the CA issued for `names`: chain and key in one 0600 file of
/// `ca_dir` named after the names (`server-<hash>.pem`), replaced whole (a replica starting at
/// the same moment reads one pair or the other, never a mix); reused while it has more than 30
/// days to live, so replicas sharing the folder present the same certificate.
fn server_pair(
    authority: &Authority,
    ca_dir: &std::path::Path,
    names: &[String],
) -> anyhow::Result<std::path::PathBuf> {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(names.join("\n").as_bytes());
    let tag: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let path = ca_dir.join(format!("server-{tag}.pem"));
    let fresh = std::fs::read(&path).ok().is_some_and(|pem| {
        use rustls::pki_types::pem::PemObject as _;
        rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
            .next()
            .and_then(Result::ok)
            .and_then(|der| {
                let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
                Some(cert.validity().not_after.timestamp())
            })
            .is_some_and(|not_after| not_after > chrono::Utc::now().timestamp() + 30 * 86_400)
    });
    if !fresh {
        let (chain, key) = authority.issue_server(names)?;
        write_private(&path, &format!("{chain}{key}"), 0o600)?;
    }
    Ok(path)
}

/// Every route of Polaris.
pub fn router(state: AppState) -> anyhow::Result<Router> {
    let upload_limit = usize::try_from(state.config.plugins.max_size)
        .unwrap_or(usize::MAX)
        .saturating_add(1 << 20);
    let admin = Router::new()
        .route("/hosts", get(admin::hosts))
        .route("/hosts/{hostname}", get(admin::host))
        .route("/jobs", post(admin::create_job))
        .route("/jobs/{id}", get(admin::job))
        .route("/commands", post(commands::create))
        .route("/commands/{id}", get(commands::get))
        .route("/agents", get(gearman::agents))
        .route("/hosts/{hostname}/cron-runs", get(gearman::cron_runs))
        .route("/metrics/query", get(metrics::query))
        .route("/logs", get(logs::query))
        .route("/hosts/{hostname}/log-sources", get(logs::sources))
        .route("/enrollment-tokens", post(enroll::create_token))
        .route("/hosts/{hostname}/revoke", post(enroll::revoke))
        .route("/hosts/{hostname}/plugins", get(inventory::host_plugins))
        .route(
            "/plugins",
            get(catalogue::list)
                .post(catalogue::upload)
                // A plugin file and its manifest and signature, past the general body limit.
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/plugins/{name}/hosts", get(inventory::plugin_hosts))
        .route("/plugin-problems", get(inventory::problems))
        .route("/rollouts", get(rollouts::list).post(rollouts::create))
        .route("/rollouts/{id}", get(rollouts::get))
        .route("/integrity/findings", get(integrity::findings))
        .route("/integrity/acknowledge", post(integrity::acknowledge))
        .route("/integrity/hosts", get(integrity::hosts))
        .route("/integrity/hosts/{hostname}", get(integrity::host))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            api::require_admin,
        ));
    let mut router = Router::new()
        .route("/agent/status", post(bootagent::status))
        .route("/agent/job/result", post(bootagent::job_result))
        .route("/agent/enroll", post(enroll::enroll))
        .route("/agent/renew", post(enroll::renew))
        .route("/api/v1/metrics", post(metrics::ingest))
        .route(
            "/api/v1/logs",
            // A batch of up to 10,000 records, past the general body limit.
            post(logs::ingest).layer(DefaultBodyLimit::max(wire::logs::MAX_BATCH_BYTES)),
        )
        .route(
            "/api/v1/integrity/reports",
            post(integrity::report).layer(DefaultBodyLimit::max(wire::integrity::MAX_REPORT_BYTES)),
        )
        .nest("/api/v1", admin)
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/metrics", get(telemetry::metrics))
        .fallback(|| async {
            ApiError::not_found(wire::retcode::NOT_FOUND, "Not found: no such route")
        })
        .method_not_allowed_fallback(crate::extract::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_body))
        .layer(middleware::from_fn_with_state(
            Duration::from_secs(state.config.connections.request_timeout),
            request_timeout,
        ))
        .layer(middleware::from_fn_with_state(
            state.telemetry.clone(),
            telemetry::track,
        ));
    if let Some(packages) = &state.config.packages {
        // As a service: every path under the prefix, "/packages/" included, reaches it.
        router = router.nest_service("/packages", packages::router(packages)?);
    }
    Ok(router.with_state(state))
}

/// Middleware: a request (reading its body included) that takes longer than the configured
/// time is answered 408 (3026) and dropped. Package transfers are outside it.
async fn request_timeout(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            wire::retcode::TIMED_OUT,
            format!(
                "Timed out: the request took longer than {} s",
                limit.as_secs()
            ),
        )
        .into_response(),
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!("cannot watch SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("Shutting down.");
}

/// Serves Polaris on `listener` until `shutdown` resolves; with `[agents]` configured, also
/// binds the agent listener at `agents.listen`.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let agents =
        match &state.config.agents {
            Some(config) => Some(TcpListener::bind(config.listen).await.map_err(|e| {
                anyhow::anyhow!("cannot listen for agents on {}: {e}", config.listen)
            })?),
            None => None,
        };
    notify_ready();
    serve(listener, agents, state, shutdown).await
}

/// Tells systemd (a `Type=notify` unit) that Polaris serves: its listeners are bound and its
/// database is migrated. Nothing outside systemd.
fn notify_ready() {
    if std::env::var_os("NOTIFY_SOCKET").is_some()
        && let Err(e) = sd_notify::notify(false, &[sd_notify::NotifyState::Ready])
    {
        tracing::warn!("could not tell systemd Polaris is ready: {e}");
    }
}

/// Serves HTTP on `http` and, when `agents` is given (with `[agents]` configured), the gearman
/// listener on it, until `shutdown` resolves.
pub async fn serve(
    http: TcpListener,
    agents: Option<TcpListener>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Dropped on an early return: a JoinSet aborts its tasks then.
    let mut background = Background::default();
    background.spawn_sweeper(
        state.db.clone(),
        state.hub.clone(),
        state.config.offline_after_steps,
    );
    background.spawn_rollouts(state.db.clone(), state.hub.clone());
    background.spawn_log_retention(
        state.db.clone(),
        state.config.logs.retention(),
        Duration::from_secs(state.config.logs.retention_interval),
    );
    state.catalogue.listening_on(http.local_addr()?);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let wait = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    if let Some(limit) = crate::pki::tls::raise_nofile() {
        tracing::info!("Open-files limit: {limit}.");
    }
    if let (Some(listener), Some(config), Some(pki)) = (agents, &state.config.agents, &state.pki) {
        let (cert, key) = match (&config.cert, &config.key) {
            (Some(cert), Some(key)) => (cert.as_path(), key.as_path()),
            _ => (pki.server_cert.as_path(), pki.server_key.as_path()),
        };
        let tls = server_config(cert, key, &pki.authority.ca_path, ClientAuth::Required)?;
        let limiter = ConnLimiter::new(config.max_connections, config.max_connections_per_address);
        state.db.reset_replica(&state.hub.replica).await?;
        tracing::info!(
            "Agents: wss://{}{} (replica {})",
            listener.local_addr()?,
            wire::agent::WS_PATH,
            state.hub.replica
        );
        let writer = links::results::ResultWriter::spawn(
            state.hub.clone(),
            state.db.clone(),
            &mut background,
        );
        let _ = state.hub.results.set(writer);
        background.spawn_dispatcher(state.db.clone(), state.hub.clone());
        background.spawn_keeper(state.db.clone(), state.hub.clone());
        background.add(links::listener::serve(
            listener,
            tls,
            limiter,
            state.hub.clone(),
            state.db.clone(),
            wait(stopped.clone()),
        ));
    }
    let tls = match &state.pki {
        Some(pki) => Some(server_config(
            &pki.server_cert,
            &pki.server_key,
            &pki.authority.ca_path,
            ClientAuth::Optional,
        )?),
        None => {
            tracing::warn!(
                "Serving plain HTTP (plain_http = true): no agent can authenticate; \
                 for loopback development only."
            );
            None
        }
    };
    let limits = state.config.connections.clone();
    let router = router(state)?;
    crate::listener::serve(http, tls, router, limits, wait(stopped)).await;
    // No background query after this returns.
    background.stop().await;
    Ok(())
}
