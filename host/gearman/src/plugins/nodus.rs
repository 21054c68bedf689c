//! `agent: nodus`: nodus's plugins, managed over its control socket (`wire::control`). gearman
//! stages a release in nodus's plugin folder and asks nodus to load it from there, checked
//! (`PluginInstall`); only after nodus answers `ok` is the file renamed to `<name>.so`. Remove,
//! start, stop and configure are nodus's own requests, for each instance of the plugin named.
//! Every call is bounded by a timeout, so a hung nodus fails a command instead of holding it.

use std::path::PathBuf;
use std::time::Duration;

use plugin_host::control;
use serde_json::{Value, json};
use wire::CommandError;
use wire::control::{PluginStatus, Request, Response};
use wire::plugins::{PluginConfigure, PluginRelease, PluginTarget};

use super::own::inside;
use super::plan::{Installed, failure};
use super::release::Staged;
use super::{failed, not_found};

/// How long a listing may take (the inventory polls it every heartbeat).
pub const LIST_TIMEOUT: Duration = Duration::from_secs(3);
/// How long nodus may take to load, start and check a release or new options.
pub const CHANGE_TIMEOUT: Duration = Duration::from_secs(120);

/// Where nodus listens and keeps its plugins.
#[derive(Clone, Debug)]
pub struct NodusPlugins {
    /// Its control socket.
    pub socket: PathBuf,
    /// Its plugin folder.
    pub dir: PathBuf,
}

impl NodusPlugins {
    /// One request, on a blocking thread, bounded by `timeout`.
    pub async fn call(&self, request: Request, timeout: Duration) -> Result<Response, String> {
        let socket = self.socket.clone();
        tokio::task::spawn_blocking(move || control::call(&socket, &request, timeout))
            .await
            .unwrap_or_else(|e| Err(format!("the call to nodus stopped: {e}")))
    }

    /// nodus's `plugin_list`.
    pub async fn list(&self) -> Result<Response, String> {
        self.call(Request::PluginList, LIST_TIMEOUT).await
    }

    /// The instances of plugin `name` nodus runs (none: not installed).
    async fn instances(&self, name: &str) -> Result<Vec<PluginStatus>, String> {
        let answer = self.list().await?;
        if !answer.ok {
            return Err(format!(
                "nodus refused: {}",
                answer.error.unwrap_or_default()
            ));
        }
        Ok(answer
            .plugins
            .into_iter()
            .filter(|s| s.state != "removed" && plugin_of(s) == name)
            .collect())
    }

    /// What nodus runs as `name`, if anything.
    pub async fn installed(&self, name: &str) -> Result<Option<Installed>, String> {
        Ok(self.instances(name).await?.first().map(|s| Installed {
            version: s.version.clone(),
            digest: s.digest.clone(),
        }))
    }

    /// Has nodus load and check `staged` (release `release`); renames it to `<name>.so` once
    /// nodus runs it.
    pub async fn put(
        &self,
        release: &PluginRelease,
        staged: Staged,
        previous: Option<String>,
    ) -> Result<Value, CommandError> {
        let installed_as = self.dir.join(format!("{}.so", release.name));
        let request = Request::PluginInstall {
            path: staged.path().display().to_string(),
            installed_as: installed_as.display().to_string(),
            version: Some(release.version.clone()),
        };
        let answer = self.call(request, CHANGE_TIMEOUT).await;
        let answer = match answer {
            Ok(answer) if answer.ok => answer,
            Ok(answer) => {
                let why = answer.error.unwrap_or_else(|| "nodus refused".into());
                return Err(failed(failure(previous.as_deref(), &why)));
            }
            Err(why) => return Err(failed(failure(previous.as_deref(), &why))),
        };
        let digest = staged.digest().to_string();
        if let Err(e) = staged.install_as(&installed_as) {
            return Err(failed(format!(
                "nodus runs `{}` {} from its temporary file, which could not be renamed to {}: \
                 {e}; it returns to {} when nodus restarts",
                release.name,
                release.version,
                installed_as.display(),
                previous.as_deref().unwrap_or("nothing")
            )));
        }
        let instances: Vec<&str> = answer
            .plugins
            .iter()
            .filter(|s| plugin_of(s) == release.name)
            .map(|s| s.name.as_str())
            .collect();
        tracing::info!(plugin = %release.name, version = %release.version,
            previous = ?previous, "nodus plugin installed.");
        Ok(json!({
            "agent": "nodus",
            "name": release.name,
            "version": release.version,
            "previous": previous,
            "changed": true,
            "instances": instances,
            "file": installed_as,
            "digest": digest,
        }))
    }

    /// `plugin.remove`: every instance taken out of nodus, then the file deleted (only from
    /// nodus's plugin folder).
    pub async fn remove(&self, target: &PluginTarget) -> Result<Value, CommandError> {
        let instances = self.instances(&target.name).await.map_err(failed)?;
        if instances.is_empty() {
            return Err(not_found("nodus", &target.name));
        }
        let mut removed = Vec::new();
        for status in &instances {
            let request = Request::PluginRemove {
                name: status.name.clone(),
            };
            expect_ok(self.call(request, CHANGE_TIMEOUT).await, &status.name)?;
            removed.push(status.name.clone());
        }
        let mut deleted = Vec::new();
        for status in &instances {
            let file = PathBuf::from(&status.file);
            if deleted.contains(&file) || !inside(&self.dir, &file) {
                continue;
            }
            match std::fs::remove_file(&file) {
                Ok(()) => deleted.push(file),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(failed(format!(
                        "`{}` removed from nodus, but its file {} stays: {e}",
                        target.name,
                        file.display()
                    )));
                }
            }
        }
        Ok(json!({
            "agent": "nodus",
            "name": target.name,
            "removed": removed,
            "deleted": deleted,
        }))
    }

    /// `plugin.start` / `plugin.stop` of one instance or all of the plugin's.
    pub async fn set_running(
        &self,
        target: &PluginTarget,
        run: bool,
    ) -> Result<Value, CommandError> {
        let instances = self.instances(&target.name).await.map_err(failed)?;
        let chosen: Vec<&PluginStatus> = instances
            .iter()
            .filter(|s| match &target.instance {
                None => true,
                Some(instance) => {
                    s.name == format!("{}/{instance}", target.name) || s.name == *instance
                }
            })
            .collect();
        if chosen.is_empty() {
            let what = match &target.instance {
                Some(instance) => format!("{}/{instance}", target.name),
                None => target.name.clone(),
            };
            return Err(not_found("nodus", &what));
        }
        let mut done = Vec::new();
        for status in chosen {
            let name = status.name.clone();
            let request = if run {
                Request::PluginStart { name: name.clone() }
            } else {
                Request::PluginStop { name: name.clone() }
            };
            expect_ok(self.call(request, CHANGE_TIMEOUT).await, &name)?;
            done.push(name);
        }
        Ok(json!({
            "agent": "nodus",
            "name": target.name,
            "instances": done,
            "state": if run { "running" } else { "stopped" },
        }))
    }

    /// `plugin.configure`: nodus checks the options, tries them in a new instance and swaps
    /// it in only when it answers.
    pub async fn configure(&self, configure: &PluginConfigure) -> Result<Value, CommandError> {
        let request = Request::InstanceConfigure {
            plugin: configure.name.clone(),
            instance: configure.instance.clone(),
            options: configure.options.clone(),
        };
        let label = match &configure.instance {
            Some(instance) => format!("{}/{instance}", configure.name),
            None => configure.name.clone(),
        };
        let answer = expect_ok(self.call(request, CHANGE_TIMEOUT).await, &label)?;
        Ok(json!({
            "agent": "nodus",
            "name": configure.name,
            "instances": answer.plugins.iter().map(|s| &s.name).collect::<Vec<_>>(),
        }))
    }
}

/// The plugin a nodus instance belongs to.
fn plugin_of(status: &PluginStatus) -> &str {
    if status.plugin.is_empty() {
        &status.name
    } else {
        &status.plugin
    }
}

/// nodus's answer as a command's outcome: its refusal (or why it could not be asked) is a
/// 3023 naming the instance.
fn expect_ok(answer: Result<Response, String>, label: &str) -> Result<Response, CommandError> {
    match answer {
        Ok(answer) if answer.ok => Ok(answer),
        Ok(answer) => Err(failed(format!(
            "nodus refused `{label}`: {}",
            answer.error.unwrap_or_default()
        ))),
        Err(why) => Err(failed(why)),
    }
}
