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
    /// Bearer token required by the admin API (`/api/v1/...`); or `admin_token_file`.
    #[serde(default)]
    pub admin_token: String,
    /// A file holding the admin token instead (the packages' way: their postinst writes
    /// `/var/lib/polaris/admin_token`, 0600, so the shipped configuration holds no secret).
    pub admin_token_file: Option<PathBuf>,
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
    /// HTTPS on `listen` and the Polaris CA that enrolls hosts; required unless `plain_http`.
    pub tls: Option<TlsConfig>,
    /// Serve plain HTTP on `listen` without `[tls]`: for loopback development only. No agent
    /// can authenticate then, so the agent endpoints refuse every request.
    #[serde(default)]
    pub plain_http: bool,
    /// Timeouts and caps of the HTTP(S) listener.
    #[serde(default)]
    pub connections: ConnectionsConfig,
    /// Caps on what one request may carry or create (`[limits]`).
    #[serde(default)]
    pub limits: crate::limits::Limits,
    /// The plugin catalogue and rollouts (`[plugins]`).
    #[serde(default)]
    pub plugins: PluginsConfig,
    /// How long and how much of the hosts' log records Polaris keeps (`[logs]`).
    #[serde(default)]
    pub logs: LogsConfig,
}

/// Retention of log records (`[logs]`; every key optional), applied by a background round
/// every `retention_interval` seconds, oldest records (by their time) first.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// Records whose time is older than this are deleted: seconds (`86400`) or a text with a
    /// unit, `s`, `m`, `h` or `d` (`"30d"`); 0 keeps them whatever their age. Default 30 days.
    #[serde(deserialize_with = "seconds_or_text")]
    pub max_age: u64,
    /// The oldest records are deleted until the messages and stored fields of the rest total
    /// at most this many bytes (approximately: the database's own overhead is not counted; the
    /// fields of a preset's records, made from their messages when read, count nothing); 0 =
    /// no limit. Default 10 GiB.
    pub max_bytes: u64,
    /// Seconds between retention rounds (default 60).
    pub retention_interval: u64,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            max_age: 30 * 86_400,
            max_bytes: 10 << 30,
            retention_interval: 60,
        }
    }
}

impl LogsConfig {
    /// What the retention rounds keep.
    pub fn retention(&self) -> crate::db::logs::LogRetention {
        crate::db::logs::LogRetention {
            max_age: (self.max_age > 0).then_some(self.max_age),
            max_bytes: (self.max_bytes > 0).then_some(self.max_bytes),
        }
    }
}

/// A number of seconds, or a text `<n><unit>` with unit `s`, `m`, `h` or `d`.
fn seconds_or_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        Seconds(u64),
        Text(String),
    }
    match Given::deserialize(deserializer)? {
        Given::Seconds(seconds) => Ok(seconds),
        Given::Text(text) => parse_age(&text).map_err(serde::de::Error::custom),
    }
}

/// `"30d"`, `"12h"`, `"90m"`, `"3600s"` or `"3600"` in seconds.
pub fn parse_age(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => (&text[..at], c),
        _ => (text, 's'),
    };
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(format!("`{text}`: the unit must be s, m, h or d")),
    };
    number
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("`{text}` is not a number of seconds, minutes, hours or days"))
}

/// The plugin catalogue and rollouts (`[plugins]`; every key optional). Releases are stored
/// on the package server (`[packages]`, under `plugins/`), which uploads need.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Largest plugin file `POST /api/v1/plugins` accepts, in bytes (default 64 MiB; agents
    /// refuse larger ones too).
    pub max_size: u64,
    /// The minisign public key plugin releases must be signed with: the `RWQ...` line, or a
    /// whole `minisign.pub` text. With a key, an upload without a signature that verifies is
    /// refused, so that no single stolen secret (the admin token) can put code on the hosts.
    pub release_key: Option<String>,
    /// A `minisign.pub` file holding that key, instead of `release_key`.
    pub release_key_file: Option<PathBuf>,
    /// The package server's URL as agents reach it (`https://polaris.example:8080/packages`):
    /// install and upgrade commands download `<package_url>/plugins/<agent>/<name>/<version>/
    /// <name>.so`. Default: the address the HTTP(S) listener is bound to, when it is not a
    /// wildcard (`https://127.0.0.1:8080/packages`; `http://` with `plain_http`).
    pub package_url: Option<String>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            max_size: 64 << 20,
            release_key: None,
            release_key_file: None,
            package_url: None,
        }
    }
}

/// HTTPS and the Polaris CA.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Folder of the CA (`ca.pem`, `ca.key`), made at first start when empty. Replicas share
    /// it. Agents pin `ca.pem`.
    pub ca_dir: PathBuf,
    /// Server certificate chain (PEM); default: one the CA issues for `names`, kept in
    /// `ca_dir` as `server.pem` / `server.key`.
    pub cert: Option<PathBuf>,
    /// Its private key.
    pub key: Option<PathBuf>,
    /// DNS names and addresses of the issued server certificate (default: `localhost`,
    /// `127.0.0.1` and this machine's host name).
    #[serde(default)]
    pub names: Vec<String>,
    /// Lifetime of the host certificates issued at enrollment and renewal, in seconds (agents
    /// renew when a third of it is left).
    #[serde(default = "default_host_cert_lifetime")]
    pub host_cert_lifetime: u64,
}

/// Timeouts and caps of the HTTP(S) listener (slow or idle clients cannot hold it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionsConfig {
    /// Seconds a client may take to send a request's headers (also the keep-alive idle time).
    pub header_timeout: u64,
    /// Seconds a request may take from its headers to its answer (package transfers excepted).
    pub request_timeout: u64,
    /// Seconds the TLS handshake may take.
    pub handshake_timeout: u64,
    /// Open connections at once; more are closed at once.
    pub max: usize,
    /// Open connections at once from one address.
    pub max_per_address: usize,
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        ConnectionsConfig {
            header_timeout: 10,
            request_timeout: 60,
            handshake_timeout: 10,
            max: 10_000,
            max_per_address: 1_000,
        }
    }
}

/// The listener gearman agents connect to (`wss://<listen>/agent/ws`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsConfig {
    /// Address of the TLS listener.
    #[serde(default = "default_agents_listen")]
    pub listen: SocketAddr,
    /// PEM certificate chain of the server (default: the HTTPS listener's). Agents must
    /// present a client certificate of the Polaris CA naming the host they claim in `init`.
    pub cert: Option<PathBuf>,
    /// PEM private key of the server.
    pub key: Option<PathBuf>,
    /// Largest WebSocket message an agent may send, in bytes (a command's result carries at
    /// most 64 KiB of output per stream, JSON-escaped; `getinfo.processes` of a busy host is
    /// the largest answer); a larger one ends the connection.
    #[serde(default = "default_max_frame")]
    pub max_frame: usize,
    /// Agent connections at once; more are closed at once.
    #[serde(default = "default_agent_connections")]
    pub max_connections: usize,
    /// Agent connections from one address still in their TLS and WebSocket handshakes
    /// (authenticated agents behind one NAT count in `max_connections` only).
    #[serde(default = "default_agent_connections_per_address")]
    pub max_connections_per_address: usize,
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
    /// htpasswd file with the users allowed: any hash `htpasswd` writes on Linux (bcrypt, apr1
    /// MD5, `{SHA}`, SHA-256/512-crypt, DES crypt); plain-text lines are refused.
    pub htpasswd: PathBuf,
    /// Realm shown in the browser's password prompt.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Largest upload (`PUT`), in bytes.
    #[serde(default = "default_max_upload")]
    pub max_upload: u64,
    /// The htpasswd users who may upload (`PUT`); every other user only downloads. Empty (the
    /// default): nobody uploads over HTTP.
    #[serde(default)]
    pub uploaders: Vec<String>,
    /// Failed logins one client address may make per `login_window` before it is answered
    /// 429 until the window ends.
    #[serde(default = "default_login_failures")]
    pub login_failures: u32,
    /// Seconds of the failed-login window.
    #[serde(default = "default_login_window")]
    pub login_window: u64,
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
fn default_host_cert_lifetime() -> u64 {
    30 * 86_400
}
fn default_max_frame() -> usize {
    4 << 20
}
fn default_agent_connections() -> usize {
    50_000
}
fn default_agent_connections_per_address() -> usize {
    256
}
fn default_realm() -> String {
    "Restricted".into()
}
fn default_login_failures() -> u32 {
    10
}
fn default_login_window() -> u64 {
    60
}
fn default_max_upload() -> u64 {
    8 * 1024 * 1024 * 1024
}

impl Config {
    /// Reads and checks the configuration file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let mut config: Config = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
        if let Some(file) = &config.admin_token_file {
            anyhow::ensure!(
                config.admin_token.is_empty(),
                "{}: admin_token and admin_token_file exclude each other",
                path.display()
            );
            let token = std::fs::read_to_string(file).map_err(|e| {
                anyhow::anyhow!("cannot read admin_token_file {}: {e}", file.display())
            })?;
            config.admin_token = token.trim().to_string();
        }
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
        self.limits.check()?;
        if !(1..=86_400).contains(&self.logs.retention_interval) {
            return Err("logs.retention_interval must be 1 to 86400 seconds".into());
        }
        let plugins = &self.plugins;
        if !(1..=1 << 30).contains(&plugins.max_size) {
            return Err("plugins.max_size must be 1 byte to 1 GiB".into());
        }
        if plugins.release_key.is_some() && plugins.release_key_file.is_some() {
            return Err("plugins.release_key and release_key_file exclude each other".into());
        }
        if let Some(url) = &plugins.package_url
            && !(url.starts_with("http://")
                || url.starts_with("https://")
                || url.starts_with("ftp://"))
        {
            return Err(format!(
                "plugins.package_url `{url}` is not an http://, https:// or ftp:// URL"
            ));
        }
        if let Some(packages) = &self.packages
            && (packages.login_failures == 0 || packages.login_window == 0)
        {
            return Err("packages.login_failures and login_window must be at least 1".into());
        }
        match (&self.tls, self.plain_http) {
            (None, false) => {
                return Err("Polaris serves HTTPS: add a [tls] section with ca_dir \
                    (or plain_http = true, for loopback development only)"
                    .into());
            }
            (Some(_), true) => return Err("plain_http and [tls] exclude each other".into()),
            (None, true) if !self.listen.ip().is_loopback() => {
                return Err(format!(
                    "plain_http is for loopback development only; listen = {} needs [tls]",
                    self.listen
                ));
            }
            _ => {}
        }
        if let Some(tls) = &self.tls {
            if tls.cert.is_some() != tls.key.is_some() {
                return Err("tls.cert and tls.key go together".into());
            }
            if !(60..=10 * 365 * 86_400).contains(&tls.host_cert_lifetime) {
                return Err("tls.host_cert_lifetime must be 60 s to 10 years".into());
            }
        }
        let c = &self.connections;
        if [c.header_timeout, c.request_timeout, c.handshake_timeout].contains(&0)
            || c.max == 0
            || c.max_per_address == 0
        {
            return Err("connections: timeouts and caps must be at least 1".into());
        }
        if let Some(agents) = &self.agents {
            if self.tls.is_none() {
                return Err(
                    "[agents] needs [tls]: agents authenticate with certificates of its CA".into(),
                );
            }
            if agents.cert.is_some() != agents.key.is_some() {
                return Err("agents.cert and agents.key go together".into());
            }
            if !(64 * 1024..=64 << 20).contains(&agents.max_frame) {
                return Err("agents.max_frame must be 64 KiB to 64 MiB".into());
            }
            if agents.max_connections == 0 || agents.max_connections_per_address == 0 {
                return Err("agents.max_connections(_per_address) must be at least 1".into());
            }
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
    fn logs_section_takes_seconds_or_units() {
        let base = "admin_token = \"0123456789abcdef\"\nplain_http = true\n";
        let config: Config = toml::from_str(base).unwrap();
        assert_eq!(config.logs.max_age, 30 * 86_400);
        assert_eq!(config.logs.retention().max_bytes, Some(10 << 30));
        for (given, seconds) in [
            ("7200", 7200),
            ("\"2h\"", 7200),
            ("\"3d\"", 259_200),
            ("0", 0),
        ] {
            let text = format!("{base}[logs]\nmax_age = {given}\nmax_bytes = 0");
            let config: Config = toml::from_str(&text).unwrap();
            assert_eq!(config.logs.max_age, seconds, "{given}");
            assert_eq!(config.logs.retention().max_bytes, None);
            assert_eq!(
                config.logs.retention().max_age,
                (seconds > 0).then_some(seconds)
            );
        }
        for bad in ["\"3w\"", "\"x\"", "-1"] {
            let text = format!("{base}[logs]\nmax_age = {bad}");
            assert!(toml::from_str::<Config>(&text).is_err(), "{bad}");
        }
        let text = format!("{base}[logs]\nretention_interval = 0");
        assert!(toml::from_str::<Config>(&text).unwrap().check().is_err());
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let config: Config =
            toml::from_str("admin_token = \"0123456789abcdef\"\nplain_http = true").unwrap();
        config.check().unwrap();
        assert_eq!(config.listen.port(), 8080);
        assert!(config.database.starts_with("sqlite:"));
        assert!(config.packages.is_none());
        assert!(config.agents.is_none());
    }

    #[test]
    fn the_admin_token_can_live_in_a_file_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("admin_token");
        std::fs::write(&token, "0123456789abcdefXYZ\n").unwrap();
        let conf = dir.path().join("polaris.toml");
        std::fs::write(
            &conf,
            format!("admin_token_file = {:?}\nplain_http = true\n", token),
        )
        .unwrap();
        assert_eq!(
            Config::load(&conf).unwrap().admin_token,
            "0123456789abcdefXYZ"
        );
        // Both at once, or a missing file: refused with the reason.
        std::fs::write(
            &conf,
            format!("admin_token = \"0123456789abcdef\"\nadmin_token_file = {token:?}\nplain_http = true\n"),
        )
        .unwrap();
        assert!(format!("{:#}", Config::load(&conf).unwrap_err()).contains("exclude"));
        std::fs::remove_file(&token).unwrap();
        std::fs::write(
            &conf,
            format!("admin_token_file = {token:?}\nplain_http = true\n"),
        )
        .unwrap();
        assert!(format!("{:#}", Config::load(&conf).unwrap_err()).contains("admin_token_file"));
    }

    #[test]
    fn agents_section_gets_defaults() {
        let config: Config = toml::from_str(
            "admin_token = \"0123456789abcdef\"\n[tls]\nca_dir = \"ca\"\n[agents]\n",
        )
        .unwrap();
        config.check().unwrap();
        let agents = config.agents.unwrap();
        assert_eq!(agents.listen.port(), 8443);
        assert_eq!(agents.heartbeat, 15);
        assert!(agents.cert.is_none() && agents.redirect.is_none());
    }

    #[test]
    fn plugins_section_gets_defaults_and_refuses_nonsense() {
        let base = "admin_token = \"0123456789abcdef\"\nplain_http = true\n";
        let config: Config = toml::from_str(base).unwrap();
        assert_eq!(config.plugins.max_size, 64 << 20);
        assert!(config.plugins.release_key.is_none() && config.plugins.package_url.is_none());
        for (section, word) in [
            ("[plugins]\nmax_size = 0", "max_size"),
            (
                "[plugins]\nrelease_key = \"RWQ\"\nrelease_key_file = \"k.pub\"",
                "exclude",
            ),
            ("[plugins]\npackage_url = \"file:///srv\"", "package_url"),
        ] {
            let config: Config = toml::from_str(&format!("{base}{section}")).unwrap();
            let error = config.check().unwrap_err();
            assert!(error.contains(word), "{section}: {error}");
        }
        assert!(toml::from_str::<Config>(&format!("{base}[plugins]\nkey = 1")).is_err());
    }

    #[test]
    fn rejects_short_tokens_bad_urls_and_typos() {
        let config: Config = toml::from_str("admin_token = \"short\"\nplain_http = true").unwrap();
        assert!(config.check().is_err());
        // Neither HTTPS nor an explicit plain_http: refused.
        let config: Config = toml::from_str("admin_token = \"0123456789abcdef\"").unwrap();
        assert!(config.check().unwrap_err().contains("[tls]"));
        // Plain HTTP on an address other hosts can reach: refused.
        let config: Config = toml::from_str(
            "admin_token = \"0123456789abcdef\"\nplain_http = true\nlisten = \"0.0.0.0:8080\"",
        )
        .unwrap();
        assert!(config.check().unwrap_err().contains("loopback"));
        let config: Config =
            toml::from_str("admin_token = \"0123456789abcdef\"\ndatabase = \"redis://x\"").unwrap();
        assert!(config.check().is_err());
        assert!(
            toml::from_str::<Config>("admin_token = \"0123456789abcdef\"\nlisten_on = 1").is_err()
        );
    }
}
