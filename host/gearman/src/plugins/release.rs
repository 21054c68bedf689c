//! A plugin release brought onto the host: downloaded with the `fetch` crate (bounded in size,
//! no redirects), checked against its checksum and, when the agent has a release key, its
//! `<url>.minisig` ([`agentkit::signature`], the BootAgent's check), then staged beside the
//! installed plugins under a hidden name no directory scan loads,
//! `.<name>-<version>-<digest12>.so.new` (mode 0644, synced). A new name for every release: a
//! library is loaded from there, so new code really loads even though the installed file's
//! old mapping stays. [`Staged`] deletes the file when dropped, unless it was installed.
//! Blocking: call it on a blocking thread.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agentkit::signature::ReleaseKey;
use fetch::Fetcher;
use wire::plugins::PluginRelease;

/// The largest plugin file accepted.
pub const MAX_PLUGIN_BYTES: u64 = 64 << 20;
/// Bound on connecting and on waiting for an answer (per step for ftp).
const TIMEOUT: Duration = Duration::from_secs(60);

/// How releases are fetched and whom they must be signed by.
#[derive(Clone)]
pub struct Trust {
    fetcher: Arc<Fetcher>,
    key: Option<Arc<ReleaseKey>>,
}

impl Trust {
    /// Downloads over http(s) and ftp without redirects (the checksum pins what is installed;
    /// a redirect would only hide where it comes from); releases signed by `key` when given.
    pub fn new(key: Option<ReleaseKey>, downloads: &super::Downloads) -> anyhow::Result<Trust> {
        let user_agent = concat!("gearman/", env!("CARGO_PKG_VERSION"));
        let agent = fetch::http_agent(user_agent, downloads.ca.as_deref(), TIMEOUT, 0)?;
        Ok(Trust {
            fetcher: Arc::new(Fetcher::new(agent, downloads.credentials.clone(), TIMEOUT)),
            key: key.map(Arc::new),
        })
    }

    /// Whether releases must be signed.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }
}

/// A release file staged beside the installed plugins; deleted when dropped unless installed.
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
    digest: String,
    installed: bool,
}

impl Staged {
    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `SHA256:<hex>` of the file (the release's checksum, checked).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Renames it to `to` (atomically replacing what was there: a library loaded from the old
    /// file stays mapped and valid) and syncs the folder so the rename survives a crash.
    pub fn install_as(mut self, to: &Path) -> std::io::Result<()> {
        std::fs::rename(&self.path, to)?;
        self.installed = true;
        if let Some(dir) = to.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.installed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The hidden name a release is staged under: `.<name>-<version>-<12 hex of the digest>.so.new`
/// (characters of the version other than `A-Za-z0-9._+-` become `_`).
pub fn staged_name(name: &str, version: &str, hex: &str) -> String {
    let version: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let short: String = hex.chars().take(12).collect();
    format!(".{name}-{version}-{short}.so.new")
}

/// Deletes what an install interrupted by a crash left in `dir`: staged releases
/// (`.*.so.new`) and partial downloads (`download-*.part`). Call it at start, before any
/// install; returns the names deleted.
pub fn sweep(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut deleted = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let leftover = (name.starts_with('.') && name.ends_with(".so.new"))
            || (name.starts_with("download-") && name.ends_with(".part"));
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if leftover && is_file && std::fs::remove_file(entry.path()).is_ok() {
            deleted.push(name);
        }
    }
    deleted
}

/// Downloads `release` into `dir` (created mode 0755 when missing: the agent that loads from
/// it may not be root), checks it, and stages it. On any failure nothing is left in `dir`;
/// the error is one line.
pub fn stage(trust: &Trust, release: &PluginRelease, dir: &Path) -> Result<Staged, String> {
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .create(dir)
            .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)))
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let hex = fetch::parse_checksum(&release.checksum).map_err(|e| e.to_string())?;
    let download = agentkit::signature::download(
        &trust.fetcher,
        trust.key.as_deref(),
        &release.url,
        &release.checksum,
        dir,
        MAX_PLUGIN_BYTES,
    )?;
    let staged = Staged {
        path: dir.join(staged_name(&release.name, &release.version, &hex)),
        digest: format!("SHA256:{hex}"),
        installed: false,
    };
    download
        .keep_as(&staged.path)
        .map_err(|e| format!("cannot stage the release: {e}"))?;
    // Readable by an agent that is not root; written by no one else. The download was synced.
    std::fs::set_permissions(&staged.path, std::fs::Permissions::from_mode(0o644))
        .and_then(|()| std::fs::File::open(dir)?.sync_all())
        .map_err(|e| format!("cannot stage the release: {e}"))?;
    Ok(staged)
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader, Write as _};

    use super::*;
    use wire::plugins::PluginAgent;

    /// Serves `body` to every request on a local port; returns the base URL.
    fn serve(body: Vec<u8>) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) <= 2 {
                        break;
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        base
    }

    fn release(url: String, checksum: String) -> PluginRelease {
        PluginRelease {
            agent: PluginAgent::Gearman,
            name: "demo".into(),
            version: "1.0 beta/2".into(),
            url,
            checksum,
        }
    }

    #[test]
    fn leftovers_of_an_interrupted_install_are_swept_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            ".x-1.0-0123456789ab.so.new",
            "download-12-0.part",
            "x.so",
            ".keep",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let mut deleted = sweep(dir.path());
        deleted.sort();
        assert_eq!(
            deleted,
            [".x-1.0-0123456789ab.so.new", "download-12-0.part"]
        );
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".keep", "x.so"]);
        assert!(sweep(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn staged_names_are_hidden_and_never_end_in_so() {
        assert_eq!(
            staged_name("demo", "1.0 beta/2", "0123456789abcdef"),
            ".demo-1.0_beta_2-0123456789ab.so.new"
        );
    }

    #[test]
    fn a_release_is_staged_readable_and_deleted_unless_installed() {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        let body = b"not a library, but bytes with a checksum".to_vec();
        let source = dir.path().join("src");
        std::fs::write(&source, &body).unwrap();
        let hex = fetch::sha256_file(&source).unwrap();
        let base = serve(body);
        let trust = Trust::new(None, &Default::default()).unwrap();
        let staged = stage(
            &trust,
            &release(format!("{base}/demo.so"), format!("SHA256:{hex}")),
            &plugins,
        )
        .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&plugins), 0o755);
        assert_eq!(mode(staged.path()), 0o644);
        assert_eq!(staged.digest(), format!("SHA256:{hex}"));
        let listed = || -> Vec<String> {
            std::fs::read_dir(&plugins)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            listed(),
            [format!(".demo-1.0_beta_2-{}.so.new", &hex[..12])]
        );
        drop(staged);
        assert!(listed().is_empty(), "dropped before install: deleted");

        let staged = stage(
            &trust,
            &release(format!("{base}/demo.so"), format!("SHA256:{hex}")),
            &plugins,
        )
        .unwrap();
        staged.install_as(&plugins.join("demo.so")).unwrap();
        assert_eq!(listed(), ["demo.so"]);

        let wrong = format!("SHA256:{}", "0".repeat(64));
        let err = stage(&trust, &release(format!("{base}/demo.so"), wrong), &plugins).unwrap_err();
        assert!(err.contains("checksum mismatch"), "{err}");
        assert_eq!(listed(), ["demo.so"], "nothing left of the failed download");
    }
}
