//! `getinfo.<name>`: the command prefix answered by info plugins and one call whose answer is
//! parsed as JSON. Shared by `gearctl` (one call per process) and `gearman` (plugins loaded
//! once), so both answer the same way.

use serde_json::Value;

use crate::plugin::{CallError, LoadedPlugin};

/// The command prefix answered by info plugins.
pub const INFO_PREFIX: &str = "getinfo.";

/// The plugin name in `getinfo.<name>`, or `None` for any other command.
pub fn plugin_name(command: &str) -> Option<&str> {
    command.strip_prefix(INFO_PREFIX).filter(|n| !n.is_empty())
}

/// Calls the plugin's info role with `args` and parses its answer; an answer that is not
/// JSON is a failure (code 3023) naming the plugin.
pub fn call_info_json(plugin: &LoadedPlugin, args: &str) -> Result<Value, CallError> {
    let text = plugin.call_info(args)?;
    serde_json::from_str(&text).map_err(|e| CallError {
        plugin: plugin.name().to_string(),
        code: plugin_api::codes::FAILED,
        message: format!("plugin `{}` answered invalid JSON: {e}", plugin.name()),
    })
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
