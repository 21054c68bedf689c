//! Fuzzes what an unauthenticated client sends to `POST /agent/enroll` once its token is good:
//! the CSR, parsed and signed by Polaris's CA. Never a panic; a CSR that is refused is an error,
//! and a certificate that is issued names exactly the host Polaris chose, whatever the CSR asked.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use polaris::pki::{Authority, PeerCert};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

fn authority() -> &'static Authority {
    static CA: OnceLock<(tempfile::TempDir, Authority)> = OnceLock::new();
    &CA.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let ca = Authority::load_or_create(&dir.path().join("ca")).expect("a CA");
        (dir, ca)
    })
    .1
}

fuzz_target!(|data: &[u8]| {
    // As PEM text (what the JSON field carries), and as raw DER wrapped in PEM.
    let text = String::from_utf8_lossy(data).to_string();
    let wrapped = pem_of(data);
    for csr in [text, wrapped] {
        let Ok(issued) = authority().issue_client(&csr, "fuzz-host", 3600) else {
            continue;
        };
        let der = CertificateDer::from_pem_slice(issued.pem.as_bytes()).expect("issued PEM");
        let peer = PeerCert::from_der(&der).expect("an issued certificate names its host");
        assert_eq!(peer.hostname, "fuzz-host");
        assert_eq!(peer.serial, issued.serial);
    }
});

fn pem_of(der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n")
}
