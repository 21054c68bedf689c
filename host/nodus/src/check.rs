//! `nodus -t`: check the configuration the way the daemon would use it, then exit.
//!
//! Syntax and schema, types.db readable and valid, every configured plugin found and loadable,
//! every instance's options valid against the plugin's option schema, and its `init` accepting
//! them (each instance is shut down again at once). What was changed through the control socket
//! (`managed.json`: plugins installed, instance options set) is checked with it, as the daemon
//! would apply it. Prints `Success` or `Failed!!!`; reasons go to the log and stderr.

use std::path::Path;

use plugin_api::types_db::TypesDb;

use crate::config::Config;
use crate::plugins;

/// Every problem found with the configuration at `path`; empty means it is good.
pub fn problems(path: &Path, plugin_dir: impl Fn(&Config) -> std::path::PathBuf) -> Vec<String> {
    let mut config = match Config::load(path) {
        Ok(config) => config,
        Err(e) => return vec![e.to_string()],
    };
    let mut problems = Vec::new();
    match crate::managed::Managed::load(&crate::managed::file(&config)) {
        Ok(managed) => {
            for note in config.apply(&managed) {
                tracing::warn!("{note}");
            }
        }
        Err(e) => problems.push(e),
    }
    if let Err(e) = TypesDb::load(&config.types_db_paths()) {
        problems.push(format!("types.db: {e}"));
    }
    let dir = plugin_dir(&config);
    let loaded = plugins::load_configured(&dir, &config.plugin_names());
    problems.extend(
        loaded
            .failed
            .iter()
            .map(|failed| format!("plugin `{}`: {failed}", failed.plugin)),
    );
    let hostname = config.hostname.clone().unwrap_or_default();
    for instance in config.instances() {
        let Some(plugin) = loaded.registry.get(instance.plugin) else {
            continue;
        };
        let id = instance.id;
        let wrong = plugins::check_options(&config, plugin, id);
        if !wrong.is_empty() {
            problems.extend(wrong);
            continue;
        }
        match plugin.instantiate(id, &plugins::context(&config, id, &hostname)) {
            Ok(running) => {
                let _ = running.shutdown();
            }
            Err(e) => problems.push(format!(
                "plugin `{id}`: init refused the options: {}",
                e.message
            )),
        }
    }
    problems
}
