//! The agent's TLS client configuration: the server's certificate is checked against the
//! configured CA (never the system roots: a fleet has its own CA), with an optional client
//! certificate for mutual TLS.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Builds the client configuration from PEM files.
pub fn client_config(
    ca: &Path,
    client_cert: Option<(&Path, &Path)>,
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
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match client_cert {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .with_context(|| format!("cannot read client certificate {}", cert.display()))?
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("bad client certificate {}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("cannot read client key {}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .context("client certificate and key do not match")?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
