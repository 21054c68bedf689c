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
}

impl Response {
    /// A successful answer about `plugins`.
    pub fn ok(plugins: Vec<PluginStatus>) -> Self {
        Response {
            ok: true,
            error: None,
            plugins,
        }
    }

    /// A refusal with a reason.
    pub fn error(message: impl Into<String>) -> Self {
        Response {
            ok: false,
            error: Some(message.into()),
            plugins: Vec::new(),
        }
    }
}

/// One plugin as `nodusctl plugin list` shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct PluginStatus {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// Its roles: `read`, `write`, `info`.
    pub roles: Vec<String>,
    /// `running`, `stopped` or `loaded`.
    pub state: String,
    /// The file it was loaded from.
    pub file: String,
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
    }
}
