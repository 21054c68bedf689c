//! Fuzzes secureagent's rules parser (AIDE syntax, from the rules file): parsing never
//! panics, an error names a line of the input, and selecting paths with parsed rules never
//! panics and never selects an entry a negative rule excludes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secureagent::rules::{FileKind, parse};

const PATHS: &[&str] = &[
    "/",
    "/etc",
    "/etc/passwd",
    "/var/log/syslog",
    "/a b/%",
    "/x/y/z/",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(text) {
        Ok((rules, warnings)) => {
            let lines = text.lines().count();
            assert!(warnings.iter().all(|w| w.line >= 1 && w.line <= lines));
            for path in PATHS {
                for kind in [FileKind::File, FileKind::Dir, FileKind::Symlink] {
                    let selected = rules.select(path.as_bytes(), kind);
                    let excluded = rules.all().any(|r| {
                        r.kind == secureagent::rules::RuleKind::Negative
                            && r.types.as_ref().is_none_or(|t| t.contains(&kind))
                            && r.regex.is_match(path.as_bytes())
                    });
                    assert!(
                        !(excluded && selected.is_some()),
                        "{path} selected and excluded"
                    );
                }
                let _ = rules.descend(path.as_bytes());
            }
        }
        Err(e) => assert!(e.line <= text.lines().count(), "{e} beyond the input"),
    }
});
