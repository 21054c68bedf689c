//! One file generation being read. A file is known by device + inode + a fingerprint: the
//! SHA-256 of its first [`FP_LEN`] bytes. A file shorter than that is fingerprinted over what
//! it has, and the fingerprint grows with the file until it covers `FP_LEN` bytes; an empty
//! file's fingerprint covers nothing and matches any content (it has no offset to lose).
//! The same device and inode with a different fingerprint is a new file (inode reuse); a
//! file shorter than what was read, or whose first bytes changed under an open handle
//! (copytruncate), starts a new generation with a new random id read from 0.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest as _, Sha256};

use crate::record::{Assembler, Multiline, RawRecord};
use crate::state::SavedFile;

/// Bytes a fingerprint covers at most.
pub const FP_LEN: u64 = 1024;
/// Bytes read from a file at once. The records of a chunk a batch does not take wait in the
/// file's queue, for every file read: a small chunk keeps that memory small (256 KiB chunks
/// of 8 files held ~2 MB of records), and a read of 32 KiB costs little more per byte.
pub const CHUNK: usize = 32 * 1024;

/// The fingerprint of a file's first bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprint {
    /// Bytes covered (up to [`FP_LEN`]).
    pub len: u64,
    /// SHA-256 of them, hex, first 16 bytes.
    pub hash: String,
}

/// The fingerprint of the first `len` bytes of `file` (fewer when the file is shorter).
pub fn fingerprint(file: &File, len: u64) -> io::Result<Fingerprint> {
    let mut buf = vec![0u8; len.min(FP_LEN) as usize];
    let mut got = 0;
    while got < buf.len() {
        let n = file.read_at(&mut buf[got..], got as u64)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    buf.truncate(got);
    Ok(Fingerprint::of(&buf))
}

impl Fingerprint {
    /// The fingerprint of `bytes`.
    pub fn of(bytes: &[u8]) -> Fingerprint {
        let digest = Sha256::digest(bytes);
        Fingerprint {
            len: bytes.len() as u64,
            hash: digest[..16].iter().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

/// A new random generation id: 16 lowercase hex digits.
pub fn new_id() -> String {
    let mut bytes = [0u8; 8];
    let read = File::open("/dev/urandom").and_then(|f| f.read_exact_at(&mut bytes, 0));
    if read.is_err() {
        // No /dev/urandom: the clock and the process id, still unique enough per host.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = ((nanos as u64) ^ (u64::from(std::process::id()) << 40)).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What [`Tracked::reopen`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reopened {
    /// The same file, open again.
    Same,
    /// Another file under the same device and inode, open (its first bytes differ).
    Replaced,
    /// Nowhere to be found.
    Missing,
}

/// A file generation the agent follows.
#[derive(Debug)]
pub struct Tracked {
    /// Index of its source in the configuration.
    pub source: usize,
    /// The generation's id.
    pub id: String,
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Fingerprint of its first bytes.
    pub fp: Fingerprint,
    /// Where it was last seen.
    pub path: PathBuf,
    /// Bytes Polaris has acknowledged.
    pub committed: u64,
    /// Next byte to read.
    pub read_pos: u64,
    /// Its size when last looked at.
    pub size: u64,
    /// The open handle (idle files have none).
    pub file: Option<File>,
    /// When it last grew or was read.
    pub active: Instant,
    /// Lines and records being assembled.
    pub assembler: Assembler,
    /// Records read and not yet put in a batch.
    pub ready: VecDeque<RawRecord>,
    /// No longer at a matched path (rotated away or deleted): read to its end, then retired.
    pub gone: bool,
    /// Read to its end after `gone`: nothing more will come.
    pub done: bool,
    /// Seen by the current scan.
    pub seen: bool,
    /// Its modification time (seconds, nanoseconds) when the last scan saw it.
    pub mtime: (i64, i64),
}

impl Tracked {
    /// A generation starting at `offset` (`committed` and `read_pos`).
    pub fn new(
        source: usize,
        id: String,
        meta: &std::fs::Metadata,
        fp: Fingerprint,
        path: PathBuf,
        offset: u64,
        rule: (usize, Option<Multiline>),
    ) -> Tracked {
        Tracked {
            source,
            id,
            dev: meta.dev(),
            ino: meta.ino(),
            fp,
            path,
            committed: offset,
            read_pos: offset,
            size: meta.len(),
            file: None,
            active: Instant::now(),
            assembler: Assembler::new(rule.0, rule.1, offset),
            ready: VecDeque::new(),
            gone: false,
            done: false,
            seen: true,
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    }

    /// The row to save, at offset `committed`.
    pub fn saved(&self, source: &str) -> SavedFile {
        SavedFile {
            source: source.to_string(),
            id: self.id.clone(),
            dev: self.dev,
            ino: self.ino,
            fp_len: self.fp.len,
            fp: self.fp.hash.clone(),
            path: self.path.to_string_lossy().into_owned(),
            offset: self.committed,
        }
    }

    /// Starts a new generation of the same file from 0 (it was truncated or its first bytes
    /// changed); returns the retired id.
    pub fn restart(&mut self, rule: (usize, Option<Multiline>)) -> String {
        let old = std::mem::replace(&mut self.id, new_id());
        self.committed = 0;
        self.read_pos = 0;
        self.assembler = Assembler::new(rule.0, rule.1, 0);
        self.ready.clear();
        self.fp = Fingerprint::of(&[]);
        if let Some(file) = &self.file
            && let Ok(fp) = fingerprint(file, FP_LEN)
        {
            self.fp = fp;
        }
        old
    }

    /// Opens the file again: by path, or in its folder by inode when it was renamed. Another
    /// file behind the same path and inode (inode reuse, or rewritten while closed) is
    /// [`Reopened::Replaced`]: the caller starts a new generation on it.
    pub fn reopen(&mut self) -> io::Result<Reopened> {
        let (path, file) = match open_same(&self.path, self.dev, self.ino) {
            Some(file) => (self.path.clone(), file),
            None => match find_in_dir(&self.path, self.dev, self.ino) {
                Some(found) => found,
                None => return Ok(Reopened::Missing),
            },
        };
        let same = fingerprint(&file, self.fp.len)? == self.fp;
        self.path = path;
        self.file = Some(file);
        Ok(if same {
            Reopened::Same
        } else {
            Reopened::Replaced
        })
    }

    /// Whether the file, closed, was rewritten under its path to a size no shorter than what
    /// was read (its first bytes differ); checked when its modification time changed.
    pub fn replaced_while_closed(&mut self, meta: &std::fs::Metadata) -> bool {
        let mtime = (meta.mtime(), meta.mtime_nsec());
        if self.file.is_some() || mtime == self.mtime {
            return false;
        }
        self.mtime = mtime;
        match open_same(&self.path, self.dev, self.ino) {
            Some(file) => fingerprint(&file, self.fp.len).is_ok_and(|fp| fp != self.fp),
            None => false,
        }
    }

    /// What the open handle says now: size and whether the file is still linked.
    pub fn look(&mut self) -> io::Result<Option<(u64, bool)>> {
        let Some(file) = &self.file else {
            return Ok(None);
        };
        let meta = file.metadata()?;
        Ok(Some((meta.len(), meta.nlink() > 0)))
    }

    /// Whether the first bytes still have their fingerprint (copytruncate and rewrite between
    /// two looks changes them); a fingerprint shorter than [`FP_LEN`] is lengthened.
    pub fn first_bytes_unchanged(&mut self) -> io::Result<bool> {
        let Some(file) = &self.file else {
            return Ok(true);
        };
        if self.fp.len > 0 && fingerprint(file, self.fp.len)? != self.fp {
            return Ok(false);
        }
        if self.fp.len < FP_LEN && self.size > self.fp.len {
            self.fp = fingerprint(file, FP_LEN)?;
        }
        Ok(true)
    }

    /// Reads the next chunk into the assembler (records onto `ready`); the bytes read, 0 at
    /// the end of the file.
    pub fn read_chunk(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(file) = &self.file else {
            return Ok(0);
        };
        let n = file.read_at(buf, self.read_pos)?;
        if n > 0 {
            let mut out = Vec::new();
            self.assembler.feed(&buf[..n], &mut out);
            self.ready.extend(out);
            self.read_pos += n as u64;
            self.size = self.size.max(self.read_pos);
            if self.fp.len < FP_LEN && self.read_pos > self.fp.len {
                self.fp = fingerprint(file, FP_LEN)?;
            }
            self.active = Instant::now();
        }
        Ok(n)
    }

    /// Completes what the assembler holds (the file will not grow).
    pub fn finish(&mut self) {
        let mut out = Vec::new();
        self.assembler.finish(&mut out);
        self.ready.extend(out);
    }
}

/// `path` opened, if it is still the file with that device and inode.
fn open_same(path: &Path, dev: u64, ino: u64) -> Option<File> {
    let file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    (meta.dev() == dev && meta.ino() == ino).then_some(file)
}

/// The file with device `dev` and inode `ino` in the folder of `path` (a rotation renamed
/// it there), opened.
pub fn find_in_dir(path: &Path, dev: u64, ino: u64) -> Option<(PathBuf, File)> {
    let dir = path.parent()?;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        if entry.ino() != ino {
            continue;
        }
        let candidate = entry.path();
        if let Some(file) = open_same(&candidate, dev, ino) {
            return Some((candidate, file));
        }
    }
    None
}

use std::os::unix::fs::DirEntryExt as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_cover_the_first_kib_and_ids_are_16_hex() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'a'; 2000]).unwrap();
        let file = File::open(&path).unwrap();
        let full = fingerprint(&file, FP_LEN).unwrap();
        assert_eq!(full.len, FP_LEN);
        assert_eq!(full.hash.len(), 32);
        std::fs::write(&path, "short").unwrap();
        let short = fingerprint(&File::open(&path).unwrap(), FP_LEN).unwrap();
        assert_eq!(short.len, 5);
        assert_ne!(short.hash, full.hash);
        let id = new_id();
        assert_eq!(id.len(), 16);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(id, new_id());
    }
}
