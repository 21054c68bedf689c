//! [`Registry`]: the plugins of one directory, by name, with a report for every file.
//!
//! A library may export several plugins; each is registered under its own name, and a name
//! already registered from another file is refused. The registry holds descriptions only:
//! instances ([`crate::Instance`]) belong to the agent that made them, so one plugin may run as
//! several instances (`http/primary`, `http/backup`). abi_stable never unloads a library, so a
//! plugin dropped from the registry stays mapped until the process exits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plugin_api::{InitContext, Roles};

use crate::loader::{LoadError, load};
use crate::plugin::{CallError, Instance, LoadedPlugin};

/// What happened to one file (or one plugin of it) during a scan.
#[derive(Debug, Clone)]
pub enum FileReport {
    /// Loaded; the plugin is in the registry under `name` (one report per plugin of a file).
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

/// Loaded plugins by name, and the report of every file looked at.
#[derive(Default)]
pub struct Registry {
    entries: BTreeMap<String, LoadedPlugin>,
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

/// The file names plugin `name` is looked for under first: its installed name `<name>.so`,
/// then the build's `libplugin_<name>.so` (see plugin-api/README.md, "One name per plugin").
pub fn file_names(name: &str) -> [String; 2] {
    let name = name.trim_end_matches(".so");
    let stem = name.replace('-', "_");
    [format!("{name}.so"), format!("libplugin_{stem}.so")]
}

/// The file name a library is installed under: `<name>.so` for a library of one plugin (the
/// build's `libplugin_load.so` becomes `load.so`), its own file name for a library of several.
pub fn installed_file_name(path: &Path, plugins: &[LoadedPlugin]) -> String {
    match plugins {
        [one] => format!("{}.so", one.name()),
        _ => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// Plugin files kept by [`files_with_roles`]: each with the name it is installed under.
pub type Kept = Vec<(PathBuf, String)>;
/// Files [`files_with_roles`] could not load, with the reason.
pub type Skipped = Vec<(PathBuf, LoadError)>;

/// The `.so` files of a build folder that hold a plugin with one of `roles`, each with the
/// name it is installed under (`libplugin_load.so` -> `load.so`): how the platform's packages
/// (`mkpkg agent`, `xtask dist`) sort plugins to agents without naming any. Files that do not
/// load come back in the second list with the reason.
pub fn files_with_roles(dir: &Path, roles: &[Roles]) -> std::io::Result<(Kept, Skipped)> {
    let (mut kept, mut skipped) = (Vec::new(), Vec::new());
    for path in plugin_files(dir)? {
        match load(&path) {
            Ok(plugins) if plugins.iter().any(|p| roles.iter().any(|r| p.has_role(*r))) => {
                let file = installed_file_name(&path, &plugins);
                kept.push((path, file));
            }
            Ok(_) => {}
            Err(e) => skipped.push((path, e)),
        }
    }
    Ok((kept, skipped))
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

    /// Loads the plugin called `name` from `dir` quickly: first the files [`file_names`]
    /// gives, then, if neither holds it, a scan of the whole directory.
    pub fn load_named(dir: &Path, name: &str) -> std::io::Result<Option<LoadedPlugin>> {
        for candidate in file_names(name) {
            if let Ok(plugins) = load(&dir.join(candidate))
                && let Some(plugin) = plugins.into_iter().find(|p| p.name() == name)
            {
                return Ok(Some(plugin));
            }
        }
        Ok(Registry::scan(dir)?.get(name).cloned())
    }

    /// Loads one more file (`nodusctl plugin load <path>`) and registers each of its plugins;
    /// returns those registered (a name already registered is refused and reported).
    pub fn load_file(&mut self, path: &Path) -> Result<Vec<LoadedPlugin>, LoadError> {
        match load(path) {
            Ok(plugins) => {
                let mut added = Vec::new();
                let mut first_error = None;
                for plugin in plugins {
                    match self.add(plugin) {
                        Ok(plugin) => added.push(plugin.clone()),
                        Err(e) => first_error = first_error.or(Some(e)),
                    }
                }
                match first_error {
                    Some(e) if added.is_empty() => Err(e),
                    _ => Ok(added),
                }
            }
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
                first: first.path().display().to_string(),
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
        Ok(self.entries.entry(name).or_insert(plugin))
    }

    /// Makes one instance of every registered plugin with the context `ctx` gives it (named
    /// after the plugin); a plugin whose `init` fails or panics is dropped from the registry
    /// and its file report says why.
    pub fn instantiate_all(
        &mut self,
        ctx: impl Fn(&LoadedPlugin) -> InitContext,
    ) -> BTreeMap<String, Instance> {
        let mut instances = BTreeMap::new();
        let plugins: Vec<LoadedPlugin> = self.entries.values().cloned().collect();
        for plugin in plugins {
            match plugin.instantiate(plugin.name(), &ctx(&plugin)) {
                Ok(instance) => {
                    instances.insert(plugin.name().to_string(), instance);
                }
                Err(err) => {
                    self.entries.remove(plugin.name());
                    self.mark_skipped(&plugin, init_error(err));
                }
            }
        }
        instances
    }

    fn mark_skipped(&mut self, plugin: &LoadedPlugin, reason: LoadError) {
        for report in &mut self.reports {
            if let FileReport::Loaded { path, name } = report
                && path == plugin.path()
                && name == plugin.name()
            {
                *report = FileReport::Skipped {
                    path: path.clone(),
                    reason: reason.clone(),
                };
            }
        }
    }

    /// The plugin called `name`, if registered.
    pub fn get(&self, name: &str) -> Option<&LoadedPlugin> {
        self.entries.get(name)
    }

    /// Registered plugins, sorted by name.
    pub fn plugins(&self) -> impl Iterator<Item = &LoadedPlugin> {
        self.entries.values()
    }

    /// Registered plugins with every role in `roles`.
    pub fn with_role(&self, roles: Roles) -> impl Iterator<Item = &LoadedPlugin> {
        self.entries.values().filter(move |p| p.has_role(roles))
    }

    /// What happened to each file, in the order they were looked at.
    pub fn reports(&self) -> &[FileReport] {
        &self.reports
    }

    /// Forgets the plugin called `name` (its code stays mapped, see the module documentation).
    pub fn remove(&mut self, name: &str) -> Option<LoadedPlugin> {
        self.entries.remove(name)
    }
}

/// The load error an `init` failure is reported as.
pub fn init_error(err: CallError) -> LoadError {
    if err.is_panic() {
        LoadError::InitPanicked(err.message)
    } else {
        LoadError::InitFailed(err.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_is_looked_for_under_its_installed_then_its_built_name() {
        assert_eq!(file_names("load"), ["load.so", "libplugin_load.so"]);
        assert_eq!(
            file_names("my-plugin"),
            ["my-plugin.so", "libplugin_my_plugin.so"]
        );
        // nodusctl's `load csv.so` names the installed file.
        assert_eq!(file_names("csv.so"), ["csv.so", "libplugin_csv.so"]);
    }
}
