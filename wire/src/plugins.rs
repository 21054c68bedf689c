//! Plugins managed from Polaris (issue 14): the parameters of the `plugin.*` methods a host's
//! gearman runs for itself and for its nodus, and the inventory each gearman reports
//! ([`PluginInventory`], sent as [`crate::agent::AgentMessage::Plugins`] at connect, on every
//! change and with each heartbeat).
//!
//! One truth: `gearctl -l`, `nodusctl plugin list`, the `plugin.list` method and the admin
//! API's inventory are all this inventory (or, for nodus, the control socket's answer it is
//! built from).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::method::Check;

/// The longest plugin or instance name.
pub const NAME_MAX: usize = 64;
/// The longest version string.
pub const VERSION_MAX: usize = 64;
/// The longest download URL.
pub const URL_MAX: usize = 512;
/// The most options one `plugin.configure` may set.
pub const OPTIONS_MAX: usize = 64;
/// What an inventory may hold per agent (plugins, instances per plugin, skipped files): a
/// longer report is cut and the cut counted, so one broken host cannot flood the server.
pub const INVENTORY_ITEMS_MAX: usize = 256;

/// The agent of a host a plugin belongs to: its `.so` lives under `/usr/lib/cargo/<agent>/`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PluginAgent {
    /// Info plugins, answering `getinfo.<name>`.
    Gearman,
    /// Read and write plugins of the metrics agent, managed by gearman over nodus's control
    /// socket.
    Nodus,
}

impl PluginAgent {
    /// `gearman` or `nodus`.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginAgent::Gearman => "gearman",
            PluginAgent::Nodus => "nodus",
        }
    }
}

impl std::fmt::Display for PluginAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `plugin.install` and `plugin.upgrade`: a plugin release to put on the host.
///
/// The agent downloads `url`, checks `checksum` (and the release signature at
/// `<url>.minisig` when the agent has a release key), writes it under a temporary name beside
/// the installed plugins, loads it there (a new path: a loaded library is never unloaded, and
/// loading a changed file at a path already loaded would return the old one), checks that
/// every instance's `init` succeeds and a first read or info call answers, and only then
/// renames it to `<name>.so` and retires the previous version. Anything short of that leaves
/// the previous version running and fails with the reason.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PluginRelease {
    /// Which agent loads it.
    pub agent: PluginAgent,
    /// The plugin's name (`[a-z0-9_-]`, at most 64): it installs as `<name>.so`.
    pub name: String,
    /// The release's version (at most 64); the library must report this version.
    pub version: String,
    /// Where to download the `.so` (http, https or ftp; at most 512).
    pub url: String,
    /// `SHA256:<64 hex digits>` of the file.
    pub checksum: String,
}

/// `plugin.remove`, `plugin.start`, `plugin.stop`: a plugin, or one instance of it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PluginTarget {
    /// Which agent runs it.
    pub agent: PluginAgent,
    /// The plugin's name.
    pub name: String,
    /// One instance (`primary` of `http/primary`); every instance when absent. Not for
    /// `plugin.remove`, which removes the plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// `plugin.configure`: new options for one instance of a plugin (checked against the
/// plugin's schema, tried as a new instance, swapped in only when its `init` succeeds, and
/// kept across restarts of the agent).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PluginConfigure {
    /// Which agent runs it.
    pub agent: PluginAgent,
    /// The plugin's name.
    pub name: String,
    /// The instance to change (`primary` of `http/primary`); the plugin's only instance when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The instance's whole option set, by the schema's option names (a string, number or
    /// boolean each, or an array of them for a repeated option).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub options: Map<String, Value>,
}

impl Check for PluginRelease {
    fn check(&self) -> Result<(), String> {
        plugin_name("name", &self.name)?;
        if self.version.trim().is_empty() || self.version.len() > VERSION_MAX {
            return Err(format!(
                "`version` is required and at most {VERSION_MAX} characters"
            ));
        }
        if self.version.chars().any(|c| c.is_control() || c == '/') {
            return Err("`version` must not hold `/` or control characters".into());
        }
        let scheme_ok = ["http://", "https://", "ftp://"]
            .iter()
            .any(|s| self.url.starts_with(s));
        if !scheme_ok || self.url.len() > URL_MAX {
            return Err(format!(
                "`url` must be an http, https or ftp URL of at most {URL_MAX} characters"
            ));
        }
        checksum(&self.checksum)
    }
}

impl Check for PluginTarget {
    fn check(&self) -> Result<(), String> {
        plugin_name("name", &self.name)?;
        if let Some(instance) = &self.instance {
            plugin_name("instance", instance)?;
        }
        Ok(())
    }
}

impl Check for PluginConfigure {
    fn check(&self) -> Result<(), String> {
        plugin_name("name", &self.name)?;
        if let Some(instance) = &self.instance {
            plugin_name("instance", instance)?;
        }
        if self.options.len() > OPTIONS_MAX {
            return Err(format!("`options` holds more than {OPTIONS_MAX} options"));
        }
        for (key, value) in &self.options {
            if key.is_empty() || key.len() > NAME_MAX {
                return Err(format!(
                    "`options`: an option name must be 1 to {NAME_MAX} characters"
                ));
            }
            let scalar =
                |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
            let ok = match value {
                Value::Array(items) => items.iter().all(scalar),
                other => scalar(other),
            };
            if !ok {
                return Err(format!(
                    "`options`: `{key}` must be a string, number or boolean, or an array of them"
                ));
            }
        }
        Ok(())
    }
}

/// A plugin or instance name: 1 to 64 of `a-z`, `0-9`, `_`, `-`, not starting with `-`
/// (it becomes a file name; no `/`, no `.`, no upper case to keep one spelling).
pub fn plugin_name(field: &str, value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= NAME_MAX
        && !value.starts_with('-')
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{field}` must be 1 to {NAME_MAX} of a-z, 0-9, `_` and `-`, not starting with `-`"
        ))
    }
}

/// `SHA256:` and 64 hex digits.
fn checksum(value: &str) -> Result<(), String> {
    let hex = value
        .strip_prefix("SHA256:")
        .or_else(|| value.strip_prefix("sha256:"));
    match hex {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(()),
        _ => Err("`checksum` must be `SHA256:` and 64 hex digits".into()),
    }
}

/// Everything one host's gearman knows about plugins: its own and its nodus's.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PluginInventory {
    /// One entry per agent of the host that loads plugins.
    pub agents: Vec<AgentPlugins>,
}

/// One agent's plugins.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentPlugins {
    /// Which agent.
    pub agent: PluginAgent,
    /// Why the agent could not be asked (nodus not running, its socket refused), when it
    /// could not; `plugins` and `skipped` are then empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The plugins loaded.
    #[serde(default)]
    pub plugins: Vec<PluginReport>,
    /// Every plugin file not loaded, with the reason.
    #[serde(default)]
    pub skipped: Vec<SkippedFile>,
    /// Items left out because the report passed [`INVENTORY_ITEMS_MAX`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cut: u64,
}

/// One loaded plugin.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PluginReport {
    /// The plugin's name.
    pub name: String,
    /// The version the plugin reports.
    pub version: String,
    /// The plugin-api version it was built against, e.g. `2.0.0`.
    pub abi: String,
    /// `read`, `write`, `info`.
    pub roles: Vec<String>,
    /// The file it was loaded from, as installed (`/usr/lib/cargo/nodus/cpu.so`).
    pub file: String,
    /// `SHA256:<hex>` of that file when it was loaded.
    pub digest: String,
    /// Its instances with their state and options.
    pub instances: Vec<InstanceReport>,
    /// The options it accepts (its schema: name, type, default, one line of doc), so an
    /// instance's `options` can be read, and set with `plugin.configure`, without the `.so`.
    /// A `secret` option's default is shown as `"***"` too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub schema: Vec<crate::control::OptionDoc>,
}

/// One instance of a plugin.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceReport {
    /// `http/primary`, or the plugin's name when it runs once.
    pub name: String,
    /// Its state.
    pub state: InstanceState,
    /// Why it is failing or penalised, or why it stopped (its last error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The options it runs with, by name; secret options (schema type `secret`) are shown
    /// as `"***"`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub options: Map<String, Value>,
}

/// What an instance is doing.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum InstanceState {
    /// Called on schedule, last call succeeded.
    #[default]
    Running,
    /// Stopped on purpose (`nodusctl plugin stop`, `plugin.stop`).
    Stopped,
    /// Its last call failed (or `init` did).
    Failing,
    /// Failing long enough that its interval is stretched (collectd's back-off).
    Penalised,
}

/// A plugin file that was not loaded.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkippedFile {
    /// The file.
    pub file: String,
    /// Why (one line: a plugin-api 1.x library, a bad ELF file, a failed `init`, ...).
    pub reason: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl AgentPlugins {
    /// Cuts `plugins`, each plugin's `instances` and `skipped` to
    /// [`INVENTORY_ITEMS_MAX`], counting what went in `cut`.
    pub fn bounded(mut self) -> AgentPlugins {
        let mut cut = 0u64;
        let mut keep = |len: usize| {
            let over = len.saturating_sub(INVENTORY_ITEMS_MAX);
            cut += over as u64;
            len - over
        };
        let n = keep(self.plugins.len());
        self.plugins.truncate(n);
        for plugin in &mut self.plugins {
            let n = keep(plugin.instances.len());
            plugin.instances.truncate(n);
        }
        let n = keep(self.skipped.len());
        self.skipped.truncate(n);
        self.cut += cut;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::Command;

    #[test]
    fn plugin_methods_parse_strictly() {
        let install = serde_json::json!({"method": "plugin.install", "agent": "nodus",
            "name": "hello", "version": "1.0.0", "url": "https://p:8080/plugins/hello-1.0.0.so",
            "checksum": format!("SHA256:{}", "a".repeat(64))});
        let command: Command = serde_json::from_value(install.clone()).unwrap();
        assert!(matches!(&command, Command::PluginInstall(r) if r.agent == PluginAgent::Nodus));
        assert_eq!(serde_json::to_value(&command).unwrap(), install);
        for (bad, field) in [
            (serde_json::json!({"name": "../etc"}), "name"),
            (serde_json::json!({"name": "Hello"}), "name"),
            (serde_json::json!({"url": "file:///etc/passwd"}), "url"),
            (serde_json::json!({"checksum": "SHA256:00"}), "checksum"),
            (serde_json::json!({"agent": "bootagent"}), "agent"),
            (serde_json::json!({"extra": 1}), "extra"),
        ] {
            let mut fields = install.as_object().unwrap().clone();
            for (k, v) in bad.as_object().unwrap() {
                fields.insert(k.clone(), v.clone());
            }
            let error = Command::from_map(fields).unwrap_err();
            assert_eq!(error.retcode(), crate::retcode::INVALID_PARAMS, "{bad}");
            assert!(error.to_string().contains(field), "{error} names {field}");
        }
        let configure: Command = serde_json::from_value(serde_json::json!({
            "method": "plugin.configure", "agent": "nodus", "name": "http",
            "instance": "primary", "options": {"URL": "http://a", "Header": ["A: b"]}}))
        .unwrap();
        assert_eq!(configure.method(), "plugin.configure");
        let nested = serde_json::json!({"method": "plugin.configure", "agent": "nodus",
            "name": "http", "options": {"URL": {"deep": 1}}});
        assert!(serde_json::from_value::<Command>(nested).is_err());
    }

    #[test]
    fn a_long_inventory_is_cut_and_the_cut_counted() {
        let agent = AgentPlugins {
            agent: PluginAgent::Nodus,
            error: None,
            plugins: vec![PluginReport::default(); INVENTORY_ITEMS_MAX + 3],
            skipped: vec![SkippedFile::default(); INVENTORY_ITEMS_MAX + 1],
            cut: 0,
        }
        .bounded();
        assert_eq!(agent.plugins.len(), INVENTORY_ITEMS_MAX);
        assert_eq!(agent.skipped.len(), INVENTORY_ITEMS_MAX);
        assert_eq!(agent.cut, 4);
    }
}
