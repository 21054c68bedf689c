//! The BootAgent's signed packages: the release key and the check of a package's
//! `<url>.minisig` are [`agentkit::signature`]'s (one copy for every agent that installs
//! signed releases: the BootAgent's packages, gearman's plugins). The tests stay here, beside
//! the signer ([`crate::signing`], `mkpkg`) that makes their keys and signatures.

pub use agentkit::signature::*;

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::time::Duration;

    use std::path::Path;

    use fetch::Fetcher;

    use super::*;
    use crate::signing;

    /// A key pair in a temporary folder, and a signed "package" beside it.
    struct Signed {
        dir: tempfile::TempDir,
        key: ReleaseKey,
        package: std::path::PathBuf,
        signature: String,
    }

    fn signed() -> Signed {
        let dir = tempfile::tempdir().unwrap();
        let keys = signing::keygen(&dir.path().join("keys")).unwrap();
        let key = ReleaseKey::parse(&keys.public_line).unwrap();
        assert_eq!(key.id(), keys.id);
        let package = dir.path().join("sleeper-1.0.tar.gz");
        std::fs::write(
            &package,
            b"not really a tarball, but signed bytes".repeat(5000),
        )
        .unwrap();
        let secret = signing::load_secret_key(&keys.secret, None).unwrap();
        let sig_path = signing::sign_file(&secret, &package).unwrap();
        assert_eq!(sig_path, dir.path().join("sleeper-1.0.tar.gz.minisig"));
        let signature = std::fs::read_to_string(sig_path).unwrap();
        Signed {
            dir,
            key,
            package,
            signature,
        }
    }

    #[test]
    fn a_good_signature_is_accepted() {
        let s = signed();
        s.key.verify_file(&s.package, &s.signature).unwrap();
        // The key as a whole minisign.pub file works too.
        let text = std::fs::read_to_string(s.dir.path().join("keys/minisign.pub")).unwrap();
        let key = ReleaseKey::parse(&text).unwrap();
        assert_eq!(key.id(), s.key.id());
        key.verify_file(&s.package, &s.signature).unwrap();
        let from_file = ReleaseKey::from_file(&s.dir.path().join("keys/minisign.pub")).unwrap();
        assert_eq!(from_file.id(), s.key.id());
    }

    #[test]
    fn another_key_is_refused_with_both_key_ids() {
        let s = signed();
        let other = signing::keygen(&s.dir.path().join("other")).unwrap();
        let other_key = ReleaseKey::parse(&other.public_line).unwrap();
        let err = other_key.verify_file(&s.package, &s.signature).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "signature does not match release key {}",
                other.id
            )),
            "{err}"
        );
        assert!(err.contains(s.key.id()), "names the signing key: {err}");
    }

    #[test]
    fn a_changed_package_or_trusted_comment_is_refused() {
        let s = signed();
        let mut bytes = std::fs::read(&s.package).unwrap();
        bytes[1000] ^= 1;
        std::fs::write(&s.package, &bytes).unwrap();
        let err = s.key.verify_file(&s.package, &s.signature).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "signature does not match release key {}",
                s.key.id()
            )),
            "{err}"
        );
        bytes[1000] ^= 1;
        std::fs::write(&s.package, &bytes).unwrap();
        s.key.verify_file(&s.package, &s.signature).unwrap();
        let forged = s.signature.replace("file:", "file:evil-");
        assert!(s.key.verify_file(&s.package, &forged).is_err());
        let garbage = s.key.verify_file(&s.package, "hello\n").unwrap_err();
        assert!(garbage.contains("not a minisign signature"), "{garbage}");
    }

    #[test]
    fn keys_that_are_not_minisign_keys_are_refused() {
        assert!(ReleaseKey::parse("").is_err());
        assert!(ReleaseKey::parse("RWQnotakey").is_err());
        // Two key lines are ambiguous.
        let s = signed();
        let line = s.dir.path().join("keys/minisign.pub");
        let text = std::fs::read_to_string(line).unwrap();
        let key_line = text.lines().nth(1).unwrap();
        assert!(ReleaseKey::parse(&format!("{key_line}\n{key_line}")).is_err());
    }

    #[test]
    fn the_config_takes_a_key_line_or_a_file_not_both() {
        use crate::config::Config;
        let s = signed();
        let public = s.dir.path().join("keys/minisign.pub");
        let text = std::fs::read_to_string(&public).unwrap();
        let line = text.lines().nth(1).unwrap();
        let base = "svrlist = \"a:1\"\nca = \"ca.pem\"\n";
        let config = Config::parse(&format!("{base}release_key = \"{line}\"")).unwrap();
        assert_eq!(config.release_key().unwrap().unwrap().id(), s.key.id());
        let config = Config::parse(&format!(
            "{base}release_key_file = \"{}\"",
            public.display()
        ))
        .unwrap();
        assert_eq!(config.release_key().unwrap().unwrap().id(), s.key.id());
        assert!(
            Config::parse(base)
                .unwrap()
                .release_key()
                .unwrap()
                .is_none()
        );
        let err = Config::parse(&format!("{base}release_key = \"RWQbogus\"")).unwrap_err();
        assert!(err.starts_with("release_key:"), "{err}");
        let both = format!("{base}release_key = \"{line}\"\nrelease_key_file = \"/x\"");
        assert!(Config::parse(&both).is_err());
        let missing = Config::parse(&format!("{base}release_key_file = \"/nonexistent.pub\""));
        assert!(missing.unwrap().release_key().is_err());
    }

    #[test]
    fn signature_urls_keep_the_query() {
        assert_eq!(
            signature_url("https://p/packages/a-1.tar.gz"),
            "https://p/packages/a-1.tar.gz.minisig"
        );
        assert_eq!(
            signature_url("http://p/a.tar.gz?x=1"),
            "http://p/a.tar.gz.minisig?x=1"
        );
    }

    /// A local HTTP server answering each request from `files` (path -> body) or with 404;
    /// its base URL and the list of paths it was asked for.
    fn serve(
        files: Vec<(&'static str, Vec<u8>)>,
    ) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = asked.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split(' ').nth(1).unwrap_or_default().to_string();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) <= 2 {
                        break;
                    }
                }
                seen.lock().unwrap().push(path.clone());
                let (status, body) = match files.iter().find(|(p, _)| *p == path) {
                    Some((_, body)) => ("200 OK", body.clone()),
                    None => ("404 Not Found", Vec::new()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        (base, asked)
    }

    fn fetcher() -> Fetcher {
        let timeout = Duration::from_secs(5);
        let agent = fetch::http_agent("bootagent-test", None, timeout, 0).unwrap();
        Fetcher::new(agent, None, timeout)
    }

    fn checksum(path: &Path) -> String {
        format!("SHA256:{}", fetch::sha256_file(path).unwrap())
    }

    #[test]
    fn downloads_check_the_signature_before_handing_the_package_on() {
        let s = signed();
        let bytes = std::fs::read(&s.package).unwrap();
        let sum = checksum(&s.package);
        let downloads = s.dir.path().join("downloads");
        let left = || std::fs::read_dir(&downloads).map_or(0, |d| d.count());

        // Signed and served: accepted.
        let (base, _) = serve(vec![
            ("/p.tar.gz", bytes.clone()),
            ("/p.tar.gz.minisig", s.signature.clone().into_bytes()),
        ]);
        let url = format!("{base}/p.tar.gz");
        let got = download(
            &fetcher(),
            Some(&s.key),
            &url,
            &sum,
            &downloads,
            fetch::MAX_BYTES,
        )
        .unwrap();
        assert_eq!(std::fs::read(got.path()).unwrap(), bytes);
        drop(got);
        assert_eq!(left(), 0);

        // No .minisig on the server: refused before the package is downloaded.
        let (base, asked) = serve(vec![("/p.tar.gz", bytes.clone())]);
        let url = format!("{base}/p.tar.gz");
        let err = download(
            &fetcher(),
            Some(&s.key),
            &url,
            &sum,
            &downloads,
            fetch::MAX_BYTES,
        )
        .err()
        .unwrap();
        assert_eq!(
            err,
            format!("signature missing: {url}.minisig answered 404")
        );
        assert_eq!(*asked.lock().unwrap(), ["/p.tar.gz.minisig"]);
        assert_eq!(left(), 0);

        // Served with another key's signature: refused, the download deleted.
        let other = signing::keygen(&s.dir.path().join("other")).unwrap();
        let other_key = ReleaseKey::parse(&other.public_line).unwrap();
        let (base, _) = serve(vec![
            ("/p.tar.gz", bytes.clone()),
            ("/p.tar.gz.minisig", s.signature.clone().into_bytes()),
        ]);
        let url = format!("{base}/p.tar.gz");
        let err = download(
            &fetcher(),
            Some(&other_key),
            &url,
            &sum,
            &downloads,
            fetch::MAX_BYTES,
        )
        .err()
        .unwrap();
        assert!(
            err.starts_with(&format!(
                "signature does not match release key {}",
                other.id
            )),
            "{err}"
        );
        assert!(err.ends_with("nothing installed"), "{err}");
        assert_eq!(left(), 0);

        // Without a release key, no signature is asked for.
        let (base, asked) = serve(vec![("/p.tar.gz", bytes)]);
        let url = format!("{base}/p.tar.gz");
        download(&fetcher(), None, &url, &sum, &downloads, fetch::MAX_BYTES).unwrap();
        assert_eq!(*asked.lock().unwrap(), ["/p.tar.gz"]);
    }
}
