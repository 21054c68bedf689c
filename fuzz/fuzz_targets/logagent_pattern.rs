//! Fuzzes logagent's `nginx` and `apache` presets and a `regex` format with a timestamp on
//! log lines: parsing never panics, and a line that does not match is kept whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logagent::parse::Format;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let formats = [
        Format::new("nginx", None, None, None).unwrap(),
        Format::new("apache", None, None, None).unwrap(),
        Format::new(
            "regex",
            Some(r"^(?P<ts>\S+ \S+) (?P<level>\w+) (?P<message>.*)"),
            Some("ts"),
            Some("%Y-%m-%d %H:%M:%S"),
        )
        .unwrap(),
    ];
    for format in &formats {
        let parsed = format.parse(&text);
        if parsed.parse_error.is_some() {
            assert_eq!(parsed.message, text);
        }
    }
});
