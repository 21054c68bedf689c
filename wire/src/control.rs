//! The control protocol between `nodusctl` and a running `nodus`, over its unix socket.
//!
//! One request per connection: the client writes one JSON line, the agent answers one JSON
//! line and closes. `NODUS_TRACE=1 nodusctl ...` prints both lines to stderr.

use serde::{Deserialize, Serialize};

/// What `nodusctl` asks of the agent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    /// Every plugin with its state and counters.
    PluginList,
    /// Initialise a stopped plugin again and resume it.
    PluginStart {
        /// Plugin name.
        name: String,
    },
    /// Pause a plugin: shut it down, stop reading from (or writing to) it.
    PluginStop {
        /// Plugin name.
        name: String,
    },
    /// Take a plugin out of the running agent.
    PluginRemove {
        /// Plugin name.
        name: String,
    },
    /// Load a new `.so` into the running agent and start it.
    PluginLoad {
        /// Path of the file, as the agent sees it.
        path: String,
    },
    /// Install or replace, checked (gearman's `plugin.install` / `plugin.upgrade`): load the
    /// library at `path` (a temporary name beside the installed plugins: a new path, so a
    /// changed file is really loaded), start each of its plugins' instances (for a plugin
    /// already running: the same instances with the same options; else the configured ones,
    /// or one instance without options), check that every `init` succeeds and a first read
    /// answers, then retire the old instances and record the file as `installed_as`. On any
    /// failure the new instances are dropped, the old ones keep running untouched, and the
    /// answer says why. The caller renames `path` to `installed_as` after an `ok` answer.
    PluginInstall {
        /// The staged file.
        path: String,
        /// The file name it is installed under (`<dir>/<name>.so`), as listings show it.
        installed_as: String,
        /// The version every plugin of the library must report (the release's); a library
        /// reporting another is refused like one whose `init` fails. Unchecked when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
    },
    /// New options for one instance (gearman's `plugin.configure`): checked against the
    /// schema, a new instance made and checked like [`Request::PluginInstall`], swapped in
    /// only when it answers, and kept across restarts of nodus.
    InstanceConfigure {
        /// The plugin's name.
        plugin: String,
        /// The instance (`primary` of `http/primary`); the plugin's only one when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        /// The instance's whole option set.
        options: serde_json::Map<String, serde_json::Value>,
    },
}

/// The agent's answer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Response {
    /// Whether the request was carried out.
    pub ok: bool,
    /// Why not, when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The plugins concerned (all of them for `plugin_list`).
    #[serde(default)]
    pub plugins: Vec<PluginStatus>,
    /// `plugin_list`: every plugin file or configured plugin not loaded, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<crate::plugins::SkippedFile>,
}

impl Response {
    /// A successful answer about `plugins`.
    pub fn ok(plugins: Vec<PluginStatus>) -> Self {
        Response {
            ok: true,
            error: None,
            plugins,
            skipped: Vec::new(),
        }
    }

    /// A refusal with a reason.
    pub fn error(message: impl Into<String>) -> Self {
        Response {
            ok: false,
            error: Some(message.into()),
            plugins: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

/// One plugin as `nodusctl plugin list` shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct PluginStatus {
    /// Instance name: `http/primary`, or the plugin's name when it runs once.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// Its roles: `read`, `write`, `info`.
    pub roles: Vec<String>,
    /// `running`, `stopped`, `loaded`, `failing` (its last call failed) or `penalised`
    /// (failing long enough that its interval is stretched).
    pub state: String,
    /// The file it was loaded from.
    pub file: String,
    /// The plugin-api version the library was built against (`2.1.0`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub abi: String,
    /// `SHA256:<hex>` of the file when it was loaded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
    /// The options this instance runs with, secret ones shown as `"***"`.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub configured: serde_json::Map<String, serde_json::Value>,
    /// The plugin this is an instance of (`http` for `http/primary`); `name` is the instance.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub plugin: String,
    /// The options the plugin accepts: its schema (plugin-api 2.0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<OptionDoc>,
    /// Read plugins: the configured interval in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_interval: Option<f64>,
    /// Read plugins: the interval in force, longer than `base_interval` while penalised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<f64>,
    /// Read plugins: Unix time of the last completed read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read: Option<f64>,
    /// Read plugins: how long the last read took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read_ms: Option<f64>,
    /// Reads (or writes) done.
    pub calls: u64,
    /// Reads (or writes) that failed, timed out or panicked.
    pub errors: u64,
    /// Value lists read (read plugins) or written (write plugins).
    pub values: u64,
    /// Write plugins: the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueStatus>,
    /// The last error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// One option of a plugin's schema.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct OptionDoc {
    /// The option's name.
    pub name: String,
    /// Its type: `string`, `boolean`, `integer`, `float`, `seconds` or `choice`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether it must be given.
    pub required: bool,
    /// Whether it may be given several times.
    pub repeated: bool,
    /// The value used when it is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// For `choice`: the accepted values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// One line: what it means.
    pub doc: String,
}

/// A write plugin's queue.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct QueueStatus {
    /// Value lists waiting.
    pub len: usize,
    /// Value lists dropped because the queue passed its high watermark.
    pub dropped: u64,
    /// The high watermark.
    pub high: usize,
    /// The low watermark.
    pub low: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json() {
        let text = serde_json::to_string(&Request::PluginStop { name: "cpu".into() }).unwrap();
        assert_eq!(text, r#"{"command":"plugin_stop","name":"cpu"}"#);
        let back: Request = serde_json::from_str(r#"{"command":"plugin_list"}"#).unwrap();
        assert_eq!(back, Request::PluginList);
        assert!(serde_json::from_str::<Request>(r#"{"command":"reboot"}"#).is_err());
        // `version` of plugin_install may be left out (added after the first issue-14 draft).
        let install: Request = serde_json::from_str(
            r#"{"command":"plugin_install","path":"/d/.x.so.new","installed_as":"/d/x.so"}"#,
        )
        .unwrap();
        assert!(matches!(
            install,
            Request::PluginInstall { version: None, .. }
        ));
    }

    #[test]
    fn option_schema_is_listed_with_its_type_named_type() {
        let status = PluginStatus {
            name: "http/primary".into(),
            plugin: "http".into(),
            options: vec![OptionDoc {
                name: "Timeout".into(),
                kind: "seconds".into(),
                default: Some("5".into()),
                doc: "seconds before a post is abandoned".into(),
                ..OptionDoc::default()
            }],
            ..PluginStatus::default()
        };
        let text = serde_json::to_value(&status).unwrap();
        assert_eq!(text["plugin"], "http");
        assert_eq!(
            text["options"][0],
            serde_json::json!({"name": "Timeout", "type": "seconds", "required": false,
                "repeated": false, "default": "5", "doc": "seconds before a post is abandoned"})
        );
        let back: PluginStatus = serde_json::from_value(text).unwrap();
        assert_eq!(back, status);
        // An older agent's answer, without the new fields, still reads.
        let old: PluginStatus = serde_json::from_str(
            r#"{"name":"cpu","version":"1","roles":[],"state":"running","file":"f","calls":0,"errors":0,"values":0}"#,
        )
        .unwrap();
        assert!(old.plugin.is_empty() && old.options.is_empty());
    }
}
