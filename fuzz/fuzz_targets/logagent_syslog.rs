//! Fuzzes logagent's `syslog` format (RFC 3164 and RFC 5424 lines from log files): parsing
//! never panics, and a line that does not parse is kept whole in the message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logagent::parse::Format;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = Format::Syslog.parse(&text);
    if parsed.parse_error.is_some() {
        assert_eq!(parsed.message, text);
    }
    if let Some(severity) = parsed.fields.get("severity") {
        assert!(severity.as_u64().is_some_and(|s| s < 8));
    }
});
