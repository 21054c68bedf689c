//! The host's identity: a private key made here (it never leaves the host), the client
//! certificate Polaris's CA issued for it at enrollment, and the CA itself, kept in
//! `identity_dir` for every agent of the host. The folder is 0700 (0750 with `identity_group`,
//! the agents' group), the key 0600 (0640 with the group); files are replaced atomically, so an
//! agent reading them sees the old pair or the new one. A certificate is renewed when less than
//! a third of its life is left.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use wire::enroll::EnrollReply;

/// The file names in the identity folder.
pub const KEY: &str = "host.key";
/// The client certificate.
pub const CERT: &str = "host.pem";
/// The Polaris CA, as the server sent it (the configured `ca` is what is trusted).
pub const CA: &str = "ca.pem";
/// What the BootAgent knows of its certificate.
const META: &str = "identity.json";

/// What is known of the certificate held.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Held {
    /// The host name the certificate carries.
    pub hostname: String,
    /// When it was received, Unix seconds.
    pub issued_at: i64,
    /// When it expires, Unix seconds.
    pub not_after: i64,
}

impl Held {
    /// True when less than a third of the certificate's life is left at `now`.
    pub fn needs_renewal(&self, now: i64) -> bool {
        let life = (self.not_after - self.issued_at).max(1);
        self.not_after - now < life / 3
    }
}

/// The identity folder.
#[derive(Debug, Clone)]
pub struct Identity {
    dir: PathBuf,
    group: Option<nix::unistd::Gid>,
}

impl Identity {
    /// The folder `dir`, readable by `group` (a group name) besides root when given.
    pub fn new(dir: &Path, group: Option<&str>) -> anyhow::Result<Identity> {
        let group = match group {
            Some(name) => Some(
                nix::unistd::Group::from_name(name)
                    .with_context(|| format!("look up group {name}"))?
                    .with_context(|| format!("identity_group: no group named {name}"))?
                    .gid,
            ),
            None => None,
        };
        Ok(Identity {
            dir: dir.to_path_buf(),
            group,
        })
    }

    /// Path of the key.
    pub fn key_path(&self) -> PathBuf {
        self.dir.join(KEY)
    }

    /// Path of the certificate.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(CERT)
    }

    /// The certificate held, if enrolled (key, certificate and record all present).
    pub fn held(&self) -> Option<Held> {
        if !self.key_path().exists() || !self.cert_path().exists() {
            return None;
        }
        let text = std::fs::read_to_string(self.dir.join(META)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// A new key and a CSR for it (PEM), to send to Polaris; the key is kept by
    /// [`Identity::save`] once the certificate arrives.
    pub fn new_request(hostname: &str) -> anyhow::Result<(String, String)> {
        let key = rcgen::KeyPair::generate().context("generate a key")?;
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, hostname);
        let csr = params
            .serialize_request(&key)
            .context("make the CSR")?
            .pem()
            .context("encode the CSR")?;
        Ok((key.serialize_pem(), csr))
    }

    /// Keeps the key and what Polaris answered: key 0600 (0640 for the group), certificate
    /// and CA 0644, folder 0700 (0750).
    pub fn save(&self, key_pem: &str, reply: &EnrollReply, now: i64) -> anyhow::Result<Held> {
        let (dir_mode, key_mode) = if self.group.is_some() {
            (0o750, 0o640)
        } else {
            (0o700, 0o600)
        };
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("create {}", self.dir.display()))?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(dir_mode))
            .with_context(|| format!("chmod {}", self.dir.display()))?;
        if let Some(gid) = self.group {
            nix::unistd::chown(&self.dir, None, Some(gid))
                .with_context(|| format!("chgrp {}", self.dir.display()))?;
        }
        let held = Held {
            hostname: reply.hostname.clone(),
            issued_at: now,
            not_after: reply.not_after,
        };
        // The certificate after the key: an agent that reads the new certificate finds the
        // key that fits it (the old key still fits the old certificate until then).
        self.write(KEY, key_pem, key_mode)?;
        self.write(CERT, &reply.cert, 0o644)?;
        self.write(CA, &reply.ca, 0o644)?;
        self.write(META, &serde_json::to_string(&held)?, 0o600)?;
        Ok(held)
    }

    fn write(&self, name: &str, text: &str, mode: u32) -> anyhow::Result<()> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("create {}", tmp.display()))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("write {}", tmp.display()))?;
        if let Some(gid) = self.group {
            nix::unistd::chown(&tmp, None, Some(gid))
                .with_context(|| format!("chgrp {}", tmp.display()))?;
        }
        std::fs::rename(&tmp, &path).with_context(|| format!("rename to {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_key_private_and_knows_when_to_renew() {
        let dir = tempfile::tempdir().unwrap();
        let identity = Identity::new(&dir.path().join("id"), None).unwrap();
        assert!(identity.held().is_none());
        let (key, csr) = Identity::new_request("host-a").unwrap();
        assert!(csr.contains("CERTIFICATE REQUEST"));
        let reply = EnrollReply {
            errcode: 0,
            hostname: "host-a".into(),
            cert: "CERT".into(),
            ca: "CA".into(),
            not_after: 1_000 + 900,
        };
        let held = identity.save(&key, &reply, 1_000).unwrap();
        assert_eq!(identity.held(), Some(held.clone()));
        let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(identity.key_path()), 0o600);
        assert_eq!(mode(dir.path().join("id")), 0o700);
        assert!(!held.needs_renewal(1_500), "600 of 900 s left");
        assert!(held.needs_renewal(1_700), "200 of 900 s left");
    }
}
