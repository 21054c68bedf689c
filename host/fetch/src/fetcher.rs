//! Opening a package URL as a stream, and downloading it into a temporary file hashed with
//! SHA-256 while it is written. With a checksum (the BootAgent's jobs), the file is handed on
//! only when the hash matches `SHA256:<hex>`; otherwise it is deleted and the error carries
//! both hashes, so nothing unverified is ever unpacked.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::url::{split_userinfo, without_userinfo};
use crate::{Error, ftp, http};

/// Largest download accepted (4 GiB, the package server's limit).
pub const MAX_BYTES: u64 = 4 << 30;

/// An open download: read it to its end.
pub type Body = Box<dyn Read + Send>;

/// A downloaded file, deleted when dropped unless kept with [`Download::keep_as`].
pub struct Download {
    path: PathBuf,
}

impl Download {
    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the file to `to` (on the same file system), where it stays.
    pub fn keep_as(self, to: &Path) -> Result<(), Error> {
        // After the rename, the drop finds nothing left to delete.
        std::fs::rename(&self.path, to).map_err(|error| Error::Local {
            action: "write",
            path: to.to_path_buf(),
            error,
        })
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Parses `SHA256:<64 hex digits>` (prefix in any case) into the lower-case hex digest.
pub fn parse_checksum(checksum: &str) -> Result<String, Error> {
    let hex = checksum
        .split_once(':')
        .filter(|(algo, _)| algo.eq_ignore_ascii_case("sha256"))
        .map(|(_, hex)| hex.trim())
        .ok_or_else(|| Error::Invalid(format!("checksum `{checksum}` is not SHA256:<hex>")))?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Invalid(format!(
            "checksum `{checksum}` needs 64 hex digits after SHA256:"
        )));
    }
    Ok(hex.to_ascii_lowercase())
}

/// The SHA-256 of a file as lower-case hex (what follows `SHA256:` in a job's checksum).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buf)? {
            0 => return Ok(hex::encode(hasher.finalize())),
            n => hasher.update(&buf[..n]),
        }
    }
}

/// Opens and downloads package URLs: http and https (basic auth from the URL, else from the
/// configured credentials), ftp, and `file://` URLs or absolute paths once allowed.
pub struct Fetcher {
    agent: ureq::Agent,
    credentials: Option<(String, String)>,
    timeout: Duration,
    local_files: bool,
}

impl Fetcher {
    /// A fetcher using `agent` (see [`crate::http_agent`]) for http(s), sending `credentials`
    /// (user, password) to URLs without their own; `timeout` bounds each FTP step.
    pub fn new(
        agent: ureq::Agent,
        credentials: Option<(String, String)>,
        timeout: Duration,
    ) -> Fetcher {
        Fetcher {
            agent,
            credentials,
            timeout,
            local_files: false,
        }
    }

    /// Also opens `file://` URLs and absolute paths (gearman's daemons may name local files;
    /// the BootAgent's jobs name servers only).
    pub fn with_local_files(mut self) -> Fetcher {
        self.local_files = true;
        self
    }

    /// Opens `url` as a stream.
    pub fn open(&self, url: &str) -> Result<Body, Error> {
        let (bare, own) = split_userinfo(url).map_err(Error::Invalid)?;
        let failed = |error| Error::Download {
            url: bare.clone(),
            error,
        };
        if url.starts_with("ftp://") {
            let parsed = ftp::parse_url(url).map_err(Error::Invalid)?;
            Ok(Box::new(ftp::open(&parsed, self.timeout).map_err(failed)?))
        } else if url.starts_with("http://") || url.starts_with("https://") {
            http::get(
                &self.agent,
                &bare,
                own.as_ref().or(self.credentials.as_ref()),
            )
        } else if !self.local_files {
            Err(Error::Invalid(format!(
                "`{url}`: only http, https and ftp URLs are supported"
            )))
        } else {
            let path = Path::new(url.strip_prefix("file://").unwrap_or(url));
            if !path.is_absolute() {
                return Err(Error::Invalid(format!(
                    "unsupported url `{url}` (http, https, ftp, file or an absolute path)"
                )));
            }
            Ok(Box::new(std::fs::File::open(path).map_err(failed)?))
        }
    }

    /// Downloads `url` into a new file in `dir` (at most [`MAX_BYTES`]) and, with a
    /// `checksum` (`SHA256:<hex>`), checks it. On any failure nothing is left in `dir`.
    pub fn fetch(&self, url: &str, checksum: Option<&str>, dir: &Path) -> Result<Download, Error> {
        self.fetch_at_most(url, checksum, dir, MAX_BYTES)
    }

    /// [`Fetcher::fetch`] with a smaller limit: a download past `max_bytes` is stopped there
    /// and deleted (a plugin file has no business being gigabytes).
    pub fn fetch_at_most(
        &self,
        url: &str,
        checksum: Option<&str>,
        dir: &Path,
        max_bytes: u64,
    ) -> Result<Download, Error> {
        let max_bytes = max_bytes.min(MAX_BYTES);
        let want = checksum.map(parse_checksum).transpose()?;
        let local = |action, path: &Path| {
            let path = path.to_path_buf();
            move |error| Error::Local {
                action,
                path,
                error,
            }
        };
        // Downloads are private to the agent: folders made 0700, the file 0600.
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(dir)
            .map_err(local("create", dir))?;
        let mut body = self.open(url)?;
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let download = Download {
            path: dir.join(format!("download-{}-{n}.part", std::process::id())),
        };
        let mut file = std::os::unix::fs::OpenOptionsExt::mode(
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true),
            0o600,
        )
        .open(download.path())
        .map_err(local("create", download.path()))?;
        let shown = without_userinfo(url);
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut size = 0u64;
        loop {
            let n = body.read(&mut buf).map_err(|error| Error::Download {
                url: shown.clone(),
                error,
            })?;
            if n == 0 {
                break;
            }
            size += n as u64;
            if size > max_bytes {
                return Err(Error::TooLarge {
                    url: shown,
                    limit: max_bytes,
                });
            }
            if want.is_some() {
                hasher.update(&buf[..n]);
            }
            file.write_all(&buf[..n])
                .map_err(local("write", download.path()))?;
        }
        file.sync_all().map_err(local("write", download.path()))?;
        if let Some(expected) = want {
            let got = hex::encode(hasher.finalize());
            if got != expected {
                return Err(Error::Mismatch {
                    url: shown,
                    expected,
                    got,
                    size,
                });
            }
        }
        Ok(download)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tarball;
    use crate::tarball::tests::tarball;

    const TIMEOUT: Duration = Duration::from_secs(5);

    fn fetcher() -> Fetcher {
        let agent = crate::http_agent("fetch-test", None, TIMEOUT, 0).unwrap();
        Fetcher::new(agent, None, TIMEOUT)
    }

    /// A local HTTP server answering one request with `body`; its port, and its thread,
    /// which returns the request's head.
    fn serve_once(body: Vec<u8>) -> (u16, std::thread::JoinHandle<String>) {
        serve(move |_| vec![("200 OK", String::new(), body)])
    }

    /// One answer: status line, extra header lines, body.
    type Answer = (&'static str, String, Vec<u8>);

    /// A local HTTP server answering one connection per answer, in order (`answers` gets the
    /// server's port); its port, and its thread, which returns the requests' heads.
    fn serve(
        answers: impl FnOnce(u16) -> Vec<Answer> + Send + 'static,
    ) -> (u16, std::thread::JoinHandle<String>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            use std::io::{BufRead, BufReader};
            let mut heads = String::new();
            for (status, headers, body) in answers(port) {
                let (mut stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                while reader.read_line(&mut head).unwrap() > 0 && !head.ends_with("\r\n\r\n") {}
                let start = format!(
                    "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                stream.write_all(start.as_bytes()).unwrap();
                stream.write_all(&body).unwrap();
                heads.push_str(&head);
            }
            heads
        });
        (port, server)
    }

    /// A redirect to `/mirror/p.rpm` on the same server, then that file.
    fn redirect_then_file(port: u16) -> Vec<Answer> {
        vec![
            (
                "302 Found",
                format!("Location: http://127.0.0.1:{port}/mirror/p.rpm\r\n"),
                Vec::new(),
            ),
            ("200 OK", String::new(), b"rpm".to_vec()),
        ]
    }

    #[test]
    fn redirects_are_followed_only_when_asked_and_without_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let (port, server) = serve(redirect_then_file);
        let agent = crate::http_agent("fetch-test", None, TIMEOUT, 10).unwrap();
        let download = Fetcher::new(agent, None, TIMEOUT)
            .fetch(
                &format!("http://u:pw@127.0.0.1:{port}/p.rpm"),
                None,
                dir.path(),
            )
            .unwrap();
        assert_eq!(std::fs::read_to_string(download.path()).unwrap(), "rpm");
        let heads = server.join().unwrap();
        let (first, second) = heads.split_once("\r\n\r\n").unwrap();
        assert!(first.contains("Basic dTpwdw=="), "{first}");
        assert!(second.starts_with("GET /mirror/p.rpm"), "{second}");
        assert!(!second.contains("Basic"), "credentials followed: {second}");

        let (port, _server) = serve(redirect_then_file);
        let err = fetcher()
            .fetch(&format!("http://127.0.0.1:{port}/p.rpm"), None, dir.path())
            .err()
            .unwrap();
        assert!(err.to_string().contains("302"), "{err}");
    }

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
    fn a_wrong_checksum_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (port, _server) = serve_once(b"hello".to_vec());
        let wrong = format!("SHA256:{}", "0".repeat(64));
        let err = fetcher()
            .fetch(
                &format!("http://127.0.0.1:{port}/p.tar.gz"),
                Some(&wrong),
                dir.path(),
            )
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("checksum mismatch"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_download_past_its_limit_is_stopped_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let (port, _server) = serve_once(vec![7u8; 3000]);
        let url = format!("http://127.0.0.1:{port}/big.so");
        let err = fetcher()
            .fetch_at_most(&url, None, dir.path(), 2048)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            format!("{url} is larger than 2 KiB (the limit of this download)")
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert_eq!(crate::size_text(64 << 20), "64 MiB");
        assert_eq!(crate::size_text(1000), "1000 bytes");
    }

    /// gearman's use: a daemon package over http, no checksum, unpacked into its folder.
    #[test]
    fn a_daemon_package_over_http_is_unpacked_into_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let tar = tarball(&[("run.sh", 0o755, "#!/bin/sh\nexec sleep 1000\n")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let (port, server) = serve_once(gz.finish().unwrap());
        let url = format!("http://pkg:p%40ss@127.0.0.1:{port}/daemons/sleeper-1.0.tgz");

        let downloads = dir.path().join("downloads");
        let download = fetcher().fetch(&url, None, &downloads).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        let mode_of = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode_of(&downloads),
            0o700,
            "the downloads folder is private"
        );
        assert_eq!(mode_of(download.path()), 0o600, "so is the download");
        let head = server.join().unwrap();
        assert!(
            head.starts_with("GET /daemons/sleeper-1.0.tgz HTTP/1.1"),
            "{head}"
        );
        // base64("pkg:p@ss")
        assert!(head.contains("Basic cGtnOnBAc3M="), "{head}");
        let name = crate::file_name(&url);
        let kind = Tarball::from_name(&name).expect("a tarball");
        let folder = dir.path().join("daemons/sleeper/1.0");
        kind.unpack(download.path(), &folder).unwrap();
        drop(download);
        assert_eq!(mode_of(&folder.join("run.sh")), 0o755);
        let left: Vec<_> = std::fs::read_dir(&downloads).unwrap().collect();
        assert!(left.is_empty(), "the download is gone: {left:?}");
    }

    #[test]
    fn local_files_only_when_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pkg.rpm");
        std::fs::write(&file, "rpm").unwrap();
        let url = format!("file://{}", file.display());
        let err = fetcher().fetch(&url, None, dir.path()).err().unwrap();
        assert!(
            err.to_string().contains("only http, https and ftp"),
            "{err}"
        );

        let local = fetcher().with_local_files();
        let sum = format!("SHA256:{}", sha256_file(&file).unwrap());
        let download = local
            .fetch(&url, Some(&sum), &dir.path().join("d"))
            .unwrap();
        let kept = dir.path().join("kept.rpm");
        download.keep_as(&kept).unwrap();
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "rpm");
        assert!(local.open(file.to_str().unwrap()).is_ok());
        assert!(local.open("pkg.rpm").is_err(), "relative paths are refused");
        let err = local.open("file:///no/such/pkg.tgz").err().unwrap();
        assert!(err.to_string().contains("/no/such/pkg.tgz"), "{err}");
    }
}
