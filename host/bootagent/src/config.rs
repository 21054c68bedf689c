//! The BootAgent's configuration file (TOML, default `/etc/cargo/bootagent.conf`).
//!
//! ```toml
//! svrlist = "10.0.0.1:8080,10.0.0.2:8080"  # Polaris addresses (https), tried in list order
//! ca = "/etc/cargo/ca.pem"       # the Polaris CA: the only trust anchor for https (pinned)
//! enroll_token = "pet_..."       # one-time enrollment (or enroll_token_file)
//! identity_dir = "/var/lib/cargo/identity"  # host key + certificate for every agent
//! # identity_group = "cargo"     # group of the agents that may read the key
//! # insecure = false             # labs only: allow http:// servers and no pinned CA
//! step = 600                     # seconds between status reports
//! hostname = "edd6c192-..."      # default: the system host name
//! # region = "eu-1"              # reported with the status (default: the server's `unknown`)
//! state_dir = "/var/lib/cargo/bootagent"   # agents, state.json, results spool
//! package_user = "boot"          # basic auth for http(s) package downloads
//! package_password = "secret"
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
    /// Polaris servers, comma separated `host:port` (https) or `https://` URLs (`http://` only
    /// with `insecure`), tried in list order on failure.
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
    /// PEM file of the Polaris CA: the only CA trusted for https (Polaris and its packages),
    /// so a server with any other certificate is refused. Required unless `insecure`.
    pub ca: Option<PathBuf>,
    /// Labs only: allow `http://` servers and trust the web's CAs when `ca` is unset. Logged
    /// loudly at every start.
    #[serde(default)]
    pub insecure: bool,
    /// Enrollment token for the first start (from `polaris enroll` or the admin API).
    pub enroll_token: Option<String>,
    /// A file holding the enrollment token instead.
    pub enroll_token_file: Option<PathBuf>,
    /// Folder of the host's key, certificate and the CA, for every agent of the host.
    #[serde(default = "default_identity_dir")]
    pub identity_dir: PathBuf,
    /// Group (the agents') that may read the host key; default: root only.
    pub identity_group: Option<String>,
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
fn default_identity_dir() -> PathBuf {
    PathBuf::from("/var/lib/cargo/identity")
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
        parse_svrlist(&config.svrlist, config.insecure)?;
        if config.ca.is_none() && !config.insecure {
            return Err(
                "ca (the Polaris CA file) is required; insecure = true for labs only".into(),
            );
        }
        if config.enroll_token.is_some() && config.enroll_token_file.is_some() {
            return Err("enroll_token and enroll_token_file exclude each other".into());
        }
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

    /// The enrollment token, from the file or the configuration.
    pub fn enroll_token(&self) -> anyhow::Result<Option<String>> {
        match (&self.enroll_token, &self.enroll_token_file) {
            (Some(token), _) => Ok(Some(token.trim().to_string())),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|t| Some(t.trim().to_string()))
                .map_err(|e| {
                    anyhow::anyhow!("cannot read enroll_token_file {}: {e}", path.display())
                }),
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

/// Splits a server list into base URLs (`https://host:port`), keeping the order; empty
/// entries (a trailing comma, as in the seed's example) are skipped. `http://` only when
/// `insecure`. Fails on an empty list.
pub fn parse_svrlist(list: &str, insecure: bool) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let url = if entry.starts_with("https://") || (insecure && entry.starts_with("http://")) {
            entry.trim_end_matches('/').to_string()
        } else if entry.contains("://") {
            return Err(format!(
                "svrlist entry `{entry}`: only https:// (http:// with insecure = true, labs only)"
            ));
        } else {
            format!("https://{entry}")
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
        let config = Config::parse("svrlist = \"127.0.0.1:8080\"\nca = \"ca.pem\"").unwrap();
        assert_eq!(config.step, 600);
        assert_eq!(config.upgrade_watch, 30.0);
        assert_eq!(config.state_dir, PathBuf::from("/var/lib/cargo/bootagent"));
    }

    #[test]
    fn server_list_keeps_order_and_skips_empty_entries() {
        assert_eq!(
            parse_svrlist("192.168.9.1:1234, https://b:8443/,", false).unwrap(),
            ["https://192.168.9.1:1234", "https://b:8443"]
        );
        assert!(parse_svrlist(" , ", false).is_err());
        assert!(parse_svrlist("ftp://x", true).is_err());
        // Plain HTTP only when the configuration says insecure.
        assert!(parse_svrlist("http://a:80", false).is_err());
        assert_eq!(parse_svrlist("http://a:80", true).unwrap(), ["http://a:80"]);
    }

    #[test]
    fn nonsense_is_refused() {
        assert!(Config::parse("svrlist = \"a:1\"\nca = \"c\"\nstep = 0").is_err());
        // No pinned CA without the explicit lab switch.
        assert!(
            Config::parse("svrlist = \"a:1\"")
                .unwrap_err()
                .contains("ca")
        );
        assert!(Config::parse("svrlist = \"a:1\"\ninsecure = true").is_ok());
        assert!(Config::parse("svrlist = \"a:1\"\nbogus = 1").is_err());
        assert!(Config::parse("svrlist = \"a:1\"\npackage_password = \"x\"").is_err());
    }
}
