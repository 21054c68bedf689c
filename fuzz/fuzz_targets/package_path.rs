//! Fuzzes the package server's request-path parser (`polaris::packages::path`): never a
//! panic, no segment that could leave the root (`.`, `..`, `/`, `\`, NUL, empty), and the
//! joined path is the root plus exactly one normal component per segment.
#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use polaris::packages::path;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Some(parsed) = path::parse(raw) else {
        return;
    };
    for segment in &parsed.segments {
        assert!(!segment.is_empty());
        assert!(segment != b"." && segment != b"..", "{segment:?}");
        assert!(!segment.iter().any(|b| matches!(b, b'/' | b'\\' | 0)));
    }
    let root = Path::new("/srv/packages");
    let joined = path::join(root, &parsed.segments);
    assert!(joined.starts_with(root));
    let rest: Vec<Component> = joined
        .strip_prefix(root)
        .expect("under the root")
        .components()
        .collect();
    assert_eq!(rest.len(), parsed.segments.len(), "{joined:?}");
    assert!(
        rest.iter().all(|c| matches!(c, Component::Normal(_))),
        "{joined:?}"
    );
});
