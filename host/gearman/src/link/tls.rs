//! The agent's TLS client configuration: Polaris's certificate is checked against the
//! configured CA (never the system roots: a fleet has its own CA), and the host's client
//! certificate (the identity the BootAgent enrolled) is read from its files at each handshake
//! whose files changed since the last one, so a renewed certificate is used on the next
//! connection without a restart, and an agent started before enrollment connects once the
//! files appear.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::Context as _;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// Builds the client configuration: the CA file, and the client certificate and key files.
pub fn client_config(
    ca: &Path,
    cert: &Path,
    key: &Path,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    // Another provider may already be installed in this process; either way one is.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)
        .with_context(|| format!("cannot read CA file {}", ca.display()))?
    {
        let cert = cert.with_context(|| format!("bad certificate in {}", ca.display()))?;
        roots
            .add(cert)
            .with_context(|| format!("unusable CA certificate in {}", ca.display()))?;
    }
    if roots.is_empty() {
        anyhow::bail!("no certificate in CA file {}", ca.display());
    }
    let identity = Arc::new(FileIdentity {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        loaded: Mutex::new(None),
    });
    if let Err(e) = identity.load() {
        tracing::warn!(
            "No usable host certificate yet ({e:#}); Polaris will refuse the link until the BootAgent has enrolled this host."
        );
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_cert_resolver(identity);
    Ok(Arc::new(config))
}

/// The modification times of the certificate and key files, and what they held then.
type Loaded = ((SystemTime, SystemTime), Arc<CertifiedKey>);

/// The host certificate and key files, reloaded when either changes.
#[derive(Debug)]
struct FileIdentity {
    cert: PathBuf,
    key: PathBuf,
    loaded: Mutex<Option<Loaded>>,
}

impl FileIdentity {
    fn stamps(&self) -> Option<(SystemTime, SystemTime)> {
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        Some((modified(&self.cert)?, modified(&self.key)?))
    }

    /// The current pair, read again when the files changed.
    fn load(&self) -> anyhow::Result<Arc<CertifiedKey>> {
        let stamps = self.stamps().with_context(|| {
            format!("{} or {} missing", self.cert.display(), self.key.display())
        })?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, key)) = &*loaded
            && *seen == stamps
        {
            return Ok(key.clone());
        }
        let chain = CertificateDer::pem_file_iter(&self.cert)
            .with_context(|| format!("cannot read client certificate {}", self.cert.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("bad client certificate {}", self.cert.display()))?;
        let der = PrivateKeyDer::from_pem_file(&self.key)
            .with_context(|| format!("cannot read client key {}", self.key.display()))?;
        let signer = rustls::crypto::ring::sign::any_supported_type(&der)
            .context("unsupported client key type")?;
        let key = Arc::new(CertifiedKey::new(chain, signer));
        if let Err(e) = key.keys_match() {
            // The BootAgent replaces the key, then the certificate: between the two renames
            // the old pair is still the one that fits.
            if let Some((_, old)) = &*loaded {
                tracing::debug!(
                    "Host certificate and key do not match yet ({e}); the previous pair is kept."
                );
                return Ok(old.clone());
            }
            return Err(e).context("client certificate and key do not match");
        }
        *loaded = Some((stamps, key.clone()));
        Ok(key)
    }
}

impl ResolvesClientCert for FileIdentity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        match self.load() {
            Ok(key) => Some(key),
            Err(e) => {
                tracing::warn!("No client certificate to present: {e:#}");
                None
            }
        }
    }

    fn has_certs(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed pair for `name`: (certificate PEM, key PEM).
    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn presents_the_certificate_on_disk_and_its_renewal() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("host.pem"), dir.path().join("host.key"));
        let identity = FileIdentity {
            cert: cert.clone(),
            key: key.clone(),
            loaded: Mutex::new(None),
        };
        // Before enrollment: nothing to present, and no failure.
        assert!(identity.resolve(&[], &[]).is_none());
        let (first, first_key) = pair("host-a");
        std::fs::write(&key, &first_key).unwrap();
        std::fs::write(&cert, &first).unwrap();
        let presented = identity.resolve(&[], &[]).unwrap();
        // Renewed: a new pair with a later modification time is read at the next handshake.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (second, second_key) = pair("host-a");
        std::fs::write(&key, &second_key).unwrap();
        std::fs::write(&cert, &second).unwrap();
        let renewed = identity.resolve(&[], &[]).unwrap();
        assert_ne!(presented.cert[0], renewed.cert[0]);
        let again = identity.resolve(&[], &[]).unwrap();
        assert!(
            Arc::ptr_eq(&renewed, &again),
            "unchanged files are not read again"
        );
        // Half way through a renewal (new key, old certificate): the previous pair is kept;
        // with no previous pair, a key that does not fit is refused.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&key, &first_key).unwrap();
        let kept = identity.resolve(&[], &[]).unwrap();
        assert!(Arc::ptr_eq(&renewed, &kept));
        let fresh = FileIdentity {
            cert,
            key,
            loaded: Mutex::new(None),
        };
        assert!(fresh.load().is_err());
    }
}
