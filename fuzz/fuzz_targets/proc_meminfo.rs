//! Fuzzes the `/proc/meminfo` parser (procparse; plugins `memory` and `swap`): parsing never
//! panics, every non-blank line is one entry in order, a `kB` entry is a whole number of KiB,
//! and the entries written back as the kernel writes them parse to the same entries.
#![no_main]

use std::fmt::Write;

use libfuzzer_sys::fuzz_target;
use procparse::meminfo::{self, Unit};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = match meminfo::parse(text) {
        Ok(parsed) => parsed,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let non_blank = text.lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(parsed.lines.len(), non_blank);
    let mut back = String::new();
    for line in &parsed.lines {
        assert!(!line.key.is_empty() && line.key.trim() == line.key && !line.key.contains(':'));
        assert!(parsed.get(line.key).is_some());
        let written = match line.unit {
            Unit::Bytes => {
                assert_eq!(line.value % 1024, 0, "{line:?}");
                writeln!(back, "{}:  {} kB", line.key, line.value / 1024)
            }
            Unit::Count => writeln!(back, "{}:  {}", line.key, line.value),
        };
        written.expect("writing to a String");
    }
    let again = meminfo::parse(&back).unwrap_or_else(|e| panic!("own output: {e}\n{back}"));
    assert_eq!(again, parsed);
});
