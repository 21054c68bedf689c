//! secureagent's configuration file (TOML; default `/etc/cargo/secureagent.conf`): the rules
//! file (AIDE's syntax, see [`crate::rules`]), the baseline database, the root prefix
//! (AIDE's `root_prefix`), the number of workers and the log level; the daemon's `schedule`
//! and a run's manners (`nice`, `io_class`, `max_read_mib_s`); where reports go (`polaris`,
//! `ca`, `cert`, `key`, `timeout_s`, as logagent's); the trees the daemon also watches in
//! real time (`realtime`, `realtime_mode`, `realtime_max_watches`). Unknown keys are errors.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::gentle::IoClass;
use crate::rules::{self, RuleWarning, Rules};
use crate::schedule::When;

/// The default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/cargo/secureagent.conf";
/// Most workers.
pub const MAX_WORKERS: usize = 256;
/// The highest read cap in MiB/s (above it, use 0: no cap).
pub const MAX_READ_MIB_S: u64 = 1 << 20;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The rules file, in AIDE's syntax (a relative path is relative to the configuration
    /// file's folder).
    #[serde(default = "default_rules")]
    pub rules: PathBuf,
    /// The baseline database; beside it `<database>.sha256` (its digest) and `<database>.lock`.
    /// Its folder is made 0700, the files 0600.
    #[serde(default = "default_database")]
    pub database: PathBuf,
    /// The real folder that is `/` for the rules (AIDE's `root_prefix`).
    #[serde(default = "default_root_prefix")]
    pub root_prefix: PathBuf,
    /// Threads that walk and hash (0: one per CPU).
    #[serde(default)]
    pub workers: usize,
    /// Log level: error, warn, info, debug.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// When the daemon checks: `every <N><s|m|h|d>` or a cron line (see [`When`]).
    #[serde(default = "default_schedule")]
    pub schedule: String,
    /// The CPU priority of a run (`nice`, 0 to 19); a process already nicer keeps its own.
    #[serde(default = "default_nice")]
    pub nice: i32,
    /// The I/O class of a run: `idle` or `best-effort` (its lowest level).
    #[serde(default)]
    pub io_class: IoClass,
    /// The whole run's file reads in MiB per second (0: no cap).
    #[serde(default)]
    pub max_read_mib_s: u64,
    /// Polaris's base URL (`https://polaris.example:8443`); each run's report goes to
    /// `<polaris>/api/v1/integrity/reports`. Empty: no reporting.
    #[serde(default)]
    pub polaris: String,
    /// The CA that signed Polaris's certificate.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// The host's certificate (the BootAgent enrolls it).
    #[serde(default = "default_cert")]
    pub cert: PathBuf,
    /// The host's key.
    #[serde(default = "default_key")]
    pub key: PathBuf,
    /// Seconds to connect to Polaris and to wait for its answer.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u64,
    /// Trees (as the rules name them, under `root_prefix`) the daemon also watches in real
    /// time; each must be selected by the rules (see [`crate::realtime`]).
    #[serde(default)]
    pub realtime: Vec<String>,
    /// How they are watched: `auto` (fanotify when the agent may, else inotify), `inotify`
    /// or `fanotify`.
    #[serde(default)]
    pub realtime_mode: RealtimeMode,
    /// Most directories watched by inotify over all real-time trees; a tree that needs more
    /// (or hits the kernel's `fs.inotify.max_user_watches`) falls back to the scheduled check.
    #[serde(default = "default_realtime_max_watches")]
    pub realtime_max_watches: usize,
}

/// How the real-time trees are watched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RealtimeMode {
    /// fanotify when the process has CAP_SYS_ADMIN and the kernel reports directory events
    /// with file handles (`FAN_REPORT_DFID_NAME`, Linux 5.9); else inotify.
    #[default]
    Auto,
    /// inotify: one watch per directory.
    Inotify,
    /// fanotify on the whole file system of each tree; if the agent may not, an error is
    /// logged and inotify is used.
    Fanotify,
}

/// The default `realtime_max_watches`.
pub const DEFAULT_MAX_WATCHES: usize = 65_536;
/// The highest `realtime_max_watches`.
pub const MAX_WATCHES: usize = 4_194_304;
/// Most real-time trees.
pub const MAX_REALTIME_TREES: usize = 256;

fn default_realtime_max_watches() -> usize {
    DEFAULT_MAX_WATCHES
}

fn default_cert() -> PathBuf {
    "/var/lib/cargo/identity/host.pem".into()
}
fn default_key() -> PathBuf {
    "/var/lib/cargo/identity/host.key".into()
}
fn default_timeout_s() -> u64 {
    30
}

fn default_rules() -> PathBuf {
    "/etc/cargo/secureagent.rules".into()
}
fn default_database() -> PathBuf {
    "/var/lib/cargo/secureagent/baseline.db".into()
}
fn default_root_prefix() -> PathBuf {
    "/".into()
}
fn default_schedule() -> String {
    "every 6h".into()
}
fn default_nice() -> i32 {
    10
}
fn default_log_level() -> String {
    "info".into()
}

/// What is wrong with the configuration or the rules.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Rules {
        path: PathBuf,
        source: rules::RuleError,
    },
}

impl Config {
    /// Reads and checks the configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        // A relative rules file lies beside the configuration (a BootAgent package's layout).
        if config.rules.is_relative() {
            let dir = path.parent().unwrap_or(Path::new("."));
            config.rules = std::path::absolute(dir.join(&config.rules))
                .map_err(|e| invalid(format!("rules: {e}")))?;
        }
        if config.workers > MAX_WORKERS {
            return Err(invalid(format!(
                "workers = {} is over {MAX_WORKERS}",
                config.workers
            )));
        }
        if !(0..=19).contains(&config.nice) {
            return Err(invalid(format!(
                "nice = {} is not from 0 to 19",
                config.nice
            )));
        }
        if config.max_read_mib_s > MAX_READ_MIB_S {
            return Err(invalid(format!(
                "max_read_mib_s = {} is over {MAX_READ_MIB_S} (0 is no cap)",
                config.max_read_mib_s
            )));
        }
        When::parse(&config.schedule).map_err(invalid)?;
        if !config.database.is_absolute() || !config.root_prefix.is_absolute() {
            return Err(invalid(
                "database and root_prefix must be absolute paths".into(),
            ));
        }
        if !(config.polaris.is_empty()
            || config.polaris.starts_with("https://")
            || config.polaris.starts_with("http://"))
        {
            return Err(invalid(format!(
                "polaris `{}` is not an http(s) URL",
                config.polaris
            )));
        }
        if config.timeout_s == 0 || config.timeout_s > 3600 {
            return Err(invalid("timeout_s must be 1 to 3600".into()));
        }
        if config.realtime.len() > MAX_REALTIME_TREES {
            return Err(invalid(format!(
                "realtime names {} trees: at most {MAX_REALTIME_TREES}",
                config.realtime.len()
            )));
        }
        if let Some(bad) = config
            .realtime
            .iter()
            .find(|t| !t.starts_with('/') || t.contains('\0') || t.split('/').any(|c| c == ".."))
        {
            return Err(invalid(format!(
                "realtime tree `{bad}` must be an absolute path as the rules name it, without `..`"
            )));
        }
        if !(1..=MAX_WATCHES).contains(&config.realtime_max_watches) {
            return Err(invalid(format!(
                "realtime_max_watches must be 1 to {MAX_WATCHES}"
            )));
        }
        Ok(config)
    }

    /// The daemon's schedule (checked by [`Config::load`]).
    pub fn when(&self) -> Result<When, String> {
        When::parse(&self.schedule)
    }

    /// The number of workers to run (`workers`, or one per CPU).
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }

    /// Reads and parses the rules file.
    pub fn load_rules(&self) -> Result<(Rules, Vec<RuleWarning>), ConfigError> {
        let path = &self.rules;
        let meta = std::fs::metadata(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        if meta.len() > rules::MAX_RULES_BYTES as u64 {
            return Err(ConfigError::Invalid {
                path: path.clone(),
                message: format!("over {} bytes", rules::MAX_RULES_BYTES),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let (rules, warnings) = rules::parse(&text).map_err(|source| ConfigError::Rules {
            path: path.clone(),
            source,
        })?;
        if rules.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.clone(),
                message: "no selection line".into(),
            });
        }
        if let Some(tree) = self
            .realtime
            .iter()
            .find(|t| !crate::realtime::selected_tree(&rules, t))
        {
            return Err(ConfigError::Invalid {
                path: path.clone(),
                message: format!(
                    "realtime tree `{tree}` is not under a selection line of the rules (or an \
                     exclusion leaves it out): nothing there would be checked"
                ),
            });
        }
        Ok((rules, warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_configuration_and_rules_are_the_defaults_and_parse() {
        let dir = env!("CARGO_MANIFEST_DIR");
        let config = Config::load(&Path::new(dir).join("secureagent.conf")).unwrap();
        assert_eq!(config.rules, default_rules());
        assert_eq!(config.database, default_database());
        assert_eq!(config.root_prefix, default_root_prefix());
        assert_eq!(config.workers, 0);
        assert_eq!(config.schedule, default_schedule());
        assert!(matches!(config.when(), Ok(When::Every(d)) if d.as_secs() == 6 * 3600));
        assert_eq!(config.nice, 10);
        assert_eq!(config.io_class, IoClass::Idle);
        assert_eq!(config.max_read_mib_s, 0);
        assert!(config.worker_count() >= 1);
        let text = std::fs::read_to_string(Path::new(dir).join("secureagent.rules")).unwrap();
        let (rules, warnings) = rules::parse(&text).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(
            rules
                .select(b"/etc/passwd", rules::FileKind::File)
                .is_some()
        );
        assert!(rules.select(b"/etc/mtab", rules::FileKind::File).is_none());
        assert!(!rules.descend(b"/home"));
    }

    #[test]
    fn every_key_is_in_the_sample_configuration_and_the_readme() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let sample = std::fs::read_to_string(dir.join("secureagent.conf")).unwrap();
        let sample: toml::Table = toml::from_str(&sample).unwrap();
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        let keys = [
            "rules",
            "database",
            "root_prefix",
            "workers",
            "log_level",
            "schedule",
            "nice",
            "io_class",
            "max_read_mib_s",
            "polaris",
            "cert",
            "key",
            "timeout_s",
            "realtime",
            "realtime_mode",
            "realtime_max_watches",
        ];
        let mut in_sample: Vec<&str> = sample.keys().map(String::as_str).collect();
        in_sample.sort_unstable();
        let mut all = keys.to_vec();
        all.sort_unstable();
        assert_eq!(in_sample, all);
        for key in keys {
            assert!(
                readme.lines().any(|l| l.starts_with(&format!("{key} = "))),
                "README.md has no `{key} = ` line"
            );
            // Each key is one the parser takes: alone, it loads.
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join("c.conf");
            std::fs::write(&path, format!("{key} = {}\n", sample[key])).unwrap();
            Config::load(&path).unwrap_or_else(|e| panic!("{key}: {e}"));
        }
    }

    #[test]
    fn unknown_keys_and_relative_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.conf");
        std::fs::write(&path, "workerz = 2\n").unwrap();
        assert!(
            Config::load(&path)
                .unwrap_err()
                .to_string()
                .contains("workerz")
        );
        std::fs::write(&path, "database = \"db\"\n").unwrap();
        assert!(
            Config::load(&path)
                .unwrap_err()
                .to_string()
                .contains("absolute")
        );
        for (text, says) in [
            ("nice = -5\n", "nice = -5"),
            ("max_read_mib_s = 99999999\n", "over"),
            ("schedule = \"every 3w\"\n", "unit `w`"),
            ("schedule = \"0 61 * * * *\"\n", "minute field"),
            ("io_class = \"realtime\"\n", "realtime"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = Config::load(&path).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
        std::fs::write(&path, "rules = \"my.rules\"\n").unwrap();
        assert_eq!(
            Config::load(&path).unwrap().rules,
            dir.path().join("my.rules")
        );
        std::fs::write(&path, "io_class = \"best-effort\"\nschedule = \"@daily\"\n").unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.io_class, IoClass::BestEffort);
        assert!(matches!(config.when(), Ok(When::Cron(_))));
        std::fs::write(&path, "polaris = \"ftp://p\"\n").unwrap();
        assert!(
            Config::load(&path)
                .unwrap_err()
                .to_string()
                .contains("http(s)")
        );
        std::fs::write(&path, "workers = 100000\n").unwrap();
        assert!(
            Config::load(&path)
                .unwrap_err()
                .to_string()
                .contains("over")
        );
    }
}
