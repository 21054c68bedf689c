//! gearman's configuration file (TOML, default `/etc/cargo/gearman.conf`).
//!
//! ```toml
//! hostname = "edd6c192-52cb-4133-a17a-e7d8aec03de7"  # default: the system host name
//! server = "config.cargo.com"        # comma-separated host[:port] list, tried in order
//! port = 8443                        # for entries without a port
//! ca = "/etc/cargo/ca.pem"           # the CA that signed Polaris's certificate
//! # tls_name = "config.cargo.com"    # name in the server certificate (default: first server)
//! cert = "/var/lib/cargo/identity/host.pem"  # the host's certificate (bootagent enrolls it)
//! key = "/var/lib/cargo/identity/host.key"
//! # hosts_file = "/etc/cargo/hosts"  # /etc/hosts-style overrides, read before DNS
//! state_dir = "/var/lib/cargo/gearman"   # gearman.db and task folders
//! socket = "/var/run/cargo/gearman.sock" # for gearctl
//! # socket_group = "cargo"          # may use the socket too (default: root and gearman's user only)
//! heartbeat = 15                     # seconds between pings
//! kill_grace = 3                     # seconds between SIGTERM and SIGKILL of a stopped command
//! connect_timeout = 5                # seconds per address (TCP + TLS + init answer)
//! backoff_max = 60                   # longest wait between reconnect rounds
//! # release_key = "RWQ..."           # plugins from Polaris must be signed (<url>.minisig)
//! # release_key_file = "/etc/cargo/minisign.pub"   # or the key in a file
//! nodus_socket = "/var/run/cargo/nodus.sock"  # nodus's control socket (its plugins)
//! nodus_plugin_dir = "/usr/lib/cargo/nodus"   # where nodus's plugins are installed
//! # package_user = "gearman"        # basic auth for Polaris's package server (plugin releases)
//! # package_password = "secret"
//! ```

use std::path::{Path, PathBuf};

use agentkit::signature::ReleaseKey;
use serde::Deserialize;

/// Where the configuration is read from when `-C` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/cargo/gearman.conf";
/// The seed's server name.
pub const DEFAULT_SERVER: &str = "config.cargo.com";

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This host's identity in `init` (default: the system host name).
    pub hostname: Option<String>,
    /// Servers, `host[:port]`, comma-separated.
    #[serde(default = "default_server")]
    pub server: String,
    /// Port for servers given without one.
    #[serde(default = "default_port")]
    pub port: u16,
    /// CA certificate(s) that Polaris's certificate must chain to.
    pub ca: PathBuf,
    /// The name Polaris's certificate carries (default: the first server's host).
    pub tls_name: Option<String>,
    /// The host's client certificate (mutual TLS; Polaris takes the host from it), as the
    /// BootAgent enrolled it; read again when it changes (renewal).
    #[serde(default = "default_cert")]
    pub cert: PathBuf,
    /// Its private key.
    #[serde(default = "default_key")]
    pub key: PathBuf,
    /// `/etc/hosts`-style file read before the system resolver.
    pub hosts_file: Option<PathBuf>,
    /// Folder of `gearman.db` and task output.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Plugin folder (default: `/usr/lib/cargo/gearman`, or the executable's folder).
    pub plugin_dir: Option<PathBuf>,
    /// The unix socket for `gearctl`.
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
    /// A group (name or gid) whose members may use the socket besides root and gearman's own
    /// user; the socket is then mode 0660 and of that group (else 0600).
    pub socket_group: Option<String>,
    /// Seconds between pings.
    #[serde(default = "default_heartbeat")]
    pub heartbeat: u64,
    /// Seconds between SIGTERM and SIGKILL when a command is stopped.
    #[serde(default = "default_kill_grace")]
    pub kill_grace: u64,
    /// Seconds allowed for one address: TCP, TLS, WebSocket and the answer to `init`.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: u64,
    /// Longest wait between reconnect rounds, seconds.
    #[serde(default = "default_backoff_max")]
    pub backoff_max: u64,
    /// The minisign public key (`RWQ...`) plugin releases must be signed with: with it,
    /// `plugin.install` and `plugin.upgrade` refuse a release without a valid `<url>.minisig`,
    /// so no one secret (a stolen admin token) may run code on the hosts.
    pub release_key: Option<String>,
    /// The release key in a file (`minisign.pub`); instead of `release_key`.
    pub release_key_file: Option<PathBuf>,
    /// nodus's control socket, through which gearman manages and reports nodus's plugins
    /// (nodus's own default).
    #[serde(default = "default_nodus_socket")]
    pub nodus_socket: PathBuf,
    /// The folder nodus loads its plugins from: `plugin.install` for `agent: nodus` puts
    /// files there (it must be nodus's `plugin_dir`).
    #[serde(default = "default_nodus_plugin_dir")]
    pub nodus_plugin_dir: PathBuf,
    /// User name for plugin downloads from Polaris's package server (HTTP basic auth, as the
    /// BootAgent's); a URL's own `user:password@` wins. Downloads over https trust `ca` only.
    pub package_user: Option<String>,
    /// Password for plugin downloads.
    pub package_password: Option<String>,
}

fn default_cert() -> PathBuf {
    "/var/lib/cargo/identity/host.pem".into()
}
fn default_key() -> PathBuf {
    "/var/lib/cargo/identity/host.key".into()
}
fn default_server() -> String {
    DEFAULT_SERVER.into()
}
fn default_port() -> u16 {
    8443
}
fn default_state_dir() -> PathBuf {
    "/var/lib/cargo/gearman".into()
}
fn default_socket() -> PathBuf {
    "/var/run/cargo/gearman.sock".into()
}
fn default_heartbeat() -> u64 {
    15
}
fn default_kill_grace() -> u64 {
    3
}
fn default_connect_timeout() -> u64 {
    5
}
fn default_backoff_max() -> u64 {
    60
}
fn default_nodus_socket() -> PathBuf {
    "/var/run/cargo/nodus.sock".into()
}
fn default_nodus_plugin_dir() -> PathBuf {
    plugin_host::dirs::install_dir("nodus")
}

impl Config {
    /// Reads and checks the file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let config: Config = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
        config
            .check()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(config)
    }

    /// Checks values that parse but make no sense.
    pub fn check(&self) -> Result<(), String> {
        if [
            self.heartbeat,
            self.kill_grace,
            self.backoff_max,
            self.connect_timeout,
        ]
        .contains(&0)
        {
            return Err(
                "heartbeat, kill_grace, connect_timeout and backoff_max must be at least 1".into(),
            );
        }
        crate::link::parse_list(&self.server, self.port)?;
        if self.release_key.is_some() && self.release_key_file.is_some() {
            return Err("set release_key or release_key_file, not both".into());
        }
        if let Some(text) = &self.release_key {
            ReleaseKey::parse(text).map_err(|e| format!("release_key: {e}"))?;
        }
        Ok(())
    }

    /// The key plugin releases must be signed with, if one is configured (read from
    /// `release_key_file` when that is the one set).
    pub fn release_key(&self) -> Result<Option<ReleaseKey>, String> {
        match (&self.release_key, &self.release_key_file) {
            (Some(text), _) => ReleaseKey::parse(text)
                .map(Some)
                .map_err(|e| format!("release_key: {e}")),
            (None, Some(path)) => ReleaseKey::from_file(path)
                .map(Some)
                .map_err(|e| format!("release_key_file: {e}")),
            (None, None) => Ok(None),
        }
    }

    /// The hostname sent in `init`.
    pub fn hostname(&self) -> String {
        self.hostname.clone().unwrap_or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|name| name.into_string().ok())
                .unwrap_or_else(|| "localhost".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_gets_the_seed_defaults() {
        let config: Config = toml::from_str("ca = \"/ca.pem\"").unwrap();
        config.check().unwrap();
        assert_eq!(config.server, "config.cargo.com");
        assert_eq!(config.port, 8443);
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let example: Config = toml::from_str(include_str!("../gearman.conf")).unwrap();
        example.check().unwrap();
        assert_eq!(example.ca, PathBuf::from("/etc/cargo/ca.pem"));
    }

    #[test]
    fn rejects_typos_and_bad_servers() {
        assert!(toml::from_str::<Config>("ca = \"/ca.pem\"\nsevrer = \"x\"").is_err());
        // The host identity defaults to what the BootAgent enrolls.
        let plain: Config = toml::from_str("ca = \"/ca.pem\"").unwrap();
        assert_eq!(plain.key, PathBuf::from("/var/lib/cargo/identity/host.key"));
        let bad: Config = toml::from_str("ca = \"/ca.pem\"\nserver = \"a:b\"").unwrap();
        assert!(bad.check().is_err());
    }

    #[test]
    fn plugins_default_to_nodus_own_socket_and_folder_and_a_key_is_checked() {
        let plain: Config = toml::from_str("ca = \"/ca.pem\"").unwrap();
        assert_eq!(
            plain.nodus_socket,
            PathBuf::from("/var/run/cargo/nodus.sock")
        );
        assert_eq!(
            plain.nodus_plugin_dir,
            PathBuf::from("/usr/lib/cargo/nodus")
        );
        assert!(plain.release_key().unwrap().is_none());
        let bad: Config = toml::from_str("ca = \"/ca.pem\"\nrelease_key = \"RWQbogus\"").unwrap();
        assert!(bad.check().unwrap_err().starts_with("release_key:"));
        let both: Config =
            toml::from_str("ca = \"/ca.pem\"\nrelease_key = \"x\"\nrelease_key_file = \"/k\"")
                .unwrap();
        assert!(both.check().is_err());
    }
}
