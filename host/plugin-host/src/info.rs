//! `getinfo.<name>`: the command prefix answered by info plugins, one call whose answer is
//! parsed as JSON, and the info plugins of a directory as gearman runs them ([`run_dir`]).
//! Shared by `gearctl` (one call per process, `-l`) and `gearman` (plugins loaded at start), so
//! both answer and list the same way.

use std::collections::BTreeMap;
use std::path::Path;

use plugin_api::Roles;
use serde_json::Value;
use wire::plugins::SkippedFile;

use crate::plugin::{CallError, Instance};
use crate::registry::{FileReport, Registry};

/// The command prefix answered by info plugins.
pub const INFO_PREFIX: &str = "getinfo.";

/// The plugin name in `getinfo.<name>`, or `None` for any other command.
pub fn plugin_name(command: &str) -> Option<&str> {
    command.strip_prefix(INFO_PREFIX).filter(|n| !n.is_empty())
}

/// Calls the plugin's info role with `args` and parses its answer; an answer that is not
/// JSON is a failure (code 3023) naming the plugin.
pub fn call_info_json(instance: &Instance, args: &str) -> Result<Value, CallError> {
    let text = instance.call_info(args)?;
    serde_json::from_str(&text).map_err(|e| CallError {
        plugin: instance.label().to_string(),
        code: plugin_api::codes::FAILED,
        message: format!("plugin `{}` answered invalid JSON: {e}", instance.label()),
    })
}

/// The info plugins of a directory, running, and every file or plugin that is not.
#[derive(Default)]
pub struct InfoDir {
    /// One instance of each info plugin, by name.
    pub instances: BTreeMap<String, Instance>,
    /// Files not loaded and info plugins not started, each with its one-line reason.
    pub skipped: Vec<SkippedFile>,
}

/// Loads the info plugins of `dir` as gearman runs them: each plugin with the *info* role
/// whose schema it satisfies without options (gearman gives none: each call brings its
/// arguments), one instance each with the host's facts. Plugins without the info role are not
/// gearman's and are left out silently; everything else not running is in `skipped`.
pub fn run_dir(dir: &Path) -> std::io::Result<InfoDir> {
    let scanned = Registry::scan(dir)?;
    let mut info = Registry::default();
    let mut skipped = Vec::new();
    for plugin in scanned.with_role(Roles::INFO) {
        let problems = plugin.check_options(plugin.name(), &[]);
        if !problems.is_empty() {
            skipped.push(SkippedFile {
                file: plugin.path().display().to_string(),
                reason: problems.join("; "),
            });
            continue;
        }
        // Names are unique within one scan.
        let _ = info.add(plugin.clone());
    }
    let instances = info.instantiate_all(|_| crate::context::init_context([]));
    for report in scanned.reports().iter().chain(info.reports()) {
        if let FileReport::Skipped { path, reason } = report {
            skipped.push(crate::inventory::skipped(path, reason));
        }
    }
    Ok(InfoDir { instances, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_getinfo_commands_name_a_plugin() {
        assert_eq!(plugin_name("getinfo.example"), Some("example"));
        assert_eq!(plugin_name("getinfo."), None);
        assert_eq!(plugin_name("sync.bash"), None);
    }
}
