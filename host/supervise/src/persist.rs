//! Run-state files: `<state_dir>/<name>.json`, one [`RunState`] per program, written to a
//! temporary name and renamed into place, so a supervisor killed mid-write leaves the old one.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::RunState;

fn path_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

/// Writes `run` atomically.
pub(crate) fn save(dir: &Path, run: &RunState) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let path = path_of(dir, &run.spec.name);
    let tmp = dir.join(format!(".{}.json.tmp", run.spec.name));
    let text = serde_json::to_vec_pretty(run).map_err(io::Error::other)?;
    fs::write(&tmp, text)?;
    fs::rename(&tmp, &path)
}

/// Deletes the run state of `name` (a missing file is fine).
pub(crate) fn delete(dir: &Path, name: &str) -> io::Result<()> {
    match fs::remove_file(path_of(dir, name)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Every readable run state in `dir`, by name; unreadable files are logged and skipped.
pub fn load_all(dir: &Path) -> Vec<RunState> {
    let Ok(entries) = fs::read_dir(dir) else {
        return vec![];
    };
    let mut runs: Vec<RunState> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".json") && !name.starts_with('.')
        })
        .filter_map(|e| {
            let text = fs::read(e.path()).ok()?;
            match serde_json::from_slice::<RunState>(&text) {
                Ok(run) => Some(run),
                Err(err) => {
                    tracing::warn!(file = %e.path().display(), error = %err, "Skipping an unreadable run state.");
                    None
                }
            }
        })
        .collect();
    runs.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
    runs
}
