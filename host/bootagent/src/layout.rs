//! Where agents live on disk: `<state_dir>/agents/<name>/<version>/` side by side, and
//! `<state_dir>/agents/<name>/current`, a relative symlink to the running version, switched
//! atomically by renaming a freshly made temporary symlink over it.

use std::path::{Path, PathBuf};

/// The agents folder of a state directory.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// `<state_dir>/agents`.
    pub fn new(state_dir: &Path) -> Layout {
        Layout {
            root: state_dir.join("agents"),
        }
    }

    /// `<root>/<name>`: every version of one agent.
    pub fn agent_dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// `<root>/<name>/<version>`.
    pub fn version_dir(&self, name: &str, version: &str) -> PathBuf {
        self.agent_dir(name).join(version)
    }

    /// The version `current` points to, if any.
    pub fn current(&self, name: &str) -> Option<String> {
        let target = std::fs::read_link(self.agent_dir(name).join("current")).ok()?;
        target.file_name()?.to_str().map(String::from)
    }

    /// Points `current` at `version`, atomically: readers see the old or the new link.
    pub fn switch(&self, name: &str, version: &str) -> std::io::Result<()> {
        let dir = self.agent_dir(name);
        let tmp = dir.join(format!(".current-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(version, &tmp)?;
        let renamed = std::fs::rename(&tmp, dir.join("current"));
        if renamed.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        renamed?;
        // Make the rename durable before anything relies on it.
        std::fs::File::open(&dir).and_then(|d| d.sync_all())
    }

    /// Removes one version folder (never the current one; never a path that is not one).
    pub fn remove_version(&self, name: &str, version: &str) -> std::io::Result<()> {
        crate::package::check_name("agent name", name)
            .and_then(|()| crate::package::check_name("version", version))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        if self.current(name).as_deref() == Some(version) {
            return Ok(());
        }
        match std::fs::remove_dir_all(self.version_dir(name, version)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes the agent and every version of it. A name that is not one folder name
    /// (`/`, `..`, `a/../b`, ...) is refused: nothing outside `<root>/<name>` is ever removed.
    pub fn remove_agent(&self, name: &str) -> std::io::Result<()> {
        crate::package::check_name("agent name", name)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        match std::fs::remove_dir_all(self.agent_dir(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The version folders of an agent, sorted (hidden work folders and `current` left out).
    pub fn versions(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.agent_dir(name))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switching_moves_current_and_keeps_versions() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        for v in ["1.0", "2.0"] {
            std::fs::create_dir_all(layout.version_dir("a", v)).unwrap();
        }
        assert_eq!(layout.current("a"), None);
        layout.switch("a", "1.0").unwrap();
        assert_eq!(layout.current("a").as_deref(), Some("1.0"));
        layout.switch("a", "2.0").unwrap();
        assert_eq!(layout.current("a").as_deref(), Some("2.0"));
        assert_eq!(layout.versions("a"), ["1.0", "2.0"]);
        layout.remove_version("a", "2.0").unwrap();
        assert_eq!(layout.versions("a"), ["1.0", "2.0"], "current is kept");
        layout.remove_version("a", "1.0").unwrap();
        assert_eq!(layout.versions("a"), ["2.0"]);
        layout.remove_agent("a").unwrap();
        assert!(!layout.agent_dir("a").exists());
    }

    #[test]
    fn names_that_are_not_one_folder_remove_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(&dir.path().join("state"));
        std::fs::create_dir_all(layout.version_dir("a", "1.0")).unwrap();
        for name in ["/", "..", "a/../../b", "", "a\0"] {
            let err = layout.remove_agent(name).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{name:?}");
        }
        assert!(layout.remove_version("a", "../..").is_err());
        assert!(layout.version_dir("a", "1.0").is_dir());
    }
}
