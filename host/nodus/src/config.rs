//! nodus's configuration file (TOML; default `/etc/cargo/nodus.conf`).
//!
//! Global settings mirror collectd's (`Interval`, `MaxReadInterval`, `TypesDB`, `PluginDir`,
//! `WriteQueueLimitHigh/Low`); each `[plugin.<name>]` table runs one instance of a plugin, like
//! `LoadPlugin` plus its `<Plugin>` block, and `[[plugin.<name>]]` tables with an `instance`
//! name run several (`http/primary`, `http/backup`). Unknown keys are errors, so a typo fails
//! `nodus -t`; the plugin's own options are checked against its schema by `plugins`. What was
//! changed through the control socket (`managed`) is applied on top with [`Config::apply`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/cargo/nodus.conf";
/// The default control socket.
pub const DEFAULT_SOCKET: &str = "/var/run/cargo/nodus.sock";
/// The installed types.db.
pub const INSTALLED_TYPES_DB: &str = "/usr/share/cargo/nodus/types.db";
/// The default folder of nodus's own state (`managed.json`).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/cargo/nodus/state";

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
    /// Where nodus keeps what was changed through the control socket (`managed.json`: plugins
    /// installed and instance options set, secrets included), folder 0700, file 0600.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
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
    /// The plugins to run, by plugin name: one table, or an array of tables for instances.
    #[serde(default)]
    pub plugin: BTreeMap<String, PluginEntries>,
    /// The plugins in `plugin` that only `managed.json` names (installed through the control
    /// socket); filled in by [`Config::apply`].
    #[serde(skip)]
    pub managed_plugins: std::collections::BTreeSet<String>,
}

/// What `plugin.<name>` holds: one `[plugin.<name>]` table or several `[[plugin.<name>]]`.
#[derive(Debug, Clone)]
pub enum PluginEntries {
    /// `[plugin.<name>]`: one instance.
    One(PluginConfig),
    /// `[[plugin.<name>]]`: one instance per table, each with its `instance` name.
    Many(Vec<PluginConfig>),
}

impl<'de> Deserialize<'de> for PluginEntries {
    /// A table or an array of tables, each with the table's own error messages (an untagged
    /// enum would say only "did not match any variant").
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match toml::Value::deserialize(d)? {
            toml::Value::Array(items) => items
                .into_iter()
                .map(|v| PluginConfig::deserialize(v).map_err(D::Error::custom))
                .collect::<Result<_, _>>()
                .map(PluginEntries::Many),
            other => PluginConfig::deserialize(other)
                .map(PluginEntries::One)
                .map_err(D::Error::custom),
        }
    }
}

/// One configured instance: its id (`http/primary`, or `cpu` when it has no instance name),
/// the plugin it runs and its table.
#[derive(Debug, Clone, Copy)]
pub struct InstanceConfig<'a> {
    /// `<plugin>/<instance>`, or the plugin name alone.
    pub id: &'a str,
    /// The plugin's name.
    pub plugin: &'a str,
    /// Its settings.
    pub settings: &'a PluginConfig,
}

/// One `[plugin.<name>]` (or `[[plugin.<name>]]`) table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The instance name (`primary` makes `http/primary`); needed to run a plugin twice.
    pub instance: Option<String>,
    /// `<plugin>/<instance>` or `<plugin>`; filled in by `Config::parse`.
    #[serde(skip)]
    pub id: String,
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
fn default_state_dir() -> PathBuf {
    PathBuf::from(DEFAULT_STATE_DIR)
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
        let mut config: Config =
            toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', " "))?;
        for (name, entries) in &mut config.plugin {
            let tables: Vec<&mut PluginConfig> = match entries {
                PluginEntries::One(one) => vec![one],
                PluginEntries::Many(many) => many.iter_mut().collect(),
            };
            for table in tables {
                table.id = match &table.instance {
                    Some(instance) => format!("{name}/{instance}"),
                    None => name.clone(),
                };
            }
        }
        Ok(config)
    }

    /// Every configured instance, by plugin name then in file order.
    pub fn instances(&self) -> Vec<InstanceConfig<'_>> {
        let mut all = Vec::new();
        for (name, entries) in &self.plugin {
            let tables: Vec<&PluginConfig> = match entries {
                PluginEntries::One(one) => vec![one],
                PluginEntries::Many(many) => many.iter().collect(),
            };
            all.extend(tables.into_iter().map(|settings| InstanceConfig {
                id: &settings.id,
                plugin: name,
                settings,
            }));
        }
        all
    }

    /// The names of the configured plugins (each once).
    pub fn plugin_names(&self) -> Vec<String> {
        self.plugin.keys().cloned().collect()
    }

    fn settings(&self, id: &str) -> Option<&PluginConfig> {
        self.instances()
            .into_iter()
            .find(|i| i.id == id)
            .map(|i| i.settings)
    }

    fn settings_mut(&mut self, id: &str) -> Option<&mut PluginConfig> {
        self.plugin
            .values_mut()
            .flat_map(|entries| match entries {
                PluginEntries::One(one) => std::slice::from_mut(one).iter_mut(),
                PluginEntries::Many(many) => many.iter_mut(),
            })
            .find(|settings| settings.id == id)
    }

    /// Whether the configuration file itself names plugin `name` (not only `managed.json`).
    pub fn names_in_file(&self, name: &str) -> bool {
        self.plugin.contains_key(name) && !self.managed_plugins.contains(name)
    }

    /// Applies what was changed through the control socket: each plugin installed there and
    /// not named in the file runs as one instance named after it (`[plugin.<name>]`), and the
    /// options set for an instance replace the file's options of that instance. Returns a note
    /// for every entry that matches no instance (it is ignored).
    pub fn apply(&mut self, managed: &crate::managed::Managed) -> Vec<String> {
        for name in &managed.plugins {
            if !self.plugin.contains_key(name) {
                let settings = PluginConfig {
                    id: name.clone(),
                    ..PluginConfig::default()
                };
                self.plugin
                    .insert(name.clone(), PluginEntries::One(settings));
                self.managed_plugins.insert(name.clone());
            }
        }
        let mut notes = Vec::new();
        for (id, options) in &managed.options {
            match self.settings_mut(id) {
                Some(settings) => settings.options = crate::managed::toml_options(options),
                None => notes.push(format!(
                    "options set for instance `{id}` through the control socket are ignored: \
                     no such instance is configured"
                )),
            }
        }
        notes
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
        let mut seen = std::collections::BTreeSet::new();
        for instance in self.instances() {
            let (name, plugin) = (instance.id, instance.settings);
            if let Some(given) = &plugin.instance {
                let valid = !given.is_empty()
                    && given
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
                if !valid {
                    return Err(format!(
                        "plugin.{}: instance name `{given}` must be made of [A-Za-z0-9_.-]",
                        instance.plugin
                    ));
                }
            }
            if !seen.insert(name) {
                return Err(format!(
                    "plugin `{name}` is configured twice; give each [[plugin.{}]] its own `instance` name",
                    instance.plugin
                ));
            }
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

    /// The read interval of instance `id`.
    pub fn interval_of(&self, id: &str) -> f64 {
        self.settings(id)
            .and_then(|p| p.interval)
            .unwrap_or(self.interval)
    }

    /// The read timeout of instance `id` (default: its interval).
    pub fn timeout_of(&self, id: &str) -> f64 {
        self.settings(id)
            .and_then(|p| p.timeout)
            .or(self.timeout)
            .unwrap_or_else(|| self.interval_of(id))
    }

    /// The options of instance `id` as `(key, value)` strings, arrays expanded into repeated
    /// keys.
    pub fn options_of(&self, id: &str) -> Vec<(String, String)> {
        let Some(config) = self.settings(id) else {
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
    fn parses_instances_of_one_plugin() {
        let config = Config::parse(
            r#"
            [plugin.cpu]
            [[plugin.http]]
            instance = "primary"
            [plugin.http.options]
            URL = "http://a/"
            [[plugin.http]]
            instance = "backup"
            interval = 3
            [plugin.http.options]
            URL = "http://b/"
            "#,
        )
        .unwrap()
        .validated()
        .unwrap();
        let ids: Vec<&str> = config.instances().iter().map(|i| i.id).collect();
        assert_eq!(ids, ["cpu", "http/primary", "http/backup"]);
        assert_eq!(config.plugin_names(), ["cpu", "http"]);
        assert_eq!(
            config.options_of("http/backup"),
            [("URL".to_string(), "http://b/".to_string())]
        );
        assert_eq!(config.interval_of("http/backup"), 3.0);
        assert_eq!(config.interval_of("http/primary"), 10.0);
        let twice = "[[plugin.csv]]\n[[plugin.csv]]";
        let error = Config::parse(twice).unwrap().validated().unwrap_err();
        assert!(error.contains("`csv` is configured twice"), "{error}");
        let bad = "[[plugin.csv]]\ninstance = \"a/b\"";
        assert!(Config::parse(bad).unwrap().validated().is_err());
        let typo = "[[plugin.csv]]\ninstanse = \"a\"";
        assert!(Config::parse(typo).unwrap_err().contains("instanse"));
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
