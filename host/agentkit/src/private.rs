//! Private state on disk: folders `0700` and files `0600`, made so from the start (never
//! created wider and narrowed later), and existing ones narrowed when an agent starts.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// Mode of a private folder.
pub const DIR_MODE: u32 = 0o700;
/// Mode of a private file.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parents mode `0700` (parents that exist are left alone),
/// and narrows `dir` itself to `0700` when it exists wider. Symlinks are followed: the
/// folder an operator points the agent at is the one made private.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    narrow(dir, DIR_MODE)
}

/// Narrows `path` to at most `max` (bits outside `max` are cleared, none added); a missing
/// file is no error.
pub fn narrow(path: &Path, max: u32) -> io::Result<()> {
    let mode = match std::fs::metadata(path) {
        Ok(meta) => meta.permissions().mode() & 0o7777,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if mode & !max != 0 {
        std::fs::set_permissions(path, Permissions::from_mode(mode & max))?;
    }
    Ok(())
}

/// Opens `path` for writing, created mode `0600` if missing and truncated (as
/// `File::create`, but never readable by others, not even for a moment).
pub fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Opens `path` for appending, created mode `0600` if missing (logs of private state).
pub fn append_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn folders_and_files_are_private_from_the_start_and_narrowed_later() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);
        std::fs::set_permissions(&dir, Permissions::from_mode(0o1777)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700, "sticky and world bits cleared");

        let file = dir.join("state.json");
        drop(create_private(&file).unwrap());
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
        narrow(&file, FILE_MODE).unwrap();
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&file, Permissions::from_mode(0o400)).unwrap();
        narrow(&file, FILE_MODE).unwrap();
        assert_eq!(mode(&file), 0o400, "never widened");
        narrow(&dir.join("missing"), FILE_MODE).unwrap();
        drop(append_private(&dir.join("log")).unwrap());
        assert_eq!(mode(&dir.join("log")), 0o600);
    }
}
