//! What every handler shares: the database, the configuration, the telemetry, the agent hub,
//! the plugin catalogue's configuration and, with `[tls]`, the CA and the server certificate
//! ([`Pki`]).

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::FromRef;

use crate::config::Config;
use crate::db::Db;
use crate::links::Hub;
use crate::telemetry::Telemetry;

/// The application state.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The configuration.
    pub config: Arc<Config>,
    /// Polaris's own metrics.
    pub telemetry: Arc<Telemetry>,
    /// This replica's agent connections and waiting command calls.
    pub hub: Arc<Hub>,
    /// The CA and the server certificate; `None` with `plain_http`.
    pub pki: Option<Arc<Pki>>,
    /// The plugin catalogue's configuration: package root and URL, release key.
    pub catalogue: Arc<crate::catalogue::Catalogue>,
}

/// The CA and the server certificate of the listeners.
#[derive(Debug)]
pub struct Pki {
    /// Signs host certificates.
    pub authority: crate::pki::Authority,
    /// The server certificate chain (PEM file).
    pub server_cert: PathBuf,
    /// Its key (PEM file).
    pub server_key: PathBuf,
    /// Seconds a host certificate lasts.
    pub host_cert_lifetime: i64,
}

impl FromRef<AppState> for Arc<Telemetry> {
    fn from_ref(state: &AppState) -> Arc<Telemetry> {
        state.telemetry.clone()
    }
}
