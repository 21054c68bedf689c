//! What every handler shares: the database, the configuration and the telemetry.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::config::Config;
use crate::db::Db;
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
}

impl FromRef<AppState> for Arc<Telemetry> {
    fn from_ref(state: &AppState) -> Arc<Telemetry> {
        state.telemetry.clone()
    }
}
