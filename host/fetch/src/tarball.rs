//! Unpacking package tarballs (`.tar.gz`, `.tgz`, `.tar`) into a folder. Packages are
//! unpacked by root, so what they can leave behind is bounded: execute bits are kept, but
//! setuid, setgid and sticky bits and group/world write are dropped (modes `& 0o755`), owners
//! are never taken from the archive (everything belongs to the unpacking user), and nothing is
//! written outside the folder (see [`Tarball::unpack`]). Extracting into a hidden folder and
//! renaming it into place is the caller's part, since where a package goes depends on what it
//! is.

use std::io::{self, Read};
use std::path::{Component, Path};

/// Mode bits an unpacked file or folder never keeps: setuid, setgid, sticky, group and world
/// write.
pub const DROPPED_MODE_BITS: u32 = 0o7022;

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

    /// Unpacks `archive` into `dir` (created if missing), overwriting what is there. Modes
    /// are kept but for [`DROPPED_MODE_BITS`]; owners are the caller's. Entries stay inside
    /// `dir`: an entry with a `..` component fails the unpacking (naming it), leading `/`s are
    /// dropped, an entry reaching out through a symlink and a hard link to a file outside fail
    /// it too. Symlinks themselves are unpacked as they are, wherever they point: nothing is
    /// ever written through one, and what a package's own programs do with them is as much
    /// the package's business as the programs themselves.
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
    let dir = &dir.canonicalize()?;
    let mut archive = tar::Archive::new(reader);
    // `false` keeps `mode & 0o777` (no setuid, setgid, sticky); the mask takes away write for
    // group and others. Both are applied to the open file, so no wider mode is ever seen.
    archive.set_preserve_permissions(false);
    archive.set_mask(DROPPED_MODE_BITS & 0o777);
    archive.set_preserve_ownerships(false);
    archive.set_unpack_xattrs(false);
    archive.set_overwrite(true);
    // Folders last, deepest first (as tar's own unpack): a read-only folder made early would
    // keep its files out.
    let mut folders = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "entry `{}` would leave the folder (`..`); nothing of it unpacked",
                    path.display()
                ),
            ));
        }
        if entry.header().entry_type() == tar::EntryType::Directory {
            folders.push(entry);
        } else {
            entry.unpack_in(dir)?;
        }
    }
    folders.sort_by(|a, b| b.path_bytes().cmp(&a.path_bytes()));
    for mut folder in folders {
        folder.unpack_in(dir)?;
    }
    Ok(())
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

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn entries_stay_inside_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("p.tar");
        let entries = [("run.sh", 0o755, "#!/bin/sh\n"), ("/abs", 0o644, "y")];
        std::fs::write(&archive, tarball(&entries)).unwrap();
        let into = dir.path().join("into");
        Tarball::Plain.unpack(&archive, &into).unwrap();
        assert_eq!(mode(&into.join("run.sh")), 0o755);
        assert!(into.join("abs").is_file(), "a leading / is dropped");
        let err = Tarball::Gzip.unpack(&archive, &into).unwrap_err();
        assert!(!err.to_string().is_empty());

        let escaping = dir.path().join("escaping.tar");
        let entries = [("ok", 0o644, "x"), ("a/../../escaped", 0o644, "x")];
        std::fs::write(&escaping, tarball(&entries)).unwrap();
        let err = Tarball::Plain
            .unpack(&escaping, &dir.path().join("into2"))
            .unwrap_err();
        assert!(err.to_string().contains("a/../../escaped"), "{err}");
        assert!(!dir.path().join("escaped").exists());
    }

    /// A real tarball (made by tar(1), as a packager would) with a setuid root program, a
    /// setgid one, a world-writable sticky folder and a group-writable file.
    #[test]
    fn setuid_setgid_sticky_and_shared_write_bits_are_dropped() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("spool")).unwrap();
        for (name, bits) in [("suid", 0o4755), ("sgid", 0o2711), ("shared", 0o664)] {
            std::fs::write(src.join(name), "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(src.join(name), std::fs::Permissions::from_mode(bits))
                .unwrap();
        }
        std::fs::set_permissions(src.join("spool"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        let archive = dir.path().join("p.tar.gz");
        let made = std::process::Command::new("tar")
            .arg("czf")
            .arg(&archive)
            .arg("-C")
            .arg(&src)
            .args(["suid", "sgid", "shared", "spool"])
            .status()
            .unwrap();
        assert!(made.success());
        let listing = std::process::Command::new("tar")
            .arg("tvzf")
            .arg(&archive)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout);
        assert!(listing.contains("-rwsr-xr-x"), "{listing}");
        assert!(listing.contains("drwxrwxrwt"), "{listing}");

        let into = dir.path().join("into");
        Tarball::Gzip.unpack(&archive, &into).unwrap();
        assert_eq!(mode(&into.join("suid")), 0o755);
        assert_eq!(mode(&into.join("sgid")), 0o711);
        assert_eq!(mode(&into.join("shared")), 0o644);
        assert_eq!(mode(&into.join("spool")), 0o755);
    }

    /// A symlink pointing outside is unpacked as a symlink; nothing is written through it,
    /// neither by a file entry of the same name nor by one inside it.
    #[test]
    fn nothing_is_written_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("victim"), "safe").unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        for (name, target) in [("link", outside.join("victim")), ("dir", outside.clone())] {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            header.set_mode(0o777);
            builder.append_link(&mut header, name, &target).unwrap();
        }
        for name in ["link", "dir/victim"] {
            let mut header = tar::Header::new_gnu();
            header.set_size(5);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, name, "owned".as_bytes())
                .unwrap();
        }
        let archive = dir.path().join("p.tar");
        std::fs::write(&archive, builder.into_inner().unwrap()).unwrap();
        let into = dir.path().join("into");
        let err = Tarball::Plain.unpack(&archive, &into).unwrap_err();
        assert!(!err.to_string().is_empty());
        assert_eq!(
            std::fs::read_to_string(outside.join("victim")).unwrap(),
            "safe"
        );
        assert!(
            into.join("link").is_file() && !into.join("link").is_symlink(),
            "the file replaced the link"
        );
    }
}
