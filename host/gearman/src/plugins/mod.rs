//! Plugins managed from Polaris: the `plugin.*` family (`list`, `install`, `upgrade`,
//! `remove`, `start`, `stop`, `configure`) for gearman's own info plugins and, over its control
//! socket, for nodus's read and write plugins; and the host's plugin inventory, sent to
//! Polaris after connecting, after every command of the family and once per heartbeat.
//!
//! Layout:
//! - [`plan`]: what install/upgrade do given what is installed, and the `kept <version>:` /
//!   `not installed:` messages of every release not put in place (pure).
//! - [`release`]: download (bounded), checksum, signature, staging under a hidden name.
//! - [`own`]: gearman's plugins: a staged release checked and swapped in, stop/start/remove.
//! - [`nodus`]: nodus's plugins through its control socket, with timeouts.
//! - [`inventory`]: both agents' plugins as one [`wire::plugins::PluginInventory`].
//!
//! Commands that change something run one at a time (two installs of one plugin must not
//! race); `plugin.list` does not wait for them.

pub mod inventory;
pub mod nodus;
pub mod own;
pub mod plan;
pub mod release;

use std::path::PathBuf;
use std::sync::Arc;

use agentkit::signature::ReleaseKey;
use serde_json::{Value, json};
use wire::CommandError;
use wire::plugins::{PluginAgent, PluginConfigure, PluginRelease, PluginTarget};

use crate::agent::handlers::{Answer, Handler};
use crate::info::InfoPlugins;
use inventory::Inventory;
use nodus::NodusPlugins;
use own::OwnPlugins;
use plan::{Plan, Verb, failure, plan};
use release::Trust;

/// Where nodus is and whom plugin releases must be signed by (from gearman's configuration:
/// `nodus_socket`, `nodus_plugin_dir`, `release_key`).
#[derive(Clone, Debug)]
pub struct PluginOptions {
    /// nodus's control socket.
    pub nodus_socket: PathBuf,
    /// nodus's plugin folder.
    pub nodus_plugin_dir: PathBuf,
    /// The key releases must be signed with; none: checksums only.
    pub release_key: Option<ReleaseKey>,
    /// How releases are downloaded: the CA pinned for https, the package server's login.
    pub downloads: Downloads,
}

/// How plugin releases are downloaded.
#[derive(Clone, Debug, Default)]
pub struct Downloads {
    /// The only CA trusted for https (Polaris's, which serves the catalogue); none: the web's
    /// roots.
    pub ca: Option<PathBuf>,
    /// `(user, password)` for the package server's basic auth.
    pub credentials: Option<(String, String)>,
}

/// The `plugin.*` family.
pub enum PluginCommand {
    /// `plugin.list`.
    List,
    /// `plugin.install`.
    Install(PluginRelease),
    /// `plugin.upgrade`.
    Upgrade(PluginRelease),
    /// `plugin.remove`.
    Remove(PluginTarget),
    /// `plugin.start`.
    Start(PluginTarget),
    /// `plugin.stop`.
    Stop(PluginTarget),
    /// `plugin.configure`.
    Configure(PluginConfigure),
}

/// Plugins of both agents, and the inventory Polaris is sent.
pub struct PluginHandler {
    own: OwnPlugins,
    nodus: NodusPlugins,
    trust: Trust,
    inventory: Arc<Inventory>,
    /// Held by every command that changes something.
    busy: tokio::sync::Mutex<()>,
}

impl PluginHandler {
    /// The family for `plugins` (installed in `dir`) and the nodus of `options`; starts the
    /// inventory's refresh task (call inside a tokio runtime).
    pub fn new(
        plugins: Arc<InfoPlugins>,
        dir: PathBuf,
        options: PluginOptions,
    ) -> anyhow::Result<PluginHandler> {
        let nodus = NodusPlugins {
            socket: options.nodus_socket,
            dir: options.nodus_plugin_dir,
        };
        if options.release_key.is_none() {
            tracing::warn!("No release_key: plugin releases are checked by checksum only.");
        }
        // No install runs yet: anything staged or half downloaded is from one a crash ended.
        for folder in [&dir, &nodus.dir] {
            for name in release::sweep(folder) {
                tracing::warn!(dir = %folder.display(), file = %name,
                    "Leftover of an interrupted plugin install deleted.");
            }
        }
        Ok(PluginHandler {
            inventory: Inventory::start(plugins.clone(), nodus.clone()),
            own: OwnPlugins { plugins, dir },
            nodus,
            trust: Trust::new(options.release_key, &options.downloads)?,
            busy: tokio::sync::Mutex::new(()),
        })
    }

    /// The inventory (the link sends what it publishes).
    pub fn inventory(&self) -> &Arc<Inventory> {
        &self.inventory
    }

    /// `plugin.install` / `plugin.upgrade`.
    async fn put(&self, verb: Verb, release: PluginRelease) -> Result<Value, CommandError> {
        let installed = match release.agent {
            PluginAgent::Gearman => self.own.installed(&release.name),
            PluginAgent::Nodus => self
                .nodus
                .installed(&release.name)
                .await
                .map_err(|why| failed(format!("nothing changed: {why}")))?,
        };
        let hex = fetch::parse_checksum(&release.checksum)
            .map_err(|e| CommandError::InvalidParams(e.to_string()))?;
        let digest = format!("SHA256:{hex}");
        let previous = match plan(
            verb,
            &release.name,
            installed.as_ref(),
            &release.version,
            &digest,
        ) {
            Plan::AlreadyThere => {
                return Ok(json!({
                    "agent": release.agent,
                    "name": release.name,
                    "version": release.version,
                    "changed": false,
                    "note": "already installed",
                }));
            }
            Plan::Refuse(message) => return Err(failed(message)),
            Plan::Put { previous } => previous,
        };
        let dir = match release.agent {
            PluginAgent::Gearman => self.own.dir.clone(),
            PluginAgent::Nodus => self.nodus.dir.clone(),
        };
        let (trust, to_stage) = (self.trust.clone(), release.clone());
        let staged = tokio::task::spawn_blocking(move || release::stage(&trust, &to_stage, &dir))
            .await
            .unwrap_or_else(|e| Err(format!("the download stopped: {e}")))
            .map_err(|why| failed(failure(previous.as_deref(), &why)))?;
        agentkit::release_free_memory();
        match release.agent {
            PluginAgent::Gearman => self.own.put(&release, staged, previous).await,
            PluginAgent::Nodus => self.nodus.put(&release, staged, previous).await,
        }
    }

    async fn change(&self, command: PluginCommand) -> Result<Value, CommandError> {
        match command {
            PluginCommand::List => Ok(inventory_json(&self.inventory.build().await)),
            PluginCommand::Install(release) => self.put(Verb::Install, release).await,
            PluginCommand::Upgrade(release) => self.put(Verb::Upgrade, release).await,
            PluginCommand::Remove(target) => match target.agent {
                PluginAgent::Gearman => self.own.remove(&target),
                PluginAgent::Nodus => self.nodus.remove(&target).await,
            },
            PluginCommand::Start(target) => self.set_running(&target, true).await,
            PluginCommand::Stop(target) => self.set_running(&target, false).await,
            PluginCommand::Configure(configure) => match configure.agent {
                PluginAgent::Gearman => Err(CommandError::Other {
                    retcode: wire::retcode::UNSUPPORTED,
                    message: "Unsupported: gearman's info plugins run without options (each \
                              getinfo call brings its arguments); plugin.configure is for \
                              agent nodus"
                        .into(),
                }),
                PluginAgent::Nodus => self.nodus.configure(&configure).await,
            },
        }
    }

    async fn set_running(&self, target: &PluginTarget, run: bool) -> Result<Value, CommandError> {
        match target.agent {
            PluginAgent::Gearman => self.own.set_running(target, run),
            PluginAgent::Nodus => self.nodus.set_running(target, run).await,
        }
    }
}

impl Handler for PluginHandler {
    type Command = PluginCommand;

    async fn handle(&self, command: PluginCommand) -> Result<Answer, CommandError> {
        if matches!(command, PluginCommand::List) {
            return self.change(command).await.map(Answer::Data);
        }
        let result = {
            let _one_at_a_time = self.busy.lock().await;
            self.change(command).await
        };
        // Polaris hears of the outcome at once, whatever it was (a failed upgrade may have
        // left a plugin failing, a refused one changes nothing: the frame is cheap).
        self.inventory.refresh();
        result.map(Answer::Data)
    }
}

/// The inventory as a command's `data`.
pub fn inventory_json(inventory: &wire::plugins::PluginInventory) -> Value {
    serde_json::to_value(inventory).unwrap_or(Value::Null)
}

/// A 3023 whose message is exactly `message` (`kept 1.0.0: ...` starts the message, not
/// `Failed:`, so a rollout's per-host status reads as what happened).
pub fn failed(message: impl Into<String>) -> CommandError {
    CommandError::Other {
        retcode: wire::retcode::FAILED,
        message: message.into(),
    }
}

/// A 3033 for a plugin (or instance) the agent does not run.
pub fn not_found(agent: &str, name: &str) -> CommandError {
    CommandError::NotFound(format!("{agent} runs no plugin `{name}`"))
}
