//! The router and the server's life: routes, body limits, the offline sweeper, and `run` /
//! `serve`, which serve HTTP (and, with `[agents]`, the gearman TLS listener, its dispatcher
//! and session keeper) on listeners the caller bound (tests bind 127.0.0.1:0) until a shutdown
//! future resolves.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::agents::{self, Hub};
use crate::api::{self, admin, agent, commands, gearman, metrics};
use crate::config::Config;
use crate::db::Db;
use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry::{self, Telemetry};
use crate::{openapi, packages};

/// Builds the state: connects to and migrates the database.
pub async fn state(config: Config) -> anyhow::Result<AppState> {
    let db = Db::connect(&config.database).await?;
    db.migrate().await?;
    let telemetry = Arc::new(Telemetry::default());
    let hub = Arc::new(Hub::new(config.agents.as_ref(), telemetry.clone()));
    Ok(AppState {
        db,
        config: Arc::new(config),
        telemetry,
        hub,
    })
}

/// Every route of Polaris.
pub fn router(state: AppState) -> anyhow::Result<Router> {
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
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            api::require_admin,
        ));
    let mut router = Router::new()
        .route("/agent/status", post(agent::status))
        .route("/agent/job/result", post(agent::job_result))
        .route("/api/v1/metrics", post(metrics::ingest))
        .nest("/api/v1", admin)
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/metrics", get(telemetry::metrics))
        .fallback(|| async {
            ApiError::not_found(wire::retcode::NOT_FOUND, "Not found: no such route")
        })
        .layer(DefaultBodyLimit::max(state.config.max_body))
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

/// Marks silent hosts offline every second, until the process ends.
fn spawn_sweeper(state: &AppState) {
    let (db, steps) = (state.db.clone(), state.config.offline_after_steps);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            match db.mark_offline(steps).await {
                Ok(0) => {}
                Ok(n) => tracing::info!("{n} host(s) went offline."),
                Err(e) => tracing::warn!("offline sweep failed: {e}"),
            }
        }
    });
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
    serve(listener, agents, state, shutdown).await
}

/// Serves HTTP on `http` and, when `agents` is given (with `[agents]` configured), the gearman
/// listener on it, until `shutdown` resolves.
pub async fn serve(
    http: TcpListener,
    agents: Option<TcpListener>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    spawn_sweeper(&state);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let wait = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    if let (Some(listener), Some(config)) = (agents, &state.config.agents) {
        let tls = agents::tls::server_config(config)?;
        if let Some(limit) = agents::tls::raise_nofile() {
            tracing::info!("Open-files limit: {limit}.");
        }
        state.db.reset_replica(&state.hub.replica).await?;
        tracing::info!(
            "Agents: wss://{}{} (replica {})",
            listener.local_addr()?,
            wire::agent::WS_PATH,
            state.hub.replica
        );
        let writer = agents::results::ResultWriter::spawn(state.hub.clone(), state.db.clone());
        let _ = state.hub.results.set(writer);
        agents::dispatch::spawn_dispatcher(state.hub.clone(), state.db.clone());
        agents::dispatch::spawn_keeper(state.hub.clone(), state.db.clone());
        tokio::spawn(agents::listener::serve(
            listener,
            tls,
            state.hub.clone(),
            state.db.clone(),
            wait(stopped.clone()),
        ));
    }
    let router = router(state)?;
    axum::serve(http, router)
        .with_graceful_shutdown(wait(stopped))
        .await?;
    Ok(())
}
