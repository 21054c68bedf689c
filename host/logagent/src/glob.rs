//! The files a source's path matches now: a plain path, or a glob with `*`, `?` and `[...]`
//! (`[!...]` negated) in any component, expanded by reading the folders it names. Compressed
//! rotations (`.gz`, `.xz`, `.bz2`, `.zst`) are never matched: they are copies of lines
//! already read. Only regular files are returned; at most [`MAX_MATCHES`].

use std::path::{Path, PathBuf};

/// Most files one source's glob yields.
pub const MAX_MATCHES: usize = 100_000;

/// Suffixes of compressed rotations, skipped.
const COMPRESSED: [&str; 4] = [".gz", ".xz", ".bz2", ".zst"];

/// The regular files `pattern` (absolute) matches, sorted, with what `stat` says of them.
pub fn expand(pattern: &str) -> Vec<(PathBuf, std::fs::Metadata)> {
    let mut found = vec![PathBuf::from("/")];
    for part in pattern.split('/').filter(|p| !p.is_empty()) {
        let mut next = Vec::new();
        for dir in &found {
            if !has_wildcard(part) {
                next.push(dir.join(part));
                continue;
            }
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if name.starts_with('.') && !part.starts_with('.') {
                    continue;
                }
                if matches(part.as_bytes(), name.as_bytes()) {
                    next.push(dir.join(name));
                    if next.len() >= MAX_MATCHES {
                        break;
                    }
                }
            }
        }
        found = next;
    }
    found.sort();
    found.truncate(MAX_MATCHES);
    found
        .into_iter()
        .filter(|p| !is_compressed(p))
        .filter_map(|p| {
            let meta = std::fs::metadata(&p).ok()?;
            meta.is_file().then_some((p, meta))
        })
        .collect()
}

fn is_compressed(path: &Path) -> bool {
    let name = path.to_string_lossy();
    COMPRESSED.iter().any(|s| name.ends_with(s))
}

fn has_wildcard(part: &str) -> bool {
    part.contains(['*', '?', '['])
}

/// Whether `name` matches the glob component `pattern`.
pub fn matches(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some(b'*') => (0..=name.len()).any(|i| matches(&pattern[1..], &name[i..])),
        Some(b'?') => !name.is_empty() && matches(&pattern[1..], &name[1..]),
        Some(b'[') => {
            let Some(close) = pattern
                .iter()
                .skip(2)
                .position(|&b| b == b']')
                .map(|i| i + 2)
            else {
                return name.first() == Some(&b'[') && matches(&pattern[1..], &name[1..]);
            };
            let Some(&c) = name.first() else { return false };
            let mut set = &pattern[1..close];
            let negated = matches!(set.first(), Some(b'!' | b'^'));
            if negated {
                set = &set[1..];
            }
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == b'-' {
                    hit |= (set[i]..=set[i + 2]).contains(&c);
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            hit != negated && matches(&pattern[close + 1..], &name[1..])
        }
        Some(&b) => name.first() == Some(&b) && matches(&pattern[1..], &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_components() {
        assert!(matches(b"*.log", b"access.log"));
        assert!(!matches(b"*.log", b"access.log.1"));
        assert!(matches(b"access.log*", b"access.log.1"));
        assert!(matches(b"app-?.log", b"app-3.log"));
        assert!(matches(b"app-[0-9].log", b"app-7.log"));
        assert!(!matches(b"app-[!0-9].log", b"app-7.log"));
        assert!(matches(b"a[b", b"a[b"));
    }

    #[test]
    fn expands_folders_and_skips_compressed_rotations() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a/x.log", "b/y.log", "b/y.log.1", "b/y.log.2.gz"] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "l\n").unwrap();
        }
        std::fs::create_dir(dir.path().join("b/dir.log")).unwrap();
        let root = dir.path().to_str().unwrap();
        let found = expand(&format!("{root}/*/*.log*"));
        let names: Vec<String> = found
            .iter()
            .map(|(p, _)| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a/x.log", "b/y.log", "b/y.log.1"]);
        assert_eq!(expand(&format!("{root}/a/x.log")).len(), 1);
        assert!(expand(&format!("{root}/a/none.log")).is_empty());
    }
}
