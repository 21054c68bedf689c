//! Host identities for the tests and benchmarks, made the way a fleet makes them: against a
//! real Polaris (with `[tls]`), an admin creates an enrollment token (`POST
//! /api/v1/enrollment-tokens`), a key and CSR are made here, and `POST /agent/enroll` returns
//! the host's certificate. [`Enroller`] does that and makes HTTPS clients that trust the
//! Polaris CA, with or without a host's client certificate. Nothing here signs certificates:
//! only Polaris's CA does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};
use ureq::tls::{ClientCert, PemItem, RootCerts, TlsConfig};

/// A host's enrolled identity: PEM files of its certificate and key.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The host name the certificate carries.
    pub hostname: String,
    /// `host.pem`.
    pub cert: PathBuf,
    /// `host.key`.
    pub key: PathBuf,
}

/// Talks to one Polaris as its admin, to enroll hosts.
#[derive(Debug, Clone)]
pub struct Enroller {
    /// `https://127.0.0.1:<port>`.
    pub base: String,
    /// The Polaris CA file (`<ca_dir>/ca.pem`).
    pub ca: PathBuf,
    admin_token: String,
}

impl Enroller {
    /// An enroller for the Polaris at `addr` (`127.0.0.1:<port>`) whose CA is `ca`.
    pub fn new(addr: &str, ca: &Path, admin_token: &str) -> Enroller {
        Enroller {
            base: format!("https://{addr}"),
            ca: ca.to_path_buf(),
            admin_token: admin_token.to_string(),
        }
    }

    /// An HTTPS client trusting only the Polaris CA, presenting `identity` when given;
    /// statuses are the caller's to judge.
    pub fn client(&self, identity: Option<&Identity>) -> anyhow::Result<ureq::Agent> {
        client(&self.ca, identity)
    }

    /// A new enrollment token for `uses` hosts.
    pub fn token(&self, uses: u32) -> anyhow::Result<String> {
        let (status, body) = self.admin_post(
            "/api/v1/enrollment-tokens",
            &json!({ "uses": uses, "expires_in": 3600 }),
        )?;
        anyhow::ensure!(status == 200, "token: HTTP {status}: {body}");
        body["token"]
            .as_str()
            .map(String::from)
            .context("token: no token in the answer")
    }

    /// Enrolls `hostname` with a new token; its key and certificate are written into `dir`
    /// (`<hostname>.key` 0600, `<hostname>.pem`).
    pub fn enroll(&self, hostname: &str, dir: &Path) -> anyhow::Result<Identity> {
        let token = self.token(1)?;
        self.enroll_with(&token, hostname, dir)
    }

    /// Enrolls `hostname` with `token`.
    pub fn enroll_with(&self, token: &str, hostname: &str, dir: &Path) -> anyhow::Result<Identity> {
        let (key_pem, csr) = csr(hostname)?;
        let (status, body) = post(
            &self.client(None)?,
            &format!("{}/agent/enroll", self.base),
            &json!({ "token": token, "hostname": hostname, "csr": csr }),
            None,
        )?;
        anyhow::ensure!(status == 200, "enroll {hostname}: HTTP {status}: {body}");
        let cert = body["cert"].as_str().context("enroll: no cert")?;
        std::fs::create_dir_all(dir)?;
        let identity = Identity {
            hostname: hostname.to_string(),
            cert: dir.join(format!("{hostname}.pem")),
            key: dir.join(format!("{hostname}.key")),
        };
        write_key(&identity.key, &key_pem)?;
        std::fs::write(&identity.cert, cert)?;
        Ok(identity)
    }

    /// `POST path` with the admin token; returns (status, JSON or Null).
    pub fn admin_post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        post(
            &self.client(None)?,
            &format!("{}{path}", self.base),
            body,
            Some(&self.admin_token),
        )
    }
}

/// A key pair and a CSR for `hostname` (PEM: key, request).
pub fn csr(hostname: &str) -> anyhow::Result<(String, String)> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname);
    let csr = params.serialize_request(&key)?.pem()?;
    Ok((key.serialize_pem(), csr))
}

fn write_key(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    file.write_all(pem.as_bytes())?;
    Ok(())
}

/// An HTTPS client trusting only the CA file `ca`, presenting `identity` when given.
pub fn client(ca: &Path, identity: Option<&Identity>) -> anyhow::Result<ureq::Agent> {
    let pem = std::fs::read(ca).with_context(|| format!("read {}", ca.display()))?;
    let roots: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(cert)) => Some(cert),
            _ => None,
        })
        .collect();
    anyhow::ensure!(!roots.is_empty(), "{} holds no certificate", ca.display());
    let mut tls = TlsConfig::builder().root_certs(RootCerts::new_with_certs(&roots));
    if let Some(identity) = identity {
        let cert_pem = std::fs::read(&identity.cert)?;
        let chain: Vec<_> = ureq::tls::parse_pem(&cert_pem)
            .filter_map(|item| match item {
                Ok(PemItem::Certificate(cert)) => Some(cert),
                _ => None,
            })
            .collect();
        let key_pem = std::fs::read(&identity.key)?;
        let key = ureq::tls::parse_pem(&key_pem)
            .find_map(|item| match item {
                Ok(PemItem::PrivateKey(key)) => Some(key),
                _ => None,
            })
            .context("no private key")?;
        tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    Ok(ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .tls_config(tls.build())
        .build()
        .into())
}

/// `POST url` with a JSON body (and a bearer token); returns (status, JSON or the text).
pub fn post(
    agent: &ureq::Agent,
    url: &str,
    body: &Value,
    bearer: Option<&str>,
) -> anyhow::Result<(u16, Value)> {
    let mut request = agent.post(url);
    if let Some(token) = bearer {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let mut response = request
        .send_json(body)
        .with_context(|| format!("POST {url}"))?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}
