//! `daemon.*`: long-running programs supervised by gearman (seed "3. Daemon management"),
//! on the shared engine `supervise`. Definitions live in the seed's `daemon` table
//! (`daemon.init` only writes it); a start installs the package of the daemon's `url` into
//! `<state_dir>/daemons/<name>/<version>/` and runs its `start` command there. Daemons run
//! detached, so they outlive gearman; [`Daemons::open`] adopts them again.
//!
//! Layout: `init` (fields, validation, the engine spec), `db` (tables), `fetch` (the version
//! folder, filled through the `fetch` crate). Methods take the daemon's name in `args`; the
//! agent's daemon handler (`agent::handlers`) hands them over typed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use supervise::{State, Status, Supervisor};
use wire::params::{DaemonInit, DaemonRef};
use wire::{CommandResult, retcode};

use crate::agent::handlers::DaemonCommand;
use crate::store::Store;

pub mod db;
pub mod fetch;
pub mod init;

/// The daemons of one agent.
pub struct Daemons {
    store: Arc<Store>,
    /// `<state_dir>/daemons`: one folder per daemon, its versions inside.
    root: PathBuf,
    supervisor: Supervisor,
}

impl Daemons {
    /// Opens the daemons of `state_dir` and adopts those an earlier gearman left running
    /// (the engine's run state is in `<state_dir>/daemons/.supervise`). Must run inside a
    /// tokio runtime.
    pub fn open(store: Arc<Store>, state_dir: &Path) -> Daemons {
        let root = state_dir.join("daemons");
        let supervisor = Supervisor::new(&root.join(".supervise"));
        for status in supervisor.recover() {
            tracing::info!(daemon = %status.name, state = status.state.as_str(), pid = ?status.pid,
                "Daemon recovered.");
        }
        Daemons {
            store,
            root,
            supervisor,
        }
    }

    /// Answers one `daemon.*` command.
    pub async fn handle(&self, command: &DaemonCommand) -> CommandResult {
        match command {
            DaemonCommand::Init(init) => self.init(init),
            DaemonCommand::List => self.list(),
            DaemonCommand::Start(d) => match checked_name("daemon.start", d) {
                Ok(name) => self.start(&name).await,
                Err(failure) => failure,
            },
            DaemonCommand::Stop(d) => match checked_name("daemon.stop", d) {
                Ok(name) => self.stop(&name).await,
                Err(failure) => failure,
            },
            DaemonCommand::Restart(d) => match checked_name("daemon.restart", d) {
                Ok(name) => self.restart(&name).await,
                Err(failure) => failure,
            },
            DaemonCommand::Status(d) => match checked_name("daemon.status", d) {
                Ok(name) => self.status(&name),
                Err(failure) => failure,
            },
            DaemonCommand::Remove(d) => match checked_name("daemon.remove", d) {
                Ok(name) => self.remove(&name).await,
                Err(failure) => failure,
            },
        }
    }

    fn init(&self, req: &DaemonInit) -> CommandResult {
        let row = match init::parse(&init::fields(req)) {
            Ok(row) => row,
            Err(e) => {
                return CommandResult::failed(
                    retcode::INVALID_PARAMS,
                    format!("Invalid params: {e}"),
                );
            }
        };
        match db::upsert(&self.store, &row) {
            Ok(()) => CommandResult::success(json!({ "name": row.name, "version": row.version })),
            Err(e) => internal(e),
        }
    }

    #[allow(
        clippy::result_large_err,
        reason = "the failure is the result object the caller answers with"
    )]
    fn definition(&self, name: &str) -> Result<db::DaemonRow, CommandResult> {
        match db::get(&self.store, name) {
            Ok(Some(row)) => Ok(row),
            Ok(None) => Err(CommandResult::failed(
                retcode::NOT_FOUND,
                format!("Not found: no daemon `{name}` (daemon.init first)"),
            )),
            Err(e) => Err(internal(e)),
        }
    }

    async fn start(&self, name: &str) -> CommandResult {
        let row = match self.definition(name) {
            Ok(row) => row,
            Err(failure) => return failure,
        };
        if let Some(status) = self.supervisor.status(name)
            && matches!(status.state, State::Running | State::Starting)
        {
            return CommandResult::success(view(&row, &status));
        }
        let dir = self.root.join(&row.name).join(&row.version);
        let (url, checksum, target) = (row.url.clone(), row.checksum.clone(), dir.clone());
        let installed =
            tokio::task::spawn_blocking(move || fetch::install(&url, checksum.as_deref(), &target));
        match installed.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return CommandResult::failed(
                    retcode::FAILED,
                    format!("Failed: cannot install `{}`: {e:#}", row.url),
                );
            }
            Err(e) => return internal(e),
        }
        let spec = match init::spec(&row, &dir) {
            Ok(spec) => spec,
            Err(e) => {
                return CommandResult::failed(
                    retcode::INVALID_PARAMS,
                    format!("Invalid params: {e}"),
                );
            }
        };
        match self.supervisor.start(spec).await {
            Ok(status) => CommandResult::success(view(&row, &status)),
            Err(e) => CommandResult::failed(retcode::NOT_STARTED, format!("Could not start: {e}")),
        }
    }

    async fn stop(&self, name: &str) -> CommandResult {
        let row = match self.definition(name) {
            Ok(row) => row,
            Err(failure) => return failure,
        };
        match self.supervisor.stop(name).await {
            Ok(status) => CommandResult::success(view(&row, &status)),
            // Never started by this agent: already stopped.
            Err(supervise::Error::NotFound(_)) => {
                CommandResult::success(view(&row, &Status::stopped(name)))
            }
            Err(e) => CommandResult::failed(retcode::FAILED, format!("Failed: {e}")),
        }
    }

    async fn restart(&self, name: &str) -> CommandResult {
        if let Err(failure) = self.definition(name) {
            return failure;
        }
        // A re-init may have changed the definition: stop, then start from the table.
        if self.supervisor.status(name).is_some()
            && let Err(e) = self.supervisor.stop(name).await
        {
            return CommandResult::failed(retcode::FAILED, format!("Failed: {e}"));
        }
        self.start(name).await
    }

    fn status(&self, name: &str) -> CommandResult {
        match self.definition(name) {
            Ok(row) => {
                let status = self
                    .supervisor
                    .status(name)
                    .unwrap_or_else(|| Status::stopped(name));
                CommandResult::success(view(&row, &status))
            }
            Err(failure) => failure,
        }
    }

    fn list(&self) -> CommandResult {
        match db::list(&self.store) {
            Ok(rows) => {
                let all: Vec<Value> = rows
                    .iter()
                    .map(|row| {
                        let status = self
                            .supervisor
                            .status(&row.name)
                            .unwrap_or_else(|| Status::stopped(&row.name));
                        view(row, &status)
                    })
                    .collect();
                CommandResult::success(Value::Array(all))
            }
            Err(e) => internal(e),
        }
    }

    async fn remove(&self, name: &str) -> CommandResult {
        if let Err(failure) = self.definition(name) {
            return failure;
        }
        match self.supervisor.remove(name).await {
            Ok(()) | Err(supervise::Error::NotFound(_)) => {}
            Err(e) => return CommandResult::failed(retcode::FAILED, format!("Failed: {e}")),
        }
        if let Err(e) = db::delete(&self.store, name) {
            return internal(e);
        }
        let _ = std::fs::remove_dir_all(self.root.join(name));
        CommandResult::success(json!({ "name": name, "removed": true }))
    }
}

/// The daemon name of `method`'s `args`, checked: it becomes `<state_dir>/daemons/<name>`.
#[allow(
    clippy::result_large_err,
    reason = "the failure is the result object the caller answers with"
)]
fn checked_name(method: &str, daemon: &DaemonRef) -> Result<String, CommandResult> {
    let name = daemon.name();
    if name.is_empty() {
        return Err(CommandResult::failed(
            retcode::INVALID_PARAMS,
            format!("Invalid params: `{method}` needs the daemon name in `args`"),
        ));
    }
    supervise::check_name("daemon name", name).map_err(|e| {
        CommandResult::failed(retcode::INVALID_PARAMS, format!("Invalid params: {e}"))
    })?;
    Ok(name.to_string())
}

/// What `daemon.status` and `daemon.list` show for one daemon.
fn view(row: &db::DaemonRow, status: &Status) -> Value {
    json!({
        "name": row.name,
        "version": row.version,
        "status": status.seed_status,
        "state": status.state,
        "pid": status.pid,
        "uptime": status.uptime,
        "since": status.since,
        "retries": status.retries,
        "last_error": status.last_error,
        "limit_hits": status.limit_hits,
        "limiter": status.limiter,
    })
}

fn internal(e: impl std::fmt::Display) -> CommandResult {
    CommandResult::failed(retcode::FAILED, format!("Failed: {e}"))
}

#[cfg(test)]
mod tests;
