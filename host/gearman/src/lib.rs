//! gearman, the platform's BasicAgent: holds a TLS WebSocket to Polaris and runs what it is
//! sent: shell commands (`sync.bash`), detached tasks (`async.bash`, `task.*`), periodic
//! entries (`cron.*`) and `getinfo.*` through the same info plugins `gearctl` loads.
//!
//! Layout:
//! - `cli`: the `gearman` binary's flags (also rendered as its man page by `xtask`).
//! - `config`: `/etc/cargo/gearman.conf` (TOML) and its defaults.
//! - `link`: the connection to Polaris (resolve, TLS, init/redirect, outbox pump, heartbeat).
//! - `agent`: [`agent::Agent`], one handler per method family behind one trait, from a typed
//!   [`wire::agent::Request`] to its [`wire::CommandResult`].
//! - `exec`: runs one shell command: process group, user/group, 64 KiB cap, timeout.
//! - `info`: the info plugins' instances answering `getinfo.<name>` (loaded at start,
//!   changed by `plugin.*`).
//! - `plugins`: `plugin.*` for gearman's and nodus's plugins (download, checks, staging,
//!   checked swap) and the plugin inventory sent to Polaris.
//! - `tasks`: detached runs (`async.bash`, cron runs) that outlive a killed agent.
//! - `daemon`: `daemon.*`, long-running programs on the `supervise` engine, adopted after a
//!   restart.
//! - `cron`: schedules with seconds, the entries, and the timer that fires them.
//! - `store`: `gearman.db` (tasks, cron entries, the outbox of unacknowledged results).
//! - `bridge`: the agent behind the link (requests in, outbox out).
//! - `local`: the unix socket `gearctl` uses to reach the running agent.

pub mod agent;
pub mod bridge;
pub mod cli;
pub mod config;
pub mod cron;
pub mod daemon;
pub mod exec;
pub mod info;
pub mod link;
pub mod local;
pub mod plugins;
pub mod store;
pub mod tasks;
