//! Messages that cross a process boundary, shared by Polaris (`server/`) and the agents and
//! control tools (`host/`), which never depend on each other.
//!
//! Layout:
//! - [`agent`]: gearman ⇄ Polaris over a TLS WebSocket (init, redirect, requests, results, acks).
//! - [`method`]: [`Command`], the typed command one host runs (a variant per method, the
//!   seed's flat JSON), and [`CommandError`], its failures with their retcodes.
//! - [`params`]: each method's parameters, with the seed's defaults and limits.
//! - [`plugins`]: plugins managed from Polaris: the `plugin.*` methods' parameters and the
//!   inventory each gearman reports.
//! - [`seed`]: the seed's literal command messages, for tests and API examples.
//! - [`retcode`]: the platform's retcodes and their messages (the seed's 2, 203, 3021, ...).
//! - [`boot`]: the BootAgent protocol (`/agent/status`, `/agent/job/result`).
//! - [`command`]: the per-host result object of a command (`resp`, `retcode`, `message`, `data`),
//!   printed by `gearctl` and returned by `POST /api/v1/commands`.
//! - [`enroll`]: a host's enrollment and certificate renewal (`/agent/enroll`, `/agent/renew`).
//! - [`control`]: `nodusctl` ⇄ `nodus` requests and answers over the agent's unix socket.
//! - [`metrics`]: the value-list batches nodus's `http` writer posts to Polaris (collectd's
//!   write_http JSON).
//! - [`logs`]: the log agent's record batches to Polaris and their acknowledgement, and the
//!   nginx/Apache presets whose fields both sides read from a record's message.
//! - [`json_text`]: JSON strings written as `serde_json` writes them, eight bytes at a time.

pub mod agent;
pub mod boot;
pub mod command;
pub mod control;
pub mod enroll;
pub mod integrity;
pub mod json_text;
pub mod logs;
pub mod method;
pub mod metrics;
pub mod params;
pub mod plugins;
pub mod retcode;
pub mod seed;

pub use command::{CommandResult, ExecStatus, Resp};
pub use method::{Command, CommandError};
