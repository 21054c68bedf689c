//! `nodus -t`: check the configuration the way the daemon would use it, then exit.
//!
//! Syntax and schema, types.db readable and valid, every configured plugin found and loadable,
//! its option keys declared, and its `init` accepting the options (each plugin is shut down
//! again at once). Prints `Success` or `Failed!!!`; reasons go to the log and stderr.

use std::path::Path;

use plugin_api::types_db::TypesDb;

use crate::config::Config;
use crate::plugins;

/// Every problem found with the configuration at `path`; empty means it is good.
pub fn problems(path: &Path, plugin_dir: impl Fn(&Config) -> std::path::PathBuf) -> Vec<String> {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(e) => return vec![e.to_string()],
    };
    let mut problems = Vec::new();
    if let Err(e) = TypesDb::load(&config.types_db_paths()) {
        problems.push(format!("types.db: {e}"));
    }
    let dir = plugin_dir(&config);
    let names: Vec<String> = config.plugin.keys().cloned().collect();
    let loaded = plugins::load_configured(&dir, &names);
    problems.extend(
        loaded
            .failed
            .iter()
            .map(|(name, reason)| format!("plugin `{name}`: {reason}")),
    );
    let hostname = config.hostname.clone().unwrap_or_default();
    for (plugin, _) in loaded.registry.plugins() {
        let name = plugin.name();
        if let Err(e) = plugins::check_option_keys(plugin, &config.options_of(name)) {
            problems.push(format!("plugin `{name}`: {e}"));
            continue;
        }
        match plugin.init(&plugins::context(&config, name, &hostname)) {
            Ok(()) => {
                let _ = plugin.shutdown();
            }
            Err(e) => problems.push(format!(
                "plugin `{name}`: init refused the options: {}",
                e.message
            )),
        }
    }
    problems
}
