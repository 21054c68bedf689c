//! What every handler shares: the database, the configuration, the telemetry and the agent hub.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::agents::Hub;
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
    /// This replica's agent connections and waiting command calls.
    pub hub: Arc<Hub>,
}

impl FromRef<AppState> for Arc<Telemetry> {
    fn from_ref(state: &AppState) -> Arc<Telemetry> {
        state.telemetry.clone()
    }
}
