//! Finding the configured plugins and preparing each instance's `init` (its options checked
//! against the plugin's schema): the same code for the daemon, `-t` and `-T`.

use std::path::{Path, PathBuf};

use plugin_api::{ConfigEntry, InitContext};
use plugin_host::{LoadedPlugin, Registry, context};

use crate::config::Config;

/// The configured plugins that loaded, and why the others did not.
pub struct Loaded {
    /// The loaded plugins (not yet initialised).
    pub registry: Registry,
    /// Every configured plugin that is not in `registry`.
    pub failed: Vec<NotLoaded>,
}

/// A configured plugin that did not load.
#[derive(Debug, Clone)]
pub struct NotLoaded {
    /// The plugin's name.
    pub plugin: String,
    /// The file it was looked for in (or refused from).
    pub file: PathBuf,
    /// Why, in one line (without the file).
    pub reason: String,
}

impl std::fmt::Display for NotLoaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.file.exists() {
            write!(f, "{}: {}", self.file.display(), self.reason)
        } else {
            f.write_str(&self.reason)
        }
    }
}

/// Loads the plugins named in the configuration from `dir`: `<name>.so` / `lib<name>.so`
/// directly, or by scanning the directory for the rest.
pub fn load_configured(dir: &Path, names: &[String]) -> Loaded {
    let mut registry = Registry::default();
    let mut missing = Vec::new();
    for name in names {
        let [installed, _] = plugin_host::registry::file_names(name);
        match Registry::load_named(dir, name) {
            Ok(Some(plugin)) => {
                let file = plugin.path().to_path_buf();
                if let Err(e) = registry.add(plugin) {
                    missing.push(NotLoaded {
                        plugin: name.clone(),
                        file,
                        reason: e.to_string(),
                    });
                }
            }
            Ok(None) => missing.push(not_loaded(dir, name)),
            Err(e) => missing.push(NotLoaded {
                plugin: name.clone(),
                file: dir.join(installed),
                reason: format!("cannot read plugin directory {}: {e}", dir.display()),
            }),
        }
    }
    Loaded {
        registry,
        failed: missing,
    }
}

/// Why no plugin `name` came out of `dir`: the reason its own file (`<name>.so`,
/// `lib<name>.so`) was refused (not ELF, refused by the plugin host's ownership check, ...),
/// or that there is none.
fn not_loaded(dir: &Path, name: &str) -> NotLoaded {
    let names = plugin_host::registry::file_names(name);
    for file in &names {
        let path = dir.join(file);
        if path.exists()
            && let Err(e) = plugin_host::load(&path)
        {
            return NotLoaded {
                plugin: name.to_string(),
                file: path,
                reason: e.to_string(),
            };
        }
    }
    NotLoaded {
        plugin: name.to_string(),
        file: dir.join(&names[0]),
        reason: format!("no plugin named `{name}` in {}", dir.display()),
    }
}

/// The init context of instance `name` (`http/primary`, or a plugin name): configured options
/// plus host facts (`hostname`, `interval`, `types_db`, `instance`, and the proc/sys/etc roots).
pub fn context(config: &Config, name: &str, hostname: &str) -> InitContext {
    context_with(config, name, hostname, &config.options_of(name))
}

/// [`context`] with the given options instead of the configured ones (an instance whose
/// options were set through the control socket, or a new one being tried).
pub fn context_with(
    config: &Config,
    name: &str,
    hostname: &str,
    options: &[(String, String)],
) -> InitContext {
    let mut ctx = context::init_context(options.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let types_db: Vec<String> = config
        .types_db_paths()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut host: Vec<ConfigEntry> = ctx
        .host
        .into_iter()
        .filter(|e| e.key != "hostname")
        .collect();
    for (key, value) in [
        ("hostname", hostname.to_string()),
        ("interval", config.interval_of(name).to_string()),
        ("types_db", types_db.join(":")),
        ("instance", name.to_string()),
    ] {
        host.push(ConfigEntry {
            key: key.into(),
            value: value.into(),
        });
    }
    ctx.host = host.into();
    ctx
}

/// Every problem with the options of instance `id` against `plugin`'s schema (unknown
/// option, wrong type, missing required, repeated single value), one line each in the
/// schema's words: `plugin http/primary: option Timeout = "abc" is not a number (...)`.
pub fn check_options(config: &Config, plugin: &LoadedPlugin, id: &str) -> Vec<String> {
    plugin.check_options(id, &config.options_of(id))
}
