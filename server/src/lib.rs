//! Polaris, the platform's central server.
//!
//! Layout:
//! - [`cli`]: the command line of the `polaris` binary (also rendered as its man page).
//! - [`config`]: the TOML configuration.
//! - [`app`]: the router and [`app::run`] (serve on a bound listener until shutdown).
//! - [`background`]: the sweeper, the dispatcher, the session keeper and the rollout scheduler,
//!   which end on shutdown.
//! - [`api`]: the handlers: BootAgent protocol, admin API, commands, metrics ingest and query.
//! - [`links`]: the gearman links: listener (TLS WebSocket), one task per connection, the round that
//!   sends this replica's queued host jobs, and the result writer.
//! - [`db`]: hosts, agents, boot jobs and metrics on SQLite / MySQL / PostgreSQL.
//! - [`catalogue`]: the plugin catalogue's files on the package server, its checks (ELF,
//!   release signature); [`rollouts`]: the rollout scheduler (one plugin action for many hosts,
//!   as single-host commands).
//! - [`packages`]: the package file server under `/packages/` (basic auth, autoindex, Range,
//!   atomic uploads), replacing nginx + vsftpd.
//! - [`telemetry`]: Polaris's own `/metrics`; [`openapi`]: the generated API document.
//! - [`pki`]: the Polaris CA (enrollment, renewal, the server certificate) and the rustls
//!   configurations; [`listener`]: the HTTP(S) listener (timeouts, connection caps, client
//!   certificates).
//! - [`limits`]: the `[limits]` caps on what one request may carry or create.
//! - [`error`], [`extract`]: JSON error answers, and extractors whose refusals are JSON; [`state`]: what handlers share; [`dev`]: `polaris dev`.

pub mod api;
pub mod app;
pub mod background;
pub mod catalogue;
pub mod cli;
pub mod config;
pub mod db;
pub mod dev;
pub mod error;
pub mod extract;
pub mod limits;
pub mod links;
pub mod listener;
pub mod openapi;
pub mod openapi_limits;
pub mod packages;
pub mod pki;
pub mod rollouts;
pub mod state;
pub mod telemetry;
