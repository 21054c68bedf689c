//! Finding the configured plugins and preparing their `init`: the same code for the daemon,
//! `-t` and `-T`.

use std::path::Path;

use plugin_api::{ConfigEntry, InitContext};
use plugin_host::{LoadedPlugin, Registry, context};

use crate::config::Config;

/// The configured plugins that loaded, and why the others did not.
pub struct Loaded {
    /// The loaded plugins (not yet initialised).
    pub registry: Registry,
    /// `(name, reason)` of every configured plugin that is not in `registry`.
    pub failed: Vec<(String, String)>,
}

/// Loads the plugins named in the configuration from `dir`: `<name>.so` / `lib<name>.so`
/// directly, or by scanning the directory for the rest.
pub fn load_configured(dir: &Path, names: &[String]) -> Loaded {
    let mut registry = Registry::default();
    let mut missing = Vec::new();
    for name in names {
        match Registry::load_named(dir, name) {
            Ok(Some(plugin)) => {
                if let Err(e) = registry.add(plugin) {
                    missing.push((name.clone(), e.to_string()));
                }
            }
            Ok(None) => missing.push((name.clone(), not_loaded_reason(dir, name))),
            Err(e) => missing.push((
                name.clone(),
                format!("cannot read plugin directory {}: {e}", dir.display()),
            )),
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
fn not_loaded_reason(dir: &Path, name: &str) -> String {
    let stem = name.replace('-', "_");
    for file in [format!("{name}.so"), format!("lib{stem}.so")] {
        let path = dir.join(file);
        if path.exists()
            && let Err(e) = plugin_host::load(&path)
        {
            return format!("{}: {e}", path.display());
        }
    }
    format!("no plugin named `{name}` in {}", dir.display())
}

/// The init context of plugin `name`: configured options plus host facts (`hostname`,
/// `interval`, `types_db`, and the proc/sys/etc roots).
pub fn context(config: &Config, name: &str, hostname: &str) -> InitContext {
    let options = config.options_of(name);
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
    ] {
        host.push(ConfigEntry {
            key: key.into(),
            value: value.into(),
        });
    }
    ctx.host = host.into();
    ctx
}

/// Refuses option keys the plugin does not declare (case-insensitive, as collectd).
pub fn check_option_keys(
    plugin: &LoadedPlugin,
    options: &[(String, String)],
) -> Result<(), String> {
    let known = &plugin.info().config_keys;
    for (key, _) in options {
        if !known.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            let accepted: Vec<&str> = known.iter().map(|k| k.as_str()).collect();
            return Err(format!(
                "unknown option `{key}` (plugin `{}` accepts: {})",
                plugin.name(),
                if accepted.is_empty() {
                    "none".to_string()
                } else {
                    accepted.join(", ")
                }
            ));
        }
    }
    Ok(())
}
