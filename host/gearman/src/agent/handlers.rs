//! One handler per method family behind one trait, [`Handler`]: shell commands
//! ([`ExecHandler`]), detached tasks ([`TaskHandler`]), cron entries ([`CronHandler`]), daemons
//! ([`DaemonHandler`]) and info plugins ([`InfoHandler`]); the plugin family (`plugin.*`) is
//! [`crate::plugins::PluginHandler`], in a folder of its own. Each answers its own typed commands
//! with an [`Answer`] or a [`CommandError`]; [`super::Agent::handle`] is the one place either
//! becomes the seed's result object. The work itself stays in `exec`, `tasks`, `cron` and
//! `daemon`; a handler only routes and turns their answers into typed ones.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wire::params::{CronAdd, CronRef, DaemonInit, DaemonRef, Exec, GetInfo, TaskRef};
use wire::{CommandError, CommandResult, Resp};

use crate::cron::Cron;
use crate::daemon::Daemons;
use crate::exec::{self, RunSpec};
use crate::info::InfoPlugins;
use crate::tasks::{Origin, Tasks, view_is_finished};

/// How long `task.kill` waits, beyond the kill grace, for the task to end before answering.
const KILL_WAIT_EXTRA: Duration = Duration::from_secs(3);

/// What a command that did its job answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A success (retcode 2) carrying this document.
    Data(Value),
    /// A shell command that ran, reported as it ended (exit status, signal, output, a
    /// timeout): `resp` is "success" only for exit status 0.
    Run(CommandResult),
}

impl Answer {
    /// A result object some module built: a success is its data, anything else the typed
    /// error with its retcode and message.
    pub fn from_result(result: CommandResult) -> Result<Answer, CommandError> {
        match result.resp {
            Resp::Success => Ok(Answer::Data(result.data.unwrap_or(Value::Null))),
            Resp::Failed | Resp::Pending => Err(CommandError::from_result(result)),
        }
    }
}

/// One method family of the agent.
pub trait Handler {
    /// The family's commands.
    type Command;
    /// Answers one command.
    fn handle(
        &self,
        command: Self::Command,
    ) -> impl Future<Output = Result<Answer, CommandError>> + Send;
}

/// `sync.bash`: runs the command now and answers with how it ended.
pub struct ExecHandler {
    /// Time between TERM and KILL when a command is stopped.
    pub kill_grace: Duration,
}

impl Handler for ExecHandler {
    type Command = Exec;

    async fn handle(&self, exec: Exec) -> Result<Answer, CommandError> {
        let spec = RunSpec::from_exec(&exec)?;
        Ok(Answer::Run(exec::run(&spec, self.kill_grace).await))
    }
}

/// The task family: `async.bash`, `task.query`, `task.list`, `task.kill`.
pub enum TaskCommand {
    /// `async.bash`.
    Start(Exec),
    /// `task.query`.
    Query(TaskRef),
    /// `task.list`.
    List,
    /// `task.kill`.
    Kill(TaskRef),
}

/// Detached tasks, through [`Tasks`].
pub struct TaskHandler {
    /// The agent's tasks.
    pub tasks: Arc<Tasks>,
    /// Time between TERM and KILL, part of how long `task.kill` waits.
    pub kill_grace: Duration,
}

impl Handler for TaskHandler {
    type Command = TaskCommand;

    async fn handle(&self, command: TaskCommand) -> Result<Answer, CommandError> {
        match command {
            TaskCommand::Start(exec) => {
                let spec = RunSpec::from_exec(&exec)?;
                let task_id = self
                    .tasks
                    .start(spec, Origin::Async)
                    .map_err(CommandError::from_result)?;
                Ok(Answer::Data(json!({ "task_id": task_id })))
            }
            TaskCommand::Query(task) => {
                let id = task.task_id();
                self.tasks
                    .query(id)
                    .map(Answer::Data)
                    .ok_or_else(|| no_task(id))
            }
            TaskCommand::List => Ok(Answer::Data(self.tasks.list())),
            TaskCommand::Kill(task) => self.kill(task.task_id()).await,
        }
    }
}

impl TaskHandler {
    /// Stops the task and answers its view once it has ended (or, if it takes longer than
    /// the kill grace plus 3 s, its view as it is then).
    async fn kill(&self, id: &str) -> Result<Answer, CommandError> {
        self.tasks.kill(id).map_err(CommandError::from_result)?;
        let deadline = Instant::now() + self.kill_grace + KILL_WAIT_EXTRA;
        loop {
            let view = self.tasks.query(id).ok_or_else(|| no_task(id))?;
            if view_is_finished(&view) || Instant::now() >= deadline {
                return Ok(Answer::Data(view));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn no_task(id: &str) -> CommandError {
    CommandError::NotFound(format!("no task `{id}`"))
}

/// The cron family: `cron.add`, `cron.list`, `cron.remove`.
pub enum CronCommand {
    /// `cron.add`.
    Add(CronAdd),
    /// `cron.list`.
    List,
    /// `cron.remove`.
    Remove(CronRef),
}

/// Periodic entries, through [`Cron`].
pub struct CronHandler(pub Arc<Cron>);

impl Handler for CronHandler {
    type Command = CronCommand;

    async fn handle(&self, command: CronCommand) -> Result<Answer, CommandError> {
        Answer::from_result(match command {
            CronCommand::Add(add) => self.0.add(&add),
            CronCommand::List => self.0.list(),
            CronCommand::Remove(entry) => self.0.remove(&entry),
        })
    }
}

/// The daemon family: `daemon.init`, `.list`, `.start`, `.stop`, `.restart`, `.status`,
/// `.remove`.
pub enum DaemonCommand {
    /// `daemon.init`.
    Init(Box<DaemonInit>),
    /// `daemon.list`.
    List,
    /// `daemon.start`.
    Start(DaemonRef),
    /// `daemon.stop`.
    Stop(DaemonRef),
    /// `daemon.restart`.
    Restart(DaemonRef),
    /// `daemon.status`.
    Status(DaemonRef),
    /// `daemon.remove`.
    Remove(DaemonRef),
}

/// Supervised daemons, through [`Daemons`].
pub struct DaemonHandler(pub Daemons);

impl Handler for DaemonHandler {
    type Command = DaemonCommand;

    async fn handle(&self, command: DaemonCommand) -> Result<Answer, CommandError> {
        Answer::from_result(self.0.handle(&command).await)
    }
}

/// `getinfo.<name>`: the info plugins, called on blocking threads.
pub struct InfoHandler {
    /// The info plugins' instances (changed by `plugin.*`).
    pub plugins: Arc<InfoPlugins>,
}

impl Handler for InfoHandler {
    type Command = GetInfo;

    async fn handle(&self, info: GetInfo) -> Result<Answer, CommandError> {
        let name = info.plugin;
        let args = info.args.unwrap_or_default();
        match self.plugins.getinfo(&name, args).await {
            Some(result) => Answer::from_result(result),
            None => Err(CommandError::NoSuchMethod(format!(
                "{}{name}",
                wire::method::INFO_PREFIX
            ))),
        }
    }
}
