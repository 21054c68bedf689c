//! What `plugin_list` reports as skipped: every configured plugin or instance that did not
//! start (file missing or refused, options wrong, `init` failed), every file a `load` or
//! `plugin_install` refused, and every `.so` of the plugin directory that fails the checks made
//! before `dlopen` (who may have written it, a complete ELF shared object for this machine).
//!
//! nodus loads only the plugins its configuration names (collectd's `LoadPlugin`), so a file
//! that passes those checks but is named by nobody is neither loaded nor listed here: its ABI
//! version is only known once it is loaded (by `load`, `plugin_install` or the configuration).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use wire::plugins::{INVENTORY_ITEMS_MAX, SkippedFile};

/// One recorded reason.
#[derive(Debug, Clone, PartialEq)]
struct Skip {
    file: PathBuf,
    /// The configured plugin or instance (`http/primary`) it concerns: listed until that
    /// starts. Without one (a file refused by `load` or `plugin_install`) it is listed while
    /// the file exists.
    subject: Option<String>,
    reason: String,
}

/// The reasons recorded so far.
#[derive(Debug, Default)]
pub struct Skipped {
    entries: Vec<Skip>,
}

impl Skipped {
    /// A configured plugin or instance `subject` (from `file`) did not start.
    pub fn not_started(&mut self, subject: &str, file: &Path, reason: String) {
        self.record(Skip {
            file: file.to_path_buf(),
            subject: Some(subject.to_string()),
            reason,
        });
    }

    /// `file` was refused by `load` or `plugin_install`.
    pub fn refused(&mut self, file: &Path, reason: String) {
        self.record(Skip {
            file: file.to_path_buf(),
            subject: None,
            reason,
        });
    }

    fn record(&mut self, skip: Skip) {
        self.entries
            .retain(|s| (&s.file, &s.subject) != (&skip.file, &skip.subject));
        self.entries.push(skip);
    }

    /// Plugin `name` (or an instance of it) started: its earlier reasons are void.
    pub fn started(&mut self, name: &str) {
        let prefix = format!("{name}/");
        self.entries.retain(|s| {
            s.subject
                .as_deref()
                .is_none_or(|subject| subject != name && !subject.starts_with(&prefix))
        });
    }

    /// The list: recorded reasons (refused files only while they exist), then every `.so` of
    /// `dir` not among `loaded` (files plugins run from) that fails the checks made before
    /// `dlopen`. At most `INVENTORY_ITEMS_MAX` entries.
    pub fn list(&self, dir: &Path, loaded: &[PathBuf]) -> Vec<SkippedFile> {
        let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        let mut seen: BTreeSet<PathBuf> = loaded.iter().map(|p| canonical(p)).collect();
        let mut list: Vec<SkippedFile> = self
            .entries
            .iter()
            .filter(|s| s.subject.is_some() || s.file.exists())
            .map(|s| {
                seen.insert(canonical(&s.file));
                SkippedFile {
                    file: s.file.display().to_string(),
                    reason: s.reason.clone(),
                }
            })
            .collect();
        let files = plugin_host::registry::plugin_files(dir).unwrap_or_default();
        for file in files {
            if list.len() >= INVENTORY_ITEMS_MAX {
                break;
            }
            if seen.contains(&canonical(&file)) {
                continue;
            }
            if let Err(reason) = plugin_host::loader::check(&file) {
                list.push(SkippedFile {
                    file: file.display().to_string(),
                    reason: reason.to_string(),
                });
            }
        }
        list.truncate(INVENTORY_ITEMS_MAX);
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_last_until_the_plugin_starts_or_the_file_goes() {
        let dir = tempfile::tempdir().unwrap();
        let refused = dir.path().join("refused.so.new");
        std::fs::write(&refused, "x").unwrap();
        let mut skipped = Skipped::default();
        skipped.not_started(
            "http/primary",
            &dir.path().join("http.so"),
            "init failed: no".into(),
        );
        skipped.not_started(
            "cpu",
            &dir.path().join("cpu.so"),
            "no plugin named `cpu`".into(),
        );
        skipped.refused(&refused, "init panicked: boom".into());
        skipped.refused(&refused, "init panicked: again".into());
        let reasons = |s: &Skipped| -> Vec<String> {
            s.list(dir.path(), &[])
                .into_iter()
                .map(|f| f.reason)
                .collect()
        };
        assert_eq!(
            reasons(&skipped),
            [
                "init failed: no",
                "no plugin named `cpu`",
                "init panicked: again"
            ]
        );
        skipped.started("http");
        std::fs::remove_file(&refused).unwrap();
        assert_eq!(reasons(&skipped), ["no plugin named `cpu`"]);
    }

    #[test]
    fn files_of_the_dir_that_fail_the_checks_before_dlopen_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.so"), "just text\n").unwrap();
        std::fs::write(dir.path().join("loaded.so"), "not checked: it runs\n").unwrap();
        std::fs::write(dir.path().join(".staged.so.new"), "hidden and not .so\n").unwrap();
        let list = Skipped::default().list(dir.path(), &[dir.path().join("loaded.so")]);
        assert_eq!(list.len(), 1, "{list:?}");
        assert!(list[0].file.ends_with("/notes.so"), "{list:?}");
        assert!(list[0].reason.starts_with("not a plugin"), "{list:?}");
    }
}
