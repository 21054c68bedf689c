//! `daemon.*`: long-running programs supervised by gearman (seed "3. Daemon management"),
//! on the shared engine `supervise`. Definitions live in the seed's `daemon` table
//! (`daemon.init` only writes it); a start installs the package of the daemon's `url` into
//! `<state_dir>/daemons/<name>/<version>/` and runs its `start` command there. Daemons run
//! detached, so they outlive gearman; [`Daemons::open`] adopts them again.
//!
//! Layout: `init` (fields, validation, the engine spec), `db` (tables), `fetch` (the version
//! folder, filled through the `fetch` crate). Methods take the daemon's name in `args`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use supervise::{State, Status, Supervisor};
use wire::agent::Request;
use wire::{CommandResult, retcode};

use crate::store::Store;

pub mod db;
pub mod fetch;
pub mod init;

pub use db::SCHEMA;

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
        let daemons = Daemons {
            store,
            root,
            supervisor,
        };
        for status in daemons.supervisor.list() {
            daemons.record(&status, None);
        }
        daemons
    }

    /// Answers one `daemon.*` request.
    pub async fn handle(&self, req: &Request) -> CommandResult {
        let method = req.method.as_str();
        if method == "daemon.init" {
            return self.init(req);
        }
        if method == "daemon.list" {
            return self.list();
        }
        let name = match req.args.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => {
                return CommandResult::failed(
                    retcode::INVALID_PARAMS,
                    format!("Invalid params: `{method}` needs the daemon name in `args`"),
                );
            }
        };
        // The name becomes `<state_dir>/daemons/<name>`: checked for every method.
        if let Err(e) = supervise::check_name("daemon name", &name) {
            return CommandResult::failed(retcode::INVALID_PARAMS, format!("Invalid params: {e}"));
        }
        match method {
            "daemon.start" => self.start(&name).await,
            "daemon.stop" => self.stop(&name).await,
            "daemon.restart" => self.restart(&name).await,
            "daemon.status" => self.status(&name),
            "daemon.remove" => self.remove(&name).await,
            _ => CommandResult::failed(
                retcode::NO_SUCH_METHOD,
                format!("No such method: `{method}`"),
            ),
        }
    }

    fn init(&self, req: &Request) -> CommandResult {
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
            Ok(status) => {
                self.record(&status, Some(&dir));
                CommandResult::success(view(&row, &status))
            }
            Err(e) => CommandResult::failed(retcode::NOT_STARTED, format!("Could not start: {e}")),
        }
    }

    async fn stop(&self, name: &str) -> CommandResult {
        let row = match self.definition(name) {
            Ok(row) => row,
            Err(failure) => return failure,
        };
        match self.supervisor.stop(name).await {
            Ok(status) => {
                self.record(&status, None);
                CommandResult::success(view(&row, &status))
            }
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

    /// Mirrors a status into `daemon_run`.
    fn record(&self, status: &Status, dir: Option<&Path>) {
        let wanted = match status.state {
            State::Stopped | State::Stopping => "stopped",
            _ => "started",
        };
        let run = db::RunRow {
            name: status.name.clone(),
            wanted: wanted.into(),
            version: dir
                .and_then(|d| d.file_name())
                .map(|v| v.to_string_lossy().into_owned()),
            dir: dir.map(|d| d.display().to_string()),
            state: Some(status.state.as_str().into()),
            pid: status.pid.map(i64::from),
            pid_start: status.start_time.and_then(|t| i64::try_from(t).ok()),
        };
        if let Err(e) = db::set_run(&self.store, &run) {
            tracing::warn!(daemon = %status.name, error = %e, "Cannot record the daemon's run state.");
        }
    }
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
