//! Unpacking package tarballs (`.tar.gz`, `.tgz`, `.tar`) into a folder, file modes kept.
//! Extracting into a hidden folder and renaming it into place is the caller's part, since
//! where a package goes depends on what it is.

use std::io::{self, Read};
use std::path::Path;

/// The tarball kinds a package may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tarball {
    /// A gzip-compressed tar file (`.tar.gz`, `.tgz`).
    Gzip,
    /// A plain tar file (`.tar`).
    Plain,
}

impl Tarball {
    /// The kind a file name ends with (any case), or `None` for a file that is not a tarball.
    pub fn from_name(name: &str) -> Option<Tarball> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
            Some(Tarball::Gzip)
        } else if lower.ends_with(".tar") {
            Some(Tarball::Plain)
        } else {
            None
        }
    }

    /// Unpacks `archive` into `dir` (created if missing), keeping file modes and overwriting
    /// what is there. Entries are kept inside `dir`: `..` entries are skipped, leading `/`s
    /// dropped, and an entry reaching out through a symlink fails the unpacking.
    pub fn unpack(self, archive: &Path, dir: &Path) -> io::Result<()> {
        let file = std::fs::File::open(archive)?;
        match self {
            Tarball::Gzip => unpack_from(flate2::read::GzDecoder::new(file), dir),
            Tarball::Plain => unpack_from(file, dir),
        }
    }
}

fn unpack_from(reader: impl Read, dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    archive.unpack(dir)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tarball of `(path, mode, content)` entries; paths are written as they are, `..` too.
    pub(crate) fn tarball(entries: &[(&str, u32, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, mode, content) in entries {
            let mut header = tar::Header::new_gnu();
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_size(content.len() as u64);
            header.set_mode(*mode);
            header.set_cksum();
            builder.append(&header, content.as_bytes()).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn kinds_are_known_by_name() {
        assert_eq!(Tarball::from_name("a-1.0.TAR.GZ"), Some(Tarball::Gzip));
        assert_eq!(Tarball::from_name("a.tgz"), Some(Tarball::Gzip));
        assert_eq!(Tarball::from_name("a.tar"), Some(Tarball::Plain));
        assert_eq!(Tarball::from_name("a.rpm"), None);
    }

    #[test]
    fn entries_stay_inside_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("p.tar");
        let entries = [
            ("run.sh", 0o755, "#!/bin/sh\n"),
            ("../escaped", 0o644, "x"),
            ("/abs", 0o644, "y"),
        ];
        std::fs::write(&archive, tarball(&entries)).unwrap();
        let into = dir.path().join("into");
        Tarball::Plain.unpack(&archive, &into).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(into.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert!(!dir.path().join("escaped").exists());
        assert!(into.join("abs").is_file());
        let err = Tarball::Gzip.unpack(&archive, &into).unwrap_err();
        assert!(!err.to_string().is_empty());
    }
}
