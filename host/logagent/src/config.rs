//! logagent's configuration file (TOML; default `/etc/cargo/logagent.conf`): where Polaris is
//! and how to prove who we are (as gearman: `ca`, `cert`, `key` from the BootAgent's identity
//! folder), where the offsets are kept, batch limits, one `[[source]]` per log path or glob,
//! and an optional `[syslog]` server (`sink::syslog::SyslogConfig`). Unknown keys are errors naming the key, so a typo fails `logagent -t`; every regex is
//! compiled and every limit checked by [`Config::load`].

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::parse::Format;

/// The default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/cargo/logagent.conf";
/// The default folder of the offsets database.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/cargo/logagent";
/// The default control socket.
pub const DEFAULT_SOCKET: &str = "/var/run/cargo/logagent.sock";
/// Most `[[source]]` entries.
pub const MAX_SOURCES: usize = 1000;
/// Largest `max_record_bytes` (a record is held in memory whole up to it; escaped in JSON it
/// may take six times as much, and a batch must stay under `wire::logs::MAX_BATCH_BYTES`).
pub const MAX_RECORD_LIMIT: usize = 2 * 1024 * 1024;
/// Largest `batch_bytes`: a batch may pass it by one record.
pub const MAX_BATCH_LIMIT: usize = wire::logs::MAX_BATCH_BYTES / 4;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Polaris's base URL (`https://polaris.example:8443`); batches go to `<polaris>/api/v1/logs`.
    #[serde(default)]
    pub polaris: String,
    /// The CA that signed Polaris's certificate.
    pub ca: Option<PathBuf>,
    /// The host's certificate (the BootAgent enrolls it).
    #[serde(default = "default_cert")]
    pub cert: PathBuf,
    /// The host's key.
    #[serde(default = "default_key")]
    pub key: PathBuf,
    /// Folder of `logagent.db` (offsets), made 0700; the file is 0600.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// The control socket for `logagentctl`.
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
    /// A group (name or gid) whose members may use the control socket (then 0660, else 0600).
    pub socket_group: Option<String>,
    /// Log level: error, warn, info, debug.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// Most records in one batch (at most `wire::logs::MAX_BATCH_RECORDS`).
    #[serde(default = "default_batch_records")]
    pub batch_records: usize,
    /// Most bytes of records (as JSON) in one batch (at most a quarter of
    /// `wire::logs::MAX_BATCH_BYTES`; one record may pass it).
    #[serde(default = "default_batch_bytes")]
    pub batch_bytes: usize,
    /// Milliseconds between two looks at the files when there is nothing to read.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// Seconds between two expansions of the sources' globs (new files are found then).
    #[serde(default = "default_scan_s")]
    pub scan_s: u64,
    /// Seconds a file that does not grow keeps its descriptor; it is reopened when it grows.
    #[serde(default = "default_idle_close_s")]
    pub idle_close_s: u64,
    /// Most files open at once (files waiting beyond it are read in turn).
    #[serde(default = "default_max_open_files")]
    pub max_open_files: usize,
    /// Longest wait, in seconds, between two tries of a batch Polaris did not acknowledge.
    #[serde(default = "default_retry_max_s")]
    pub retry_max_s: u64,
    /// Seconds to wait for Polaris to connect and to answer.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u64,
    /// The log files.
    #[serde(default)]
    pub source: Vec<SourceConfig>,
    /// A syslog server every record is also (or only) written to (RFC 5424 over TCP/TLS).
    pub syslog: Option<crate::sink::syslog::SyslogConfig>,
}

/// One `[[source]]`: files by path or glob and how to read them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The source's name, unique on the host (at most 128 bytes).
    pub name: String,
    /// A path, or a glob (`*`, `?`, `[...]`, `{a,b}` in any component, `**` for any depth):
    /// new matching files are picked up.
    pub path: String,
    /// `line`, `json`, `syslog`, `regex`, `nginx` or `apache`.
    #[serde(default = "default_format")]
    pub format: String,
    /// The regex (named captures become fields; a capture named `message` is the message)
    /// of the `regex` format.
    pub pattern: Option<String>,
    /// The field holding the record's time (json/regex; syslog, nginx and apache know theirs).
    pub timestamp_field: Option<String>,
    /// Its chrono/strftime format (`%d/%b/%Y:%H:%M:%S %z`), or `rfc3339`, `unix`, `unix_ms`;
    /// default: RFC 3339, then Unix seconds.
    pub timestamp_format: Option<String>,
    /// A line matching it starts a record; other lines continue the one before.
    pub multiline_start: Option<String>,
    /// A line matching it continues the record before; other lines start one.
    pub multiline_continue: Option<String>,
    /// A multiline record with no new line for this long is complete (milliseconds).
    #[serde(default = "default_multiline_flush_ms")]
    pub multiline_flush_ms: u64,
    /// Longest record kept; the rest of a longer one is dropped, counted and said so.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
    /// Read files that exist at the first scan from their start (default) or their end.
    #[serde(default = "default_true")]
    pub from_start: bool,
}

fn default_cert() -> PathBuf {
    "/var/lib/cargo/identity/host.pem".into()
}
fn default_key() -> PathBuf {
    "/var/lib/cargo/identity/host.key".into()
}
fn default_state_dir() -> PathBuf {
    DEFAULT_STATE_DIR.into()
}
fn default_socket() -> PathBuf {
    DEFAULT_SOCKET.into()
}
fn default_log_level() -> String {
    "info".into()
}
/// Benchmark P5 (nginx lines into Polaris on one 2-core machine): 2,000 records per batch
/// shipped 36-40 MiB/s, 4,000 46 and 6,000 or 10,000 no more (the agent's peak RSS 8.5, 9.0,
/// 9.5 and 10.0 MB): a batch's fixed costs at both ends, halved.
fn default_batch_records() -> usize {
    4000
}
fn default_batch_bytes() -> usize {
    4 * 1024 * 1024
}
fn default_poll_ms() -> u64 {
    250
}
fn default_scan_s() -> u64 {
    5
}
fn default_idle_close_s() -> u64 {
    30
}
fn default_max_open_files() -> usize {
    64
}
fn default_retry_max_s() -> u64 {
    30
}
fn default_timeout_s() -> u64 {
    30
}
fn default_format() -> String {
    "line".into()
}
fn default_multiline_flush_ms() -> u64 {
    1000
}
fn default_max_record_bytes() -> usize {
    1024 * 1024
}
fn default_true() -> bool {
    true
}

/// A configuration error, with the file it came from.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong (TOML syntax with line and column, an unknown key named, a bad value).
    pub message: String,
}

impl Config {
    /// Reads, parses and checks the configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let error = |message: String| ConfigError {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(format!("cannot read: {e}")))?;
        let config = Config::parse(&text).map_err(error)?;
        config.check().map_err(error)?;
        Ok(config)
    }

    /// Parses configuration text (the schema only; [`Config::check`] does the rest).
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', " "))
    }

    /// Checks values: limits, unique names, formats and their regexes.
    pub fn check(&self) -> Result<(), String> {
        if !(self.polaris.is_empty()
            || self.polaris.starts_with("https://")
            || self.polaris.starts_with("http://"))
        {
            return Err(format!("polaris `{}` is not an http(s) URL", self.polaris));
        }
        if self.batch_records == 0 || self.batch_records > wire::logs::MAX_BATCH_RECORDS {
            return Err(format!(
                "batch_records must be 1..={}",
                wire::logs::MAX_BATCH_RECORDS
            ));
        }
        if self.batch_bytes < 1024 || self.batch_bytes > MAX_BATCH_LIMIT {
            return Err(format!("batch_bytes must be 1024..={MAX_BATCH_LIMIT}"));
        }
        if self.poll_ms == 0 || self.scan_s == 0 || self.max_open_files < 4 {
            return Err("poll_ms and scan_s must be > 0, max_open_files >= 4".into());
        }
        if self.source.len() > MAX_SOURCES {
            return Err(format!("at most {MAX_SOURCES} sources"));
        }
        let mut names = std::collections::BTreeSet::new();
        for source in &self.source {
            let name = &source.name;
            if name.is_empty() || name.len() > wire::logs::MAX_SOURCE_NAME {
                return Err(format!(
                    "source name `{name}` must be 1..={} bytes",
                    wire::logs::MAX_SOURCE_NAME
                ));
            }
            if !names.insert(name.as_str()) {
                return Err(format!("source `{name}` is configured twice"));
            }
            if !source.path.starts_with('/') {
                return Err(format!("source `{name}`: path must be absolute"));
            }
            crate::glob::Pattern::new(&source.path).map_err(|e| format!("source `{name}`: {e}"))?;
            source
                .format()
                .map_err(|e| format!("source `{name}`: {e}"))?;
            if source.max_record_bytes < 64 || source.max_record_bytes > MAX_RECORD_LIMIT {
                return Err(format!(
                    "source `{name}`: max_record_bytes must be 64..={MAX_RECORD_LIMIT}"
                ));
            }
            if source.max_record_bytes > self.batch_bytes {
                return Err(format!(
                    "source `{name}`: max_record_bytes must be <= batch_bytes"
                ));
            }
            source
                .multiline()
                .map_err(|e| format!("source `{name}`: {e}"))?;
        }
        if let Some(syslog) = &self.syslog {
            syslog.check()?;
        }
        if self.polaris.is_empty() && self.syslog.is_none() {
            return Err("nowhere to send records: set `polaris`, a [syslog] table, or both".into());
        }
        Ok(())
    }

    /// Where the offsets database is.
    pub fn db_path(&self) -> PathBuf {
        self.state_dir.join("logagent.db")
    }
}

impl SourceConfig {
    /// The source's parser, its regexes compiled.
    pub fn format(&self) -> Result<Format, String> {
        Format::new(
            &self.format,
            self.pattern.as_deref(),
            self.timestamp_field.as_deref(),
            self.timestamp_format.as_deref(),
        )
    }

    /// The multiline rule, if any.
    pub fn multiline(&self) -> Result<Option<crate::record::Multiline>, String> {
        let compile = |p: &str| regex::Regex::new(p).map_err(|e| format!("bad regex: {e}"));
        match (&self.multiline_start, &self.multiline_continue) {
            (Some(_), Some(_)) => {
                Err("multiline_start and multiline_continue exclude each other".into())
            }
            (Some(p), None) => Ok(Some(crate::record::Multiline::Start(compile(p)?))),
            (None, Some(p)) => Ok(Some(crate::record::Multiline::Continue(compile(p)?))),
            (None, None) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_and_checks() {
        let text = include_str!("../logagent.conf");
        let config = Config::parse(text).unwrap();
        config.check().unwrap();
        assert!(config.source.len() >= 3);
    }

    #[test]
    fn unknown_keys_are_named_and_bad_values_refused() {
        let e = Config::parse("polaris = \"https://p\"\nbatch_recrods = 5").unwrap_err();
        assert!(e.contains("batch_recrods"), "{e}");
        let e =
            Config::parse("[[source]]\nname = \"a\"\npath = \"/x\"\nformt = \"json\"").unwrap_err();
        assert!(e.contains("formt"), "{e}");
        let bad_regex =
            "[[source]]\nname = \"a\"\npath = \"/x\"\nformat = \"regex\"\npattern = \"(\"";
        assert!(Config::parse(bad_regex).unwrap().check().is_err());
        let twice =
            "[[source]]\nname = \"a\"\npath = \"/x\"\n[[source]]\nname = \"a\"\npath = \"/y\"";
        let e = Config::parse(twice).unwrap().check().unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let relative = "[[source]]\nname = \"a\"\npath = \"x.log\"";
        assert!(Config::parse(relative).unwrap().check().is_err());
        let format = "[[source]]\nname = \"a\"\npath = \"/x\"\nformat = \"xml\"";
        assert!(Config::parse(format).unwrap().check().is_err());
        let nowhere = "[[source]]\nname = \"a\"\npath = \"/x\"";
        let e = Config::parse(nowhere).unwrap().check().unwrap_err();
        assert!(e.contains("nowhere"), "{e}");
        let syslog_only = format!("{nowhere}\n[syslog]\naddress = \"127.0.0.1:514\"");
        Config::parse(&syslog_only).unwrap().check().unwrap();
        let typo = format!("{nowhere}\n[syslog]\naddress = \"127.0.0.1:514\"\nframe = \"lf\"");
        let e = Config::parse(&typo).unwrap_err();
        assert!(e.contains("frame"), "{e}");
    }
}
