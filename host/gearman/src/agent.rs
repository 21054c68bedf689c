//! The agent's method table: one typed [`Request`] in, its [`CommandResult`] out, whoever
//! asked (Polaris over the link, `gearctl` over the local socket).
//!
//! Each method family has its handler behind one trait ([`handlers::Handler`]): `sync.bash`
//! runs through [`crate::exec`], `async.bash` and `task.*` through [`crate::tasks`], `cron.*`
//! through [`crate::cron`], `daemon.*` through [`crate::daemon`], `getinfo.<name>` through
//! the info plugins of the plugin directory, loaded and initialised at [`Agent::open`] and
//! called on blocking threads, and `plugin.*` through [`crate::plugins`] (which changes those
//! info plugins, and nodus's, while the agent runs). Handlers answer with typed errors ([`CommandError`]);
//! [`Agent::handle`] is the one place they become the seed's failure objects. A command that
//! cannot be parsed (unknown method: 3022, bad parameters: 3021) is answered by
//! [`Agent::refuse`].

pub mod handlers;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use wire::agent::{Refused, Request};
use wire::{Command, CommandError, CommandResult};

use crate::cron::Cron;
use crate::daemon::Daemons;
use crate::info::InfoPlugins;
use crate::plugins::inventory::Latest;
use crate::plugins::{PluginCommand, PluginHandler, PluginOptions};
use crate::store::Store;
use crate::tasks::Tasks;
use handlers::{
    Answer, CronCommand, CronHandler, DaemonCommand, DaemonHandler, ExecHandler, Handler,
    InfoHandler, TaskCommand, TaskHandler,
};

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
    /// nodus's socket and plugin folder, and the key plugin releases must be signed with.
    pub plugins: PluginOptions,
}

/// One agent: its database and one handler per method family.
pub struct Agent {
    store: Arc<Store>,
    exec: ExecHandler,
    tasks: TaskHandler,
    cron: CronHandler,
    /// Supervised daemons (`daemon.*`).
    daemons: DaemonHandler,
    info: InfoHandler,
    /// `plugin.*` and the plugin inventory.
    plugins: PluginHandler,
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
        let plugins = Arc::new(InfoPlugins::load(&opts.plugin_dir));
        let plugin_handler = PluginHandler::new(
            plugins.clone(),
            opts.plugin_dir.clone(),
            opts.plugins.clone(),
        )?;
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
            exec: ExecHandler {
                kill_grace: opts.kill_grace,
            },
            tasks: TaskHandler {
                tasks,
                kill_grace: opts.kill_grace,
            },
            cron: CronHandler(cron),
            daemons: DaemonHandler(daemons),
            info: InfoHandler { plugins },
            plugins: plugin_handler,
        }))
    }

    /// Answers `req`; the result carries the request's id (when it has one). The one edge
    /// where answers and typed errors become the seed's result objects.
    pub async fn handle(&self, req: Request) -> CommandResult {
        let result = match self.dispatch(req.command).await {
            Ok(Answer::Data(data)) => CommandResult::success(data),
            Ok(Answer::Run(result)) => result,
            Err(error) => error.into_result(),
        };
        with_id(result, req.id)
    }

    /// Answers one frame as received (a JSON object `{"id":...,"method":...,...}`, what the
    /// local socket reads): parsed, then handled or refused.
    pub async fn handle_frame(&self, frame: Value) -> CommandResult {
        let Value::Object(frame) = frame else {
            return CommandError::InvalidParams("a request is a JSON object".into()).into_result();
        };
        match Request::from_map(frame) {
            Ok(request) => self.handle(request).await,
            Err(refused) => self.refuse(*refused),
        }
    }

    /// Answers a command frame that could not be parsed: 3022 or 3021, with its id.
    pub fn refuse(&self, refused: Refused) -> CommandResult {
        with_id(refused.error.into_result(), refused.id)
    }

    /// The agent's database (the link reads the outbox from it).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Every plugin inventory built from now on (the link sends each to Polaris).
    pub fn plugin_inventory(&self) -> Latest {
        self.plugins.inventory().subscribe()
    }

    /// Asks for a fresh plugin inventory (nodus is asked again); returns at once.
    pub fn refresh_plugin_inventory(&self) {
        self.plugins.inventory().refresh();
    }

    /// Routes a command to its family's handler.
    async fn dispatch(&self, command: Command) -> Result<Answer, CommandError> {
        match command {
            Command::SyncBash(exec) => self.exec.handle(exec).await,
            Command::AsyncBash(exec) => self.tasks.handle(TaskCommand::Start(exec)).await,
            Command::TaskQuery(task) => self.tasks.handle(TaskCommand::Query(task)).await,
            Command::TaskList => self.tasks.handle(TaskCommand::List).await,
            Command::TaskKill(task) => self.tasks.handle(TaskCommand::Kill(task)).await,
            Command::CronAdd(add) => self.cron.handle(CronCommand::Add(add)).await,
            Command::CronList => self.cron.handle(CronCommand::List).await,
            Command::CronRemove(entry) => self.cron.handle(CronCommand::Remove(entry)).await,
            Command::DaemonInit(init) => self.daemons.handle(DaemonCommand::Init(init)).await,
            Command::DaemonList => self.daemons.handle(DaemonCommand::List).await,
            Command::DaemonStart(d) => self.daemons.handle(DaemonCommand::Start(d)).await,
            Command::DaemonStop(d) => self.daemons.handle(DaemonCommand::Stop(d)).await,
            Command::DaemonRestart(d) => self.daemons.handle(DaemonCommand::Restart(d)).await,
            Command::DaemonStatus(d) => self.daemons.handle(DaemonCommand::Status(d)).await,
            Command::DaemonRemove(d) => self.daemons.handle(DaemonCommand::Remove(d)).await,
            Command::GetInfo(info) => self.info.handle(info).await,
            Command::PluginList => self.plugins.handle(PluginCommand::List).await,
            Command::PluginInstall(r) => self.plugins.handle(PluginCommand::Install(r)).await,
            Command::PluginUpgrade(r) => self.plugins.handle(PluginCommand::Upgrade(r)).await,
            Command::PluginRemove(t) => self.plugins.handle(PluginCommand::Remove(t)).await,
            Command::PluginStart(t) => self.plugins.handle(PluginCommand::Start(t)).await,
            Command::PluginStop(t) => self.plugins.handle(PluginCommand::Stop(t)).await,
            Command::PluginConfigure(c) => self.plugins.handle(PluginCommand::Configure(c)).await,
        }
    }
}

fn with_id(result: CommandResult, id: String) -> CommandResult {
    if id.is_empty() {
        result
    } else {
        result.with_id(id)
    }
}

#[cfg(test)]
mod tests;
