//! The nginx and Apache combined presets as both sides of the wire know them: which span of a
//! combined line ([`combined::matches`]) is which field, and the fields' JSON text.
//!
//! A file of a grouped body may name its preset ([`LogFile::preset`](super::LogFile)); its
//! records sent without `fields` have the fields the preset reads in their message. So the
//! agent does not write them (an nginx record's fields, names and values, are ~55% of its
//! JSON: the values again after the message, each with its name), and Polaris checks that the
//! message is such a line, stores the message alone and makes the fields again when they are
//! read. A record the matcher cannot read alone (a non-ASCII character where the presets'
//! regexes decide) is sent with its `fields`, as the agent's regex read them.
//!
//! The matcher and these tables are part of the wire format and of Polaris's stored chunks (a
//! record stored with its preset has the fields the matcher reads in its message when it is
//! read): what a preset reads must not change. A different reading is a new preset name.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::combined::{self, Match};
use crate::json_text::push_str;

/// A combined-log preset.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Preset {
    /// nginx's `combined`: `$remote_addr - $remote_user [$time_local] "$request" $status
    /// $body_bytes_sent "$http_referer" "$http_user_agent"`.
    Nginx,
    /// Apache's `combined`: `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`.
    Apache,
}

/// A field's value as a preset reads it from its span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValue<'t> {
    /// A number field whose text is a `u64`: the number, and the text it was read from.
    Number(u64, &'t str),
    /// Any other field (or a number field whose text is not a `u64`, `-` say): its text.
    Text(&'t str),
}

/// A preset's fields by span.
struct Table {
    /// Names by span index (`None`: the span is not a field).
    names: [Option<&'static str>; 9],
    /// Span indexes of the fields, sorted by name (the order a `serde_json::Map` writes).
    order: &'static [usize],
    /// Span indexes whose text is written as a number when it is one.
    numbers: &'static [usize],
}

/// nginx's combined fields by span index (the ident is not one).
static NGINX: Table = Table {
    names: [
        Some("remote_addr"),
        None,
        Some("remote_user"),
        Some("time_local"),
        Some("request"),
        Some("status"),
        Some("body_bytes_sent"),
        Some("http_referer"),
        Some("http_user_agent"),
    ],
    order: &[6, 7, 8, 0, 2, 4, 5, 3],
    numbers: &[5, 6],
};

/// Apache's combined fields by span index.
static APACHE: Table = Table {
    names: [
        Some("host"),
        Some("ident"),
        Some("user"),
        Some("time"),
        Some("request"),
        Some("status"),
        Some("size"),
        Some("referer"),
        Some("agent"),
    ],
    order: &[8, 0, 1, 7, 4, 6, 5, 3, 2],
    numbers: &[5, 6],
};

impl Preset {
    /// The preset a source's `format` names (`nginx`, `apache`).
    pub fn from_name(name: &str) -> Option<Preset> {
        match name {
            "nginx" => Some(Preset::Nginx),
            "apache" => Some(Preset::Apache),
            _ => None,
        }
    }

    /// Its name, as a source's `format` and the wire write it.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Nginx => "nginx",
            Preset::Apache => "apache",
        }
    }

    fn table(self) -> &'static Table {
        match self {
            Preset::Nginx => &NGINX,
            Preset::Apache => &APACHE,
        }
    }

    /// The field names by span index of [`combined::Spans`] (`None`: not a field).
    pub fn names(self) -> &'static [Option<&'static str>; 9] {
        &self.table().names
    }

    /// The span indexes of the fields, in the order they are written (by name).
    pub fn order(self) -> &'static [usize] {
        self.table().order
    }

    /// The span indexes whose text is written as a number when it is one.
    pub fn numbers(self) -> &'static [usize] {
        self.table().numbers
    }

    /// The number span `i` holds, when its field is a number field and its text a `u64`.
    pub fn number(self, i: usize, text: &str) -> Option<u64> {
        if !self.table().numbers.contains(&i) {
            return None;
        }
        text.parse().ok()
    }

    /// The fields of a line whose span `i` is `text_of(i)`, named, in the order they are
    /// written (by name): what every reader of a preset's fields goes through.
    pub fn entries<'t>(
        self,
        text_of: impl Fn(usize) -> &'t str,
    ) -> impl Iterator<Item = (&'static str, FieldValue<'t>)> {
        self.order().iter().filter_map(move |&i| {
            let name = self.names()[i]?;
            let text = text_of(i);
            let value = match self.number(i, text) {
                Some(number) => FieldValue::Number(number, text),
                None => FieldValue::Text(text),
            };
            Some((name, value))
        })
    }

    /// Writes the fields of a line whose span `i` is `text_of(i)` as a JSON object: the text
    /// `serde_json` writes for the map of them (names sorted, numbers as numbers).
    pub fn write_fields<'t>(self, out: &mut Vec<u8>, text_of: impl Fn(usize) -> &'t str) {
        out.push(b'{');
        for (n, (name, value)) in self.entries(text_of).enumerate() {
            if n > 0 {
                out.push(b',');
            }
            push_str(out, name);
            out.push(b':');
            match value {
                // Digits without a leading zero are the number's own text.
                FieldValue::Number(_, text) if text.len() == 1 || !text.starts_with(['0', '+']) => {
                    out.extend_from_slice(text.as_bytes());
                }
                FieldValue::Number(number, _) => {
                    out.extend_from_slice(number.to_string().as_bytes());
                }
                FieldValue::Text(text) => push_str(out, text),
            }
        }
        out.push(b'}');
    }

    /// The spans of `line` when the matcher reads it as a combined line on its own.
    pub fn spans(line: &str) -> Option<combined::Spans> {
        match combined::matches(line) {
            Match::Yes(spans) => Some(spans),
            Match::No | Match::Unsure => None,
        }
    }

    /// The fields' JSON text this preset reads in `line`, if the matcher reads it.
    pub fn fields_text(self, line: &str) -> Option<String> {
        let spans = Preset::spans(line)?;
        let mut out = Vec::with_capacity(line.len() + 128);
        self.write_fields(&mut out, |i| text_of(line, &spans[i]));
        // Every part is UTF-8: the names, `line`'s spans (cut at ASCII bytes) and escapes.
        String::from_utf8(out).ok()
    }

    /// The fields this preset reads in `line`, if the matcher reads it.
    pub fn fields(self, line: &str) -> Option<Map<String, Value>> {
        serde_json::from_str(&self.fields_text(line)?).ok()
    }
}

fn text_of<'t>(line: &'t str, span: &Range<usize>) -> &'t str {
    line.get(span.clone()).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"203.0.113.9 - alice [04/Dec/2026:11:00:00 +0100] "GET /a?q=\"x\" HTTP/1.1" 404 0153 "-" "curl/8.5.0""#;

    #[test]
    fn a_line_s_fields_are_the_map_serde_writes() {
        let fields = Preset::Nginx.fields(LINE).unwrap();
        let want = serde_json::json!({
            "remote_addr": "203.0.113.9",
            "remote_user": "alice",
            "time_local": "04/Dec/2026:11:00:00 +0100",
            "request": r#"GET /a?q=\"x\" HTTP/1.1"#,
            "status": 404,
            "body_bytes_sent": 153,
            "http_referer": "-",
            "http_user_agent": "curl/8.5.0",
        });
        assert_eq!(Value::Object(fields.clone()), want);
        assert_eq!(
            Preset::Nginx.fields_text(LINE).unwrap(),
            serde_json::to_string(&fields).unwrap()
        );
        let apache = Preset::Apache.fields(LINE).unwrap();
        assert_eq!(apache["ident"], "-");
        assert_eq!(apache["size"], 153);
        assert_eq!(apache.len(), 9);
    }

    #[test]
    fn a_line_the_matcher_cannot_read_has_no_preset_fields() {
        assert_eq!(Preset::Nginx.fields_text("GET / 200"), None);
        let unsure = "a\u{a0}b - - [t] \"r\" 200 1 \"x\" \"y\"";
        assert_eq!(Preset::Nginx.fields_text(unsure), None);
    }

    #[test]
    fn names_go_both_ways() {
        for preset in [Preset::Nginx, Preset::Apache] {
            assert_eq!(Preset::from_name(preset.name()), Some(preset));
            let json = serde_json::to_string(&preset).unwrap();
            assert_eq!(json, format!("\"{}\"", preset.name()));
        }
        assert_eq!(Preset::from_name("regex"), None);
    }
}
