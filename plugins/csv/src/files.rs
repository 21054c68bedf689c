//! The files of `DataDir`: their names, and appending one batch to them all or not at all.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use plugin_api::{PluginError, ValueList};

use crate::format;

/// What one batch adds to one file.
#[derive(Debug)]
pub struct Chunk {
    /// The header, written only when the batch creates the file.
    pub header: String,
    /// The batch's lines for this file, newline-terminated.
    pub lines: String,
}

/// `<dir>/<host>/<plugin>[-<pi>]/<type>[-<ti>]-<YYYY-MM-DD>`, the date being the local date of
/// the value list's time.
pub fn path_of(dir: &Path, vl: &ValueList) -> Result<PathBuf, PluginError> {
    let date = format::local_date(vl.time).ok_or_else(|| {
        PluginError::failed(format!(
            "time {} of {} has no local date",
            vl.time,
            vl.identifier()
        ))
    })?;
    let plugin = format::with_instance(&vl.plugin, &vl.plugin_instance);
    let type_ = format::with_instance(&vl.type_, &vl.type_instance);
    Ok(dir
        .join(format::component(&vl.host))
        .join(format::component(&plugin))
        .join(format!("{}-{date}", format::component(&type_))))
}

/// How to take back what [`append`] did.
enum Undo {
    /// The file existed with this length.
    Truncate(PathBuf, u64),
    /// The batch created the file.
    Remove(PathBuf),
}

impl Undo {
    fn run(&self) -> std::io::Result<()> {
        match self {
            Undo::Truncate(path, len) => OpenOptions::new().write(true).open(path)?.set_len(*len),
            Undo::Remove(path) => fs::remove_file(path),
        }
    }
}

fn failed(path: &Path, what: &str, e: std::io::Error) -> String {
    format!("cannot {what} {}: {e}", path.display())
}

/// Appends `chunk` to `path` in one write (header first if the file is new). On a failed
/// write the file is put back as it was before returning the error.
fn append(path: &Path, chunk: &Chunk) -> Result<Undo, String> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| failed(parent, "create directory", e))?;
    }
    match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(mut file) => {
            let text = format!("{}{}", chunk.header, chunk.lines);
            if let Err(e) = file.write_all(text.as_bytes()) {
                let _ = fs::remove_file(path);
                return Err(failed(path, "write", e));
            }
            Ok(Undo::Remove(path.to_path_buf()))
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let meta = fs::metadata(path).map_err(|e| failed(path, "stat", e))?;
            if !meta.is_file() {
                return Err(format!("{} is not a regular file", path.display()));
            }
            let mut file: File = OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(|e| failed(path, "open", e))?;
            let len = file.metadata().map_err(|e| failed(path, "stat", e))?.len();
            if let Err(e) = file.write_all(chunk.lines.as_bytes()) {
                let _ = file.set_len(len);
                return Err(failed(path, "write", e));
            }
            Ok(Undo::Truncate(path.to_path_buf(), len))
        }
        Err(e) => Err(failed(path, "create", e)),
    }
}

/// Appends every chunk; if one fails, truncates the files already appended to so that the
/// batch leaves no line behind, and returns the error (the host retries the batch).
pub fn write_all(chunks: &BTreeMap<PathBuf, Chunk>) -> Result<(), PluginError> {
    let mut done: Vec<Undo> = Vec::new();
    for (path, chunk) in chunks {
        match append(path, chunk) {
            Ok(undo) => done.push(undo),
            Err(message) => {
                let not_undone: Vec<String> = done
                    .iter()
                    .rev()
                    .filter_map(|u| u.run().err().map(|e| e.to_string()))
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
    Ok(())
}
