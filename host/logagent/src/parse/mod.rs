//! The formats a source's records are parsed in, one module each: `json` (one object per
//! line), `syslog` (RFC 3164 and RFC 5424), `pattern` (`regex` with named captures and the
//! nginx/Apache combined presets); `time` reads timestamps. A record that does not parse is
//! never dropped: it is kept raw in the message, with the reason in `parse_error`.

pub mod json;
pub mod pattern;
pub mod syslog;
pub mod time;

use serde_json::{Map, Value};

pub use time::TimeFormat;
/// The presets' hand-written matcher, shared with Polaris (which reads a preset record's
/// fields from its message with it).
pub use wire::logs::combined;

use crate::batch::Fields;

/// What a format made of one record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// The message (the raw record when the format has no message field or did not parse).
    pub message: String,
    /// The parsed fields.
    pub fields: Map<String, Value>,
    /// The record's own time (Unix seconds), if it has one that parsed.
    pub time: Option<f64>,
    /// Why the record did not parse.
    pub parse_error: Option<String>,
}

impl Parsed {
    /// The record kept raw, with the reason it did not parse.
    pub fn raw(text: &str, error: impl Into<String>) -> Parsed {
        Parsed {
            message: text.to_string(),
            parse_error: Some(error.into()),
            ..Parsed::default()
        }
    }
}

/// Which field holds a record's time, and how it is written.
#[derive(Debug, Clone)]
pub struct TimestampRule {
    /// The field's name.
    pub field: String,
    /// Its format.
    pub format: TimeFormat,
}

/// A source's format, ready to parse records.
#[derive(Debug, Clone)]
pub enum Format {
    /// The raw line(s) as the message.
    Line,
    /// One JSON object per record.
    Json(Option<TimestampRule>),
    /// RFC 3164 or RFC 5424 syslog lines (files written by rsyslog included).
    Syslog,
    /// A regex with named captures (`regex`, or the `nginx`/`apache` presets).
    Pattern(pattern::Pattern),
}

impl Format {
    /// The format named `name` (`line`, `json`, `syslog`, `regex`, `nginx`, `apache`).
    pub fn new(
        name: &str,
        pattern: Option<&str>,
        timestamp_field: Option<&str>,
        timestamp_format: Option<&str>,
    ) -> Result<Format, String> {
        let time_format = TimeFormat::new(timestamp_format)?;
        let rule = timestamp_field.map(|field| TimestampRule {
            field: field.to_string(),
            format: time_format.clone(),
        });
        if pattern.is_some() && name != "regex" {
            return Err(format!("`pattern` is for format `regex`, not `{name}`"));
        }
        match name {
            "line" | "syslog" | "nginx" | "apache" if timestamp_field.is_some() => Err(format!(
                "format `{name}` has its own timestamp; timestamp_field is for json and regex"
            )),
            "line" => Ok(Format::Line),
            "json" => Ok(Format::Json(rule)),
            "syslog" => Ok(Format::Syslog),
            "regex" => {
                let pattern = pattern.ok_or("format `regex` needs a `pattern`")?;
                Ok(Format::Pattern(pattern::Pattern::new(pattern, rule)?))
            }
            "nginx" | "apache" => Ok(Format::Pattern(pattern::Pattern::combined(name))),
            other => Err(format!(
                "unknown format `{other}` (line, json, syslog, regex, nginx, apache)"
            )),
        }
    }

    /// Parses one record's text.
    pub fn parse(&self, text: &str) -> Parsed {
        match self {
            Format::Line => Parsed {
                message: text.to_string(),
                ..Parsed::default()
            },
            Format::Json(rule) => json::parse(text, rule.as_ref()),
            Format::Syslog => syslog::parse(text),
            Format::Pattern(pattern) => pattern.parse(text),
        }
    }
}

/// What a format made of one record, with the message owned: the record's text moved in
/// when it is the message, and a combined-log line's fields as spans of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Owned {
    /// The message.
    pub message: String,
    /// The fields.
    pub fields: Fields,
    /// The record's own time, if it has one that parsed.
    pub time: Option<f64>,
    /// Why the record did not parse.
    pub parse_error: Option<String>,
}

impl Format {
    /// Parses one record's text as [`Format::parse`] does, without copying it when it is the
    /// message, and without a map for a line the nginx/Apache matcher parses.
    pub fn parse_owned(&self, text: String) -> Owned {
        let owned = |message, fields, time, parse_error| Owned {
            message,
            fields,
            time,
            parse_error,
        };
        match self {
            Format::Line => owned(text, Fields::Map(Map::new()), None, None),
            Format::Pattern(pattern) => match pattern.parse_combined(&text) {
                Some((combined, time)) => owned(text, Fields::Combined(combined), time, None),
                None => {
                    let p = pattern.parse(&text);
                    owned(p.message, Fields::Map(p.fields), p.time, p.parse_error)
                }
            },
            _ => {
                let p = self.parse(&text);
                owned(p.message, Fields::Map(p.fields), p.time, p.parse_error)
            }
        }
    }
}

/// Keeps at most `wire::logs::MAX_FIELDS` fields; the count of those dropped is a field.
pub fn cap_fields(fields: &mut Map<String, Value>) {
    let max = wire::logs::MAX_FIELDS - 1;
    if fields.len() > max {
        let dropped = fields.len() - max;
        let keep: Vec<String> = fields.keys().take(max).cloned().collect();
        fields.retain(|k, _| keep.contains(k));
        fields.insert("_fields_dropped".into(), Value::from(dropped));
    }
}
