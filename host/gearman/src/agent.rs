//! The agent's method table: one [`Request`] in, its [`CommandResult`] out, whoever asked
//! (Polaris over the link, `gearctl` over the local socket).
//!
//! `sync.bash` runs through [`crate::exec`], `async.bash` and `task.*` through
//! [`crate::tasks`], `cron.*` through [`crate::cron`], `daemon.*` through [`crate::daemon`],
//! and `getinfo.<name>` through the info plugins of the plugin directory, loaded and
//! initialised once at [`Agent::open`] and called on blocking threads. Anything else is 3022 "No such method".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugin_api::Roles;
use plugin_host::info::{call_info_json, plugin_name};
use plugin_host::{FileReport, LoadedPlugin, Registry, context};
use serde_json::json;
use wire::agent::Request;
use wire::{CommandResult, retcode};

use crate::cron::Cron;
use crate::daemon::Daemons;
use crate::exec::{self, RunSpec};
use crate::store::Store;
use crate::tasks::{Origin, Tasks, view_is_finished};

/// How long `task.kill` waits, beyond the kill grace, for the task to end before answering.
const KILL_WAIT_EXTRA: Duration = Duration::from_secs(3);

/// Where the agent keeps its state and finds its plugins.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    /// Holds `gearman.db` and `tasks/`.
    pub state_dir: PathBuf,
    /// The info plugins (`*.so`) answering `getinfo.<name>`.
    pub plugin_dir: PathBuf,
    /// The gearman executable, started as `gearman __run-task <dir>` for detached tasks.
    pub exe: PathBuf,
    /// Time between TERM and KILL when a command is stopped.
    pub kill_grace: Duration,
}

/// One agent: its database, tasks, cron entries and info plugins.
pub struct Agent {
    store: Arc<Store>,
    tasks: Arc<Tasks>,
    cron: Arc<Cron>,
    /// Supervised daemons (`daemon.*`).
    daemons: Daemons,
    /// Initialised info plugins by name; kept for the agent's life.
    plugins: BTreeMap<String, LoadedPlugin>,
    kill_grace: Duration,
}

impl Agent {
    /// Makes `state_dir` private (0700), opens `<state_dir>/gearman.db`, loads and initialises
    /// the info plugins, adopts the tasks
    /// and daemons left running by an earlier agent and starts the cron timer. Must run inside
    /// a tokio runtime. A missing or unreadable plugin directory is logged, not fatal.
    pub fn open(opts: AgentOptions) -> anyhow::Result<Arc<Agent>> {
        // Commands, their output and the outbox are root's business: the folder is 0700.
        agentkit::private::private_dir(&opts.state_dir)
            .map_err(|e| anyhow::anyhow!("create {} (mode 0700): {e}", opts.state_dir.display()))?;
        let store = Store::open(&opts.state_dir.join("gearman.db"))?;
        let plugins = load_info_plugins(&opts.plugin_dir);
        let tasks = Tasks::open(
            store.clone(),
            &opts.state_dir,
            opts.exe.clone(),
            opts.kill_grace,
        )?;
        let cron = Cron::start(store.clone(), tasks.clone());
        let daemons = Daemons::open(store.clone(), &opts.state_dir);
        Ok(Arc::new(Agent {
            store,
            tasks,
            cron,
            daemons,
            plugins,
            kill_grace: opts.kill_grace,
        }))
    }

    /// Answers `req`; the result carries the request's id (when it has one).
    pub async fn handle(&self, req: Request) -> CommandResult {
        let id = req.id.clone();
        let result = self.dispatch(req).await;
        if id.is_empty() {
            result
        } else {
            result.with_id(id)
        }
    }

    /// The agent's database (the link reads the outbox from it).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    async fn dispatch(&self, req: Request) -> CommandResult {
        match req.method.as_str() {
            "sync.bash" => match RunSpec::from_request(&req) {
                Ok(spec) => exec::run(&spec, self.kill_grace).await,
                Err(failure) => failure,
            },
            "async.bash" => match RunSpec::from_request(&req) {
                Ok(spec) => match self.tasks.start(spec, Origin::Async) {
                    Ok(task_id) => CommandResult::success(json!({ "task_id": task_id })),
                    Err(failure) => failure,
                },
                Err(failure) => failure,
            },
            "task.query" => match task_id(&req) {
                Ok(id) => match self.tasks.query(id) {
                    Some(view) => CommandResult::success(view),
                    None => no_task(id),
                },
                Err(failure) => failure,
            },
            "task.list" => CommandResult::success(self.tasks.list()),
            "task.kill" => match task_id(&req) {
                Ok(id) => self.kill_task(id).await,
                Err(failure) => failure,
            },
            "cron.add" => self.cron.add(&req),
            "cron.list" => self.cron.list(),
            "cron.remove" => self.cron.remove(&req),
            method if method.starts_with("daemon.") => self.daemons.handle(&req).await,
            method => match plugin_name(method) {
                Some(name) => self.getinfo(name, req.args.unwrap_or_default()).await,
                None => no_method(method),
            },
        }
    }

    /// Stops the task and answers its view once it has ended (or, if it takes longer than
    /// the kill grace plus 3 s, its view as it is then).
    async fn kill_task(&self, id: &str) -> CommandResult {
        if let Err(failure) = self.tasks.kill(id) {
            return failure;
        }
        let deadline = Instant::now() + self.kill_grace + KILL_WAIT_EXTRA;
        loop {
            let Some(view) = self.tasks.query(id) else {
                return no_task(id);
            };
            if view_is_finished(&view) || Instant::now() >= deadline {
                return CommandResult::success(view);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn getinfo(&self, name: &str, args: String) -> CommandResult {
        let Some(plugin) = self.plugins.get(name).cloned() else {
            return no_method(&format!("getinfo.{name}"));
        };
        match tokio::task::spawn_blocking(move || call_info_json(&plugin, &args)).await {
            Ok(Ok(doc)) => CommandResult::success(doc),
            Ok(Err(err)) => CommandResult::failed(err.code, err.message),
            Err(e) => CommandResult::failed(
                retcode::PLUGIN_PANICKED,
                format!("Plugin panicked: plugin `{name}`: {e}"),
            ),
        }
    }
}

/// The task id of `task.query` / `task.kill`, from `args`.
#[allow(
    clippy::result_large_err,
    reason = "the failure is the result object the caller answers with"
)]
fn task_id(req: &Request) -> Result<&str, CommandResult> {
    match req.args.as_deref().map(str::trim) {
        Some(id) if !id.is_empty() => Ok(id),
        _ => Err(CommandResult::failed(
            retcode::INVALID_PARAMS,
            format!(
                "Invalid params: `{}` needs the task id in `args`",
                req.method
            ),
        )),
    }
}

fn no_task(id: &str) -> CommandResult {
    CommandResult::failed(retcode::NOT_FOUND, format!("Not found: no task `{id}`"))
}

fn no_method(method: &str) -> CommandResult {
    CommandResult::failed(
        retcode::NO_SUCH_METHOD,
        format!("No such method: `{method}`"),
    )
}

/// Loads the info plugins of `dir` and initialises them; every file skipped is logged.
fn load_info_plugins(dir: &Path) -> BTreeMap<String, LoadedPlugin> {
    let scanned = match Registry::scan(dir) {
        Ok(registry) => registry,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e,
                "Cannot read the plugin directory; getinfo.* will answer 3022.");
            return BTreeMap::new();
        }
    };
    let mut info = Registry::default();
    for plugin in scanned.with_role(Roles::INFO) {
        // Names are unique within one scan.
        let _ = info.add(plugin.clone());
    }
    info.init_all(|_| context::init_context([]));
    for report in scanned.reports().iter().chain(info.reports()) {
        if let FileReport::Skipped { path, reason } = report {
            tracing::warn!(file = %path.display(), reason = %reason, "Plugin not loaded.");
        }
    }
    let plugins: BTreeMap<String, LoadedPlugin> = info
        .plugins()
        .map(|(plugin, _)| (plugin.name().to_string(), plugin.clone()))
        .collect();
    tracing::info!(dir = %dir.display(), plugins = ?plugins.keys().collect::<Vec<_>>(),
        "Info plugins loaded.");
    plugins
}

#[cfg(test)]
mod tests;
