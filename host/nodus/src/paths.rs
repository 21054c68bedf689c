//! Which files the control socket may name: `load` and `plugin_install` take files from the
//! plugin directory only, and `plugin_install` records the file under a name in it. Whoever may
//! use the control socket must not be able to make nodus map code from anywhere.

use std::path::{Path, PathBuf};

/// The file `load` may take for `asked`: a bare name (`csv`, `csv.so`, `libcsv.so`) is looked
/// up in `dir`; a path must be in `dir` (or a folder under it) once its folder is resolved
/// (`..` and symlinked folders followed). The file itself may be a symlink someone with write
/// access to `dir` put there (the plugin host then checks the file it points to). Anything else
/// is refused with the reason: whoever may use the control socket must not be able to make
/// nodus map code from anywhere.
pub fn in_plugin_dir(dir: &Path, asked: &Path) -> Result<PathBuf, String> {
    let text = asked.to_string_lossy();
    let refused = |why: &str| {
        format!(
            "load refused: `{text}` {why}; nodus loads plugins only from its plugin directory {} \
             (put the file there, then load it by name)",
            dir.display()
        )
    };
    let canonical_dir = dir
        .canonicalize()
        .map_err(|e| refused(&format!("cannot be checked ({e})")))?;
    if asked.components().count() == 1 && !asked.has_root() && text != ".." && text != "." {
        let [installed, built] = plugin_host::registry::file_names(&text);
        return [text.to_string(), installed, built]
            .into_iter()
            .map(|name| canonical_dir.join(name))
            .find(|p| p.is_file())
            .ok_or_else(|| refused("is not a file there"));
    }
    let (Some(parent), Some(name)) = (asked.parent(), asked.file_name()) else {
        return Err(refused("is not a file"));
    };
    let folder = parent
        .canonicalize()
        .map_err(|e| refused(&format!("cannot be resolved ({e})")))?;
    if !folder.starts_with(&canonical_dir) {
        return Err(refused("is outside it"));
    }
    Ok(folder.join(name))
}

/// The file a library staged for `plugin_install` is recorded as, `installed_as`: a file name
/// (`rollout.so`) or a path whose folder resolves to the plugin directory `dir`; a visible
/// `.so` name (the directory scan would not find a hidden or other one). It need not exist
/// yet: the caller renames the staged file to it after nodus said yes.
pub fn installed_path(dir: &Path, asked: &str) -> Result<PathBuf, String> {
    let refused = |why: &str| {
        format!(
            "installed_as `{asked}` {why}; it must be a `<name>.so` file of the plugin directory {}",
            dir.display()
        )
    };
    let asked_path = Path::new(asked);
    let Some(name) = asked_path.file_name().and_then(|n| n.to_str()) else {
        return Err(refused("names no file"));
    };
    if name.starts_with('.') || !name.ends_with(".so") || name.len() <= 3 {
        return Err(refused("is not a visible `.so` file name"));
    }
    let canonical_dir = dir
        .canonicalize()
        .map_err(|e| refused(&format!("cannot be checked ({e})")))?;
    let folder = match asked_path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent
            .canonicalize()
            .map_err(|e| refused(&format!("cannot be resolved ({e})")))?,
        _ => canonical_dir.clone(),
    };
    if folder != canonical_dir {
        return Err(refused("is not directly in it"));
    }
    Ok(folder.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_takes_files_from_the_plugin_dir_only() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("plugins");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for file in ["libplugin_csv.so", "sub/x.so"] {
            std::fs::write(dir.join(file), "").unwrap();
        }
        std::fs::write(root.path().join("evil.so"), "").unwrap();
        std::os::unix::fs::symlink(root.path(), dir.join("up")).unwrap();
        let canonical = dir.canonicalize().unwrap();
        for name in ["csv", "libplugin_csv.so"] {
            assert_eq!(
                in_plugin_dir(&dir, Path::new(name)).unwrap(),
                canonical.join("libplugin_csv.so")
            );
        }
        assert_eq!(
            in_plugin_dir(&dir, &dir.join("sub/x.so")).unwrap(),
            canonical.join("sub/x.so")
        );
        let outside = [
            root.path().join("evil.so"),
            dir.join("../evil.so"),
            dir.join("up/evil.so"),
            PathBuf::from("/tmp/x.so"),
            PathBuf::from("evil"),
            PathBuf::from(".."),
        ];
        for asked in outside {
            let err = in_plugin_dir(&dir, &asked).unwrap_err();
            assert!(err.starts_with("load refused: `"), "{err}");
            assert!(err.contains("only from its plugin directory"), "{err}");
        }
    }

    #[test]
    fn installed_as_is_a_visible_so_file_of_the_plugin_dir() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("plugins");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let canonical = dir.canonicalize().unwrap();
        let expected = canonical.join("rollout.so");
        assert_eq!(installed_path(&dir, "rollout.so").unwrap(), expected);
        let full = dir.join("rollout.so");
        assert_eq!(
            installed_path(&dir, full.to_str().unwrap()).unwrap(),
            expected
        );
        for bad in [
            ".rollout.so",
            "rollout.so.new",
            "rollout",
            ".so",
            "sub/rollout.so",
            "../rollout.so",
            "/tmp/rollout.so",
            "",
        ] {
            let err = installed_path(&dir, bad).unwrap_err();
            assert!(err.starts_with("installed_as `"), "{bad}: {err}");
        }
    }
}
