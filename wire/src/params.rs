//! The parameters of each method of [`crate::method::Command`], field names, defaults and limits
//! from the seed: strict (`deny_unknown_fields`), optional fields left out when absent so that a
//! command is sent on in the shape it came in, and the checks JSON types cannot state
//! ([`Check`]). What only the host can check (does the user exist, is the daemon name a
//! usable folder name, does the schedule parse) is the agent's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::method::Check;

/// Seconds a shell command may run when the request names no `timeout` (seed: 120).
pub const DEFAULT_TIMEOUT_SECS: u64 = 120;
/// The longest `name`, `version`, `check`, `user` and `group` of `daemon.init` (seed: 64).
pub const DAEMON_SHORT_MAX: usize = 64;
/// The longest `url`, `precheck`, `start`, `stop`, `pidfile` and `socket` (seed: 512).
pub const DAEMON_LONG_MAX: usize = 512;
/// The longest `checksum` (`SHA256:` and 64 hex digits, with room).
pub const CHECKSUM_MAX: usize = 80;
/// The largest number of seconds or retries in a daemon definition (a year).
pub const DAEMON_NUMBER_MAX: u64 = 86_400 * 365;

/// `sync.bash` and `async.bash`: a shell command, run as `bash -c <cmd>`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Exec {
    /// The shell command (required, not blank).
    pub cmd: String,
    /// Seconds before the command is stopped (TERM, then KILL to its process group);
    /// default 120, at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// The user to run as (default root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The group to run as (default the user's primary group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl Exec {
    /// `timeout`, or the default of 120 s.
    pub fn timeout_secs(&self) -> u64 {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS)
    }
}

impl Check for Exec {
    fn check(&self) -> Result<(), String> {
        not_blank("cmd", &self.cmd)?;
        at_least_one("timeout", self.timeout)
    }
}

/// `task.query` and `task.kill`: the task named by its id.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskRef {
    /// The task id `async.bash` answered (required).
    pub args: String,
}

impl TaskRef {
    /// The task id, without surrounding blanks.
    pub fn task_id(&self) -> &str {
        self.args.trim()
    }
}

impl Check for TaskRef {
    fn check(&self) -> Result<(), String> {
        not_blank("args", &self.args).map_err(|_| "needs the task id in `args`".into())
    }
}

/// `cron.add`: `args` is the schedule and `cmd` the command, or (without `cmd`) `args` is a
/// whole crontab line `<schedule> <user> <command...>`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CronAdd {
    /// The schedule (six fields with seconds, or five), or a whole crontab line (required).
    pub args: String,
    /// The shell command; without it, `args` is a crontab line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    /// Seconds each run may take (default 120, at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// The user to run as (default root; must match a crontab line's user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The group to run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl Check for CronAdd {
    fn check(&self) -> Result<(), String> {
        not_blank("args", &self.args).map_err(|_| {
            "needs `args` (the schedule) and `cmd`, or a crontab line in `args`".to_string()
        })?;
        if let Some(cmd) = &self.cmd {
            not_blank("cmd", cmd)?;
        }
        at_least_one("timeout", self.timeout)
    }
}

/// `cron.remove`: the entry named by its id.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CronRef {
    /// The cron id `cron.add` answered (required).
    pub args: String,
}

impl CronRef {
    /// The cron id, without surrounding blanks.
    pub fn cron_id(&self) -> &str {
        self.args.trim()
    }
}

impl Check for CronRef {
    fn check(&self) -> Result<(), String> {
        not_blank("args", &self.args).map_err(|_| "needs the cron id in `args`".into())
    }
}

/// `daemon.start`, `.stop`, `.restart`, `.status`, `.remove`: the daemon named.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DaemonRef {
    /// The daemon's name, as `daemon.init` gave it (required).
    pub args: String,
}

impl DaemonRef {
    /// The daemon's name, without surrounding blanks.
    pub fn name(&self) -> &str {
        self.args.trim()
    }
}

impl Check for DaemonRef {
    fn check(&self) -> Result<(), String> {
        not_blank("args", &self.args).map_err(|_| "needs the daemon name in `args`".into())
    }
}

/// `daemon.init`: a daemon's definition, the seed's fields at the top level of the request
/// (the `daemon` table of `gearman.db`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DaemonInit {
    /// The daemon's name (required, at most 64; it names its folder).
    pub name: String,
    /// Its version (required, at most 64).
    pub version: String,
    /// Where its package comes from (required, at most 512): http(s), ftp, `file://` or a path.
    pub url: String,
    /// A command that must succeed before the start (at most 512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precheck: Option<String>,
    /// How often `precheck` is tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precheck_retries: Option<u64>,
    /// The start command (required, at most 512).
    pub start: String,
    /// Seconds after the start before checking that it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_delay: Option<u64>,
    /// How to stop it (required, at most 512): `process:<command>` or `kill:<signal>`.
    pub stop: String,
    /// Seconds `stop` may take before `kill -9`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u64>,
    /// How to check that it runs, e.g. `process` (at most 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// Seconds between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_interval: Option<u64>,
    /// The user it runs as (at most 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The group it runs as (at most 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Its pid file (at most 512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pidfile: Option<String>,
    /// Its socket (at most 512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
    /// Environment variables, e.g. `{"PATH": "/usr/bin:/usr/sbin"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    /// Resource limits, e.g. `{"hits": 5, "cpu": "5%", "memory": "100M"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub limits: Option<Map<String, Value>>,
    /// `SHA256:<64 hex digits>` of the package; required by the agent for a remote `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

impl Check for DaemonInit {
    fn check(&self) -> Result<(), String> {
        for (field, value, max) in [
            ("name", &self.name, DAEMON_SHORT_MAX),
            ("version", &self.version, DAEMON_SHORT_MAX),
            ("url", &self.url, DAEMON_LONG_MAX),
            ("start", &self.start, DAEMON_LONG_MAX),
            ("stop", &self.stop, DAEMON_LONG_MAX),
        ] {
            not_blank(field, value)?;
            at_most(field, value, max)?;
        }
        for (field, value, max) in [
            ("precheck", &self.precheck, DAEMON_LONG_MAX),
            ("check", &self.check, DAEMON_SHORT_MAX),
            ("user", &self.user, DAEMON_SHORT_MAX),
            ("group", &self.group, DAEMON_SHORT_MAX),
            ("pidfile", &self.pidfile, DAEMON_LONG_MAX),
            ("socket", &self.socket, DAEMON_LONG_MAX),
            ("checksum", &self.checksum, CHECKSUM_MAX),
        ] {
            if let Some(value) = value {
                at_most(field, value, max)?;
            }
        }
        for (field, value) in [
            ("precheck_retries", self.precheck_retries),
            ("start_delay", self.start_delay),
            ("stop_timeout", self.stop_timeout),
            ("check_interval", self.check_interval),
        ] {
            if value.is_some_and(|n| n > DAEMON_NUMBER_MAX) {
                return Err(format!("`{field}` must be at most {DAEMON_NUMBER_MAX}"));
            }
        }
        Ok(())
    }
}

/// `getinfo.<plugin>`: the plugin's arguments.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GetInfo {
    /// The plugin's name: the `<name>` of the method `getinfo.<name>` (not a field).
    #[serde(skip)]
    pub plugin: String,
    /// The plugin's flags, e.g. `-U root` for `getinfo.users` (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<String>,
}

impl Check for GetInfo {
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The parameters of `task.list`, `cron.list` and `daemon.list`: none.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

impl Check for NoParams {
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// White space as JSON Schema's (ECMAScript's) `\s` counts it, so that "not blank" means
/// the same here and in the OpenAPI document's patterns: Unicode's White_Space without U+0085,
/// plus U+FEFF.
fn is_space(c: char) -> bool {
    (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}'
}

fn not_blank(field: &str, value: &str) -> Result<(), String> {
    if value.chars().all(is_space) {
        Err(format!("`{field}` is required and must not be blank"))
    } else {
        Ok(())
    }
}

fn at_most(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.len() > max && value.chars().count() > max {
        Err(format!("`{field}` is longer than {max}"))
    } else {
        Ok(())
    }
}

fn at_least_one(field: &str, value: Option<u64>) -> Result<(), String> {
    if value == Some(0) {
        Err(format!("`{field}` must be at least 1"))
    } else {
        Ok(())
    }
}
