//! http and https: the ureq agent (rustls; a CA file instead of the web's roots when one is
//! configured) and a GET whose body is read as a stream, with basic auth when credentials are
//! given.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use ureq::tls::{ClientCert, PemItem, RootCerts, TlsConfig};

use crate::Error;

/// Reads the PEM certificates of a CA file for ureq.
fn root_certs(path: &Path) -> Result<RootCerts, Error> {
    let invalid = |text: String| Error::Invalid(text);
    let pem = std::fs::read(path)
        .map_err(|e| invalid(format!("cannot read CA file {}: {e}", path.display())))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(cert) =
            item.map_err(|e| invalid(format!("CA file {}: {e}", path.display())))?
        {
            certs.push(cert);
        }
    }
    if certs.is_empty() {
        return Err(invalid(format!(
            "CA file {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(RootCerts::new_with_certs(&certs))
}

/// An HTTP client sending `user_agent`: statuses are the caller's to judge, up to `redirects`
/// redirects followed (credentials are never sent on to where a redirect points), `timeout` to
/// connect and to wait for an answer, the CA file `ca` (else the web's roots) for https. The
/// BootAgent also sends its requests to Polaris with it.
pub fn http_agent(
    user_agent: &str,
    ca: Option<&Path>,
    timeout: Duration,
    redirects: u32,
) -> Result<ureq::Agent, Error> {
    http_agent_with_identity(user_agent, ca, timeout, redirects, None)
}

/// Reads a client certificate chain and its key (PEM files) for mutual TLS.
fn client_cert(cert: &Path, key: &Path) -> Result<ClientCert, Error> {
    let invalid = |text: String| Error::Invalid(text);
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))
    };
    let mut chain = Vec::new();
    for item in ureq::tls::parse_pem(&read(cert)?) {
        if let PemItem::Certificate(c) =
            item.map_err(|e| invalid(format!("{}: {e}", cert.display())))?
        {
            chain.push(c);
        }
    }
    let key_pem = read(key)?;
    let private = ureq::tls::parse_pem(&key_pem)
        .find_map(|item| match item {
            Ok(PemItem::PrivateKey(k)) => Some(k),
            _ => None,
        })
        .ok_or_else(|| invalid(format!("{} holds no PEM private key", key.display())))?;
    if chain.is_empty() {
        return Err(invalid(format!(
            "{} holds no PEM certificate",
            cert.display()
        )));
    }
    Ok(ClientCert::new_with_certs(&chain, private))
}

/// As [`http_agent`], presenting the client certificate `identity` (certificate and key PEM
/// files) to servers that ask (mutual TLS with Polaris).
pub fn http_agent_with_identity(
    user_agent: &str,
    ca: Option<&Path>,
    timeout: Duration,
    redirects: u32,
    identity: Option<(&Path, &Path)>,
) -> Result<ureq::Agent, Error> {
    Ok(
        http_config_with_identity(user_agent, ca, timeout, redirects, identity)?
            .build()
            .into(),
    )
}

/// The configuration [`http_agent_with_identity`] builds its agent from, for a caller that
/// sets more (logagent: smaller buffers).
pub fn http_config_with_identity(
    user_agent: &str,
    ca: Option<&Path>,
    timeout: Duration,
    redirects: u32,
    identity: Option<(&Path, &Path)>,
) -> Result<ureq::config::ConfigBuilder<ureq::typestate::AgentScope>, Error> {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(redirects)
        .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
        .timeout_connect(Some(timeout))
        .timeout_recv_response(Some(timeout))
        .user_agent(user_agent);
    if ca.is_some() || identity.is_some() {
        let mut tls = TlsConfig::builder();
        if let Some(ca) = ca {
            tls = tls.root_certs(root_certs(ca)?);
        }
        if let Some((cert, key)) = identity {
            tls = tls.client_cert(Some(client_cert(cert, key)?));
        }
        config = config.tls_config(tls.build());
    }
    Ok(config)
}

/// GETs `url` (without credentials in it) and returns the body of a 2xx answer.
pub(crate) fn get(
    agent: &ureq::Agent,
    url: &str,
    credentials: Option<&(String, String)>,
) -> Result<Box<dyn Read + Send>, Error> {
    let mut request = agent.get(url);
    if let Some((user, password)) = credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request = request.header("Authorization", format!("Basic {token}"));
    }
    let response = request.call().map_err(|e| Error::Download {
        url: url.to_string(),
        error: std::io::Error::other(e),
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(Error::Status {
            url: url.to_string(),
            status,
        });
    }
    Ok(Box::new(response.into_body().into_reader()))
}
