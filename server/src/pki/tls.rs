//! rustls configurations of Polaris's two listeners: HTTPS (client certificates optional: the
//! admin API and enrollment authenticate otherwise, the agent endpoints require one) and the
//! agents' wss (client certificates required). Both verify client certificates against the
//! Polaris CA; the provider (ring) is installed once per process.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

/// Installs the ring provider as the process default; later calls (tests, a second server in
/// the same process) find it installed and change nothing.
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Whether a listener demands a client certificate during the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Asked for, not required (HTTPS: handlers decide).
    Optional,
    /// Required (the agents' wss).
    Required,
}

/// Reads every certificate of a PEM file.
pub fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("read certificates from {}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{}: no certificate", path.display());
    }
    Ok(certs)
}

/// A server configuration with the chain and key of the given PEM files, verifying client
/// certificates against the CA file `client_ca`.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: &Path,
    auth: ClientAuth,
) -> anyhow::Result<Arc<ServerConfig>> {
    install_provider();
    let certs = read_certs(cert)?;
    let key_der = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("read the private key {}", key.display()))?;
    let mut roots = RootCertStore::empty();
    for ca in read_certs(client_ca)? {
        roots
            .add(ca)
            .with_context(|| format!("CA certificate {}", client_ca.display()))?;
    }
    let verifier = WebPkiClientVerifier::builder(Arc::new(roots));
    let verifier = match auth {
        ClientAuth::Optional => verifier.allow_unauthenticated(),
        ClientAuth::Required => verifier,
    }
    .build()
    .with_context(|| format!("CA certificate {}", client_ca.display()))?;
    let mut server = ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key_der)
        .with_context(|| {
            format!(
                "{} and {} do not fit together",
                cert.display(),
                key.display()
            )
        })?;
    // No resumption: agents hold long connections or come back every `step`, and every
    // connection's client certificate is verified and read afresh.
    server.send_tls13_tickets = 0;
    server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(server))
}

/// Raises the soft limit of open files to the hard limit; returns the new soft limit.
pub fn raise_nofile() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard
        && let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
    {
        tracing::warn!("cannot raise the open-files limit to {hard}: {e}");
        return Some(soft);
    }
    Some(hard)
}
