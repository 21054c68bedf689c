//! Installs a daemon's package into `<daemons>/<name>/<version>/`: downloaded from its `url`
//! by the `fetch` crate (http, https, ftp, `file://` or an absolute path), unpacked when it is
//! a tarball (`.tar.gz`, `.tgz`, `.tar`), else kept under its file name. The folder appears by
//! a rename, complete or not at all. Blocking: call it on a blocking thread.

use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use fetch::{Fetcher, Tarball};

/// Redirects followed for an http(s) package URL.
const REDIRECTS: u32 = 10;
/// Bound on connecting and on waiting for an answer (per step for ftp).
const TIMEOUT: Duration = Duration::from_secs(60);

/// Installs `url` into `dir` unless `dir` exists already. Returns whether it downloaded.
pub fn install(url: &str, dir: &Path) -> anyhow::Result<bool> {
    if dir.is_dir() {
        return Ok(false);
    }
    let parent = dir.parent().context("the install folder has no parent")?;
    fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    let tmp = parent.join(format!(".install-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    let result = fetch_into(url, parent, &tmp).and_then(|()| {
        fs::rename(&tmp, dir).with_context(|| format!("move the package to {}", dir.display()))
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    agentkit::release_free_memory();
    result.map(|()| true)
}

/// Downloads `url` into `downloads` (deleted afterwards) and unpacks or moves it into `dir`.
fn fetch_into(url: &str, downloads: &Path, dir: &Path) -> anyhow::Result<()> {
    let user_agent = concat!("gearman/", env!("CARGO_PKG_VERSION"));
    // A package URL may point at a mirror or a release page that redirects, as with curl -L.
    let agent = fetch::http_agent(user_agent, None, TIMEOUT, REDIRECTS)?;
    let fetcher = Fetcher::new(agent, None, TIMEOUT).with_local_files();
    let download = fetcher.fetch(url, None, downloads)?;
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
        assert!(install(&url, &target).unwrap());
        assert!(target.join("run.sh").is_file());
        let path = url.strip_prefix("file://").unwrap();
        assert!(!install(path, &target).unwrap(), "installed once");
        let left = fs::read_dir(dir.path().join("daemons/pkg"))
            .unwrap()
            .count();
        assert_eq!(left, 1, "no download or temporary folder left");
        let err = install("file:///no/such/file.tgz", &dir.path().join("x/1")).unwrap_err();
        assert!(format!("{err:#}").contains("/no/such/file.tgz"));
        assert!(!dir.path().join("x/1").exists());
    }

    #[test]
    fn other_files_are_kept_under_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("monitor.rpm");
        fs::write(&file, "rpm").unwrap();
        let target = dir.path().join("daemons/monitor/2");
        assert!(install(&format!("file://{}", file.display()), &target).unwrap());
        assert_eq!(
            fs::read_to_string(target.join("monitor.rpm")).unwrap(),
            "rpm"
        );
    }
}
