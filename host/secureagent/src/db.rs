//! The baseline database: one text line per entry, sorted by path, fields separated by tabs
//! (`%XX` escapes for bytes that would break a line), written to `<db>.new` then renamed,
//! `0600` in a `0700` folder; its SHA-256 beside it in `<db>.sha256` (`sha256sum` format).
//! Read back one entry at a time ([`Reader`]), so a check never holds it whole.
//! Also the run lock `<db>.lock` (`flock`): never two runs at once.

use std::fs::File;
use std::io::{BufRead as _, BufReader, BufWriter, Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::Digest as _;

use crate::entry::{Entry, Extra, Time};
use crate::hash::Hashes;
use crate::rules::{Attr, AttrSet, FileKind};

/// The first line of a baseline.
const MAGIC: &str = "secureagent-baseline 2";
/// The first line of a baseline written before md5 (its lines have no md5 field); still read.
const MAGIC_V1: &str = "secureagent-baseline 1";
/// Fields of an entry line (md5 is the 22nd, before `unreadable`).
const FIELDS: usize = 23;
/// Fields of an entry line written before md5.
const FIELDS_V1: usize = 22;
/// Longest line read from a baseline.
pub const MAX_LINE: usize = 1024 * 1024;
/// Most entries read from a baseline (a damaged or planted file must not exhaust memory).
pub const MAX_ENTRIES: usize = 50_000_000;

/// What can go wrong with the baseline or its lock.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} line {line}: {message}")]
    Format {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("another secureagent run holds {path}{holder}")]
    Locked { path: PathBuf, holder: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DbError + '_ {
    move |source| DbError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The files that belong to a baseline at `db`.
#[derive(Debug, Clone)]
pub struct DbPaths {
    pub db: PathBuf,
    pub new: PathBuf,
    pub digest: PathBuf,
    pub lock: PathBuf,
}

impl DbPaths {
    /// `<db>`, `<db>.new`, `<db>.sha256`, `<db>.lock`.
    pub fn new(db: &Path) -> DbPaths {
        let with = |ext: &str| {
            let mut p = db.as_os_str().to_owned();
            p.push(ext);
            PathBuf::from(p)
        };
        DbPaths {
            db: db.to_path_buf(),
            new: with(".new"),
            digest: with(".sha256"),
            lock: with(".lock"),
        }
    }

    /// Every file of the baseline (never findings).
    pub fn all(&self) -> Vec<PathBuf> {
        vec![
            self.db.clone(),
            self.new.clone(),
            self.digest.clone(),
            self.lock.clone(),
        ]
    }
}

/// The run lock, released when dropped (the file stays).
#[derive(Debug)]
pub struct RunLock {
    /// Held open: closing it releases the `flock`.
    _file: File,
}

/// Takes the run lock beside the baseline, or says which process holds it.
pub fn lock(paths: &DbPaths) -> Result<RunLock, DbError> {
    if let Some(dir) = paths.lock.parent().filter(|d| !d.as_os_str().is_empty()) {
        agentkit::private::private_dir(dir).map_err(io(dir))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(agentkit::private::FILE_MODE)
        .open(&paths.lock)
        .map_err(io(&paths.lock))?;
    // SAFETY: flock on a descriptor this function owns.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let holder = std::fs::read_to_string(&paths.lock)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .map(|pid| format!(" (pid {pid})"))
                .unwrap_or_default();
            return Err(DbError::Locked {
                path: paths.lock.clone(),
                holder,
            });
        }
        return Err(DbError::Io {
            path: paths.lock.clone(),
            source: e,
        });
    }
    file.set_len(0).map_err(io(&paths.lock))?;
    writeln!(file, "{}", std::process::id()).map_err(io(&paths.lock))?;
    Ok(RunLock { _file: file })
}

/// Escapes bytes that would break the line format (controls, space, `%`, non-ASCII, a lone `-`).
fn escape(bytes: &[u8]) -> String {
    if bytes == b"-" {
        return "%2D".into();
    }
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b <= b' ' || b == b'%' || b >= 0x7f {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad escape in `{s}`"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn opt_text(value: Option<&str>) -> String {
    value.map_or("-".into(), |v| escape(v.as_bytes()))
}

/// One entry as a line (without the newline).
pub fn encode(entry: &Entry) -> String {
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    let time = |t: Time| format!("{}.{:09}", t.sec, t.nsec);
    let hash = |a: Attr| entry.hashes.get(a).map_or("-".into(), |h| b64.encode(h));
    let extra = entry.extra();
    let fields = [
        escape(&entry.path),
        format!("{:x}", entry.attrs.0),
        entry.kind.letter().to_string(),
        format!("{:o}", entry.perm),
        entry.uid.to_string(),
        entry.gid.to_string(),
        entry.size.to_string(),
        entry.blocks.to_string(),
        entry.inode.to_string(),
        entry.links.to_string(),
        time(entry.mtime),
        time(entry.ctime),
        time(entry.atime),
        extra.linkname.as_deref().map_or("-".into(), escape),
        opt_text(extra.acl.as_deref()),
        opt_text(extra.xattrs.as_deref()),
        opt_text(extra.selinux.as_deref()),
        opt_text(extra.caps.as_deref()),
        hash(Attr::Sha256),
        hash(Attr::Sha512),
        hash(Attr::Blake3),
        hash(Attr::Md5),
        opt_text(entry.unreadable.as_deref()),
    ];
    fields.join("\t")
}

/// Parses one line of a baseline (either layout: with md5, or the first one without).
pub fn decode(line: &str) -> Result<Entry, String> {
    let mut f: Vec<&str> = line.split('\t').collect();
    if f.len() == FIELDS_V1 {
        f.insert(FIELDS_V1 - 1, "-");
    }
    if f.len() != FIELDS {
        return Err(format!("{} fields, {FIELDS} expected", f.len()));
    }
    let num = |i: usize| -> Result<u64, String> {
        f[i].parse()
            .map_err(|_| format!("field {} `{}` is not a number", i + 1, f[i]))
    };
    let small = |i: usize| -> Result<u32, String> {
        f[i].parse()
            .map_err(|_| format!("field {} `{}` is not a number", i + 1, f[i]))
    };
    let time = |i: usize| -> Result<Time, String> {
        let (s, n) = f[i]
            .split_once('.')
            .ok_or_else(|| format!("bad time `{}`", f[i]))?;
        Ok(Time {
            sec: s.parse().map_err(|_| format!("bad time `{}`", f[i]))?,
            nsec: n.parse().map_err(|_| format!("bad time `{}`", f[i]))?,
        })
    };
    let text = |i: usize| -> Result<Option<String>, String> {
        if f[i] == "-" {
            return Ok(None);
        }
        let bytes = unescape(f[i])?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| format!("field {} is not UTF-8", i + 1))
    };
    let path = unescape(f[0])?;
    if !path.starts_with(b"/") {
        return Err(format!("path `{}` does not start with /", f[0]));
    }
    let kind = f[2]
        .chars()
        .next()
        .and_then(FileKind::from_char)
        .filter(|_| f[2].len() == 1)
        .ok_or_else(|| format!("bad file type `{}`", f[2]))?;
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    let mut hashes = Hashes::default();
    for (i, attr) in [
        (18, Attr::Sha256),
        (19, Attr::Sha512),
        (20, Attr::Blake3),
        (21, Attr::Md5),
    ] {
        if f[i] != "-" {
            let bytes = b64
                .decode(f[i])
                .map_err(|e| format!("bad {}: {e}", attr.name()))?;
            hashes.set(attr, &bytes)?;
        }
    }
    let extra = Extra {
        linkname: if f[13] == "-" {
            None
        } else {
            Some(unescape(f[13])?.into())
        },
        acl: text(14)?,
        xattrs: text(15)?,
        selinux: text(16)?,
        caps: text(17)?,
    };
    Ok(Entry {
        path: path.into(),
        attrs: AttrSet(
            u32::from_str_radix(f[1], 16).map_err(|_| format!("bad attributes `{}`", f[1]))?,
        ),
        kind,
        perm: u32::from_str_radix(f[3], 8).map_err(|_| format!("bad permissions `{}`", f[3]))?,
        uid: small(4)?,
        gid: small(5)?,
        size: num(6)?,
        blocks: num(7)?,
        inode: num(8)?,
        links: num(9)?,
        mtime: time(10)?,
        ctime: time(11)?,
        atime: time(12)?,
        extra: (extra != Extra::default()).then(|| Box::new(extra)),
        hashes,
        unreadable: text(22)?,
        prefix: None,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `entries` (sorted by path) as the baseline: `<db>.new`, fsync, rename, then the
/// digest file the same way. Returns the SHA-256 (hex) of the baseline.
pub fn write(paths: &DbPaths, entries: &[Entry]) -> Result<String, DbError> {
    if let Some(dir) = paths.db.parent().filter(|d| !d.as_os_str().is_empty()) {
        agentkit::private::private_dir(dir).map_err(io(dir))?;
    }
    let file = agentkit::private::create_private(&paths.new).map_err(io(&paths.new))?;
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let mut sha = sha2::Sha256::new();
    let mut put = |line: &str| -> std::io::Result<()> {
        sha.update(line.as_bytes());
        sha.update(b"\n");
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")
    };
    put(MAGIC).map_err(io(&paths.new))?;
    for entry in entries {
        put(&encode(entry)).map_err(io(&paths.new))?;
    }
    let file = out.into_inner().map_err(|e| DbError::Io {
        path: paths.new.clone(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io(&paths.new))?;
    drop(file);
    std::fs::rename(&paths.new, &paths.db).map_err(io(&paths.db))?;
    let digest = hex(&sha.finalize());
    let name = paths
        .db
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = DbPaths::new(&paths.digest).new;
    let mut file = agentkit::private::create_private(&tmp).map_err(io(&tmp))?;
    writeln!(file, "{digest}  {name}").map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, &paths.digest).map_err(io(&paths.digest))?;
    Ok(digest)
}

/// A baseline read back whole (tests and tools; a check streams it with [`Reader`]).
#[derive(Debug)]
pub struct Baseline {
    /// Entries, sorted by path.
    pub entries: Vec<Entry>,
    /// SHA-256 (hex) of the file as read.
    pub digest: String,
    /// The digest stored beside it (`None`: no digest file).
    pub stored_digest: Option<String>,
}

/// Reads the baseline and its stored digest.
pub fn read(paths: &DbPaths) -> Result<Baseline, DbError> {
    let mut reader = Reader::open(paths)?;
    let mut entries = Vec::new();
    while let Some(entry) = reader.next_entry()? {
        entries.push(entry);
    }
    Ok(Baseline {
        entries,
        digest: reader.finish()?,
        stored_digest: stored_digest(paths)?,
    })
}

/// The digest stored beside the baseline (`None`: no digest file).
pub fn stored_digest(paths: &DbPaths) -> Result<Option<String>, DbError> {
    match std::fs::read_to_string(&paths.digest) {
        Ok(text) => Ok(text.split_whitespace().next().map(str::to_string)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DbError::Io {
            path: paths.digest.clone(),
            source: e,
        }),
    }
}

/// A baseline read one entry at a time, in path order, checking the order and hashing the
/// file as it goes: a check merges it with the walk and never holds it whole.
pub struct Reader {
    path: PathBuf,
    reader: BufReader<File>,
    sha: sha2::Sha256,
    buf: Vec<u8>,
    /// The previous entry's path (to refuse a baseline out of order).
    last: Vec<u8>,
    line_no: usize,
    entries: usize,
    done: bool,
}

impl Reader {
    /// Opens the baseline and reads its first line.
    pub fn open(paths: &DbPaths) -> Result<Reader, DbError> {
        let file = File::open(&paths.db).map_err(io(&paths.db))?;
        let mut reader = Reader {
            path: paths.db.clone(),
            reader: BufReader::with_capacity(64 * 1024, file),
            sha: sha2::Sha256::new(),
            buf: Vec::new(),
            last: Vec::new(),
            line_no: 0,
            entries: 0,
            done: false,
        };
        let known = reader.line()?.map(|text| text == MAGIC || text == MAGIC_V1);
        match known {
            None => Err(reader.format(1, "empty file".into())),
            Some(true) => Ok(reader),
            Some(false) => Err(reader.format(
                1,
                format!("not a secureagent baseline (`{MAGIC}` expected)"),
            )),
        }
    }

    fn format(&self, line: usize, message: String) -> DbError {
        DbError::Format {
            path: self.path.clone(),
            line,
            message,
        }
    }

    /// The next line without its newline, hashed; `None` at the end.
    fn line(&mut self) -> Result<Option<&str>, DbError> {
        self.buf.clear();
        let n = (&mut self.reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut self.buf)
            .map_err(io(&self.path))?;
        if n == 0 {
            self.done = true;
            return Ok(None);
        }
        self.line_no += 1;
        self.sha.update(&self.buf);
        let line_no = self.line_no;
        if !self.buf.ends_with(b"\n") {
            return Err(self.format(line_no, "line too long or not terminated".into()));
        }
        let body = &self.buf[..self.buf.len() - 1];
        match std::str::from_utf8(body) {
            Ok(text) => Ok(Some(text)),
            Err(_) => Err(DbError::Format {
                path: self.path.clone(),
                line: line_no,
                message: "not UTF-8".into(),
            }),
        }
    }

    /// The next entry, `None` at the end.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, DbError> {
        if self.done {
            return Ok(None);
        }
        let entry = match self.line()? {
            None => return Ok(None),
            Some(text) => decode(text),
        };
        let line_no = self.line_no;
        let entry = entry.map_err(|m| self.format(line_no, m))?;
        self.entries += 1;
        if self.entries > MAX_ENTRIES {
            return Err(self.format(line_no, format!("more than {MAX_ENTRIES} entries")));
        }
        if self.entries > 1 && self.last[..] >= entry.path[..] {
            return Err(self.format(line_no, "entries not sorted by path".into()));
        }
        self.last.clear();
        self.last.extend_from_slice(&entry.path);
        Ok(Some(entry))
    }

    /// Reads what is left (every line still checked) and returns the file's SHA-256 (hex).
    pub fn finish(mut self) -> Result<String, DbError> {
        while self.next_entry()?.is_some() {}
        Ok(hex(&self.sha.finalize()))
    }
}

/// A growing file's path and its size in the baseline.
pub type OldSize = (Box<[u8]>, u64);

/// The old sizes of the growing files (`growing`/`S`) of a baseline, sorted by path (the walk
/// hashes their old-size prefix), and the baseline's digest. One pass, nothing else kept.
pub fn growing_sizes(paths: &DbPaths) -> Result<(Vec<OldSize>, String), DbError> {
    let mut reader = Reader::open(paths)?;
    let mut sizes = Vec::new();
    while let Some(entry) = reader.next_entry()? {
        if entry.attrs.has(Attr::Growing) && entry.kind == FileKind::File {
            sizes.push((entry.path, entry.size));
        }
    }
    Ok((sizes, reader.finish()?))
}

#[cfg(test)]
#[path = "db_tests.rs"]
mod tests;
