//! `agent: gearman`: gearman's own info plugins ([`InfoPlugins`]) changed while it runs. A
//! staged release is loaded from its staged path, each of its info plugins gets its instance
//! and one info call that must not panic (an error answer is fine: no arguments may be wrong
//! arguments), and the plugin named must report the release's version; only then is the file
//! renamed to `<name>.so` and the new instances put in place of the old ones, which are shut
//! down (their code stays mapped: a library is never unloaded).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use plugin_api::Roles;
use plugin_host::registry::init_error;
use plugin_host::{Instance, context};
use serde_json::{Value, json};
use wire::CommandError;
use wire::plugins::{PluginRelease, PluginTarget};

use super::plan::{Installed, failure};
use super::release::Staged;
use super::{failed, not_found};
use crate::info::InfoPlugins;

/// gearman's plugins and the folder they are installed in.
pub struct OwnPlugins {
    /// The running info plugins (shared with `getinfo.*`).
    pub plugins: Arc<InfoPlugins>,
    /// gearman's plugin folder.
    pub dir: PathBuf,
}

impl OwnPlugins {
    /// What is installed as `name`.
    pub fn installed(&self, name: &str) -> Option<Installed> {
        let plugin = self.plugins.get(name)?;
        Some(Installed {
            version: plugin.version(),
            digest: plugin.digest().to_string(),
        })
    }

    /// Checks `staged` (release `release`) and puts it in place of `previous`.
    pub async fn put(
        &self,
        release: &PluginRelease,
        staged: Staged,
        previous: Option<String>,
    ) -> Result<Value, CommandError> {
        let path = staged.path().to_path_buf();
        let (name, version) = (release.name.clone(), release.version.clone());
        let checked = tokio::task::spawn_blocking(move || try_release(&path, &name, &version))
            .await
            .unwrap_or_else(|e| Err(format!("the check stopped: {e}")));
        let instances = checked.map_err(|why| failed(failure(previous.as_deref(), &why)))?;
        if let Err(why) = self.no_clash(&release.name, &instances) {
            for instance in &instances {
                let _ = instance.shutdown();
            }
            return Err(failed(failure(previous.as_deref(), &why)));
        }
        let installed_as = self.dir.join(format!("{}.so", release.name));
        let digest = staged.digest().to_string();
        if let Err(e) = staged.install_as(&installed_as) {
            for instance in &instances {
                let _ = instance.shutdown();
            }
            let why = format!(
                "cannot rename the release to {}: {e}",
                installed_as.display()
            );
            return Err(failed(failure(previous.as_deref(), &why)));
        }
        let names: Vec<String> = instances
            .iter()
            .map(|i| i.plugin().name().to_string())
            .collect();
        let replaced = self.plugins.put(instances, &installed_as);
        // A replaced plugin installed under another name (`libplugin_x.so` of a build folder)
        // would come back beside the new one at the next start: its file goes, once nothing
        // loaded from it is left.
        for old in &replaced {
            if old.file != installed_as
                && inside(&self.dir, &old.file)
                && !self.plugins.uses_file(&old.file)
                && let Err(e) = std::fs::remove_file(&old.file)
            {
                tracing::warn!(file = %old.file.display(), error = %e,
                    "Cannot delete the replaced plugin's file.");
            }
        }
        tracing::info!(plugin = %release.name, version = %release.version,
            previous = ?previous, file = %installed_as.display(), "Plugin installed.");
        Ok(json!({
            "agent": "gearman",
            "name": release.name,
            "version": release.version,
            "previous": previous,
            "changed": true,
            "plugins": names,
            "file": installed_as,
            "digest": digest,
        }))
    }

    /// A release replaces the plugin it is named after (and the others of that plugin's
    /// file); another plugin of its library must not take the name of one loaded from
    /// another file, which would be replaced (and its file deleted) as a side effect.
    fn no_clash(&self, name: &str, instances: &[Instance]) -> Result<(), String> {
        let replaced_file = self.plugins.get(name).map(|p| p.file.clone());
        for instance in instances {
            let other = instance.plugin().name();
            if other == name {
                continue;
            }
            if let Some(loaded) = self.plugins.get(other)
                && Some(&loaded.file) != replaced_file.as_ref()
            {
                return Err(format!(
                    "the library also provides `{other}`, already loaded from {}",
                    loaded.file.display()
                ));
            }
        }
        Ok(())
    }

    /// `plugin.remove`: stops the plugin (and any other of its file), forgets it and deletes
    /// its file from the plugin folder.
    pub fn remove(&self, target: &PluginTarget) -> Result<Value, CommandError> {
        let removed = self
            .plugins
            .remove(&target.name)
            .ok_or_else(|| not_found("gearman", &target.name))?;
        let mut deleted = Vec::new();
        for plugin in &removed {
            if deleted.contains(&plugin.file) || !inside(&self.dir, &plugin.file) {
                continue;
            }
            match std::fs::remove_file(&plugin.file) {
                Ok(()) => deleted.push(plugin.file.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(failed(format!(
                        "`{}` stopped and unloaded, but its file {} stays: {e}",
                        target.name,
                        plugin.file.display()
                    )));
                }
            }
        }
        let names: Vec<String> = removed
            .iter()
            .map(|p| p.plugin().name().to_string())
            .collect();
        tracing::info!(plugins = ?names, files = ?deleted, "Plugin removed.");
        Ok(json!({
            "agent": "gearman",
            "name": target.name,
            "removed": names,
            "deleted": deleted,
        }))
    }

    /// `plugin.stop` / `plugin.start`: shuts the instance down, or makes a fresh one.
    pub fn set_running(&self, target: &PluginTarget, run: bool) -> Result<Value, CommandError> {
        let plugin = self
            .plugins
            .get(&target.name)
            .ok_or_else(|| not_found("gearman", &target.name))?;
        if let Some(instance) = target.instance.as_deref().filter(|i| *i != target.name) {
            return Err(CommandError::NotFound(format!(
                "gearman runs one instance of `{}`, named `{}`, not `{instance}`",
                target.name, target.name
            )));
        }
        let was = plugin.instance.is_running();
        if run && !was {
            if let Err(err) = plugin.instance.restart(&context::init_context([])) {
                let why = init_error(err).to_string();
                plugin.set_failure(Some(why.clone()));
                return Err(failed(format!("`{}` did not start: {why}", target.name)));
            }
            plugin.set_failure(None);
        } else if !run && was {
            let result = plugin.instance.shutdown();
            plugin.set_failure(None);
            if let Err(e) = result {
                tracing::warn!(plugin = %target.name, error = %e, "Shutdown failed; stopped anyway.");
            }
        }
        Ok(json!({
            "agent": "gearman",
            "name": target.name,
            "state": if run { "running" } else { "stopped" },
            "changed": was != run,
        }))
    }
}

/// Loads the library at `staged` and checks it as the release of `name` at `version`:
/// returns new instances of each of its info plugins, or the one-line reason it cannot run.
pub fn try_release(staged: &Path, name: &str, version: &str) -> Result<Vec<Instance>, String> {
    let plugins = plugin_host::load(staged).map_err(|e| e.to_string())?;
    let Some(named) = plugins.iter().find(|p| p.name() == name) else {
        let names: Vec<&str> = plugins.iter().map(|p| p.name()).collect();
        return Err(format!(
            "the library has no plugin `{name}` (it has {})",
            names.join(", ")
        ));
    };
    let reported = named.info().version.to_string();
    if reported != version {
        return Err(format!(
            "the library's `{name}` reports version {reported}, not the release's {version}"
        ));
    }
    if !named.has_role(Roles::INFO) {
        return Err(format!(
            "`{name}` has no info role ({}): gearman runs info plugins; read and write \
             plugins are for agent nodus",
            named.info().roles.names().join(", ")
        ));
    }
    let mut instances: Vec<Instance> = Vec::new();
    let result = plugins
        .iter()
        .filter(|p| p.has_role(Roles::INFO))
        .try_for_each(|plugin| {
            let problems = plugin.check_options(plugin.name(), &[]);
            if !problems.is_empty() {
                return Err(problems.join("; "));
            }
            let instance = plugin
                .instantiate(plugin.name(), &context::init_context([]))
                .map_err(|e| init_error(e).to_string())?;
            // One call without arguments: an error answer is fine, a panic is not.
            if let Err(err) = instance.call_info("")
                && err.is_panic()
            {
                let _ = instance.shutdown();
                return Err(format!("info call panicked: {}", err.message));
            }
            instances.push(instance);
            Ok(())
        });
    if let Err(why) = result {
        for instance in &instances {
            let _ = instance.shutdown();
        }
        return Err(why);
    }
    Ok(instances)
}

/// Whether `file` lies directly in `dir` (so deleting it cannot reach outside the folder).
pub fn inside(dir: &Path, file: &Path) -> bool {
    let parent = file.parent().and_then(|p| p.canonicalize().ok());
    parent.is_some() && parent == dir.canonicalize().ok()
}
