//! Installs a daemon's package into `<daemons>/<name>/<version>/`: downloaded from its `url`
//! by the `fetch` crate (http, https, ftp, `file://` or an absolute path) and checked against
//! its `checksum` (required for downloads; redirects are not followed), unpacked when it is a
//! tarball (`.tar.gz`, `.tgz`, `.tar`), else kept under its file name. The folder appears by
//! a rename, complete or not at all. Blocking: call it on a blocking thread.

use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use fetch::{Fetcher, Tarball};

/// Redirects followed for an http(s) package URL: none. The checksum already pins what is
/// installed; a redirect would only hide where it really comes from.
const REDIRECTS: u32 = 0;
/// Bound on connecting and on waiting for an answer (per step for ftp).
const TIMEOUT: Duration = Duration::from_secs(60);

/// Installs `url` (checked against `checksum`, `SHA256:<hex>`, which a remote `url` must
/// have) into `dir` unless `dir` exists already. Returns whether it downloaded.
pub fn install(url: &str, checksum: Option<&str>, dir: &Path) -> anyhow::Result<bool> {
    if dir.is_dir() {
        return Ok(false);
    }
    super::init::check_source(url, checksum).map_err(anyhow::Error::msg)?;
    let parent = dir.parent().context("the install folder has no parent")?;
    fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    let tmp = parent.join(format!(".install-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    let result = fetch_into(url, checksum, parent, &tmp).and_then(|()| {
        fs::rename(&tmp, dir).with_context(|| format!("move the package to {}", dir.display()))
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    agentkit::release_free_memory();
    result.map(|()| true)
}

/// Downloads `url` into `downloads` (deleted afterwards), checks it against `checksum`, and
/// unpacks or moves it into `dir`.
fn fetch_into(
    url: &str,
    checksum: Option<&str>,
    downloads: &Path,
    dir: &Path,
) -> anyhow::Result<()> {
    let user_agent = concat!("gearman/", env!("CARGO_PKG_VERSION"));
    let agent = fetch::http_agent(user_agent, None, TIMEOUT, REDIRECTS)?;
    let fetcher = Fetcher::new(agent, None, TIMEOUT).with_local_files();
    let download = fetcher.fetch(url, checksum, downloads)?;
    let name = fetch::file_name(url);
    match Tarball::from_name(&name) {
        Some(kind) => kind
            .unpack(download.path(), dir)
            .with_context(|| format!("unpack {name}"))?,
        None => download.keep_as(&dir.join(&name))?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::tests::package;

    #[test]
    fn a_tarball_is_unpacked_into_the_version_folder_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = package(dir.path());
        let target = dir.path().join("daemons/pkg/1.0");
        assert!(install(&url, None, &target).unwrap());
        assert!(target.join("run.sh").is_file());
        let path = url.strip_prefix("file://").unwrap();
        assert!(!install(path, None, &target).unwrap(), "installed once");
        let left = fs::read_dir(dir.path().join("daemons/pkg"))
            .unwrap()
            .count();
        assert_eq!(left, 1, "no download or temporary folder left");
        let err = install("file:///no/such/file.tgz", None, &dir.path().join("x/1")).unwrap_err();
        assert!(format!("{err:#}").contains("/no/such/file.tgz"));
        assert!(!dir.path().join("x/1").exists());
    }

    #[test]
    fn other_files_are_kept_under_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("monitor.rpm");
        fs::write(&file, "rpm").unwrap();
        let target = dir.path().join("daemons/monitor/2");
        assert!(install(&format!("file://{}", file.display()), None, &target).unwrap());
        assert_eq!(
            fs::read_to_string(target.join("monitor.rpm")).unwrap(),
            "rpm"
        );
    }

    #[test]
    fn downloads_need_a_matching_checksum_and_leave_nothing_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("daemons/m/1");
        // Refused before any connection is made (port 9: nothing listens).
        let err = install("http://127.0.0.1:9/m.tgz", None, &target).unwrap_err();
        assert!(format!("{err:#}").contains("`checksum`"), "{err:#}");
        let file = dir.path().join("m.rpm");
        fs::write(&file, "rpm").unwrap();
        let url = format!("file://{}", file.display());
        let wrong = format!("SHA256:{}", "0".repeat(64));
        let err = install(&url, Some(&wrong), &target).unwrap_err();
        assert!(format!("{err:#}").contains("checksum mismatch"), "{err:#}");
        assert!(!target.exists());
        let left: Vec<_> = fs::read_dir(dir.path().join("daemons/m"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
        let right = format!("SHA256:{}", fetch::sha256_file(&file).unwrap());
        assert!(install(&url, Some(&right), &target).unwrap());
    }
}
