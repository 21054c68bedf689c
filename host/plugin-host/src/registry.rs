//! [`Registry`]: the plugins of one directory, by name, with a report for every file.
//!
//! A plugin's life in a running agent: `Loaded` (mapped, described) → `Running` (after `init`)
//! ⇄ `Stopped` (after `shutdown`) → removed. abi_stable never unloads a library, so *remove*
//! shuts the plugin down and forgets it; its code stays mapped until the process exits, and a
//! changed file at the same path is only picked up by a restart (or loaded from a new path).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plugin_api::{InitContext, Roles};

use crate::loader::{LoadError, load};
use crate::plugin::{CallError, LoadedPlugin};

/// What happened to one file during a scan.
#[derive(Debug, Clone)]
pub enum FileReport {
    /// Loaded; the plugin is in the registry under `name`.
    Loaded {
        /// The file.
        path: PathBuf,
        /// The plugin's name.
        name: String,
    },
    /// Not loaded, with the reason.
    Skipped {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: LoadError,
    },
}

/// Where a registered plugin is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginState {
    /// Loaded and described; `init` not called yet.
    Loaded,
    /// Initialised and in use.
    Running,
    /// Shut down on request; `start` initialises it again.
    Stopped,
}

impl PluginState {
    /// Lower-case name for listings.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginState::Loaded => "loaded",
            PluginState::Running => "running",
            PluginState::Stopped => "stopped",
        }
    }
}

struct Entry {
    plugin: LoadedPlugin,
    state: PluginState,
}

/// Loaded plugins by name, and the report of every file looked at.
#[derive(Default)]
pub struct Registry {
    entries: BTreeMap<String, Entry>,
    reports: Vec<FileReport>,
}

/// The `.so` files of `dir`, sorted by name.
pub fn plugin_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "so") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

impl Registry {
    /// Loads every `.so` in `dir` (sorted by file name); bad files are reported, not fatal.
    pub fn scan(dir: &Path) -> std::io::Result<Registry> {
        let mut registry = Registry::default();
        for path in plugin_files(dir)? {
            // The error is kept in the report.
            let _ = registry.load_file(&path);
        }
        Ok(registry)
    }

    /// Loads the plugin called `name` from `dir` quickly: first `<name>.so` and `lib<name>.so`
    /// (with `-` as `_`), then, if neither holds it, a scan of the whole directory.
    pub fn load_named(dir: &Path, name: &str) -> std::io::Result<Option<LoadedPlugin>> {
        let stem = name.replace('-', "_");
        for candidate in [format!("{name}.so"), format!("lib{stem}.so")] {
            let path = dir.join(candidate);
            if let Ok(plugin) = load(&path)
                && plugin.name() == name
            {
                return Ok(Some(plugin));
            }
        }
        Ok(Registry::scan(dir)?.get(name).cloned())
    }

    /// Loads one more file (`nodusctl plugin load <path>`); refuses a name already registered.
    pub fn load_file(&mut self, path: &Path) -> Result<&LoadedPlugin, LoadError> {
        match load(path) {
            Ok(plugin) => self.add(plugin),
            Err(reason) => {
                self.reports.push(FileReport::Skipped {
                    path: path.to_path_buf(),
                    reason: reason.clone(),
                });
                Err(reason)
            }
        }
    }

    /// Registers a plugin loaded elsewhere (e.g. by [`Registry::load_named`]); refuses a name
    /// already registered.
    pub fn add(&mut self, plugin: LoadedPlugin) -> Result<&LoadedPlugin, LoadError> {
        let path = plugin.path().to_path_buf();
        if let Some(first) = self.entries.get(plugin.name()) {
            let reason = LoadError::Duplicate {
                name: plugin.name().to_string(),
                first: first.plugin.path().display().to_string(),
            };
            self.reports.push(FileReport::Skipped {
                path,
                reason: reason.clone(),
            });
            return Err(reason);
        }
        let name = plugin.name().to_string();
        self.reports.push(FileReport::Loaded {
            path,
            name: name.clone(),
        });
        let entry = self.entries.entry(name).or_insert(Entry {
            plugin,
            state: PluginState::Loaded,
        });
        Ok(&entry.plugin)
    }

    /// Initialises every loaded plugin with the context `ctx` gives it; a plugin whose `init`
    /// fails or panics is dropped from the registry and its file report says why.
    pub fn init_all(&mut self, ctx: impl Fn(&LoadedPlugin) -> InitContext) {
        let pending: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.state == PluginState::Loaded)
            .map(|(name, _)| name.clone())
            .collect();
        for name in pending {
            let Some(entry) = self.entries.get_mut(&name) else {
                continue;
            };
            match entry.plugin.init(&ctx(&entry.plugin)) {
                Ok(()) => entry.state = PluginState::Running,
                Err(err) => {
                    let path = entry.plugin.path().to_path_buf();
                    self.entries.remove(&name);
                    self.mark_skipped(&path, init_error(err));
                }
            }
        }
    }

    fn mark_skipped(&mut self, path: &Path, reason: LoadError) {
        for report in &mut self.reports {
            if let FileReport::Loaded { path: p, .. } = report
                && p == path
            {
                *report = FileReport::Skipped {
                    path: path.to_path_buf(),
                    reason: reason.clone(),
                };
            }
        }
    }

    /// The plugin called `name`, if registered.
    pub fn get(&self, name: &str) -> Option<&LoadedPlugin> {
        self.entries.get(name).map(|e| &e.plugin)
    }

    /// The state of the plugin called `name`, if registered.
    pub fn state(&self, name: &str) -> Option<PluginState> {
        self.entries.get(name).map(|e| e.state)
    }

    /// Registered plugins and their states, sorted by name.
    pub fn plugins(&self) -> impl Iterator<Item = (&LoadedPlugin, PluginState)> {
        self.entries.values().map(|e| (&e.plugin, e.state))
    }

    /// Registered plugins with every role in `roles`.
    pub fn with_role(&self, roles: Roles) -> impl Iterator<Item = &LoadedPlugin> {
        self.entries
            .values()
            .map(|e| &e.plugin)
            .filter(move |p| p.has_role(roles))
    }

    /// What happened to each file, in the order they were looked at.
    pub fn reports(&self) -> &[FileReport] {
        &self.reports
    }

    /// Stops a running plugin: calls its `shutdown`; the entry stays, state `Stopped`.
    pub fn stop(&mut self, name: &str) -> Result<(), RegistryError> {
        let entry = self
            .entries
            .get_mut(name)
            .ok_or_else(|| RegistryError::unknown(name))?;
        if entry.state == PluginState::Running {
            entry.state = PluginState::Stopped;
            entry.plugin.shutdown().map_err(RegistryError::Call)?;
        }
        Ok(())
    }

    /// Starts a loaded or stopped plugin again with `ctx`.
    pub fn start(&mut self, name: &str, ctx: &InitContext) -> Result<(), RegistryError> {
        let entry = self
            .entries
            .get_mut(name)
            .ok_or_else(|| RegistryError::unknown(name))?;
        if entry.state != PluginState::Running {
            entry.plugin.init(ctx).map_err(RegistryError::Call)?;
            entry.state = PluginState::Running;
        }
        Ok(())
    }

    /// Removes a plugin: shuts it down if running and forgets it. Its code stays mapped (see
    /// the module documentation); the returned handle must not be called any more.
    pub fn remove(&mut self, name: &str) -> Result<LoadedPlugin, RegistryError> {
        self.stop(name)?;
        let entry = self
            .entries
            .remove(name)
            .ok_or_else(|| RegistryError::unknown(name))?;
        Ok(entry.plugin)
    }
}

fn init_error(err: CallError) -> LoadError {
    if err.is_panic() {
        LoadError::InitPanicked(err.message)
    } else {
        LoadError::InitFailed(err.message)
    }
}

/// An error from a registry operation.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No plugin of that name is registered.
    #[error("no plugin named `{0}`")]
    Unknown(String),
    /// The plugin's `init` or `shutdown` failed.
    #[error(transparent)]
    Call(CallError),
}

impl RegistryError {
    fn unknown(name: &str) -> Self {
        RegistryError::Unknown(name.to_string())
    }
}
