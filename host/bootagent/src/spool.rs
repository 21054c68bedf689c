//! Job results waiting for the server: one JSON file per result in `<state_dir>/results/`,
//! written atomically before the result is first sent and removed only once the server
//! answered errcode 0, so results survive a BootAgent restart and are re-sent until stored.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use wire::boot::JobResult;

use crate::state::write_atomic;

/// The spool folder.
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    /// Opens (creating) `<state_dir>/results`, mode `0700`; result files an older BootAgent
    /// left readable by others are narrowed to `0600` (new ones are written `0600`).
    pub fn open(state_dir: &Path) -> anyhow::Result<Spool> {
        use agentkit::private::{FILE_MODE, narrow, private_dir};
        let dir = state_dir.join("results");
        private_dir(&dir).with_context(|| format!("create {} (mode 0700)", dir.display()))?;
        for entry in std::fs::read_dir(&dir)
            .with_context(|| format!("read {}", dir.display()))?
            .flatten()
        {
            narrow(&entry.path(), FILE_MODE)
                .with_context(|| format!("chmod 0600 {}", entry.path().display()))?;
        }
        Ok(Spool { dir })
    }

    fn file(&self, id: &str) -> PathBuf {
        // Job ids are UUIDs; anything else is hex-encoded so it cannot leave the folder.
        let safe = id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let name = if safe && !id.is_empty() {
            id.to_string()
        } else {
            format!("x{}", hex::encode(id))
        };
        self.dir.join(format!("{name}.json"))
    }

    /// Keeps `result` until [`Spool::remove`].
    pub fn put(&self, result: &JobResult) -> anyhow::Result<()> {
        write_atomic(&self.file(&result.id), &serde_json::to_vec(result)?)
    }

    /// Whether a result for job `id` is waiting.
    pub fn has(&self, id: &str) -> bool {
        self.file(id).exists()
    }

    /// Forgets the result of job `id` (the server stored it).
    pub fn remove(&self, id: &str) {
        let _ = std::fs::remove_file(self.file(id));
    }

    /// Every waiting result, oldest first; unreadable files are logged and skipped.
    pub fn pending(&self) -> Vec<JobResult> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut found: Vec<(std::time::SystemTime, JobResult)> = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let parsed = std::fs::read(&path)
                .map_err(anyhow::Error::from)
                .and_then(|b| Ok(serde_json::from_slice::<JobResult>(&b)?));
            match parsed {
                Ok(result) => {
                    let time = entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH);
                    found.push((time, result));
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "Unreadable result file skipped.")
                }
            }
        }
        found.sort_by_key(|(time, _)| *time);
        found.into_iter().map(|(_, r)| r).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str) -> JobResult {
        JobResult {
            id: id.into(),
            errcode: 0,
            message: "ok".into(),
            hostname: None,
        }
    }

    #[test]
    fn results_stay_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        spool.put(&result("a-1")).unwrap();
        spool.put(&result("../evil")).unwrap();
        let again = Spool::open(dir.path()).unwrap();
        assert_eq!(again.pending().len(), 2);
        assert!(again.has("../evil"));
        again.remove("a-1");
        assert_eq!(again.pending(), vec![result("../evil")]);
        assert!(!dir.path().join("evil.json").exists());
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("results")), 0o700);
        assert_eq!(mode(&again.file("../evil")), 0o600);
    }
}
