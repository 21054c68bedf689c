//! Polaris's certificate authority: loaded from `[tls].ca_dir` or made there at first start
//! (`ca.pem`, `ca.key` 0600 in a 0700 folder). It signs the server certificate when none is
//! configured, and the hosts' client certificates from their CSRs at enrollment and renewal:
//! the subject is always `CN=<hostname>` as Polaris decided it, whatever the CSR asked, with a
//! random serial that the database records (revocation is per serial). [`PeerCert`] reads the
//! name and serial back from a verified client certificate. [`tls`] builds the rustls configs.

pub mod tls;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};

/// Why a CSR was refused.
#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    /// Not a parseable PKCS#10 request, or its signature does not verify.
    #[error("the CSR is not a valid PKCS#10 request signed by its key ({0})")]
    Invalid(String),
    /// Signing failed (an internal error).
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// A certificate Polaris issued.
#[derive(Debug, Clone)]
pub struct Issued {
    /// PEM of the certificate.
    pub pem: String,
    /// Its serial, lower-case hex (the key of `host_certs`).
    pub serial: String,
    /// Expiry, Unix seconds.
    pub not_after: i64,
}

/// The CA: its certificate and the key that signs.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM (agents pin it).
    pub ca_pem: String,
    /// Where `ca.pem` lies.
    pub ca_path: PathBuf,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("ca_path", &self.ca_path)
            .finish_non_exhaustive()
    }
}

/// A temporary name beside `path`, unique to this call (replicas may write the same folder).
fn temporary(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ))
}

/// Writes `text` to `path` with `mode`, through a temporary file renamed into place.
pub fn write_private(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    let tmp = write_temporary(path, text, mode)?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))
}

/// Writes `text` to `path` with `mode` unless `path` exists (atomically: a hard link of a
/// complete temporary file); false when another process was first.
pub fn write_private_new(path: &Path, text: &str, mode: u32) -> anyhow::Result<bool> {
    let tmp = write_temporary(path, text, mode)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_context(|| format!("create {}", path.display())),
    }
}

fn write_temporary(path: &Path, text: &str, mode: u32) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = temporary(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("create {}", tmp.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("write {}", tmp.display()))?;
    Ok(tmp)
}

/// Creates `dir` (and parents) and makes it 0700.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("chmod {}", dir.display()))
}

fn random_serial() -> (SerialNumber, String) {
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    bytes[0] &= 0x7f; // a positive INTEGER without a leading zero byte
    bytes[0] |= 0x10;
    let hex = bytes.iter().map(|b| format!("{b:02x}")).collect();
    (SerialNumber::from_slice(&bytes), hex)
}

fn validity(params: &mut CertificateParams, seconds: i64) -> i64 {
    let now = time_now();
    // An hour back: hosts whose clocks run a little behind still accept it.
    params.not_before = rcgen::date_time_ymd(1970, 1, 1)
        + std::time::Duration::from_secs((now - 3600).max(0) as u64);
    let not_after = now + seconds;
    params.not_after =
        rcgen::date_time_ymd(1970, 1, 1) + std::time::Duration::from_secs(not_after.max(0) as u64);
    not_after
}

fn time_now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Authority {
    /// Loads the CA from `dir` (`ca.pem`, `ca.key`), or makes a new one there when neither file
    /// exists.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Authority> {
        let (cert_path, key_path) = (dir.join("ca.pem"), dir.join("ca.key"));
        if !cert_path.exists() && !key_path.exists() {
            private_dir(dir)?;
            let key = KeyPair::generate().context("generate the CA key")?;
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params
                .distinguished_name
                .push(DnType::CommonName, "Polaris host CA");
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            params.serial_number = Some(random_serial().0);
            validity(&mut params, 20 * 365 * 86_400);
            let cert = params.self_signed(&key)?;
            // The key decides: a replica that starts at the same moment and loses keeps the
            // winner's CA (it waits for the winner's certificate below).
            if write_private_new(&key_path, &key.serialize_pem(), 0o600)? {
                write_private(&cert_path, &cert.pem(), 0o644)?;
                tracing::info!("Made a new CA in {}.", dir.display());
            }
        }
        for _ in 0..50 {
            if cert_path.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let ca_pem = std::fs::read_to_string(&cert_path)
            .with_context(|| format!("read {}", cert_path.display()))?;
        let key_pem = std::fs::read_to_string(&key_path)
            .with_context(|| format!("read {}", key_path.display()))?;
        let key = KeyPair::from_pem(&key_pem)
            .with_context(|| format!("{}: not a private key", key_path.display()))?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, key).with_context(|| {
            format!("{}: not a CA certificate for that key", cert_path.display())
        })?;
        Ok(Authority {
            issuer,
            ca_pem,
            ca_path: cert_path,
        })
    }

    /// Signs a client certificate for `hostname` with the public key of `csr_pem`, valid for
    /// `seconds`. Nothing of the CSR but its key is used.
    pub fn issue_client(
        &self,
        csr_pem: &str,
        hostname: &str,
        seconds: i64,
    ) -> Result<Issued, CsrError> {
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| CsrError::Invalid(e.to_string()))?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, hostname);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let (serial, hex) = random_serial();
        params.serial_number = Some(serial);
        let not_after = validity(&mut params, seconds);
        csr.params = params;
        let cert = csr
            .signed_by(&self.issuer)
            .map_err(|e| CsrError::Sign(e.to_string()))?;
        Ok(Issued {
            pem: cert.pem(),
            serial: hex,
            not_after,
        })
    }

    /// Makes a server certificate for `names` (DNS names or IP addresses) with a new key,
    /// valid for a year; returns (certificate chain PEM, key PEM).
    pub fn issue_server(&self, names: &[String]) -> anyhow::Result<(String, String)> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.to_vec())?;
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_else(|| "polaris".into()),
        );
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial().0);
        validity(&mut params, 365 * 86_400);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((
            format!("{}{}", cert.pem(), self.ca_pem),
            key.serialize_pem(),
        ))
    }
}

/// Who a verified client certificate names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCert {
    /// The subject's common name: the host name Polaris issued it for.
    pub hostname: String,
    /// Its serial, lower-case hex.
    pub serial: String,
}

impl PeerCert {
    /// Reads name and serial from a DER certificate (already verified by rustls); `None` when
    /// it has no single UTF-8 common name.
    pub fn from_der(der: &[u8]) -> Option<PeerCert> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let mut names = cert.subject().iter_common_name();
        let hostname = names.next()?.as_str().ok()?.to_string();
        if names.next().is_some() || hostname.is_empty() {
            return None;
        }
        let serial = cert
            .raw_serial()
            .iter()
            .skip_while(|b| **b == 0)
            .map(|b| format!("{b:02x}"))
            .collect();
        Some(PeerCert { hostname, serial })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject as _;

    #[test]
    fn issues_client_certificates_naming_the_host_not_the_csr() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Authority::load_or_create(&dir.path().join("ca")).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut asked = CertificateParams::new(vec!["evil.example".to_string()]).unwrap();
        asked
            .distinguished_name
            .push(DnType::CommonName, "other-host");
        let csr = asked.serialize_request(&key).unwrap().pem().unwrap();
        let issued = ca.issue_client(&csr, "host-a", 3600).unwrap();
        let der = rustls::pki_types::CertificateDer::from_pem_slice(issued.pem.as_bytes()).unwrap();
        let peer = PeerCert::from_der(&der).unwrap();
        assert_eq!(peer.hostname, "host-a");
        assert_eq!(peer.serial, issued.serial);
        assert!(ca.issue_client("not a csr", "host-a", 60).is_err());
        // The CA key is private, and a second load finds the same CA.
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("ca/ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = Authority::load_or_create(&dir.path().join("ca")).unwrap();
        assert_eq!(again.ca_pem, ca.ca_pem);
    }

    #[test]
    fn replicas_starting_together_share_one_ca() {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("ca");
        let loaded: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| Authority::load_or_create(&ca_dir).unwrap().ca_pem))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            loaded.windows(2).all(|w| w[0] == w[1]),
            "replicas made different CAs"
        );
        let leftovers: Vec<_> = std::fs::read_dir(&ca_dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|name| name.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
