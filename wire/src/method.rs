//! The typed command one host runs: [`Command`], one variant per method with its parameters
//! (`params`), and [`CommandError`], every way a command can fail before or instead of running,
//! each with its retcode.
//!
//! On the wire a command is the seed's flat object: `method` plus the method's parameters at
//! the top level (`{"method":"sync.bash","cmd":"ls","timeout":10}`). `getinfo.<name>` is an
//! open family: the plugin's name is part of the method string. Parsing is strict: an unknown
//! method is 3022 "No such method", a missing, mistyped, out-of-range or unknown field is 3021
//! "Invalid params" naming it. Defaults (`timeout` 120, `user` root) are applied by the runner,
//! not written into the command, so a command crosses every hop in the shape it was sent.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::command::CommandResult;
use crate::params::{CronAdd, CronRef, DaemonInit, DaemonRef, Exec, GetInfo, NoParams, TaskRef};
use crate::plugins::{PluginConfigure, PluginRelease, PluginTarget};
use crate::retcode;

/// The prefix of the info plugins' methods: `getinfo.<plugin name>`.
pub const INFO_PREFIX: &str = "getinfo.";

/// A command for one host: the method and its typed parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `sync.bash`: run a shell command and answer with its output.
    SyncBash(Exec),
    /// `async.bash`: start a shell command detached; answers `{"task_id": ...}`.
    AsyncBash(Exec),
    /// `task.query`: the state and result of a detached task (`args` = task id).
    TaskQuery(TaskRef),
    /// `task.list`: every task the agent keeps.
    TaskList,
    /// `task.kill`: stop a detached task (`args` = task id).
    TaskKill(TaskRef),
    /// `cron.add`: a periodic entry (schedule with seconds).
    CronAdd(CronAdd),
    /// `cron.list`: every periodic entry.
    CronList,
    /// `cron.remove`: drop a periodic entry (`args` = cron id).
    CronRemove(CronRef),
    /// `daemon.init`: define (or redefine) a daemon; only writes the agent's database
    /// (boxed: its eighteen fields would make every command as large).
    DaemonInit(Box<DaemonInit>),
    /// `daemon.list`: every daemon with its state.
    DaemonList,
    /// `daemon.start`: install the daemon's package and start it (`args` = name).
    DaemonStart(DaemonRef),
    /// `daemon.stop`: stop the daemon (`args` = name).
    DaemonStop(DaemonRef),
    /// `daemon.restart`: stop, then start from the current definition (`args` = name).
    DaemonRestart(DaemonRef),
    /// `daemon.status`: the daemon's state (`args` = name).
    DaemonStatus(DaemonRef),
    /// `daemon.remove`: stop the daemon and forget it (`args` = name).
    DaemonRemove(DaemonRef),
    /// `getinfo.<plugin>`: a host-information plugin's JSON document.
    GetInfo(GetInfo),
    /// `plugin.list`: the host's plugin inventory (gearman's and nodus's).
    PluginList,
    /// `plugin.install`: put a plugin release on the host and load it, checked.
    PluginInstall(PluginRelease),
    /// `plugin.upgrade`: replace the installed version of a plugin, checked, keeping the old
    /// one when the new one does not answer.
    PluginUpgrade(PluginRelease),
    /// `plugin.remove`: stop a plugin's instances, unload it and delete its file.
    PluginRemove(PluginTarget),
    /// `plugin.start`: start a stopped plugin (or one instance).
    PluginStart(PluginTarget),
    /// `plugin.stop`: stop a plugin (or one instance) without removing it.
    PluginStop(PluginTarget),
    /// `plugin.configure`: new options for one instance.
    PluginConfigure(PluginConfigure),
}

/// Every method with fixed name, in the order of the README's table (`getinfo.<name>` aside).
pub const METHODS: [&str; 22] = [
    "sync.bash",
    "async.bash",
    "task.query",
    "task.list",
    "task.kill",
    "cron.add",
    "cron.list",
    "cron.remove",
    "daemon.init",
    "daemon.list",
    "daemon.start",
    "daemon.stop",
    "daemon.restart",
    "daemon.status",
    "daemon.remove",
    "plugin.list",
    "plugin.install",
    "plugin.upgrade",
    "plugin.remove",
    "plugin.start",
    "plugin.stop",
    "plugin.configure",
];

/// Why a command failed without an answer of its own; each variant is one retcode, and
/// [`CommandError::into_result`] is the seed's failure object for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// 3022: no method (and no info plugin) of this name.
    NoSuchMethod(String),
    /// 3021: a parameter is missing, mistyped, out of range or unknown; the reason.
    InvalidParams(String),
    /// 3033: the task, cron entry or daemon named does not exist; the reason.
    NotFound(String),
    /// 3028: the command could not be started (fork, exec, user switch).
    NotStarted(String),
    /// 3024: the info plugin panicked (caught at the plugin boundary).
    PluginPanicked(String),
    /// 3023: the method ran but failed; the reason.
    Failed(String),
    /// A failure with its own retcode, as an info plugin or a lower module reported it.
    Other {
        /// The retcode.
        retcode: u32,
        /// The whole message.
        message: String,
    },
}

impl CommandError {
    /// The retcode of this failure.
    pub fn retcode(&self) -> u32 {
        match self {
            CommandError::NoSuchMethod(_) => retcode::NO_SUCH_METHOD,
            CommandError::InvalidParams(_) => retcode::INVALID_PARAMS,
            CommandError::NotFound(_) => retcode::NOT_FOUND,
            CommandError::NotStarted(_) => retcode::NOT_STARTED,
            CommandError::PluginPanicked(_) => retcode::PLUGIN_PANICKED,
            CommandError::Failed(_) => retcode::FAILED,
            CommandError::Other { retcode, .. } => *retcode,
        }
    }

    /// The seed's failure object: `{"resp":"failed","retcode":3021,"message":"Invalid params: ..."}`.
    pub fn into_result(self) -> CommandResult {
        let retcode = self.retcode();
        CommandResult::failed(retcode, self.to_string())
    }

    /// A failure object some module already built (`resp` "failed"), as a typed error.
    pub fn from_result(result: CommandResult) -> CommandError {
        CommandError::Other {
            retcode: result.retcode,
            message: result.message,
        }
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (code, detail) = match self {
            CommandError::NoSuchMethod(method) => {
                return write!(f, "No such method: `{method}`");
            }
            CommandError::Other { message, .. } => return f.write_str(message),
            CommandError::InvalidParams(why)
            | CommandError::NotFound(why)
            | CommandError::NotStarted(why)
            | CommandError::PluginPanicked(why)
            | CommandError::Failed(why) => (self.retcode(), why),
        };
        let standard = retcode::message(code).unwrap_or("Failed");
        if detail.is_empty() {
            f.write_str(standard)
        } else {
            write!(f, "{standard}: {detail}")
        }
    }
}

impl std::error::Error for CommandError {}

/// Parses one method's parameters (strict: unknown fields are refused) and checks them.
fn params<P: DeserializeOwned + Check>(
    method: &str,
    fields: Map<String, Value>,
) -> Result<P, CommandError> {
    let params: P = serde_path_to_error::deserialize(Value::Object(fields)).map_err(|e| {
        let field = e.path().to_string();
        let why = e.into_inner();
        if field == "." {
            CommandError::InvalidParams(format!("`{method}`: {why}"))
        } else {
            CommandError::InvalidParams(format!("`{method}`: `{field}`: {why}"))
        }
    })?;
    params
        .check()
        .map_err(|why| CommandError::InvalidParams(format!("`{method}`: {why}")))?;
    Ok(params)
}

/// The checks serde's types cannot state (non-blank text, lengths, minimums).
pub(crate) trait Check {
    /// `Err(reason)` when a value is out of range.
    fn check(&self) -> Result<(), String>;
}

impl Command {
    /// The command of `method` with the parameters `fields` (the request's other top-level
    /// fields, without `method` and `id`).
    pub fn from_fields(method: &str, fields: Map<String, Value>) -> Result<Command, CommandError> {
        Ok(match method {
            "sync.bash" => Command::SyncBash(params(method, fields)?),
            "async.bash" => Command::AsyncBash(params(method, fields)?),
            "task.query" => Command::TaskQuery(params(method, fields)?),
            "task.list" => params::<NoParams>(method, fields).map(|_| Command::TaskList)?,
            "task.kill" => Command::TaskKill(params(method, fields)?),
            "cron.add" => Command::CronAdd(params(method, fields)?),
            "cron.list" => params::<NoParams>(method, fields).map(|_| Command::CronList)?,
            "cron.remove" => Command::CronRemove(params(method, fields)?),
            "daemon.init" => Command::DaemonInit(Box::new(params(method, fields)?)),
            "daemon.list" => params::<NoParams>(method, fields).map(|_| Command::DaemonList)?,
            "daemon.start" => Command::DaemonStart(params(method, fields)?),
            "daemon.stop" => Command::DaemonStop(params(method, fields)?),
            "daemon.restart" => Command::DaemonRestart(params(method, fields)?),
            "daemon.status" => Command::DaemonStatus(params(method, fields)?),
            "daemon.remove" => Command::DaemonRemove(params(method, fields)?),
            "plugin.list" => params::<NoParams>(method, fields).map(|_| Command::PluginList)?,
            "plugin.install" => Command::PluginInstall(params(method, fields)?),
            "plugin.upgrade" => Command::PluginUpgrade(params(method, fields)?),
            "plugin.remove" => {
                let target: PluginTarget = params(method, fields)?;
                if target.instance.is_some() {
                    return Err(CommandError::InvalidParams(
                        "`plugin.remove`: `instance`: a plugin is removed whole".into(),
                    ));
                }
                Command::PluginRemove(target)
            }
            "plugin.start" => Command::PluginStart(params(method, fields)?),
            "plugin.stop" => Command::PluginStop(params(method, fields)?),
            "plugin.configure" => Command::PluginConfigure(params(method, fields)?),
            _ => match info_plugin(method) {
                Some(plugin) => {
                    let mut info: GetInfo = params(method, fields)?;
                    info.plugin = plugin.to_string();
                    Command::GetInfo(info)
                }
                None => return Err(CommandError::NoSuchMethod(method.to_string())),
            },
        })
    }

    /// The command of a JSON object `{"method": ..., <parameters>}` (an `id` must have been
    /// taken out by the caller).
    pub fn from_map(mut fields: Map<String, Value>) -> Result<Command, CommandError> {
        let method = match fields.remove("method") {
            Some(Value::String(method)) => method,
            Some(_) => {
                return Err(CommandError::InvalidParams(
                    "`method` must be a string".into(),
                ));
            }
            None => return Err(CommandError::InvalidParams("`method` is required".into())),
        };
        Command::from_fields(&method, fields)
    }

    /// The method string: `sync.bash`, ..., `getinfo.<plugin>`.
    pub fn method(&self) -> std::borrow::Cow<'static, str> {
        use std::borrow::Cow::Borrowed;
        match self {
            Command::SyncBash(_) => Borrowed("sync.bash"),
            Command::AsyncBash(_) => Borrowed("async.bash"),
            Command::TaskQuery(_) => Borrowed("task.query"),
            Command::TaskList => Borrowed("task.list"),
            Command::TaskKill(_) => Borrowed("task.kill"),
            Command::CronAdd(_) => Borrowed("cron.add"),
            Command::CronList => Borrowed("cron.list"),
            Command::CronRemove(_) => Borrowed("cron.remove"),
            Command::DaemonInit(_) => Borrowed("daemon.init"),
            Command::DaemonList => Borrowed("daemon.list"),
            Command::DaemonStart(_) => Borrowed("daemon.start"),
            Command::DaemonStop(_) => Borrowed("daemon.stop"),
            Command::DaemonRestart(_) => Borrowed("daemon.restart"),
            Command::DaemonStatus(_) => Borrowed("daemon.status"),
            Command::DaemonRemove(_) => Borrowed("daemon.remove"),
            Command::GetInfo(info) => format!("{INFO_PREFIX}{}", info.plugin).into(),
            Command::PluginList => Borrowed("plugin.list"),
            Command::PluginInstall(_) => Borrowed("plugin.install"),
            Command::PluginUpgrade(_) => Borrowed("plugin.upgrade"),
            Command::PluginRemove(_) => Borrowed("plugin.remove"),
            Command::PluginStart(_) => Borrowed("plugin.start"),
            Command::PluginStop(_) => Borrowed("plugin.stop"),
            Command::PluginConfigure(_) => Borrowed("plugin.configure"),
        }
    }

    /// The seconds the agent lets the command run, for the methods that run one now
    /// (`sync.bash`): the caller's deadline is set from it.
    pub fn timeout_secs(&self) -> Option<u64> {
        match self {
            Command::SyncBash(exec) => Some(exec.timeout_secs()),
            _ => None,
        }
    }
}

/// The plugin name of `getinfo.<name>` (non-empty), else `None`.
pub fn info_plugin(method: &str) -> Option<&str> {
    method.strip_prefix(INFO_PREFIX).filter(|n| !n.is_empty())
}

/// The flat wire shape: `method` first, then the parameters in their declared order.
#[derive(Serialize)]
struct Tagged<'a, P: Serialize> {
    method: &'a str,
    #[serde(flatten)]
    params: &'a P,
}

impl Serialize for Command {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn tagged<S: Serializer, P: Serialize>(
            s: S,
            method: &str,
            p: &P,
        ) -> Result<S::Ok, S::Error> {
            Tagged { method, params: p }.serialize(s)
        }
        let method = self.method();
        match self {
            Command::SyncBash(p) | Command::AsyncBash(p) => tagged(serializer, &method, p),
            Command::TaskQuery(p) | Command::TaskKill(p) => tagged(serializer, &method, p),
            Command::CronAdd(p) => tagged(serializer, &method, p),
            Command::CronRemove(p) => tagged(serializer, &method, p),
            Command::DaemonInit(p) => tagged(serializer, &method, p),
            Command::DaemonStart(p)
            | Command::DaemonStop(p)
            | Command::DaemonRestart(p)
            | Command::DaemonStatus(p)
            | Command::DaemonRemove(p) => tagged(serializer, &method, p),
            Command::GetInfo(p) => tagged(serializer, &method, p),
            Command::PluginInstall(p) | Command::PluginUpgrade(p) => tagged(serializer, &method, p),
            Command::PluginRemove(p) | Command::PluginStart(p) | Command::PluginStop(p) => {
                tagged(serializer, &method, p)
            }
            Command::PluginConfigure(p) => tagged(serializer, &method, p),
            Command::TaskList | Command::CronList | Command::DaemonList | Command::PluginList => {
                tagged(serializer, &method, &NoParams {})
            }
        }
    }
}

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = Map::<String, Value>::deserialize(deserializer)?;
        Command::from_map(fields).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[path = "method_tests.rs"]
mod tests;
