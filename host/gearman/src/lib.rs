//! gearman, the platform's BasicAgent: holds a TLS WebSocket to Polaris and runs what it is
//! sent: shell commands (`sync.bash`), detached tasks (`async.bash`, `task.*`), periodic
//! entries (`cron.*`) and `getinfo.*` through the same info plugins `gearctl` loads.
//!
//! Layout:
//! - `config`: `/etc/cargo/gearman.conf` (TOML) and its defaults.
//! - `link`: the connection to Polaris (resolve, TLS, init/redirect, outbox pump, heartbeat).
//! - `agent`: [`agent::Agent`], one method table from a [`wire::agent::Request`] to its
//!   [`wire::CommandResult`].
//! - `exec`: runs one shell command: process group, user/group, 64 KiB cap, timeout.
//! - `tasks`: detached runs (`async.bash`, cron runs) that outlive a killed agent.
//! - `daemon`: `daemon.*`, long-running programs on the `supervise` engine, adopted after a
//!   restart.
//! - `cron`: schedules with seconds, the entries, and the timer that fires them.
//! - `store`: `gearman.db` (tasks, cron entries, the outbox of unacknowledged results).
//! - `bridge`: the agent behind the link (requests in, outbox out).
//! - `local`: the unix socket `gearctl` uses to reach the running agent.

pub mod agent;
pub mod bridge;
pub mod config;
pub mod cron;
pub mod daemon;
pub mod exec;
pub mod link;
pub mod local;
pub mod store;
pub mod tasks;
