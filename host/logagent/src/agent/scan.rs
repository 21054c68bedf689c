//! Finding files: the sources' globs expanded, new files tracked (resumed from their saved
//! offset when device, inode and fingerprint agree), files no longer matched read to their end
//! or counted lost, and the open files looked at (truncation, deletion, idleness).

use std::os::unix::fs::MetadataExt as _;
use std::time::{Duration, Instant};

use super::{Agent, Key, fp_of};
use crate::state::SavedFile;
use crate::tail::{self, Reopened, Tracked};

impl Agent {
    /// Expands every source's glob: new files are tracked (resumed from their saved offset
    /// when device, inode and fingerprint agree), known ones get their path and size, and
    /// those no longer matched are marked gone (read to their end, then retired).
    pub fn scan(&mut self) {
        for t in self.files.values_mut() {
            t.seen = false;
        }
        for si in 0..self.sources.len() {
            let paths = crate::glob::expand(&self.sources[si].config.path);
            for (path, meta) in paths {
                let key = (si, meta.dev(), meta.ino());
                if let Some(t) = self.files.get_mut(&key) {
                    if !t.gone {
                        t.seen = true;
                        t.path = path;
                        t.size = meta.len();
                        if t.size < t.read_pos {
                            // Truncated while its descriptor was closed.
                            self.new_generation(key, "truncated while idle");
                        } else if t.replaced_while_closed(&meta) {
                            self.new_generation(key, "rewritten while idle");
                        }
                    }
                    continue;
                }
                if let Err(e) = self.track(si, key, path, &meta) {
                    self.sources[si].status.last_error = Some(e.to_string());
                }
            }
        }
        let unseen: Vec<Key> = self
            .files
            .iter()
            .filter(|(_, t)| !t.seen && !t.gone)
            .map(|(k, _)| *k)
            .collect();
        for key in unseen {
            self.leave(key);
        }
        if self.first_scan {
            self.first_scan = false;
            self.resume_rotated_while_stopped();
        }
    }

    /// Starts following a file not followed yet.
    fn track(
        &mut self,
        si: usize,
        key: Key,
        path: std::path::PathBuf,
        meta: &std::fs::Metadata,
    ) -> anyhow::Result<()> {
        let file = std::fs::File::open(&path)?;
        let name = self.sources[si].config.name.clone();
        let size = meta.len();
        let rule = self.rule(si);
        let tracked = match self.saved.remove(&(name.clone(), key.1, key.2)) {
            Some(saved) if saved.fp_len <= size && fp_of(&file, saved.fp_len)? == saved.fp => {
                let fp = tail::Fingerprint {
                    len: saved.fp_len,
                    hash: saved.fp.clone(),
                };
                let mut t = Tracked::new(si, saved.id, meta, fp, path, saved.offset, rule.clone());
                t.file = Some(file);
                if size < saved.offset {
                    tracing::warn!(path = %t.path.display(), "truncated while the agent was stopped: read again from 0");
                    self.sources[si].status.truncations += 1;
                    self.to_forget.push(t.restart(rule));
                    self.to_save.push(t.saved(&name));
                }
                let _ = t.first_bytes_unchanged();
                t.file = None;
                t
            }
            other => {
                if let Some(stale) = other {
                    tracing::info!(path = %path.display(), "inode reused by another file: a new file");
                    self.to_forget.push(stale.id);
                }
                let fp = tail::fingerprint(&file, tail::FP_LEN)?;
                let start = if self.fresh && self.first_scan && !self.sources[si].config.from_start
                {
                    size
                } else {
                    0
                };
                let t = Tracked::new(si, tail::new_id(), meta, fp, path, start, rule);
                self.to_save.push(t.saved(&name));
                t
            }
        };
        self.files.insert(key, tracked);
        Ok(())
    }

    /// A followed file is no longer at a matched path: read what is left, if it can be found.
    fn leave(&mut self, key: Key) {
        let Some(t) = self.files.get_mut(&key) else {
            return;
        };
        t.gone = true;
        if t.file.is_none() && t.reopen().ok() != Some(Reopened::Same) {
            t.file = None;
            let lost = t.size.saturating_sub(t.read_pos);
            if lost > 0 {
                tracing::warn!(path = %t.path.display(), lost, "rotated away and deleted before it was read");
            }
            self.sources[t.source].status.lost_bytes += lost;
            t.finish();
            t.done = true;
        }
    }

    /// Saved files not found at a matched path at the first scan were rotated while the agent
    /// was stopped: those still in their folder are read to their end, the rest are gone.
    fn resume_rotated_while_stopped(&mut self) {
        let saved: Vec<SavedFile> = self.saved.drain().map(|(_, s)| s).collect();
        for s in saved {
            let Some(si) = self.sources.iter().position(|x| x.config.name == s.source) else {
                self.to_forget.push(s.id);
                continue;
            };
            let found = tail::find_in_dir(std::path::Path::new(&s.path), s.dev, s.ino);
            let resumed = found.and_then(|(path, file)| {
                let meta = file.metadata().ok()?;
                (s.fp_len <= meta.len() && fp_of(&file, s.fp_len).ok()? == s.fp)
                    .then_some((path, file, meta))
            });
            match resumed {
                Some((path, file, meta)) if meta.len() >= s.offset => {
                    let fp = tail::Fingerprint {
                        len: s.fp_len,
                        hash: s.fp.clone(),
                    };
                    let rule = self.rule(si);
                    let mut t = Tracked::new(si, s.id, &meta, fp, path, s.offset, rule);
                    t.file = Some(file);
                    t.gone = true;
                    self.files.insert((si, meta.dev(), meta.ino()), t);
                }
                _ => {
                    tracing::warn!(path = %s.path, "a file followed before the restart is gone; what it held past offset {} is unknown", s.offset);
                    self.to_forget.push(s.id);
                }
            }
        }
    }

    /// Looks at the open files: truncated ones start a new generation, deleted ones are
    /// marked gone, idle ones are closed.
    pub(super) fn look_at_open_files(&mut self) {
        let idle = Duration::from_secs(self.config.idle_close_s);
        let mut rewritten = Vec::new();
        for (key, t) in self.files.iter_mut() {
            let Ok(Some((size, linked))) = t.look() else {
                continue;
            };
            if !linked {
                t.gone = true;
            }
            if size != t.size && (size < t.read_pos || !t.first_bytes_unchanged().unwrap_or(true)) {
                rewritten.push(*key);
            }
            if size > t.size {
                t.active = Instant::now();
            }
            t.size = size;
            if !t.gone && t.read_pos >= size && t.active.elapsed() >= idle {
                t.file = None;
            }
        }
        for key in rewritten {
            self.new_generation(key, "truncated (copytruncate)");
        }
    }

    /// Starts a new generation of a followed file, read from 0: it was truncated, or another
    /// file took its inode (`why`); the truncation is counted.
    pub(super) fn new_generation(&mut self, key: Key, why: &str) {
        let rule = self.rule(key.0);
        let Some(t) = self.files.get_mut(&key) else {
            return;
        };
        tracing::info!(path = %t.path.display(), "{why}: read again from 0 as a new generation");
        self.sources[key.0].status.truncations += 1;
        let old = t.restart(rule);
        self.to_forget.push(old);
        self.to_save.push(t.saved(&self.sources[key.0].config.name));
    }
}
