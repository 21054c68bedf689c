//! The plugin catalogue's side outside the database: where releases are stored on the package
//! server and under which URL agents download them, the release key, and the checks an upload
//! passes before anything is written ([`Manifest::check`], [`elf`], [`signature`]). The HTTP
//! handler is `api::catalogue`; the records are `db::plugins`.
//!
//! A release `<agent>/<name>/<version>` lies at `plugins/<agent>/<name>/<version>/<name>.so`
//! under the package root (with `<name>.so.minisig` beside it when signed: agents fetch
//! `<url>.minisig`). The file is written to a hidden temporary name in that folder, fsynced, and
//! hard-linked to its name, which fails if a file is there: a release on disk is never
//! replaced, so two uploads racing cannot leave a file that differs from the recorded digest.

pub mod elf;
pub mod signature;

use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;
use sha2::Digest as _;
use wire::plugins::{PluginAgent, plugin_name};

use crate::config::Config;
use signature::ReleaseKey;

/// The roles a plugin may have.
const ROLES: [&str; 3] = ["read", "write", "info"];
/// Longest version of a release.
pub const VERSION_MAX: usize = 64;

/// The catalogue's configuration, read once at start.
#[derive(Debug)]
pub struct Catalogue {
    /// The package root (`[packages] root`), when there is a package server.
    root: Option<PathBuf>,
    /// The release key, when one is configured.
    key: Option<ReleaseKey>,
    /// Largest plugin file accepted.
    pub max_size: u64,
    /// `plugins.package_url`, or the bound listener's URL (set by `app::serve`).
    package_url: OnceLock<String>,
    /// `https` or (with `plain_http`) `http`.
    scheme: &'static str,
}

impl Catalogue {
    /// The catalogue of a configuration; fails when the release key cannot be read.
    pub fn from_config(config: &Config) -> anyhow::Result<Catalogue> {
        let plugins = &config.plugins;
        let key = match (&plugins.release_key, &plugins.release_key_file) {
            (Some(text), _) => Some(
                ReleaseKey::parse(text).map_err(|e| anyhow::anyhow!("plugins.release_key: {e}"))?,
            ),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("plugins.release_key_file {}: {e}", path.display())
                })?;
                Some(ReleaseKey::parse(&text).map_err(|e| {
                    anyhow::anyhow!("plugins.release_key_file {}: {e}", path.display())
                })?)
            }
            (None, None) => None,
        };
        let package_url = OnceLock::new();
        if let Some(url) = &plugins.package_url {
            let _ = package_url.set(url.trim_end_matches('/').to_owned());
        }
        Ok(Catalogue {
            root: config.packages.as_ref().map(|p| p.root.clone()),
            key,
            max_size: plugins.max_size,
            package_url,
            scheme: if config.plain_http { "http" } else { "https" },
        })
    }

    /// Takes the listener's address as the package URL, unless one is configured or the
    /// address is a wildcard (agents could not reach it).
    pub fn listening_on(&self, address: SocketAddr) {
        if !address.ip().is_unspecified() {
            let _ = self
                .package_url
                .set(format!("{}://{address}/packages", self.scheme));
        }
    }

    /// The package server's URL as agents reach it, if known.
    pub fn package_url(&self) -> Option<&str> {
        self.package_url.get().map(String::as_str)
    }

    /// The download URL of a file under the package root.
    pub fn url(&self, path: &str) -> Option<String> {
        self.package_url().map(|base| format!("{base}/{path}"))
    }

    /// The release key, when one is configured.
    pub fn key(&self) -> Option<&ReleaseKey> {
        self.key.as_ref()
    }

    /// The package root, when there is a package server.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }
}

/// The manifest of an upload: which agent loads the plugin, and what the plugin says it is.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `gearman` (info plugins) or `nodus` (read and write plugins).
    pub agent: PluginAgent,
    /// The plugin's name (`[a-z0-9_-]`, 1 to 64, not starting with `-`): it installs as
    /// `<name>.so`.
    pub name: String,
    /// The release's version (1 to 64 of `A-Z a-z 0-9 . _ + -`, starting with a letter or
    /// digit); the library must report this version, or the agents refuse it.
    pub version: String,
    /// The plugin-api version it was built against, `major.minor.patch` (e.g. `2.0.0`).
    pub abi: String,
    /// Its roles: `read`, `write`, `info` (gearman loads info plugins, nodus read and write
    /// plugins).
    pub roles: Vec<String>,
}

/// Checks a release version: it becomes a folder name and part of a URL.
pub fn release_version(version: &str) -> Result<(), String> {
    let ok = !version.is_empty()
        && version.len() <= VERSION_MAX
        && version.starts_with(|c: char| c.is_ascii_alphanumeric())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`version` must be 1 to {VERSION_MAX} of A-Z, a-z, 0-9, `.`, `_`, `+` and `-`, \
             starting with a letter or digit"
        ))
    }
}

impl Manifest {
    /// Checks every field; the error names the field.
    pub fn check(&self) -> Result<(), String> {
        plugin_name("name", &self.name)?;
        release_version(&self.version)?;
        let parts: Vec<&str> = self.abi.split('.').collect();
        if parts.len() != 3
            || parts
                .iter()
                .any(|p| p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err("`abi` must be the plugin-api version, major.minor.patch".into());
        }
        if self.roles.is_empty() || self.roles.len() > ROLES.len() {
            return Err("`roles` must name 1 to 3 of read, write, info".into());
        }
        for (i, role) in self.roles.iter().enumerate() {
            if !ROLES.contains(&role.as_str()) {
                return Err(format!(
                    "`roles`: `{}` is not read, write or info",
                    role.escape_debug()
                ));
            }
            if self.roles[..i].contains(role) {
                return Err(format!("`roles`: `{role}` is listed twice"));
            }
        }
        let has = |role: &str| self.roles.iter().any(|r| r == role);
        match self.agent {
            PluginAgent::Gearman if !has("info") => {
                Err("`roles`: gearman loads info plugins; this one has no `info` role".into())
            }
            PluginAgent::Nodus if !has("read") && !has("write") => {
                Err("`roles`: nodus loads read and write plugins; this one has neither role".into())
            }
            _ => Ok(()),
        }
    }

    /// Its path under the package root.
    pub fn path(&self) -> String {
        format!(
            "plugins/{}/{}/{}/{}.so",
            self.agent, self.name, self.version, self.name
        )
    }
}

/// `SHA256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    let hash = sha2::Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("SHA256:{hex}")
}

/// Why a release's files were not stored.
#[derive(Debug)]
pub enum StoreError {
    /// A different file is already there.
    Conflict(String),
    /// Writing failed.
    Io(std::io::Error),
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e)
    }
}

/// Writes a release's file at `root/path` (never replacing a different one: the same bytes
/// there already are fine) and its signature beside it; blocking.
pub fn store_files(
    root: &Path,
    path: &str,
    file: &[u8],
    signature: Option<&str>,
) -> Result<(), StoreError> {
    let target = root.join(path);
    let dir = target
        .parent()
        .ok_or_else(|| StoreError::Conflict("the release has no folder".into()))?
        .to_path_buf();
    std::fs::create_dir_all(&dir)?;
    let temp = dir.join(format!(".polaris-plugin-{}", uuid::Uuid::new_v4().simple()));
    let written = write_synced(&temp, file).and_then(|()| std::fs::hard_link(&temp, &target));
    let _ = std::fs::remove_file(&temp);
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let there = std::fs::read(&target)?;
            if there != file {
                return Err(StoreError::Conflict(format!(
                    "{path} exists on the package server with other content ({}) but is not in \
                     the catalogue; remove it to upload this release",
                    digest(&there)
                )));
            }
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(signature) = signature {
        let mut sig_path = target.into_os_string();
        sig_path.push(".minisig");
        let sig_path = PathBuf::from(sig_path);
        let temp = dir.join(format!(
            ".polaris-minisig-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let written = write_synced(&temp, signature.as_bytes())
            .and_then(|()| std::fs::rename(&temp, &sig_path));
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written?;
    }
    if let Ok(dir) = std::fs::File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Creates `path` (0644, never replacing a file) with `data`, fsynced.
fn write_synced(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(json: serde_json::Value) -> Result<(), String> {
        serde_json::from_value::<Manifest>(json)
            .map_err(|e| e.to_string())?
            .check()
    }

    #[test]
    fn manifests_are_checked_field_by_field() {
        let good = serde_json::json!({"agent": "nodus", "name": "rollout", "version": "1.2.0",
            "abi": "2.0.0", "roles": ["read", "info"]});
        manifest(good.clone()).unwrap();
        for (field, value, word) in [
            ("name", serde_json::json!("../x"), "name"),
            ("name", serde_json::json!("Rollout"), "name"),
            ("version", serde_json::json!(".."), "version"),
            ("version", serde_json::json!("1/2"), "version"),
            ("abi", serde_json::json!("2.x"), "abi"),
            ("roles", serde_json::json!([]), "roles"),
            ("roles", serde_json::json!(["read", "read"]), "twice"),
            ("roles", serde_json::json!(["info"]), "nodus"),
            ("agent", serde_json::json!("bootagent"), "variant"),
            ("extra", serde_json::json!(1), "unknown field"),
        ] {
            let mut bad = good.clone();
            bad[field] = value;
            let error = manifest(bad).unwrap_err();
            assert!(error.contains(word), "{field}: {error}");
        }
        let gearman: Manifest = serde_json::from_value(serde_json::json!({"agent": "gearman",
            "name": "rollout", "version": "1.2.0", "abi": "2.0.0", "roles": ["read"]}))
        .unwrap();
        assert!(gearman.check().unwrap_err().contains("info"));
        let ok: Manifest = serde_json::from_value(good).unwrap();
        assert_eq!(ok.path(), "plugins/nodus/rollout/1.2.0/rollout.so");
    }

    /// The package URL: the configured one, else the bound listener's unless it is a wildcard.
    #[test]
    fn the_package_url_is_configured_or_the_listeners() {
        let config = |extra: &str| -> Config {
            toml::from_str(&format!(
                "admin_token = \"0123456789abcdef\"\nplain_http = true\n{extra}"
            ))
            .unwrap()
        };
        let catalogue = Catalogue::from_config(&config("")).unwrap();
        catalogue.listening_on("0.0.0.0:8080".parse().unwrap());
        assert_eq!(
            catalogue.package_url(),
            None,
            "agents cannot reach a wildcard"
        );
        catalogue.listening_on("127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            catalogue.url("plugins/x.so").as_deref(),
            Some("http://127.0.0.1:8080/packages/plugins/x.so")
        );
        let set = config("[plugins]\npackage_url = \"https://pkg.example/packages/\"");
        let catalogue = Catalogue::from_config(&set).unwrap();
        catalogue.listening_on("127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            catalogue.package_url(),
            Some("https://pkg.example/packages")
        );
        let bad = config("[plugins]\nrelease_key = \"not a key\"");
        assert!(Catalogue::from_config(&bad).is_err());
    }

    #[test]
    fn a_stored_release_is_never_replaced() {
        let root = tempfile::tempdir().unwrap();
        let path = "plugins/nodus/p/1.0.0/p.so";
        store_files(root.path(), path, b"one", Some("sig")).unwrap();
        // The same bytes again: fine (an upload that failed after writing, retried).
        store_files(root.path(), path, b"one", None).unwrap();
        match store_files(root.path(), path, b"two", None) {
            Err(StoreError::Conflict(why)) => assert!(why.contains("other content"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read(root.path().join(path)).unwrap(), b"one");
        assert_eq!(
            std::fs::read(root.path().join(format!("{path}.minisig"))).unwrap(),
            b"sig"
        );
        let leftovers = std::fs::read_dir(root.path().join("plugins/nodus/p/1.0.0"))
            .unwrap()
            .count();
        assert_eq!(leftovers, 2, "no temporary file is left behind");
    }
}
