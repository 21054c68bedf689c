//! Fuzzes logagent's `json` format (every line of a `format = "json"` log file): parsing never
//! panics, a line that does not parse is kept whole in the message with a `parse_error`, and
//! fields stay within the wire's limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logagent::parse::Format;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let format = Format::new("json", None, Some("ts"), Some("rfc3339")).unwrap();
    let parsed = format.parse(&text);
    if parsed.parse_error.is_some() {
        assert_eq!(parsed.message, text);
        assert!(parsed.fields.is_empty());
    }
    assert!(parsed.fields.len() <= wire::logs::MAX_FIELDS);
});
