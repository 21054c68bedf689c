//! The agent listener's TLS: the rustls provider (installed once per process), the server
//! configuration from the PEM files of `[agents]` (with client certificates required when
//! `client_ca` is set), and the open-files limit raised for thousands of connections.

use std::sync::Arc;

use anyhow::Context;
use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::config::AgentsConfig;

/// Installs the ring provider as the process default; later calls (tests, a second server in
/// the same process) find it installed and change nothing.
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The TLS configuration of the agent listener.
pub fn server_config(config: &AgentsConfig) -> anyhow::Result<Arc<ServerConfig>> {
    install_provider();
    let certs = CertificateDer::pem_file_iter(&config.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("agents.cert {}", config.cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("agents.cert {}: no certificate", config.cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(&config.key)
        .with_context(|| format!("agents.key {}", config.key.display()))?;
    let builder = ServerConfig::builder();
    let builder = match &config.client_ca {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("agents.client_ca {}", path.display()))?;
            for ca in cas {
                roots
                    .add(ca)
                    .with_context(|| format!("agents.client_ca {}", path.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .with_context(|| format!("agents.client_ca {}", path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut server = builder
        .with_single_cert(certs, key)
        .context("agents.cert and agents.key do not fit together")?;
    // Agents hold one long connection: resumption tickets would only cost memory.
    server.send_tls13_tickets = 0;
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
