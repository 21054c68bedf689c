//! Messages that cross a process boundary, shared by Polaris (`server/`) and the agents and
//! control tools (`host/`), which never depend on each other.
//!
//! Layout:
//! - [`agent`]: gearman ⇄ Polaris over a TLS WebSocket (init, redirect, requests, results, acks).
//! - [`retcode`]: the platform's retcodes and their messages (the seed's 2, 203, 3021, ...).
//! - [`boot`]: the BootAgent protocol (`/agent/status`, `/agent/job/result`).
//! - [`command`]: the per-host result object of a command (`resp`, `retcode`, `message`, `data`),
//!   printed by `gearctl` and returned by `POST /api/v1/commands`.
//! - [`enroll`]: a host's enrollment and certificate renewal (`/agent/enroll`, `/agent/renew`).
//! - [`control`]: `nodusctl` ⇄ `nodus` requests and answers over the agent's unix socket.
//! - [`metrics`]: the value-list batches nodus's `http` writer posts to Polaris (collectd's
//!   write_http JSON).

pub mod agent;
pub mod boot;
pub mod command;
pub mod control;
pub mod enroll;
pub mod metrics;
pub mod retcode;

pub use command::{CommandResult, ExecStatus, Resp};
