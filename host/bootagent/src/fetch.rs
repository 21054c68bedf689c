//! Package downloads over http, https (basic auth for Polaris's package server) and ftp into a
//! temporary file, hashed with SHA-256 while it is written. The file is handed on only when
//! the hash matches the job's `SHA256:<hex>`; otherwise it is deleted and the job fails with
//! both hashes in its message, so nothing unverified is ever unpacked.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use ureq::tls::{PemItem, RootCerts, TlsConfig};

use crate::ftp;

/// A downloaded file, deleted when dropped.
pub struct Download {
    path: PathBuf,
}

impl Download {
    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Downloads packages.
pub struct Fetcher {
    agent: ureq::Agent,
    credentials: Option<(String, String)>,
    timeout: Duration,
}

/// Parses `SHA256:<64 hex digits>` (prefix in any case) into the lower-case hex digest.
pub fn parse_checksum(checksum: &str) -> Result<String, String> {
    let hex = checksum
        .split_once(':')
        .filter(|(algo, _)| algo.eq_ignore_ascii_case("sha256"))
        .map(|(_, hex)| hex.trim())
        .ok_or_else(|| format!("checksum `{checksum}` is not SHA256:<hex>"))?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "checksum `{checksum}` needs 64 hex digits after SHA256:"
        ));
    }
    Ok(hex.to_ascii_lowercase())
}

/// Reads the PEM certificates of a CA file for ureq.
fn root_certs(path: &Path) -> anyhow::Result<RootCerts> {
    let pem = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("cannot read CA file {}: {e}", path.display()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(cert) =
            item.map_err(|e| anyhow::anyhow!("CA file {}: {e}", path.display()))?
        {
            certs.push(cert);
        }
    }
    if certs.is_empty() {
        anyhow::bail!("CA file {} holds no PEM certificate", path.display());
    }
    Ok(RootCerts::new_with_certs(&certs))
}

/// An HTTP client for the BootAgent's requests: statuses are the caller's to judge, no
/// redirects, the given CA (else the web's roots) for https.
pub fn http_agent(ca: Option<&Path>, timeout: Duration) -> anyhow::Result<ureq::Agent> {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(timeout))
        .timeout_recv_response(Some(timeout))
        .user_agent(format!("bootagent/{}", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = ca {
        config = config.tls_config(TlsConfig::builder().root_certs(root_certs(ca)?).build());
    }
    Ok(config.build().into())
}

/// Splits `scheme://user:pass@rest` into the URL without credentials and the credentials.
fn split_userinfo(url: &str) -> (String, Option<(String, String)>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((info, host)) => {
            let (user, pass) = info.split_once(':').unwrap_or((info, ""));
            (
                format!("{scheme}://{host}{}", &rest[authority_end..]),
                Some((user.to_string(), pass.to_string())),
            )
        }
        None => (url.to_string(), None),
    }
}

impl Fetcher {
    /// A fetcher sending `credentials` (user, password) to http(s) URLs without their own.
    pub fn new(
        agent: ureq::Agent,
        credentials: Option<(String, String)>,
        timeout: Duration,
    ) -> Fetcher {
        Fetcher {
            agent,
            credentials,
            timeout,
        }
    }

    /// Downloads `url` into a new file in `dir` and checks it against `checksum`
    /// (`SHA256:<hex>`). On any failure nothing is left in `dir`.
    pub fn fetch(&self, url: &str, checksum: &str, dir: &Path) -> Result<Download, String> {
        let want = parse_checksum(checksum)?;
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let download = Download {
            path: dir.join(format!("download-{}-{n}.part", std::process::id())),
        };
        let mut file = std::fs::File::create(download.path())
            .map_err(|e| format!("create {}: {e}", download.path().display()))?;
        let mut hasher = Sha256::new();
        let mut sink = |chunk: &[u8]| -> std::io::Result<()> {
            hasher.update(chunk);
            file.write_all(chunk)
        };
        let size = if url.starts_with("ftp://") {
            let parsed = ftp::parse_url(url)?;
            ftp::retrieve(&parsed, self.timeout, &mut sink)
                .map_err(|e| format!("download {url}: {e}"))?
        } else if url.starts_with("http://") || url.starts_with("https://") {
            self.http(url, &mut sink)?
        } else {
            return Err(format!(
                "`{url}`: only http, https and ftp URLs are supported"
            ));
        };
        file.sync_all()
            .map_err(|e| format!("write {}: {e}", download.path().display()))?;
        let got = hex::encode(hasher.finalize());
        if got != want {
            return Err(format!(
                "checksum mismatch for {url}: expected SHA256:{want}, got SHA256:{got} ({size} bytes); nothing installed"
            ));
        }
        Ok(download)
    }

    fn http(
        &self,
        url: &str,
        sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64, String> {
        let (bare, own) = split_userinfo(url);
        let mut request = self.agent.get(&bare);
        if let Some((user, pass)) = own.as_ref().or(self.credentials.as_ref()) {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            request = request.header("Authorization", format!("Basic {token}"));
        }
        let mut response = request
            .call()
            .map_err(|e| format!("download {bare}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("download {bare}: HTTP {status}"));
        }
        let mut reader = response.body_mut().as_reader();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| format!("download {bare}: {e}"))?;
            if n == 0 {
                break;
            }
            sink(&buf[..n]).map_err(|e| format!("write the download: {e}"))?;
            total += n as u64;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_parse() {
        let hex = "4A".repeat(32);
        assert_eq!(
            parse_checksum(&format!("SHA256:{hex}")).unwrap(),
            "4a".repeat(32)
        );
        assert!(parse_checksum("MD5:abc").is_err());
        assert!(parse_checksum("SHA256:abc").is_err());
    }

    #[test]
    fn userinfo_is_taken_out_of_the_url() {
        let (url, creds) = split_userinfo("http://u:p@h:1/packages/a@b.tgz");
        assert_eq!(url, "http://h:1/packages/a@b.tgz");
        assert_eq!(creds, Some(("u".into(), "p".into())));
        assert_eq!(split_userinfo("https://h/x").1, None);
    }

    #[test]
    fn a_wrong_checksum_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let agent = http_agent(None, Duration::from_secs(5)).unwrap();
        let fetcher = Fetcher::new(agent, None, Duration::from_secs(5));
        // A local HTTP server answering one request with a fixed body.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            use std::io::{BufRead, BufReader};
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
                )
                .unwrap();
        });
        let wrong = format!("SHA256:{}", "0".repeat(64));
        let err = fetcher
            .fetch(
                &format!("http://127.0.0.1:{port}/p.tar.gz"),
                &wrong,
                dir.path(),
            )
            .err()
            .unwrap();
        assert!(err.contains("checksum mismatch"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
