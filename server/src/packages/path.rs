//! Request path → file under the package root, refusing every way out: each segment is
//! percent-decoded once and refused if it is `.` or `..` or holds `/`, `\` or NUL; the joined
//! path is then canonicalized (symlinks followed) and must still lie under the canonical root.
//! Symlinks that stay inside the root are followed; those leading out are treated as absent.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;

/// A request path split into checked, percent-decoded segments (empty segments from `//` are
/// dropped, as nginx's `merge_slashes` does).
#[derive(Debug, PartialEq, Eq)]
pub struct RequestPath {
    /// Decoded segments: never empty, `.` or `..`, and without `/`, `\` or NUL.
    pub segments: Vec<Vec<u8>>,
}

/// Splits and checks the (still percent-encoded) path of a request; `None` when refused.
pub fn parse(raw: &str) -> Option<RequestPath> {
    let mut segments = Vec::new();
    for raw_segment in raw.split('/') {
        if raw_segment.is_empty() {
            continue;
        }
        let segment: Vec<u8> = percent_decode_str(raw_segment).collect();
        let bad_byte = segment.iter().any(|b| matches!(b, b'/' | b'\\' | 0));
        if bad_byte || segment == b"." || segment == b".." {
            return None;
        }
        segments.push(segment);
    }
    Some(RequestPath { segments })
}

/// Joins segments under a directory (no file system access).
pub fn join(base: &Path, segments: &[Vec<u8>]) -> PathBuf {
    let mut path = base.to_owned();
    for segment in segments {
        path.push(OsStr::from_bytes(segment));
    }
    path
}

/// Where a lookup ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The canonical path, inside the root.
    Inside(PathBuf),
    /// Nothing there (or a component is not a directory, or a symlink is dangling).
    Missing,
    /// It exists, but only by leaving the root through a symlink.
    Outside,
}

/// Canonicalizes `root/segments…` (`root` must already be canonical) and checks it stays inside.
pub async fn resolve(root: &Path, segments: &[Vec<u8>]) -> io::Result<Lookup> {
    let joined = join(root, segments);
    match tokio::fs::canonicalize(&joined).await {
        Ok(real) if real.starts_with(root) => Ok(Lookup::Inside(real)),
        Ok(real) => {
            tracing::warn!(path = %joined.display(), target = %real.display(), "refused: leads out of the package root");
            Ok(Lookup::Outside)
        }
        Err(e) if is_missing(&e) => Ok(Lookup::Missing),
        Err(e) => Err(e),
    }
}

/// Whether an I/O error means "no such file" for a request (absent, not a directory, a loop,
/// a name too long).
pub fn is_missing(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(e.kind(), NotFound | NotADirectory | InvalidFilename)
        || e.raw_os_error() == Some(ELOOP)
}

/// `ELOOP` on Linux (too many levels of symbolic links); `io::ErrorKind` has no stable name
/// for it.
const ELOOP: i32 = 40;

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(raw: &str) -> Option<Vec<String>> {
        let parsed = parse(raw)?;
        Some(
            parsed
                .segments
                .into_iter()
                .map(|s| String::from_utf8(s).unwrap())
                .collect(),
        )
    }

    #[test]
    fn parses_and_decodes_segments() {
        assert_eq!(segments("/"), Some(vec![]));
        assert_eq!(segments("/a//b/"), Some(vec!["a".into(), "b".into()]));
        assert_eq!(
            segments("/dir/%D0%BF%20x.tar.gz"),
            Some(vec!["dir".into(), "п x.tar.gz".into()])
        );
        assert_eq!(
            segments("/a/...b/.c"),
            Some(vec!["a".into(), "...b".into(), ".c".into()])
        );
    }

    #[test]
    fn refuses_every_way_out() {
        for raw in [
            "/..",
            "/../Cargo.toml",
            "/a/../../x",
            "/%2e%2e/x",
            "/%2E%2e/x",
            "/.%2e/x",
            "/a/..%2f..%2fx",
            "/a%2fb",
            "/a%2Fb",
            "/a\\..\\x",
            "/a%5c..%5cx",
            "/a%00b",
            "/./a",
            "/a/.",
        ] {
            assert_eq!(parse(raw), None, "{raw}");
        }
    }

    #[tokio::test]
    async fn symlinks_may_not_leave_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(dir.path().join("secret"), "x").unwrap();
        std::fs::write(root.join("sub/file"), "y").unwrap();
        std::os::unix::fs::symlink("../secret", root.join("out")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("outdir")).unwrap();
        std::os::unix::fs::symlink("sub/file", root.join("in")).unwrap();
        std::os::unix::fs::symlink("nowhere", root.join("dangling")).unwrap();
        let root = root.canonicalize().unwrap();
        let look = |s: &str| {
            let segments = parse(s).unwrap().segments;
            let root = root.clone();
            async move { resolve(&root, &segments).await.unwrap() }
        };
        assert_eq!(look("/out").await, Lookup::Outside);
        assert_eq!(look("/outdir/secret").await, Lookup::Outside);
        assert_eq!(look("/in").await, Lookup::Inside(root.join("sub/file")));
        assert_eq!(look("/dangling").await, Lookup::Missing);
        assert_eq!(look("/sub/file/x").await, Lookup::Missing);
    }
}
