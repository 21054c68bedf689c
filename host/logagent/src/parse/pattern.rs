//! The `regex` format (named captures become fields, a capture named `message` is the
//! message) and its presets for the nginx and Apache combined log formats, whose time is
//! `[%d/%b/%Y:%H:%M:%S %z]` and whose status and size are numbers.

use std::cell::RefCell;

use regex::Regex;
use serde_json::{Map, Value};

use super::{Parsed, TimeFormat, TimestampRule, cap_fields};

/// nginx's `combined`: `$remote_addr - $remote_user [$time_local] "$request" $status
/// $body_bytes_sent "$http_referer" "$http_user_agent"`.
const NGINX_COMBINED: &str = r#"^(?P<remote_addr>\S+) \S+ (?P<remote_user>\S+) \[(?P<time_local>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<body_bytes_sent>\d+|-) "(?P<http_referer>(?:[^"\\]|\\.)*)" "(?P<http_user_agent>(?:[^"\\]|\\.)*)""#;
/// Apache's `combined`: `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`.
const APACHE_COMBINED: &str = r#"^(?P<host>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<size>\d+|-) "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)""#;

/// A compiled pattern with its timestamp rule and the captures that are numbers.
#[derive(Debug, Clone)]
pub struct Pattern {
    regex: Regex,
    /// The capture names, by group index (`None` for unnamed groups).
    names: Vec<Option<String>>,
    timestamp: Option<TimestampRule>,
    numbers: &'static [&'static str],
    /// The last timestamp text read and its time: a log's lines mostly share their second,
    /// and a strftime parse costs more than the rest of the line.
    last_time: RefCell<Option<(String, Option<f64>)>>,
}

impl Pattern {
    /// A `regex` source's pattern; it must have at least one named capture.
    pub fn new(pattern: &str, timestamp: Option<TimestampRule>) -> Result<Pattern, String> {
        let regex = Regex::new(pattern).map_err(|e| format!("bad pattern: {e}"))?;
        if regex.capture_names().flatten().next().is_none() {
            return Err("pattern has no named capture (?P<name>...)".into());
        }
        if let Some(rule) = &timestamp
            && !regex.capture_names().flatten().any(|n| n == rule.field)
        {
            return Err(format!("pattern has no capture named `{}`", rule.field));
        }
        Ok(Pattern::with(regex, timestamp, &[]))
    }

    /// The `nginx` or `apache` combined preset.
    pub fn combined(name: &str) -> Pattern {
        let (pattern, field, numbers): (&str, &str, &'static [&'static str]) = if name == "nginx" {
            (NGINX_COMBINED, "time_local", &["status", "body_bytes_sent"])
        } else {
            (APACHE_COMBINED, "time", &["status", "size"])
        };
        Pattern::with(
            // The presets are constants, compiled by the tests.
            Regex::new(pattern).unwrap_or_else(|_| unreachable!("preset compiles")),
            Some(TimestampRule {
                field: field.into(),
                format: TimeFormat::CommonLog,
            }),
            numbers,
        )
    }

    fn with(
        regex: Regex,
        timestamp: Option<TimestampRule>,
        numbers: &'static [&'static str],
    ) -> Pattern {
        Pattern {
            names: regex
                .capture_names()
                .map(|n| n.map(str::to_string))
                .collect(),
            regex,
            timestamp,
            numbers,
            last_time: RefCell::new(None),
        }
    }

    /// The time the timestamp field's `value` stands for (the last one's when it is the same).
    fn time_of(&self, rule: &TimestampRule, value: &Value) -> Option<f64> {
        let Value::String(text) = value else {
            return rule.format.read(value);
        };
        let mut last = self.last_time.borrow_mut();
        if let Some((seen, time)) = last.as_ref()
            && seen == text
        {
            return *time;
        }
        let time = rule.format.read_text(text);
        *last = Some((text.clone(), time));
        time
    }

    /// Parses one record.
    pub fn parse(&self, text: &str) -> Parsed {
        let Some(captures) = self.regex.captures(text) else {
            return Parsed::raw(text, "the line does not match the pattern");
        };
        let mut fields = Map::new();
        let mut message = None;
        for (group, name) in self.names.iter().enumerate() {
            let (Some(name), Some(value)) = (name, captures.get(group).map(|m| m.as_str())) else {
                continue;
            };
            let name = name.as_str();
            if name == "message" {
                message = Some(value.to_string());
                continue;
            }
            let value = match value.parse::<u64>() {
                Ok(n) if self.numbers.contains(&name) => Value::from(n),
                _ => Value::from(value),
            };
            fields.insert(name.to_string(), value);
        }
        let time = self
            .timestamp
            .as_ref()
            .and_then(|rule| self.time_of(rule, fields.get(&rule.field)?));
        cap_fields(&mut fields);
        Parsed {
            message: message.unwrap_or_else(|| text.to_string()),
            fields,
            time,
            parse_error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_nginx_combined_line() {
        let line = r#"203.0.113.9 - alice [04/Dec/2026:11:00:00 +0100] "GET /a?q=\"x\" HTTP/1.1" 404 153 "https://example.org/" "curl/8.5.0""#;
        let p = Pattern::combined("nginx").parse(line);
        assert_eq!(p.parse_error, None);
        assert_eq!(p.message, line);
        assert_eq!(p.fields["remote_addr"], "203.0.113.9");
        assert_eq!(p.fields["remote_user"], "alice");
        assert_eq!(p.fields["request"], r#"GET /a?q=\"x\" HTTP/1.1"#);
        assert_eq!(p.fields["status"], 404);
        assert_eq!(p.fields["body_bytes_sent"], 153);
        assert_eq!(p.fields["http_user_agent"], "curl/8.5.0");
        assert_eq!(p.time, Some(1_796_378_400.0));
        let bad = Pattern::combined("nginx").parse("GET / 200");
        assert_eq!(bad.message, "GET / 200");
        assert!(bad.parse_error.is_some());
    }

    #[test]
    fn an_apache_combined_line_with_no_size() {
        let line = r#"::1 - - [04/Dec/2026:10:00:00 +0000] "HEAD / HTTP/1.0" 304 - "-" "Wget""#;
        let p = Pattern::combined("apache").parse(line);
        assert_eq!(p.fields["host"], "::1");
        assert_eq!(p.fields["status"], 304);
        assert_eq!(p.fields["size"], "-");
        assert_eq!(p.time, Some(1_796_378_400.0));
    }

    #[test]
    fn named_captures_and_a_message_capture() {
        let rule = TimestampRule {
            field: "at".into(),
            format: TimeFormat::Unix,
        };
        let p = Pattern::new(r"^(?P<at>\d+) (?P<level>\w+) (?P<message>.*)$", Some(rule)).unwrap();
        let parsed = p.parse("1796378400 WARN low disk");
        assert_eq!(parsed.message, "low disk");
        assert_eq!(parsed.fields["level"], "WARN");
        assert_eq!(parsed.time, Some(1_796_378_400.0));
        assert!(Pattern::new("no captures", None).is_err());
        let missing = TimestampRule {
            field: "t".into(),
            format: TimeFormat::Unix,
        };
        assert!(Pattern::new("(?P<a>x)", Some(missing)).is_err());
    }
}
