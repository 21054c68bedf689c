//! The info plugins answering `getinfo.<name>`: each plugin of the plugin directory with the
//! *info* role whose option schema it satisfies without options, one instance each
//! ([`plugin_host::info::run_dir`], what `gearctl -l` lists too), called on a blocking thread. Loaded at start ([`InfoPlugins::load`]) and changeable while the agent
//! runs: a checked release replaces or adds plugins ([`InfoPlugins::put`]), a plugin is
//! stopped, started or removed ([`crate::plugins`] decides when; nothing here names a plugin).
//! A library is never unloaded: a replaced or removed plugin's code stays mapped, unused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use plugin_host::info::call_info_json;
use plugin_host::inventory::plugin_report;
use plugin_host::{Instance, LoadedPlugin};
use wire::plugins::{AgentPlugins, InstanceReport, InstanceState, PluginAgent, SkippedFile};
use wire::{CommandResult, retcode};

/// One info plugin the agent runs.
pub struct InfoPlugin {
    /// Its instance (named after the plugin); shut down while stopped.
    pub instance: Arc<Instance>,
    /// The file it is installed as (for a checked release: `<dir>/<name>.so`, not the
    /// temporary name it was loaded from).
    pub file: PathBuf,
    /// Why its last call panicked, until a call succeeds again.
    failure: Mutex<Option<String>>,
}

impl InfoPlugin {
    /// A running plugin installed as `file`.
    pub fn new(instance: Instance, file: PathBuf) -> InfoPlugin {
        InfoPlugin {
            instance: Arc::new(instance),
            file,
            failure: Mutex::new(None),
        }
    }

    /// The loaded plugin.
    pub fn plugin(&self) -> &LoadedPlugin {
        self.instance.plugin()
    }

    /// Its version.
    pub fn version(&self) -> String {
        self.plugin().info().version.to_string()
    }

    /// `SHA256:<hex>` of its library, as loaded.
    pub fn digest(&self) -> &str {
        self.plugin().digest()
    }

    fn failure(&self) -> MutexGuard<'_, Option<String>> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records why it fails (its `init` on a start, a call that panicked), or that it no
    /// longer does.
    pub fn set_failure(&self, why: Option<String>) {
        *self.failure() = why;
    }

    /// Its state for the inventory.
    fn report(&self) -> InstanceReport {
        let failure = self.failure().clone();
        let (state, reason) = match (self.instance.is_running(), failure) {
            (_, Some(why)) => (InstanceState::Failing, Some(why)),
            (false, None) => (InstanceState::Stopped, None),
            (true, None) => (InstanceState::Running, None),
        };
        InstanceReport {
            name: self.plugin().name().to_string(),
            state,
            reason,
            options: Default::default(),
        }
    }
}

/// The running info plugins by name, and the files not loaded.
#[derive(Default)]
pub struct InfoPlugins {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    plugins: BTreeMap<String, Arc<InfoPlugin>>,
    skipped: Vec<SkippedFile>,
}

impl InfoPlugins {
    /// Loads the info plugins of `dir` and creates one instance of each (no options, the
    /// host's facts); every file or plugin skipped is logged and kept for the inventory. A
    /// missing directory leaves none.
    pub fn load(dir: &Path) -> InfoPlugins {
        let found = match plugin_host::info::run_dir(dir) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e,
                    "Cannot read the plugin directory; getinfo.* will answer 3022.");
                return InfoPlugins::default();
            }
        };
        for skipped in &found.skipped {
            tracing::warn!(file = %skipped.file, reason = %skipped.reason, "Plugin not loaded.");
        }
        let mut state = State {
            plugins: BTreeMap::new(),
            skipped: found.skipped,
        };
        for (name, instance) in found.instances {
            let file = instance.plugin().path().to_path_buf();
            state
                .plugins
                .insert(name, Arc::new(InfoPlugin::new(instance, file)));
        }
        tracing::info!(dir = %dir.display(), plugins = ?state.plugins.keys().collect::<Vec<_>>(),
            "Info plugins loaded.");
        InfoPlugins {
            state: Mutex::new(state),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned lock still holds a consistent map.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The names of the loaded info plugins.
    pub fn names(&self) -> Vec<String> {
        self.lock().plugins.keys().cloned().collect()
    }

    /// The plugin called `name`, if loaded.
    pub fn get(&self, name: &str) -> Option<Arc<InfoPlugin>> {
        self.lock().plugins.get(name).cloned()
    }

    /// Answers `getinfo.<name>` with `args`, or `None` when no info plugin is called `name`.
    /// A panic marks the plugin failing until a call succeeds.
    pub async fn getinfo(&self, name: &str, args: String) -> Option<CommandResult> {
        let plugin = self.get(name)?;
        let instance = plugin.instance.clone();
        let label = name.to_string();
        let result =
            match tokio::task::spawn_blocking(move || call_info_json(&instance, &args)).await {
                Ok(Ok(doc)) => CommandResult::success(doc),
                Ok(Err(err)) => CommandResult::failed(err.code, err.message),
                Err(e) => CommandResult::failed(
                    retcode::PLUGIN_PANICKED,
                    format!("Plugin panicked: plugin `{label}`: {e}"),
                ),
            };
        match result.retcode {
            retcode::PLUGIN_PANICKED => plugin.set_failure(Some(result.message.clone())),
            retcode::NORMAL_TERMINATION => plugin.set_failure(None),
            _ => {}
        }
        Some(result)
    }

    /// Puts `plugins` (checked instances of one release, installed as `file`) in place of any
    /// of the same names; returns the ones replaced, whose instances are shut down here (a
    /// call that holds one finishes first). Files skipped before at `file` are forgotten.
    pub fn put(&self, plugins: Vec<Instance>, file: &Path) -> Vec<Arc<InfoPlugin>> {
        let mut replaced = Vec::new();
        {
            let mut state = self.lock();
            let shown = file.display().to_string();
            state.skipped.retain(|s| s.file != shown);
            for instance in plugins {
                let name = instance.plugin().name().to_string();
                let entry = InfoPlugin::new(instance, file.to_path_buf());
                if let Some(old) = state.plugins.insert(name, Arc::new(entry)) {
                    replaced.push(old);
                }
            }
        }
        for old in &replaced {
            if let Err(e) = old.instance.shutdown() {
                tracing::warn!(plugin = %old.plugin().name(), error = %e,
                    "Replaced plugin's shutdown failed.");
            }
        }
        replaced
    }

    /// Removes the plugin called `name` and every other plugin loaded from the same file
    /// (the file goes, so they would not come back); returns them, shut down, or `None`.
    pub fn remove(&self, name: &str) -> Option<Vec<Arc<InfoPlugin>>> {
        let removed: Vec<Arc<InfoPlugin>> = {
            let mut state = self.lock();
            let file = state.plugins.get(name)?.file.clone();
            let names: Vec<String> = state
                .plugins
                .iter()
                .filter(|(_, p)| p.file == file)
                .map(|(n, _)| n.clone())
                .collect();
            names
                .iter()
                .filter_map(|n| state.plugins.remove(n))
                .collect()
        };
        for plugin in &removed {
            let _ = plugin.instance.shutdown();
        }
        Some(removed)
    }

    /// Whether some loaded plugin is installed as `file`.
    pub fn uses_file(&self, file: &Path) -> bool {
        self.lock().plugins.values().any(|p| p.file == file)
    }

    /// The inventory entry of gearman's own plugins.
    pub fn inventory(&self) -> AgentPlugins {
        let (plugins, skipped) = {
            let state = self.lock();
            let plugins: Vec<Arc<InfoPlugin>> = state.plugins.values().cloned().collect();
            (plugins, state.skipped.clone())
        };
        let plugins = plugins
            .iter()
            .map(|p| plugin_report(p.plugin(), &p.file, vec![p.report()]))
            .collect();
        AgentPlugins {
            agent: PluginAgent::Gearman,
            error: None,
            plugins,
            skipped,
            cut: 0,
        }
        .bounded()
    }
}
