//! How many bytes a record takes in a batch's JSON, bounded from above without writing it: the
//! agent closes a batch at `batch_bytes` by adding these bounds up as it reads.

use crate::batch::{Fields, Record};

/// At least the bytes `record` takes in a batch's JSON, escapes included, counted without
/// writing it (writing it to count took as long as parsing an nginx line).
pub(super) fn json_size(record: &Record) -> usize {
    /// Names, punctuation and the numbers of a record, at their longest.
    const FIXED: usize = 256;
    let message = string_bound(&record.message);
    let fields = match &record.fields {
        Fields::Map(map) => map
            .iter()
            .map(|(k, v)| string_bound(k) + 1 + value_bound(v))
            .sum::<usize>(),
        // The fields are disjoint parts of the message (their escapes among its escapes),
        // each with a name of less than 32 bytes: at most the message's bound, plus quotes,
        // names and punctuation.
        Fields::Combined(c) => message + c.spans.len() * (3 + 32 + 4),
    };
    FIXED
        + message
        + [&*record.source, &*record.file, &*record.path]
            .iter()
            .map(|s| string_bound(s))
            .sum::<usize>()
        + record.parse_error.as_deref().map_or(0, string_bound)
        + fields
}

/// Most bytes `text` takes as a JSON string: quotes, and six bytes for a byte serde_json
/// escapes (`\u00XX` is the longest escape).
fn string_bound(text: &str) -> usize {
    text.len() + 2 + 5 * escaped(text.as_bytes()) + 1
}

/// How many of `bytes` serde_json escapes in a string (controls, `"`, `\\`), eight at a time
/// (the size bound was a third of the agent's CPU when it compared byte by byte). Each
/// byte's test stays within its byte (no carry or borrow crosses into the next), so the
/// count is exact.
fn escaped(bytes: &[u8]) -> usize {
    const LOW: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;
    /// High bit of each byte of `x` that is zero.
    fn zero(x: u64) -> u64 {
        !(((x & LOW) + LOW) | x) & HIGH
    }
    let mut chunks = bytes.chunks_exact(8);
    let mut count = 0usize;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // Below 0x20: 0x9f - (x & 0x7f) keeps its high bit only for x & 0x7f < 0x20, and
        // `!x` drops the bytes of 0x80 and above.
        let control = ((0x9f * ONES) - (x & LOW)) & !x & HIGH;
        let quote = zero(x ^ (u64::from(b'"') * ONES));
        let backslash = zero(x ^ (u64::from(b'\\') * ONES));
        count += (control | quote | backslash).count_ones() as usize;
    }
    count
        + chunks
            .remainder()
            .iter()
            .filter(|b| **b < 0x20 || **b == b'"' || **b == b'\\')
            .count()
}

fn value_bound(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    match value {
        Value::Null | Value::Bool(_) => 6,
        Value::Number(_) => 26,
        Value::String(s) => string_bound(s),
        Value::Array(items) => 2 + items.iter().map(|v| value_bound(v) + 1).sum::<usize>(),
        Value::Object(map) => {
            2 + map
                .iter()
                .map(|(k, v)| string_bound(k) + 2 + value_bound(v))
                .sum::<usize>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Format;

    #[test]
    fn the_size_bound_is_never_below_the_written_size() {
        let nasty = "quote \" backslash \\ tab \t nul \u{0} bell \u{7} é 日本 \n end";
        let mut fields = serde_json::Map::new();
        fields.insert("status".into(), serde_json::json!(500));
        fields.insert(
            nasty.into(),
            serde_json::json!([nasty, 1.5e300, null, true]),
        );
        fields.insert(
            "nested".into(),
            serde_json::json!({ "a": { nasty: -12345678901234i64 } }),
        );
        let record = Record {
            source: "s\"rc".into(),
            file: "0123456789abcdef".into(),
            offset: u64::MAX,
            path: "/var/log/\u{1}x".into(),
            time: -1.234_567_890_123_456_7e-300,
            time_from_read: true,
            message: nasty.repeat(10),
            fields: Fields::Map(fields),
            truncated_bytes: Some(u64::MAX),
            parse_error: Some(nasty.into()),
        };
        let written = serde_json::to_vec(&record).unwrap().len() + 1;
        assert!(
            json_size(&record) >= written,
            "{} < {written}",
            json_size(&record)
        );
        assert!(
            json_size(&record) < written * 2,
            "a bound, not a guess: {}",
            json_size(&record)
        );
    }

    #[test]
    fn the_size_bound_holds_for_fields_as_spans() {
        let nginx = Format::new("nginx", None, None, None).unwrap();
        let lines = [
            r#"203.0.113.9 - - [04/Dec/2026:11:00:00 +0100] "GET / HTTP/1.1" 200 612 "-" "curl/8""#,
            "\"\\\u{1}x - \\\\ [\u{2}\u{3}\"\\] \"\\\"\u{1f}\\\\\u{7}\" 500 99999999999999999999999 \"\\\"\\\"\" \"\u{0}\u{0}\u{0}\"",
        ];
        for line in lines {
            let parsed = nginx.parse_owned(line.to_string());
            assert!(matches!(parsed.fields, Fields::Combined(_)), "{line:?}");
            let record = Record {
                source: "web".into(),
                file: "0123456789abcdef".into(),
                offset: u64::MAX,
                path: "/var/log/nginx/access.log".into(),
                time: -1.234_567_890_123_456_7e-300,
                time_from_read: false,
                message: parsed.message,
                fields: parsed.fields,
                truncated_bytes: None,
                parse_error: None,
            };
            let written = serde_json::to_vec(&record).unwrap().len() + 1;
            assert!(
                json_size(&record) >= written,
                "{} < {written}",
                json_size(&record)
            );
        }
    }

    #[test]
    fn escapes_are_counted_exactly_eight_at_a_time() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let slow = bytes
                .iter()
                .filter(|b| **b < 0x20 || **b == b'"' || **b == b'\\')
                .count();
            assert_eq!(escaped(&bytes), slow, "{bytes:?}");
        }
        let every: Vec<u8> = (0..=255).collect();
        assert_eq!(escaped(&every), 34);
    }
}
