//! Who may have written a plugin: a `.so` runs with the agent's rights, and the agents run as
//! root. So, when the agent's effective user is root, a file is refused (before anything of it
//! is read) unless it is owned by root or by the agent's effective user, is not writable by
//! group or others, and its folder is not world-writable. Symlinks are followed: the file and
//! the folder checked are those the link leads to. A non-root agent loads what it can read, as
//! before (it cannot gain anything its user does not have).

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use crate::loader::LoadError;

/// Checks `path` when this process runs as root; see the module documentation.
pub fn check(path: &Path) -> Result<(), LoadError> {
    let euid = nix::unistd::geteuid().as_raw();
    if euid == 0 {
        check_for(path, euid)
    } else {
        Ok(())
    }
}

/// The check for an agent whose effective user is `euid`.
pub fn check_for(path: &Path, euid: u32) -> Result<(), LoadError> {
    let real = path
        .canonicalize()
        .map_err(|e| LoadError::Io(e.to_string()))?;
    let meta = std::fs::metadata(&real).map_err(|e| LoadError::Io(e.to_string()))?;
    let shown = if real == path {
        String::new()
    } else {
        format!(" ({} is a link to it)", path.display())
    };
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(LoadError::Untrusted(format!(
            "{} is owned by uid {}, not by root or the agent's user (uid {euid}){shown}; \
             a plugin runs with the agent's rights",
            real.display(),
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(LoadError::Untrusted(format!(
            "{} is writable by group or others (mode {mode:04o}){shown}; chmod go-w it",
            real.display()
        )));
    }
    if let Some(folder) = real.parent() {
        let folder_mode = std::fs::metadata(folder)
            .map_err(|e| LoadError::Io(e.to_string()))?
            .mode()
            & 0o7777;
        if folder_mode & 0o002 != 0 {
            return Err(LoadError::Untrusted(format!(
                "its folder {} is world-writable (mode {folder_mode:04o}){shown}; anyone could \
                 replace the file",
                folder.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn owner_mode_and_folder_are_checked_for_a_root_agent() {
        let dir = tempfile::tempdir().unwrap();
        chmod(dir.path(), 0o755);
        let file = dir.path().join("libx.so");
        std::fs::write(&file, "not even ELF").unwrap();
        chmod(&file, 0o755);
        let me = nix::unistd::geteuid().as_raw();
        check_for(&file, me).unwrap();

        chmod(&file, 0o666);
        let err = check_for(&file, me).unwrap_err().to_string();
        assert!(
            err.contains("writable by group or others (mode 0666)"),
            "{err}"
        );
        assert!(err.starts_with("refused: "), "{err}");
        chmod(&file, 0o775);
        assert!(check_for(&file, me).is_err(), "group-writable");
        chmod(&file, 0o755);

        // Through a link, the file it leads to is checked and both are named.
        let link = dir.path().join("link.so");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        check_for(&link, me).unwrap();

        chmod(dir.path(), 0o1777);
        let err = check_for(&file, me).unwrap_err().to_string();
        assert!(err.contains("world-writable (mode 1777)"), "{err}");
        chmod(dir.path(), 0o755);

        if me == 0 {
            std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
            let err = check_for(&link, 0).unwrap_err().to_string();
            assert!(err.contains("owned by uid 65534"), "{err}");
            assert!(err.contains("link.so is a link to it"), "{err}");
            // Loading goes through the same check, before the ELF check.
            let err = crate::load(&file).err().unwrap();
            assert!(matches!(err, LoadError::Untrusted(_)), "{err}");
        }
    }
}
