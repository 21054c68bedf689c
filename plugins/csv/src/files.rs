//! The files of `DataDir`: their names, and appending one batch to them all or not at all,
//! through a small cache of open files.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use plugin_api::types_db::DataSource;
use plugin_api::{PluginError, ValueList};

use crate::format;

/// What one batch adds to one file.
#[derive(Debug)]
pub struct Chunk<'a> {
    /// The data sources of the file's type, named in the header of a new file.
    pub sources: &'a [DataSource],
    /// The batch's lines for this file, newline-terminated.
    pub lines: String,
}

impl Chunk<'_> {
    /// The header, written only when the batch creates the file.
    fn header(&self) -> String {
        let names: Vec<&str> = self.sources.iter().map(|ds| ds.name.as_str()).collect();
        format::header(&names)
    }
}

/// Builds file names: `<dir>/<host>/<plugin>[-<pi>]/<type>[-<ti>]-<YYYY-MM-DD>`, the date being
/// the local date of the value list's time.
#[derive(Debug, Default)]
pub struct Namer {
    /// The last second asked for and its local date.
    date: Option<(i64, String)>,
}

impl Namer {
    /// Writes the file name of `vl` under `dir` into `out`.
    pub fn path_into(
        &mut self,
        dir: &Path,
        vl: &ValueList,
        out: &mut String,
    ) -> Result<(), PluginError> {
        let date = self.local_date(vl.time).ok_or_else(|| {
            PluginError::failed(format!(
                "time {} of {} has no local date",
                vl.time,
                vl.identifier()
            ))
        })?;
        out.clear();
        out.push_str(&dir.to_string_lossy());
        if !out.ends_with('/') {
            out.push('/');
        }
        format::push_component(out, &vl.host, "");
        out.push('/');
        format::push_component(out, &vl.plugin, &vl.plugin_instance);
        out.push('/');
        format::push_component(out, &vl.type_, &vl.type_instance);
        out.push('-');
        out.push_str(date);
        Ok(())
    }

    /// [`format::local_date`], remembered for the second of the previous call.
    fn local_date(&mut self, time: f64) -> Option<&str> {
        if !time.is_finite() {
            return None;
        }
        let second = time.floor() as i64;
        if self.date.as_ref().is_none_or(|(s, _)| *s != second) {
            self.date = Some((second, format::local_date(time)?));
        }
        self.date.as_ref().map(|(_, d)| d.as_str())
    }
}

/// The most files kept open between batches (an eighth of the open-file limit when that is
/// lower).
const MAX_OPEN: usize = 256;

/// A file kept open for appending.
#[derive(Debug)]
struct Handle {
    file: File,
    /// Device and inode the file had when opened: a file that was since removed or replaced
    /// under its name is opened anew.
    dev: u64,
    ino: u64,
    /// The batch that last wrote to it, for closing the least recently used one.
    used: u64,
}

/// The open files of the data directory and the batches written through them.
#[derive(Debug)]
pub struct Files {
    /// By file name (a `String`: hashing and comparing `Path`s goes component by component).
    open: HashMap<String, Handle>,
    cap: usize,
    /// The newest date suffix written; files of older dates are closed once a newer one
    /// shows up.
    day: Vec<u8>,
    /// Batches written so far.
    batch: u64,
}

impl Default for Files {
    fn default() -> Self {
        Files {
            open: HashMap::new(),
            cap: open_files_cap(),
            day: Vec::new(),
            batch: 0,
        }
    }
}

/// [`MAX_OPEN`], or an eighth of the soft `RLIMIT_NOFILE` when that is lower.
fn open_files_cap() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given, which lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    usize::try_from(limit.rlim_cur / 8).map_or(MAX_OPEN, |n| n.min(MAX_OPEN))
}

/// How to take back what [`Files::append`] did.
enum Undo {
    /// The file existed with this length.
    Truncate(String, u64),
    /// The batch created the file.
    Remove(String),
}

fn failed(path: &Path, what: &str, e: std::io::Error) -> String {
    format!("cannot {what} {}: {e}", path.display())
}

/// The `YYYY-MM-DD` suffix of a file name.
fn day_of(name: &str) -> &[u8] {
    let name = name.as_bytes();
    &name[name.len().saturating_sub(10)..]
}

impl Files {
    /// Closes every open file.
    pub fn close_all(&mut self) {
        self.open.clear();
    }

    /// Appends every chunk; if one fails, truncates the files already appended to so that
    /// the batch leaves no line behind, and returns the error (the host retries the batch).
    pub fn write_all(&mut self, chunks: &BTreeMap<String, Chunk<'_>>) -> Result<(), PluginError> {
        self.batch += 1;
        let mut done: Vec<Undo> = Vec::new();
        for (path, chunk) in chunks {
            match self.append(path, chunk) {
                Ok(undo) => done.push(undo),
                Err(message) => {
                    let not_undone: Vec<String> = done
                        .iter()
                        .rev()
                        .filter_map(|u| self.undo(u).err().map(|e| e.to_string()))
                        .collect();
                    let tail = if not_undone.is_empty() {
                        "nothing of the batch was kept".to_string()
                    } else {
                        format!(
                            "lines already written to other files could not be taken back ({}); \
                             the retried batch repeats them",
                            not_undone.join("; ")
                        )
                    };
                    return Err(PluginError::failed(format!("{message}; {tail}")));
                }
            }
        }
        // A new day: the files of the days before get no more lines (but late ones reopen).
        if let Some(newest) = chunks.keys().map(|p| day_of(p)).max()
            && newest > self.day.as_slice()
        {
            self.day = newest.to_vec();
            let day = &self.day;
            self.open.retain(|p, _| day_of(p) == day.as_slice());
        }
        Ok(())
    }

    /// Takes back one append.
    fn undo(&mut self, undo: &Undo) -> std::io::Result<()> {
        match undo {
            Undo::Truncate(name, len) => match self.open.get(name) {
                Some(handle) => handle.file.set_len(*len),
                None => OpenOptions::new().write(true).open(name)?.set_len(*len),
            },
            Undo::Remove(name) => {
                self.open.remove(name);
                fs::remove_file(name)
            }
        }
    }

    /// Appends `chunk` to `path` in one write (header first if the file is new). On a failed
    /// write the file is put back as it was before returning the error.
    ///
    /// One `stat` of the name per batch finds the length to truncate back to, and a file that
    /// was removed or replaced since it was opened (which is then created or opened again, as
    /// collectd's open-per-write would).
    fn append(&mut self, name: &str, chunk: &Chunk<'_>) -> Result<Undo, String> {
        let path = Path::new(name);
        let meta = match fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.open.remove(name);
                if let Some(undo) = self.create(name, chunk)? {
                    return Ok(undo);
                }
                // Someone else created it meanwhile: append to theirs.
                fs::metadata(path).map_err(|e| failed(path, "stat", e))?
            }
            Err(e) => return Err(failed(path, "stat", e)),
        };
        if !meta.is_file() {
            self.open.remove(name);
            return Err(format!("{} is not a regular file", path.display()));
        }
        let len = meta.len();
        let batch = self.batch;
        let reuse = self
            .open
            .get(name)
            .is_some_and(|h| h.dev == meta.dev() && h.ino == meta.ino());
        let mut opened = None;
        let file = if reuse {
            let handle = self.open.get_mut(name).expect("checked above");
            handle.used = batch;
            &handle.file
        } else {
            let file = OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(|e| failed(path, "open", e))?;
            &*opened.insert(file)
        };
        let mut writer = file;
        if let Err(e) = writer.write_all(chunk.lines.as_bytes()) {
            let _ = file.set_len(len);
            return Err(failed(path, "write", e));
        }
        if let Some(file) = opened {
            self.keep(name, file);
        }
        Ok(Undo::Truncate(name.to_string(), len))
    }

    /// Creates `path` with the header and the lines; `None` when it exists already.
    fn create(&mut self, name: &str, chunk: &Chunk<'_>) -> Result<Option<Undo>, String> {
        let path = Path::new(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| failed(parent, "create directory", e))?;
        }
        match OpenOptions::new().append(true).create_new(true).open(path) {
            Ok(mut file) => {
                let mut text = chunk.header();
                text.push_str(&chunk.lines);
                if let Err(e) = file.write_all(text.as_bytes()) {
                    let _ = fs::remove_file(path);
                    return Err(failed(path, "write", e));
                }
                self.keep(name, file);
                Ok(Some(Undo::Remove(name.to_string())))
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(failed(path, "create", e)),
        }
    }

    /// Keeps `file` open for the next batches, closing the least recently used file when
    /// the cache is full.
    fn keep(&mut self, name: &str, file: File) {
        if self.cap == 0 {
            return;
        }
        let Ok(meta) = file.metadata() else {
            return;
        };
        if self.open.len() >= self.cap && !self.open.contains_key(name) {
            let oldest = self
                .open
                .iter()
                .min_by_key(|(_, h)| h.used)
                .map(|(p, _)| p.clone());
            if let Some(oldest) = oldest {
                self.open.remove(&oldest);
            }
        }
        let handle = Handle {
            file,
            dev: meta.dev(),
            ino: meta.ino(),
            used: self.batch,
        };
        self.open.insert(name.to_string(), handle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch<'a>(paths: &[&Path], line: &str) -> BTreeMap<String, Chunk<'a>> {
        paths
            .iter()
            .map(|p| {
                let chunk = Chunk {
                    sources: &[],
                    lines: format!("{line}\n"),
                };
                (p.to_string_lossy().into_owned(), chunk)
            })
            .collect()
    }

    #[test]
    fn a_full_cache_closes_the_least_recently_used_file() {
        let tmp = tempfile::tempdir().unwrap();
        let [a, b, c] =
            ["a-2024-03-01", "b-2024-03-01", "c-2024-03-01"].map(|n| tmp.path().join(n));
        let mut files = Files {
            cap: 2,
            ..Files::default()
        };
        files.write_all(&batch(&[&a, &b], "1")).unwrap();
        files.write_all(&batch(&[&a], "2")).unwrap();
        files.write_all(&batch(&[&c], "3")).unwrap();
        let mut open: Vec<&Path> = files.open.keys().map(Path::new).collect();
        open.sort();
        assert_eq!(open, [&a, &c]);
        files.write_all(&batch(&[&a, &b, &c], "4")).unwrap();
        assert_eq!(files.open.len(), 2);
        assert_eq!(fs::read_to_string(&a).unwrap(), "epoch\n1\n2\n4\n");
        assert_eq!(fs::read_to_string(&b).unwrap(), "epoch\n1\n4\n");
        assert_eq!(fs::read_to_string(&c).unwrap(), "epoch\n3\n4\n");

        let mut none = Files {
            cap: 0,
            ..Files::default()
        };
        none.write_all(&batch(&[&a], "5")).unwrap();
        assert!(none.open.is_empty());
        assert_eq!(fs::read_to_string(&a).unwrap(), "epoch\n1\n2\n4\n5\n");
    }

    #[test]
    fn a_new_day_closes_the_files_of_the_days_before() {
        let tmp = tempfile::tempdir().unwrap();
        let day1 = tmp.path().join("load-2024-03-01");
        let day2 = tmp.path().join("load-2024-03-02");
        let mut files = Files::default();
        files.write_all(&batch(&[&day1], "1")).unwrap();
        assert_eq!(files.open.len(), 1);
        files.write_all(&batch(&[&day1, &day2], "2")).unwrap();
        let open: Vec<&Path> = files.open.keys().map(Path::new).collect();
        assert_eq!(open, [&day2]);
        // A late line of the day before still goes to its file.
        files.write_all(&batch(&[&day1], "3")).unwrap();
        assert_eq!(fs::read_to_string(&day1).unwrap(), "epoch\n1\n2\n3\n");
        files.close_all();
        assert!(files.open.is_empty());
    }
}
