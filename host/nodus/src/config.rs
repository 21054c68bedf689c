//! nodus's configuration file (TOML; default `/etc/cargo/nodus.conf`).
//!
//! Global settings mirror collectd's (`Interval`, `MaxReadInterval`, `TypesDB`, `PluginDir`,
//! `WriteQueueLimitHigh/Low`); each `[plugin.<name>]` table loads one plugin, like `LoadPlugin`
//! plus its `<Plugin>` block. Unknown keys are errors, so a typo fails `nodus -t`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/cargo/nodus.conf";
/// The default control socket.
pub const DEFAULT_SOCKET: &str = "/var/run/cargo/nodus.sock";
/// The installed types.db.
pub const INSTALLED_TYPES_DB: &str = "/usr/share/cargo/nodus/types.db";

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Host name stamped on every value; default: the system's host name.
    pub hostname: Option<String>,
    /// Default read interval in seconds (collectd `Interval`).
    #[serde(default = "default_interval")]
    pub interval: f64,
    /// Default read timeout in seconds: a read that takes longer is penalised. Default: the
    /// plugin's interval.
    pub timeout: Option<f64>,
    /// Longest interval a failing read is suspended for (collectd `MaxReadInterval`).
    #[serde(default = "default_max_read_interval")]
    pub max_read_interval: f64,
    /// Where the plugins are; default `NODUS_PLUGIN_DIR`, `/usr/lib/cargo/nodus`, or beside the
    /// executable.
    pub plugin_dir: Option<PathBuf>,
    /// types.db files, later ones overriding earlier; default the installed one, or the
    /// repository's for a development build.
    #[serde(default)]
    pub types_db: Vec<PathBuf>,
    /// The control socket for `nodusctl`.
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
    /// A group (name or gid) whose members may use the control socket besides root and
    /// nodus's own user; the socket is then mode 0660 and of that group (else 0600).
    pub socket_group: Option<String>,
    /// Log level: error, warn, info, debug (debug shows every read-function call).
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// Queue length (value lists) at which a write plugin's queue drops its oldest values.
    #[serde(default = "default_queue_high")]
    pub write_queue_limit_high: usize,
    /// Queue length the dropping brings it down to.
    #[serde(default = "default_queue_low")]
    pub write_queue_limit_low: usize,
    /// Most value lists handed to one `write` call.
    #[serde(default = "default_write_batch")]
    pub write_batch: usize,
    /// Longest wait, in seconds, between retries of a failing write (back-off doubles up to it).
    #[serde(default = "default_write_retry_max")]
    pub write_retry_max: f64,
    /// The plugins to load, by name.
    #[serde(default)]
    pub plugin: BTreeMap<String, PluginConfig>,
}

/// One `[plugin.<name>]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Read interval for this plugin, overriding the global one.
    pub interval: Option<f64>,
    /// Read timeout for this plugin, overriding the global one.
    pub timeout: Option<f64>,
    /// The plugin's own options (collectd's `<Plugin>` block); an array repeats the key.
    #[serde(default)]
    pub options: BTreeMap<String, toml::Value>,
}

fn default_interval() -> f64 {
    10.0
}
fn default_max_read_interval() -> f64 {
    86400.0
}
fn default_socket() -> PathBuf {
    PathBuf::from(DEFAULT_SOCKET)
}
fn default_log_level() -> String {
    "info".into()
}
fn default_queue_high() -> usize {
    100_000
}
fn default_queue_low() -> usize {
    80_000
}
fn default_write_batch() -> usize {
    500
}
fn default_write_retry_max() -> f64 {
    10.0
}

/// A configuration error, with the file it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax or an unknown / mistyped key.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value that parses but makes no sense.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Reads and checks the configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text)
            .map_err(|message| ConfigError::Syntax {
                path: path.to_path_buf(),
                message,
            })?
            .validated()
            .map_err(|message| ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
            })
    }

    /// Parses configuration text (no checks beyond the schema).
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', " "))
    }

    fn validated(self) -> Result<Config, String> {
        let positive = |what: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{what} must be > 0, not {v}"))
            }
        };
        positive("interval", self.interval)?;
        positive("max_read_interval", self.max_read_interval)?;
        positive("write_retry_max", self.write_retry_max)?;
        if let Some(t) = self.timeout {
            positive("timeout", t)?;
        }
        for (name, plugin) in &self.plugin {
            if let Some(v) = plugin.interval {
                positive(&format!("plugin.{name}.interval"), v)?;
            }
            if let Some(v) = plugin.timeout {
                positive(&format!("plugin.{name}.timeout"), v)?;
            }
            for (key, value) in &plugin.options {
                option_strings(value).map_err(|e| format!("plugin.{name}.options.{key}: {e}"))?;
            }
        }
        if self.write_queue_limit_low > self.write_queue_limit_high
            || self.write_queue_limit_high == 0
        {
            return Err(format!(
                "write_queue_limit_low ({}) must be <= write_queue_limit_high ({}), and high > 0",
                self.write_queue_limit_low, self.write_queue_limit_high
            ));
        }
        if self.write_batch == 0 || self.write_batch > self.write_queue_limit_low.max(1) {
            return Err(format!(
                "write_batch ({}) must be between 1 and write_queue_limit_low ({})",
                self.write_batch, self.write_queue_limit_low
            ));
        }
        Ok(self)
    }

    /// The read interval of `plugin`.
    pub fn interval_of(&self, plugin: &str) -> f64 {
        self.plugin
            .get(plugin)
            .and_then(|p| p.interval)
            .unwrap_or(self.interval)
    }

    /// The read timeout of `plugin` (default: its interval).
    pub fn timeout_of(&self, plugin: &str) -> f64 {
        self.plugin
            .get(plugin)
            .and_then(|p| p.timeout)
            .or(self.timeout)
            .unwrap_or_else(|| self.interval_of(plugin))
    }

    /// The options of `plugin` as `(key, value)` strings, arrays expanded into repeated keys.
    pub fn options_of(&self, plugin: &str) -> Vec<(String, String)> {
        let Some(config) = self.plugin.get(plugin) else {
            return Vec::new();
        };
        config
            .options
            .iter()
            .flat_map(|(key, value)| {
                option_strings(value)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|v| (key.clone(), v))
            })
            .collect()
    }

    /// The types.db files to load: configured, installed, or the repository's beside a
    /// development build (`target/<profile>/nodus` → `types.db` two levels up).
    pub fn types_db_paths(&self) -> Vec<PathBuf> {
        if !self.types_db.is_empty() {
            return self.types_db.clone();
        }
        let installed = PathBuf::from(INSTALLED_TYPES_DB);
        if installed.exists() {
            return vec![installed];
        }
        let from_build = std::env::current_exe().ok().and_then(|exe| {
            exe.ancestors()
                .skip(1)
                .map(|d| d.join("types.db"))
                .take(3)
                .find(|p| p.exists())
        });
        vec![from_build.unwrap_or(installed)]
    }
}

/// A TOML option value as strings: scalars once, arrays once per element.
fn option_strings(value: &toml::Value) -> Result<Vec<String>, String> {
    match value {
        toml::Value::Array(items) => items.iter().map(option_scalar).collect(),
        other => option_scalar(other).map(|s| vec![s]),
    }
}

/// One scalar option value as a string; arrays inside arrays (`[[]]`, `[[1]]`) are refused.
fn option_scalar(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Array(_) => Err("an array inside an array is not an option value".into()),
        other => Err(format!("a {} is not an option value", other.type_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_globals_plugins_and_options() {
        let config = Config::parse(
            r#"
            interval = 5
            [plugin.load]
            [plugin.cpu]
            interval = 2
            timeout = 1
            [plugin.cpu.options]
            ValuesPercentage = true
            [plugin.interface.options]
            Interface = ["eth0", "lo"]
            "#,
        )
        .unwrap()
        .validated()
        .unwrap();
        assert_eq!(config.interval_of("load"), 5.0);
        assert_eq!(config.timeout_of("load"), 5.0);
        assert_eq!(config.interval_of("cpu"), 2.0);
        assert_eq!(config.timeout_of("cpu"), 1.0);
        assert_eq!(
            config.options_of("cpu"),
            [("ValuesPercentage".to_string(), "true".to_string())]
        );
        assert_eq!(config.options_of("interface").len(), 2);
        assert_eq!(config.write_queue_limit_high, 100_000);
    }

    #[test]
    fn rejects_typos_bad_values_and_syntax() {
        assert!(
            Config::parse("intervall = 5")
                .unwrap_err()
                .contains("intervall")
        );
        assert!(Config::parse("interval = ").is_err());
        assert!(Config::parse("interval = 0").unwrap().validated().is_err());
        let bad_queue = "write_queue_limit_high = 10\nwrite_queue_limit_low = 20";
        assert!(Config::parse(bad_queue).unwrap().validated().is_err());
        let nested = "[plugin.cpu.options]\nX = { a = 1 }";
        assert!(Config::parse(nested).unwrap().validated().is_err());
    }

    /// Seen while writing fuzz/'s nodus_config target, which reproduces it: an empty array
    /// inside an option array panicked (`remove(0)` on an empty list) instead of being
    /// refused, in `nodus -t` too.
    #[test]
    fn refuses_arrays_inside_option_arrays() {
        for text in [
            "[plugin.x.options]\nk = [[]]",
            "[plugin.x.options]\nk = [\"a\", [1, 2]]",
        ] {
            let error = Config::parse(text).unwrap().validated().unwrap_err();
            assert!(error.contains("plugin.x.options.k"), "{error}");
            assert!(error.contains("array inside an array"), "{error}");
        }
        let fine = "[plugin.x.options]\nk = [\"a\", 1, true, 1.5]";
        let config = Config::parse(fine).unwrap().validated().unwrap();
        assert_eq!(config.options_of("x").len(), 4);
    }
}
