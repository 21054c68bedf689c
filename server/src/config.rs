//! Polaris's configuration file (TOML), read by `polaris serve -c`, `migrate` and
//! `check-config`; `polaris dev` writes one for the working directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Database URL: `sqlite://path/to/polaris.db` (default), `mysql://...` or `postgres://...`.
    #[serde(default = "default_database")]
    pub database: String,
    /// Bearer token required by the admin API (`/api/v1/...`).
    pub admin_token: String,
    /// Largest request body accepted, in bytes (package uploads have their own limit).
    #[serde(default = "default_max_body")]
    pub max_body: usize,
    /// A host is offline after this many `step`s without a report (the seed says 3).
    #[serde(default = "default_offline_after_steps")]
    pub offline_after_steps: u32,
    /// The package server; absent = no `/packages`.
    pub packages: Option<PackagesConfig>,
    /// The gearman listener (TLS WebSocket); absent = no agent listener.
    pub agents: Option<AgentsConfig>,
}

/// The listener gearman agents connect to (`wss://<listen>/agent/ws`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsConfig {
    /// Address of the TLS listener.
    #[serde(default = "default_agents_listen")]
    pub listen: SocketAddr,
    /// PEM certificate chain of the server.
    pub cert: PathBuf,
    /// PEM private key of the server.
    pub key: PathBuf,
    /// PEM CA certificate(s): when set, agents must present a client certificate it signed.
    pub client_ca: Option<PathBuf>,
    /// Seconds between pings; a connection silent for 3 × heartbeat is dropped, and a session
    /// not refreshed for 3 × heartbeat counts as offline.
    #[serde(default = "default_heartbeat")]
    pub heartbeat: u64,
    /// Answer every `init` with this redirect (`"a:8443,b:8443"`): a director replica.
    pub redirect: Option<String>,
    /// This replica's name in `agent_sessions` (default `<hostname>:<pid>`).
    pub replica: Option<String>,
}

/// The package server (`/packages/...`), replacing nginx + vsftpd.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackagesConfig {
    /// Directory served under `/packages/`.
    pub root: PathBuf,
    /// htpasswd file with the users allowed (bcrypt, apr1 MD5 or SHA1 lines).
    pub htpasswd: PathBuf,
    /// Realm shown in the browser's password prompt.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Largest upload (`PUT`), in bytes.
    #[serde(default = "default_max_upload")]
    pub max_upload: u64,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_database() -> String {
    "sqlite://polaris.db".into()
}
fn default_max_body() -> usize {
    16 * 1024 * 1024
}
fn default_offline_after_steps() -> u32 {
    3
}
fn default_agents_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8443))
}
fn default_heartbeat() -> u64 {
    15
}
fn default_realm() -> String {
    "Restricted".into()
}
fn default_max_upload() -> u64 {
    8 * 1024 * 1024 * 1024
}

impl Config {
    /// Reads and checks the configuration file.
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
        if self.admin_token.len() < 16 {
            return Err("admin_token must be at least 16 characters".into());
        }
        let known = ["sqlite:", "mysql:", "mariadb:", "postgres:", "postgresql:"];
        if !known.iter().any(|scheme| self.database.starts_with(scheme)) {
            return Err(format!(
                "database `{}` is not a sqlite://, mysql:// or postgres:// URL",
                self.database
            ));
        }
        if self.offline_after_steps == 0 {
            return Err("offline_after_steps must be at least 1".into());
        }
        if let Some(agents) = &self.agents {
            if agents.heartbeat == 0 || agents.heartbeat > 3600 {
                return Err("agents.heartbeat must be between 1 and 3600 seconds".into());
            }
            if agents
                .replica
                .as_deref()
                .is_some_and(|r| r.is_empty() || r.len() > 128)
            {
                return Err("agents.replica must be 1 to 128 characters".into());
            }
            if agents.redirect.as_deref().is_some_and(str::is_empty) {
                return Err("agents.redirect must name at least one server".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_gets_defaults() {
        let config: Config = toml::from_str("admin_token = \"0123456789abcdef\"").unwrap();
        config.check().unwrap();
        assert_eq!(config.listen.port(), 8080);
        assert!(config.database.starts_with("sqlite:"));
        assert!(config.packages.is_none());
        assert!(config.agents.is_none());
    }

    #[test]
    fn agents_section_gets_defaults() {
        let config: Config = toml::from_str(
            "admin_token = \"0123456789abcdef\"\n[agents]\ncert = \"s.pem\"\nkey = \"s.key\"\n",
        )
        .unwrap();
        config.check().unwrap();
        let agents = config.agents.unwrap();
        assert_eq!(agents.listen.port(), 8443);
        assert_eq!(agents.heartbeat, 15);
        assert!(agents.client_ca.is_none() && agents.redirect.is_none());
    }

    #[test]
    fn rejects_short_tokens_bad_urls_and_typos() {
        let config: Config = toml::from_str("admin_token = \"short\"").unwrap();
        assert!(config.check().is_err());
        let config: Config =
            toml::from_str("admin_token = \"0123456789abcdef\"\ndatabase = \"redis://x\"").unwrap();
        assert!(config.check().is_err());
        assert!(
            toml::from_str::<Config>("admin_token = \"0123456789abcdef\"\nlisten_on = 1").is_err()
        );
    }
}
