//! Polaris, the platform's central server.
//!
//! Layout:
//! - [`config`]: the TOML configuration.
//! - [`app`]: the router, the offline sweeper and [`app::run`] (serve on a bound listener).
//! - [`api`]: the handlers: BootAgent protocol, admin API, commands, metrics ingest and query.
//! - [`agents`]: the gearman listener (TLS WebSocket), one task per connection, and the
//!   dispatcher that sends this replica's queued host jobs.
//! - [`db`]: hosts, agents, boot jobs and metrics on SQLite / MySQL / PostgreSQL.
//! - [`packages`]: the package file server under `/packages/` (basic auth, autoindex, Range,
//!   atomic uploads), replacing nginx + vsftpd.
//! - [`telemetry`]: Polaris's own `/metrics`; [`openapi`]: the generated API document.
//! - [`pki`]: the Polaris CA (enrollment, renewal, the server certificate) and the rustls
//!   configurations; [`listener`]: the HTTP(S) listener (timeouts, connection caps, client
//!   certificates).
//! - [`limits`]: the `[limits]` caps on what one request may carry or create.
//! - [`error`], [`extract`]: JSON error answers, and extractors whose refusals are JSON; [`state`]: what handlers share; [`dev`]: `polaris dev`.

pub mod agents;
pub mod api;
pub mod app;
pub mod config;
pub mod db;
pub mod dev;
pub mod error;
pub mod extract;
pub mod limits;
pub mod listener;
pub mod openapi;
pub mod openapi_limits;
pub mod packages;
pub mod pki;
pub mod state;
pub mod telemetry;
