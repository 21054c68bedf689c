//! A log record's `fields` as sent, checked in one pass over its text. The text is what
//! serde_json read as one JSON value (`RawValue`: its grammar and UTF-8 are checked already),
//! so this pass looks for what that reading does not: that it is an object, how many entries it
//! has, `\u` escapes that are lone surrogates (a `Map` refuses them) and whitespace between
//! tokens (a pretty-printing client's layout, not stored). Outside strings it reads byte by
//! byte; inside, it jumps from quote or backslash to the next with `memchr`.
//!
//! It replaced a serde reading of the text and a second whitespace scan (~10% of Polaris's CPU
//! in benchmark P5); `tests` compare it with that serde reading, kept there as the reference.

/// What [`check_fields`] found in a valid fields text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldsText {
    /// It holds whitespace between tokens: store it re-written compactly.
    pub spaced: bool,
}

/// Checks a record's fields text (one JSON value, as serde_json read it): an object of at most
/// `max` entries (a name given twice counts twice) whose strings all decode (no lone
/// surrogate escape).
pub fn check_fields(text: &str, max: usize) -> Result<FieldsText, String> {
    let bytes = text.as_bytes();
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    if bytes.get(start) != Some(&b'{') {
        return Err("fields: must be a JSON object".into());
    }
    let mut spaced = start > 0;
    let mut depth = 0usize;
    let mut entries = 0usize;
    let mut i = start;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                i = string_end(bytes, i + 1)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            // In valid JSON a colon outside strings ends an object's name: at depth 1, one of
            // the fields'.
            b':' if depth == 1 => {
                entries += 1;
                if entries > max {
                    return Err(format!("at most {max} fields, this record has more"));
                }
            }
            b' ' | b'\n' | b'\t' | b'\r' => spaced = true,
            _ => {}
        }
        i += 1;
    }
    Ok(FieldsText { spaced })
}

/// The index after the closing quote of the string whose text starts at `i`, its `\u` escapes
/// checked.
fn string_end(bytes: &[u8], mut i: usize) -> Result<usize, String> {
    loop {
        let rest = bytes.get(i..).unwrap_or_default();
        let Some(at) = memchr::memchr2(b'"', b'\\', rest) else {
            // Not valid JSON (serde_json would not have read it): nothing more to check.
            return Ok(bytes.len());
        };
        i += at;
        if bytes[i] == b'"' {
            return Ok(i + 1);
        }
        i += match bytes.get(i + 1) {
            Some(b'u') => unicode_escape(bytes, i)?,
            _ => 2,
        };
    }
}

/// The length of the `\u` escape at `i` (6, or 12 for a surrogate pair); a lone surrogate is
/// an error, as serde_json makes it when it decodes the string.
fn unicode_escape(bytes: &[u8], i: usize) -> Result<usize, String> {
    let lone = || Err("fields: a lone surrogate in a \\u escape".to_string());
    match hex4(bytes, i + 2) {
        Some(0xD800..=0xDBFF) => {
            if bytes.get(i + 6..i + 8) == Some(b"\\u")
                && matches!(hex4(bytes, i + 8), Some(0xDC00..=0xDFFF))
            {
                Ok(12)
            } else {
                lone()
            }
        }
        Some(0xDC00..=0xDFFF) => lone(),
        _ => Ok(6),
    }
}

/// The four hex digits at `i`, if they are.
fn hex4(bytes: &[u8], i: usize) -> Option<u16> {
    let digits = std::str::from_utf8(bytes.get(i..i + 4)?).ok()?;
    u16::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use serde::Deserialize;
    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    use super::*;

    /// The reference: serde_json reads the text as an object, counting its entries and
    /// decoding every string.
    fn reference(text: &str, max: usize) -> bool {
        let mut de = serde_json::Deserializer::from_str(text);
        FieldsSeed
            .deserialize(&mut de)
            .is_ok_and(|entries| entries <= max)
            && de.end().is_ok()
    }

    struct FieldsSeed;

    impl<'de> DeserializeSeed<'de> for FieldsSeed {
        type Value = usize;
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
            deserializer.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for FieldsSeed {
        type Value = usize;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
            let mut n = 0;
            while map.next_key::<String>()?.is_some() {
                map.next_value::<Checked>()?;
                n += 1;
            }
            Ok(n)
        }
    }

    /// Any value, its strings decoded.
    struct Checked;

    impl<'de> Deserialize<'de> for Checked {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(CheckedVisitor)
        }
    }

    struct CheckedVisitor;

    impl<'de> Visitor<'de> for CheckedVisitor {
        type Value = Checked;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
            while seq.next_element::<Checked>()?.is_some() {}
            Ok(Checked)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
            while map.next_key::<String>()?.is_some() {
                map.next_value::<Checked>()?;
            }
            Ok(Checked)
        }
    }

    #[test]
    fn objects_within_the_limit_with_decodable_strings_pass() {
        for (text, spaced) in [
            (r#"{}"#, false),
            (r#"{"a":"x y","b":1}"#, false),
            (r#"{"a":"x\" y","b":[1,"\\"]}"#, false),
            (r#"{"a":"\\", "b":1}"#, true),
            ("{\"a\":\n1}", true),
            (r#" {"a" : [1, {"b": "\u00e9"}], "a": null} "#, true),
            (r#"{"a":"\ud83d\ude00","b":{"c":{"d":1,"e":2}}}"#, false),
            (r#"{"a:b":"c:d","{":"}"}"#, false),
        ] {
            assert_eq!(check_fields(text, 3), Ok(FieldsText { spaced }), "{text}");
        }
    }

    #[test]
    fn other_values_many_fields_and_lone_surrogates_are_refused() {
        for (text, why) in [
            (r#"[]"#, "object"),
            (r#""x""#, "object"),
            (r#"  null"#, "object"),
            (r#"{"a":"\ud800"}"#, "escape"),
            (r#"{"a":"\ud800\n"}"#, "escape"),
            (r#"{"a":"\ud800\u0041"}"#, "escape"),
            (r#"{"a":{"b":["\udc00"]}}"#, "escape"),
            (r#"{"\uDFFF":1}"#, "escape"),
            (r#"{"a":1,"b":2,"a":3,"c":4}"#, "at most 3"),
        ] {
            let error = check_fields(text, 3).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
    }

    /// Writes a random JSON value into `out`, with whitespace between tokens when `space`
    /// says so; returns whether it wrote any.
    fn value(out: &mut String, next: &mut impl FnMut(usize) -> usize, depth: usize) -> bool {
        const STRINGS: [&str; 10] = [
            r#""a""#,
            r#""b c""#,
            r#""\"\\""#,
            r#""\u00e9""#,
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\ud800\udc00""#,
            r#""x:{[""#,
            r#""é""#,
            r#""\ud800\n""#,
        ];
        const SCALARS: [&str; 5] = ["1", "-2.5e3", "true", "null", "0"];
        // Whitespace, sometimes.
        fn gap(out: &mut String, next: &mut impl FnMut(usize) -> usize) -> bool {
            let write = next(8) == 0;
            if write {
                out.push_str([" ", "\n", "\t", "\r"][next(4)]);
            }
            write
        }
        let mut spaced = false;
        match if depth > 2 { 2 + next(2) } else { next(4) } {
            0 | 1 => {
                let object = next(2) == 0;
                out.push(if object { '{' } else { '[' });
                for i in 0..next(4) {
                    if i > 0 {
                        out.push(',');
                    }
                    spaced |= gap(out, next);
                    if object {
                        out.push_str(STRINGS[next(STRINGS.len())]);
                        spaced |= gap(out, next);
                        out.push(':');
                        spaced |= gap(out, next);
                    }
                    spaced |= value(out, next, depth + 1);
                    spaced |= gap(out, next);
                }
                out.push(if object { '}' } else { ']' });
            }
            2 => out.push_str(STRINGS[next(STRINGS.len())]),
            _ => out.push_str(SCALARS[next(SCALARS.len())]),
        }
        spaced
    }

    /// Generated values: this check and the reference agree on every one, and whitespace is
    /// found exactly where it was written.
    #[test]
    fn agrees_with_serde_on_generated_values() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let (mut passed, mut refused) = (0, 0);
        for _ in 0..50_000 {
            let mut text = String::new();
            let spaced = value(&mut text, &mut next, 0);
            let max = next(4);
            let checked = check_fields(&text, max);
            assert_eq!(checked.is_ok(), reference(&text, max), "{text}");
            match checked {
                Ok(found) => {
                    assert_eq!(found.spaced, spaced, "{text}");
                    passed += 1;
                }
                Err(_) => refused += 1,
            }
        }
        assert!(
            passed > 2_000 && refused > 2_000,
            "{passed} passed, {refused} refused"
        );
    }

    #[test]
    fn any_text_is_checked_without_panicking() {
        for text in [
            "{\"",
            "{\"\\",
            "{\"\\u12",
            "{\"\\ud800\\u",
            "{\"a\\",
            "}}}]]{",
        ] {
            let _ = check_fields(text, 3);
        }
    }
}
