//! The RFC 5424 message the syslog writer sends for a record (what the module doc of
//! `sink::syslog` describes): PRI, timestamp, header fields, the `logagent@32473` structured
//! data naming the record once, and the message, its newlines escaped under LF framing.

use std::io::Write as _;

use super::Framing;
use crate::batch::Record;

/// The SD-ID of the structured data each message carries.
pub const SD_ID: &str = "logagent@32473";
/// Longest APP-NAME (RFC 5424).
pub const MAX_APP_NAME: usize = 48;

/// Formats messages into one reused buffer; the date of the last second is kept.
#[derive(Default)]
pub struct Formatter {
    buf: Vec<u8>,
    second: Option<i64>,
    date: Vec<u8>,
}

impl Formatter {
    /// The RFC 5424 message for `record` (without framing), valid until the next call.
    pub fn format(
        &mut self,
        record: &Record,
        facility: u8,
        hostname: &str,
        app_name: Option<&str>,
        framing: Framing,
    ) -> &[u8] {
        let micros = (record.time * 1e6).round();
        let micros = if micros.is_finite() { micros as i64 } else { 0 };
        let (second, fraction) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
        if self.second != Some(second) {
            self.date.clear();
            let time = chrono::DateTime::from_timestamp(second, 0).unwrap_or_default();
            let _ = write!(self.date, "{}", time.format("%Y-%m-%dT%H:%M:%S"));
            self.second = Some(second);
        }
        let buf = &mut self.buf;
        buf.clear();
        let mut num = itoa_buf();
        buf.push(b'<');
        buf.extend_from_slice(itoa(u64::from(pri(record, facility)), &mut num));
        buf.extend_from_slice(b">1 ");
        buf.extend_from_slice(&self.date);
        buf.push(b'.');
        let digits = itoa(fraction as u64 + 1_000_000, &mut num);
        buf.extend_from_slice(&digits[1..]);
        buf.extend_from_slice(b"Z ");
        buf.extend_from_slice(hostname.as_bytes());
        buf.push(b' ');
        match app_name {
            Some(app) => buf.extend_from_slice(app.as_bytes()),
            None => push_app_name(buf, &record.source),
        }
        buf.extend_from_slice(b" - - [");
        buf.extend_from_slice(SD_ID.as_bytes());
        buf.extend_from_slice(b" file=\"");
        push_param(buf, &record.file);
        buf.extend_from_slice(b"\" offset=\"");
        buf.extend_from_slice(itoa(record.offset, &mut num));
        buf.extend_from_slice(b"\" path=\"");
        push_param(buf, &record.path);
        buf.extend_from_slice(b"\"]");
        if !record.message.is_empty() {
            buf.push(b' ');
            match framing {
                Framing::OctetCounting => buf.extend_from_slice(record.message.as_bytes()),
                Framing::Lf => {
                    for part in record.message.as_bytes().split_inclusive(|b| *b == b'\n') {
                        match part.split_last() {
                            Some((b'\n', head)) => {
                                buf.extend_from_slice(head);
                                buf.extend_from_slice(b"#012");
                            }
                            _ => buf.extend_from_slice(part),
                        }
                    }
                }
            }
        }
        &self.buf
    }
}

/// PRI: the record's own facility and severity (a syslog-formatted source), else `facility`
/// with `info`, or `err` for an HTTP 5xx `status`.
fn pri(record: &Record, facility: u8) -> u8 {
    let field = |name: &str| record.field_u64(name);
    if let (Some(f), Some(s)) = (field("facility"), field("severity"))
        && f < 24
        && s < 8
    {
        return (f * 8 + s) as u8;
    }
    let severity = if field("status").is_some_and(|s| (500..600).contains(&s)) {
        3
    } else {
        6
    };
    facility * 8 + severity
}

fn push_app_name(buf: &mut Vec<u8>, source: &str) {
    let start = buf.len();
    for b in source
        .bytes()
        .filter(u8::is_ascii_graphic)
        .take(MAX_APP_NAME)
    {
        buf.push(b);
    }
    if buf.len() == start {
        buf.push(b'-');
    }
}

/// A PARAM-VALUE: `"`, `\` and `]` escaped with a backslash (RFC 5424, 6.3.3).
fn push_param(buf: &mut Vec<u8>, value: &str) {
    for &b in value.as_bytes() {
        if matches!(b, b'"' | b'\\' | b']') {
            buf.push(b'\\');
        }
        buf.push(b);
    }
}

pub fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

/// `n` in decimal, written at the end of `buf`.
pub fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Fields;

    fn record(message: &str) -> Record {
        Record {
            source: "nginx access".into(),
            file: "0123456789abcdef".into(),
            offset: 42,
            path: "/var/log/a\"b]\\.log".into(),
            time: 1_764_806_400.25,
            time_from_read: false,
            message: message.into(),
            fields: Fields::Map(serde_json::Map::new()),
            truncated_bytes: None,
            parse_error: None,
        }
    }

    fn insert(r: &mut Record, name: &str, value: u64) {
        if let Fields::Map(map) = &mut r.fields {
            map.insert(name.into(), value.into());
        }
    }

    #[test]
    fn an_rfc5424_message_with_escaped_structured_data() {
        let mut f = Formatter::default();
        let text = f.format(
            &record("GET / 200"),
            1,
            "web1",
            None,
            Framing::OctetCounting,
        );
        assert_eq!(
            String::from_utf8_lossy(text),
            "<14>1 2025-12-04T00:00:00.250000Z web1 nginxaccess - - [logagent@32473 \
             file=\"0123456789abcdef\" offset=\"42\" path=\"/var/log/a\\\"b\\]\\\\.log\"] GET / 200"
        );
    }

    #[test]
    fn severity_from_syslog_fields_or_http_status_and_lf_escapes_newlines() {
        let mut r = record("a\nb");
        insert(&mut r, "status", 503);
        let mut f = Formatter::default();
        let text =
            String::from_utf8_lossy(f.format(&r, 16, "h", Some("app"), Framing::Lf)).into_owned();
        assert!(text.starts_with("<131>1 "), "{text}");
        assert!(text.ends_with("] a#012b"), "{text}");
        insert(&mut r, "facility", 4);
        insert(&mut r, "severity", 2);
        assert_eq!(pri(&r, 16), 34);
        let line = r#"::1 - - [04/Dec/2026:10:00:00 +0000] "GET / HTTP/1.0" 502 - "-" "W""#;
        let nginx = crate::parse::Format::new("nginx", None, None, None).unwrap();
        let mut spanned = record(line);
        spanned.fields = nginx.parse_owned(line.into()).fields;
        assert!(matches!(spanned.fields, Fields::Combined(_)));
        assert_eq!(pri(&spanned, 16), 131, "a 5xx status read from its span");
    }
}
