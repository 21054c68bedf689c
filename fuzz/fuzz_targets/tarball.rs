//! Fuzzes package unpacking (`fetch::Tarball`, used by the BootAgent and gearman's daemon.*):
//! the input, written to a temp file, is unpacked as a plain tar (first byte even) or a gzip
//! tar (odd) into `<tmp>/a/b/out`. Never a panic, and nothing may appear outside `out`: the
//! folders above it must hold exactly what they held before, and no file in `out` may be a
//! hard link to a file outside it (every link of a file is found inside `out`).
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use fetch::Tarball;
use libfuzzer_sys::fuzz_target;

fn names(dir: &Path) -> BTreeSet<OsString> {
    std::fs::read_dir(dir)
        .expect("a folder made here")
        .map(|entry| entry.expect("an entry").file_name())
        .collect()
}

/// Counts, per inode, the links to each non-directory found under `dir`, and the link count the
/// file system reports for it.
fn links(dir: &Path, found: &mut BTreeMap<u64, (u64, u64)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if meta.is_dir() {
            links(&entry.path(), found);
        } else {
            found.entry(meta.ino()).or_insert((0, meta.nlink())).0 += 1;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, archive)) = data.split_first() else {
        return;
    };
    let kind = if kind % 2 == 0 {
        Tarball::Plain
    } else {
        Tarball::Gzip
    };
    let top = tempfile::tempdir().expect("temp dir");
    let b = top.path().join("a/b");
    std::fs::create_dir_all(&b).expect("mkdir");
    let file = top.path().join("a/package.tar");
    std::fs::write(&file, archive).expect("write");
    let levels = [top.path().to_path_buf(), top.path().join("a"), b.clone()];
    let before: Vec<_> = levels.iter().map(|dir| names(dir)).collect();
    let out = b.join("out");
    let _ = kind.unpack(&file, &out);
    let after: Vec<_> = levels.iter().map(|dir| names(dir)).collect();
    let mut expected = before;
    expected[2].insert(OsString::from("out"));
    assert_eq!(
        after, expected,
        "something landed outside the target folder"
    );
    let mut found = BTreeMap::new();
    links(&out, &mut found);
    for (inode, (inside, nlink)) in found {
        assert_eq!(
            inside, nlink,
            "inode {inode} has links outside the target folder"
        );
    }
    // Read-only modes from the archive do not stop the temp dir's removal: this runs as root
    // (as the agents do); as another user a leftover folder is the worst outcome.
});
