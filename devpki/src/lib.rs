//! A throw-away certificate authority for `polaris dev`, the tests and the benchmarks: one CA,
//! a server certificate for the names and addresses given, and client certificates for mutual
//! TLS, all written as PEM files into one folder. Not for production fleets, which have a CA
//! of their own.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The PEM files of a development CA and its server certificate.
pub struct Pki {
    /// Folder holding the files.
    pub dir: PathBuf,
    /// The CA certificate agents trust (`ca.pem`).
    pub ca: PathBuf,
    /// The server certificate chain (`server.pem`).
    pub server_cert: PathBuf,
    /// The server's private key (`server.key`).
    pub server_key: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    /// Makes a new CA in `dir` and a server certificate valid for `names` (DNS names or IP
    /// addresses, e.g. `["config.cargo.com", "localhost", "127.0.0.1"]`).
    pub fn create(dir: &Path, names: &[&str]) -> anyhow::Result<Pki> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "cargo platform development CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let ca = dir.join("ca.pem");
        write(&ca, &ca_cert.pem())?;
        let issuer = Issuer::new(ca_params, ca_key);

        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.clone())?;
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &issuer)?;
        let server_cert = dir.join("server.pem");
        let server_key = dir.join("server.key");
        write(&server_cert, &cert.pem())?;
        write(&server_key, &key.serialize_pem())?;
        Ok(Pki {
            dir: dir.to_path_buf(),
            ca,
            server_cert,
            server_key,
            issuer,
        })
    }

    /// Writes a client certificate and key for `name` (`<name>.pem`, `<name>.key`) signed by
    /// this CA, for mutual TLS, and returns their paths.
    pub fn client(&self, name: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![name.to_string()])?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer)?;
        let cert_path = self.dir.join(format!("{name}.pem"));
        let key_path = self.dir.join(format!("{name}.key"));
        write(&cert_path, &cert.pem())?;
        write(&key_path, &key.serialize_pem())?;
        Ok((cert_path, key_path))
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}
