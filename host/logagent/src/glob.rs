//! The files a source's path matches now: a plain path, or a glob (`*`, `?`, `[...]`,
//! `[!...]`, `{a,b}` in any component, and `**` for any number of folders), matched by
//! BurntSushi's `globset`. Only the folders the pattern can reach are read: its fixed prefix
//! is taken as it is, each component up to a `**` filters the entries of one folder level,
//! and below a `**` every folder is walked (at most [`MAX_DEPTH`] levels) and the rest of the
//! path matched whole. `*` and `?` never cross a `/`; names starting with `.` are matched only
//! by a component that starts with `.`. Compressed rotations (`.gz`, `.xz`, `.bz2`, `.zst`)
//! are never matched: they are copies of lines already read. Only regular files are
//! returned; at most [`MAX_MATCHES`].

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

/// Most files one source's glob yields.
pub const MAX_MATCHES: usize = 100_000;
/// Most folder levels walked below a `**`.
pub const MAX_DEPTH: usize = 16;

/// Suffixes of compressed rotations, skipped.
const COMPRESSED: [&str; 4] = [".gz", ".xz", ".bz2", ".zst"];

/// One component of a pattern.
enum Part {
    /// No wildcard: the name itself.
    Literal(String),
    /// A component glob, and whether it may match a name starting with `.`.
    Glob(GlobMatcher, bool),
    /// `**` and everything after it, matched against the path below the folder it starts in.
    Deep(GlobMatcher),
}

/// A source's path, compiled.
pub struct Pattern {
    parts: Vec<Part>,
}

fn glob(text: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(text)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("bad glob `{text}`: {e}"))
}

fn has_wildcard(part: &str) -> bool {
    part.contains(['*', '?', '[', '{', '\\'])
}

impl Pattern {
    /// Compiles an absolute path or glob; an error names what is wrong.
    pub fn new(pattern: &str) -> Result<Pattern, String> {
        if !pattern.starts_with('/') {
            return Err(format!("`{pattern}` is not absolute"));
        }
        let components: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
        let mut parts = Vec::new();
        for (i, part) in components.iter().enumerate() {
            if part.contains("**") {
                parts.push(Part::Deep(glob(&components[i..].join("/"))?));
                break;
            }
            parts.push(if has_wildcard(part) {
                Part::Glob(glob(part)?, part.starts_with('.'))
            } else {
                Part::Literal((*part).to_string())
            });
        }
        Ok(Pattern { parts })
    }

    /// The regular files it matches now, sorted, with what `stat` says of them.
    pub fn expand(&self) -> Vec<(PathBuf, std::fs::Metadata)> {
        let mut found = Vec::new();
        self.walk(PathBuf::from("/"), 0, &mut found);
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

    fn walk(&self, dir: PathBuf, depth: usize, found: &mut Vec<PathBuf>) {
        if found.len() >= MAX_MATCHES {
            return;
        }
        let last = depth + 1 == self.parts.len();
        match &self.parts[depth] {
            Part::Literal(name) => {
                let path = dir.join(name);
                if last {
                    found.push(path);
                } else if path.is_dir() {
                    self.walk(path, depth + 1, found);
                }
            }
            Part::Glob(matcher, dots) => {
                for (name, path, is_dir) in entries(&dir, *dots) {
                    if !matcher.is_match(&name) {
                        continue;
                    }
                    if last {
                        found.push(path);
                    } else if is_dir {
                        self.walk(path, depth + 1, found);
                    }
                    if found.len() >= MAX_MATCHES {
                        return;
                    }
                }
            }
            Part::Deep(matcher) => deep(&dir, &dir, matcher, 0, found),
        }
    }
}

/// Every file below `dir` whose path under `base` `matcher` matches.
fn deep(base: &Path, dir: &Path, matcher: &GlobMatcher, level: usize, found: &mut Vec<PathBuf>) {
    for (_, path, is_dir) in entries(dir, false) {
        if found.len() >= MAX_MATCHES {
            return;
        }
        if is_dir {
            if level < MAX_DEPTH {
                deep(base, &path, matcher, level + 1, found);
            }
        } else if path
            .strip_prefix(base)
            .is_ok_and(|rel| matcher.is_match(rel))
        {
            found.push(path);
        }
    }
}

/// A folder's entries (name, path, whether a folder, symlinks followed); names starting
/// with `.` only when `dots`.
fn entries(dir: &Path, dots: bool) -> Vec<(String, PathBuf, bool)> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    read.flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            if name.starts_with('.') && !dots {
                return None;
            }
            let path = entry.path();
            let is_dir = match entry.file_type() {
                Ok(t) if t.is_symlink() => path.is_dir(),
                Ok(t) => t.is_dir(),
                Err(_) => false,
            };
            Some((name, path, is_dir))
        })
        .collect()
}

fn is_compressed(path: &Path) -> bool {
    let name = path.to_string_lossy();
    COMPRESSED.iter().any(|s| name.ends_with(s))
}

/// The regular files `pattern` (absolute) matches now, sorted; none for a bad pattern
/// (`Config::check` refuses those).
pub fn expand(pattern: &str) -> Vec<(PathBuf, std::fs::Metadata)> {
    Pattern::new(pattern)
        .map(|p| p.expand())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(root: &str, pattern: &str) -> Vec<String> {
        expand(&format!("{root}/{pattern}"))
            .iter()
            .map(|(p, _)| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
            .collect()
    }

    fn tree(names: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in names {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "l\n").unwrap();
        }
        dir
    }

    #[test]
    fn glob_components() {
        let dir = tree(&[
            "access.log",
            "access.log.1",
            "app-3.log",
            "app-x.log",
            "a[b",
            ".hidden.log",
        ]);
        let root = dir.path().to_str().unwrap();
        assert_eq!(
            names(root, "*.log"),
            ["access.log", "app-3.log", "app-x.log"]
        );
        assert_eq!(names(root, "access.log*"), ["access.log", "access.log.1"]);
        assert_eq!(names(root, "app-?.log"), ["app-3.log", "app-x.log"]);
        assert_eq!(names(root, "app-[0-9].log"), ["app-3.log"]);
        assert_eq!(names(root, "app-[!0-9].log"), ["app-x.log"]);
        assert_eq!(
            names(root, "{access,app-3}.log"),
            ["access.log", "app-3.log"]
        );
        assert_eq!(names(root, "a\\[b"), ["a[b"]);
        assert_eq!(names(root, ".*.log"), [".hidden.log"]);
        assert!(
            Pattern::new(&format!("{root}/a[b")).is_err(),
            "an unclosed class is refused"
        );
        assert!(Pattern::new("relative/*.log").is_err());
    }

    #[test]
    fn expands_folders_and_skips_compressed_rotations() {
        let dir = tree(&["a/x.log", "b/y.log", "b/y.log.1", "b/y.log.2.gz"]);
        std::fs::create_dir(dir.path().join("b/dir.log")).unwrap();
        let root = dir.path().to_str().unwrap();
        assert_eq!(names(root, "*/*.log*"), ["a/x.log", "b/y.log", "b/y.log.1"]);
        assert_eq!(names(root, "a/x.log"), ["a/x.log"]);
        assert!(names(root, "a/none.log").is_empty());
    }

    #[test]
    fn double_star_walks_any_depth() {
        let dir = tree(&[
            "app.log",
            "a/b/c/deep.log",
            "a/mid.log",
            "a/mid.txt",
            ".git/x.log",
        ]);
        let root = dir.path().to_str().unwrap();
        assert_eq!(
            names(root, "**/*.log"),
            ["a/b/c/deep.log", "a/mid.log", "app.log"]
        );
        assert_eq!(names(root, "a/**/deep.log"), ["a/b/c/deep.log"]);
    }
}
