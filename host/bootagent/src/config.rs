//! The BootAgent's configuration file (TOML, default `/etc/cargo/bootagent.conf`).
//!
//! ```toml
//! svrlist = "10.0.0.1:8080,10.0.0.2:8080"  # Polaris addresses, tried in list order
//! step = 600                     # seconds between status reports
//! hostname = "edd6c192-..."      # default: the system host name
//! # region = "eu-1"              # reported with the status (default: the server's `unknown`)
//! state_dir = "/var/lib/cargo/bootagent"   # agents, state.json, results spool
//! package_user = "boot"          # basic auth for http(s) package downloads
//! package_password = "secret"
//! # ca = "/etc/cargo/ca.pem"     # extra CA for https (Polaris and packages)
//! upgrade_watch = 30             # seconds a new version must keep running
//! timeout = 30                   # seconds per request (downloads: per read)
//! # release_key = "RWQ..."       # minisign public key packages must be signed with
//! # release_key_file = "/etc/cargo/release.pub"   # or: a minisign.pub file
//! ```
//!
//! A `config` job's `svrlist` and `step` are kept in the state (see [`crate::state`]) and win
//! over the file from then on.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where the configuration is read from when `-C` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/cargo/bootagent.conf";

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Polaris servers, comma separated `host:port` (or `http://` / `https://` URLs), tried in
    /// list order on failure.
    pub svrlist: String,
    /// Seconds between status reports.
    #[serde(default = "default_step")]
    pub step: u64,
    /// This host's identity (default: the system host name).
    pub hostname: Option<String>,
    /// The host's region, sent with each report.
    pub region: Option<String>,
    /// Folder of the installed agents, the state file and the results spool.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// User name for http(s) downloads (Polaris's package server); a URL's own
    /// `user:password@` wins.
    pub package_user: Option<String>,
    /// Password for http(s) downloads.
    pub package_password: Option<String>,
    /// PEM file of the CA(s) trusted for https, besides the built-in web roots.
    pub ca: Option<PathBuf>,
    /// Seconds a freshly installed or upgraded agent must keep running before the job counts as
    /// done; an upgrade that fails within it is rolled back.
    #[serde(default = "default_upgrade_watch")]
    pub upgrade_watch: f64,
    /// Seconds a request may take to connect or between two reads.
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// Minisign public key (the `RWQ...` line, or a whole `minisign.pub` text) every package
    /// must be signed with (`<url>.minisig`); unset: packages are not signature-checked.
    pub release_key: Option<String>,
    /// A `minisign.pub` file holding that key instead (not both).
    pub release_key_file: Option<PathBuf>,
}

fn default_step() -> u64 {
    600
}
fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/cargo/bootagent")
}
fn default_upgrade_watch() -> f64 {
    30.0
}
fn default_timeout() -> u64 {
    30
}

impl Config {
    /// Reads and checks the file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Parses and checks a configuration text.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        parse_svrlist(&config.svrlist)?;
        if config.step == 0 {
            return Err("step must be at least 1 second".into());
        }
        if !(config.upgrade_watch.is_finite() && config.upgrade_watch >= 0.0) {
            return Err("upgrade_watch must be a number of seconds, 0 or more".into());
        }
        if config.timeout == 0 {
            return Err("timeout must be at least 1 second".into());
        }
        if config.package_password.is_some() && config.package_user.is_none() {
            return Err("package_password needs package_user".into());
        }
        if let Some(text) = &config.release_key {
            if config.release_key_file.is_some() {
                return Err("set release_key or release_key_file, not both".into());
            }
            crate::signature::ReleaseKey::parse(text).map_err(|e| format!("release_key: {e}"))?;
        }
        Ok(config)
    }

    /// The release key packages must be signed with, if one is configured (read from
    /// `release_key_file` when that is the one set).
    pub fn release_key(&self) -> Result<Option<crate::signature::ReleaseKey>, String> {
        match (&self.release_key, &self.release_key_file) {
            (Some(text), _) => crate::signature::ReleaseKey::parse(text)
                .map(Some)
                .map_err(|e| format!("release_key: {e}")),
            (None, Some(path)) => crate::signature::ReleaseKey::from_file(path)
                .map(Some)
                .map_err(|e| format!("release_key_file: {e}")),
            (None, None) => Ok(None),
        }
    }

    /// The configured host name, else the system's.
    pub fn hostname(&self) -> String {
        self.hostname.clone().unwrap_or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".into())
        })
    }
}

/// Splits a server list into base URLs (`http://host:port`), keeping the order; empty entries
/// (a trailing comma, as in the seed's example) are skipped. Fails on an empty list.
pub fn parse_svrlist(list: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let url = if entry.starts_with("http://") || entry.starts_with("https://") {
            entry.trim_end_matches('/').to_string()
        } else if entry.contains("://") {
            return Err(format!(
                "svrlist entry `{entry}`: only http:// and https://"
            ));
        } else {
            format!("http://{entry}")
        };
        out.push(url);
    }
    if out.is_empty() {
        return Err(format!("svrlist `{list}` names no server"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_file_gets_defaults() {
        let config = Config::parse("svrlist = \"127.0.0.1:8080\"").unwrap();
        assert_eq!(config.step, 600);
        assert_eq!(config.upgrade_watch, 30.0);
        assert_eq!(config.state_dir, PathBuf::from("/var/lib/cargo/bootagent"));
    }

    #[test]
    fn server_list_keeps_order_and_skips_empty_entries() {
        assert_eq!(
            parse_svrlist("192.168.9.1:1234, https://b:8443/,").unwrap(),
            ["http://192.168.9.1:1234", "https://b:8443"]
        );
        assert!(parse_svrlist(" , ").is_err());
        assert!(parse_svrlist("ftp://x").is_err());
    }

    #[test]
    fn nonsense_is_refused() {
        assert!(Config::parse("svrlist = \"a:1\"\nstep = 0").is_err());
        assert!(Config::parse("svrlist = \"a:1\"\nbogus = 1").is_err());
        assert!(Config::parse("svrlist = \"a:1\"\npackage_password = \"x\"").is_err());
    }
}
