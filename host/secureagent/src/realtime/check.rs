//! The real-time comparison: the paths an event touched (and whole subtrees after a
//! directory move, a new directory or a lost event queue) compared with their baseline entries
//! under the rule that selects them, as a full check would (same attributes, same growing-log
//! rule), without walking the rest of the tree. The baseline is only read (the part under the
//! real-time trees kept in memory, read again when its file changes); it is never written.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::OpenOptions;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use crate::compare::{self, Changed, Findings};
use crate::db::{self, DbError, DbPaths};
use crate::entry::Entry;
use crate::gentle::{Capped, ReadCap};
use crate::hash;
use crate::rules::{Attr, FileKind, Rules};
use crate::walk;

/// Most entries listed under one subtree in one batch (a bound on a runaway tree; past it
/// the rest waits for the scheduled check, logged).
pub const MAX_SUBTREE_ENTRIES: usize = 1_000_000;

/// Most paths whose last report is remembered; past it the memory is cleared (and a path
/// still different from its baseline is reported again at its next event).
pub const MAX_REMEMBERED: usize = 1_000_000;

/// The baseline's entries under the real-time trees.
pub struct Baseline {
    pub digest: String,
    pub stored_digest: Option<String>,
    entries: BTreeMap<Box<[u8]>, Entry>,
    /// (device, inode, size, mtime ns) of the file when read: read again when it differs.
    stamp: Option<(u64, u64, u64, i64)>,
}

fn stamp(path: &Path) -> Option<(u64, u64, u64, i64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
    ))
}

/// Whether `path` (as the rules name it) is `tree` or below it.
pub fn under(path: &[u8], tree: &[u8]) -> bool {
    tree == b"/" || path == tree || (path.starts_with(tree) && path.get(tree.len()) == Some(&b'/'))
}

impl Baseline {
    /// Reads the baseline at `paths`, keeping the entries under `trees`.
    pub fn read(paths: &DbPaths, trees: &[Vec<u8>]) -> Result<Baseline, DbError> {
        let stamp = stamp(&paths.db);
        let whole = db::read(paths)?;
        let entries = whole
            .entries
            .into_iter()
            .filter(|e| trees.iter().any(|t| under(&e.path, t)))
            .map(|e| (e.path.clone(), e))
            .collect();
        Ok(Baseline {
            digest: whole.digest,
            stored_digest: whole.stored_digest,
            entries,
            stamp,
        })
    }

    /// Whether the file changed since it was read (an `--init` or `--update` ran).
    pub fn stale(&self, paths: &DbPaths) -> bool {
        stamp(&paths.db) != self.stamp
    }

    /// Entries kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What one comparison needs.
pub struct Context<'a> {
    pub rules: &'a Rules,
    /// The real root prefix (canonical).
    pub root: PathBuf,
    /// The real-time trees, as the rules name them.
    pub trees: Vec<Vec<u8>>,
    /// Real paths that are never entries (and everything below them).
    pub own: Vec<PathBuf>,
    /// `max_read_mib_s`, as for a full check.
    pub cap: Option<ReadCap>,
}

impl Context<'_> {
    /// The path as the rules name it of a real path under the root, when it is in a
    /// real-time tree and not the agent's own.
    pub fn rel(&self, real: &Path) -> Option<Vec<u8>> {
        if self.own.iter().any(|o| real.starts_with(o)) {
            return None;
        }
        let below = real.strip_prefix(&self.root).ok()?;
        let mut rel = b"/".to_vec();
        rel.extend_from_slice(below.as_os_str().as_bytes());
        self.trees.iter().any(|t| under(&rel, t)).then_some(rel)
    }

    fn real(&self, rel: &[u8]) -> PathBuf {
        let below = std::ffi::OsStr::from_bytes(rel.strip_prefix(b"/").unwrap_or(rel));
        if below.is_empty() {
            self.root.clone()
        } else {
            self.root.join(below)
        }
    }

    /// Whether the walk reaches `rel`: every folder above it is entered.
    fn reached(&self, rel: &[u8]) -> bool {
        let mut end = 0;
        while let Some(i) = rel[end + 1..].iter().position(|b| *b == b'/') {
            end += 1 + i;
            let ancestor = if end == 0 { &b"/"[..] } else { &rel[..end] };
            if !self.rules.descend(ancestor) {
                return false;
            }
        }
        rel.len() <= 1 || self.rules.descend(b"/")
    }

    /// The entry of `rel` now, as the walk would make it (`None`: absent or not selected).
    fn entry_now(&self, rel: &[u8], old: Option<&Entry>, buf: &mut [u8]) -> Option<Entry> {
        if !self.reached(rel) {
            return None;
        }
        let real = self.real(rel);
        let meta = std::fs::symlink_metadata(&real).ok()?;
        let kind = FileKind::from_mode(meta.mode());
        let attrs = self.rules.select(rel, kind)?;
        let mut entry = Entry::from_metadata(rel.into(), attrs, &real, &meta);
        if kind == FileKind::File && entry.attrs.any_hash() && entry.unreadable.is_none() {
            let prefix = if entry.attrs.has(Attr::Growing) {
                old.filter(|o| o.kind == FileKind::File && o.size < entry.size)
                    .map(|o| o.size)
            } else {
                None
            };
            let opened = |flags| {
                OpenOptions::new()
                    .read(true)
                    .custom_flags(flags | libc::O_NOFOLLOW | libc::O_NONBLOCK)
                    .open(&real)
            };
            let result = match opened(libc::O_NOATIME) {
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => opened(0),
                other => other,
            }
            .and_then(|f| {
                let mut reader = Capped {
                    inner: f,
                    cap: self.cap.as_ref(),
                    stop: &walk::stop_requested,
                };
                hash::hash_reader(&mut reader, entry.attrs, prefix, buf)
            });
            match result {
                Ok((hashes, prefix)) => {
                    entry.hashes = hashes;
                    entry.prefix = prefix.map(Box::new);
                }
                Err(e) => entry.unreadable = Some(e.to_string()),
            }
        }
        Some(entry)
    }

    /// The paths (as the rules name them) of everything under the real directory `dir` the
    /// walk would list, at most [`MAX_SUBTREE_ENTRIES`].
    fn list(&self, rel: &[u8], out: &mut BTreeSet<Vec<u8>>) {
        let mut dirs = vec![rel.to_vec()];
        while let Some(dir) = dirs.pop() {
            if !self.rules.descend(&dir) {
                continue;
            }
            let Ok(reader) = std::fs::read_dir(self.real(&dir)) else {
                continue;
            };
            for item in reader.flatten() {
                if out.len() >= MAX_SUBTREE_ENTRIES {
                    tracing::warn!(
                        "Real time: over {MAX_SUBTREE_ENTRIES} entries under {}: the rest waits for the scheduled check.",
                        String::from_utf8_lossy(rel)
                    );
                    return;
                }
                if self.own.iter().any(|o| *o == item.path()) {
                    continue;
                }
                let mut child = dir.clone();
                if !child.ends_with(b"/") {
                    child.push(b'/');
                }
                child.extend_from_slice(item.file_name().as_bytes());
                if item.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(child.clone());
                }
                out.insert(child);
            }
        }
    }
}

/// Compares the paths `touched` and the subtrees `whole` (as the rules name them) with the
/// baseline. `reported` holds what was last reported for each path: a path whose findings
/// are the same as last reported is left out (reported once, not at every event), and one
/// back to its baseline state is forgotten.
pub fn compare(
    ctx: &Context<'_>,
    baseline: &Baseline,
    touched: &BTreeSet<Vec<u8>>,
    whole: &BTreeSet<Vec<u8>>,
    reported: &mut HashMap<Vec<u8>, String>,
) -> Findings {
    let mut paths = touched.clone();
    for tree in whole {
        paths.insert(tree.clone());
        ctx.list(tree, &mut paths);
        for path in baseline
            .entries
            .range::<[u8], _>((
                std::ops::Bound::Included(&tree[..]),
                std::ops::Bound::Unbounded,
            ))
            .map(|(p, _)| p)
            .take_while(|p| p.starts_with(tree))
            .filter(|p| under(p, tree))
        {
            paths.insert(path.to_vec());
        }
    }
    let mut buf = vec![0; hash::BUFFER];
    let mut findings = Findings::default();
    for path in &paths {
        let old = baseline.entries.get(&path[..]);
        let new = ctx.entry_now(path, old, &mut buf);
        findings.total += usize::from(new.is_some());
        let signature = match (old, &new) {
            (None, None) => String::new(),
            (None, Some(_)) => "added".to_string(),
            (Some(_), None) => "removed".to_string(),
            (Some(old), Some(new)) => {
                let attrs = compare::changed_attrs(old, new);
                let mut s = String::new();
                for attr in &attrs {
                    s.push_str(attr.name());
                    s.push('=');
                    s.push_str(&new.value(*attr));
                    s.push(';');
                }
                if let Some(why) = &new.unreadable {
                    s.push_str("unreadable: ");
                    s.push_str(why);
                }
                s
            }
        };
        if signature.is_empty() {
            reported.remove(path);
            continue;
        }
        if reported.get(path) == Some(&signature) {
            continue;
        }
        if reported.len() >= MAX_REMEMBERED {
            tracing::warn!(
                "Real time: over {MAX_REMEMBERED} paths differ from the baseline: what was reported is forgotten."
            );
            reported.clear();
        }
        reported.insert(path.clone(), signature);
        match (old, new) {
            (None, Some(new)) => findings.added.push(new),
            (Some(old), None) => findings.removed.push(old.clone()),
            (Some(old), Some(new)) => {
                let attrs = compare::changed_attrs(old, &new);
                if new.unreadable.is_some() {
                    findings.unreadable.push(new.clone());
                }
                if !attrs.is_empty() {
                    findings.changed.push(Changed {
                        old: old.clone(),
                        new,
                        attrs,
                    });
                }
            }
            (None, None) => {}
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_is_by_whole_path_components() {
        assert!(under(b"/etc/passwd", b"/etc"));
        assert!(under(b"/etc", b"/etc"));
        assert!(!under(b"/etcetera", b"/etc"));
        assert!(under(b"/anything", b"/"));
    }
}
