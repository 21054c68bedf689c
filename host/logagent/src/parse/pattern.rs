//! The `regex` format (named captures become fields, a capture named `message` is the
//! message) and its presets for the nginx and Apache combined log formats, whose time is
//! `[%d/%b/%Y:%H:%M:%S %z]` and whose status and size are numbers.

use std::cell::{OnceCell, RefCell};

use regex::Regex;
use serde_json::{Map, Value};

use wire::logs::Preset;
use wire::logs::combined::{self, Match};

use super::{Parsed, TimeFormat, TimestampRule, cap_fields};
use crate::batch::Combined;

/// nginx's `combined`: `$remote_addr - $remote_user [$time_local] "$request" $status
/// $body_bytes_sent "$http_referer" "$http_user_agent"`.
pub const NGINX_COMBINED: &str = r#"^(?P<remote_addr>\S+) \S+ (?P<remote_user>\S+) \[(?P<time_local>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<body_bytes_sent>\d+|-) "(?P<http_referer>(?:[^"\\]|\\.)*)" "(?P<http_user_agent>(?:[^"\\]|\\.)*)""#;
/// Apache's `combined`: `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`.
pub const APACHE_COMBINED: &str = r#"^(?P<host>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<size>\d+|-) "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)""#;

/// A regex and its capture names, by group index (`None` for unnamed groups).
#[derive(Debug, Clone)]
struct Compiled {
    regex: Regex,
    names: Vec<Option<String>>,
}

impl Compiled {
    fn new(regex: Regex) -> Compiled {
        Compiled {
            names: regex
                .capture_names()
                .map(|n| n.map(str::to_string))
                .collect(),
            regex,
        }
    }
}

/// A compiled pattern with its timestamp rule and the captures that are numbers.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// A preset's regex text (compiled when first needed: only for the lines the hand matcher
    /// leaves to it, so most agents never build it: ~225 kB of heap and the regex compiler's
    /// code pages); a `regex` source's pattern is compiled at once, to be checked.
    source: &'static str,
    compiled: OnceCell<Compiled>,
    timestamp: Option<TimestampRule>,
    numbers: &'static [&'static str],
    /// For the presets: which of the [`combined::Spans`] that [`combined::matches`] finds
    /// without the regex is which field.
    preset: Option<Preset>,
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
        Ok(Pattern::with(
            OnceCell::from(Compiled::new(regex)),
            "",
            timestamp,
            &[],
            None,
        ))
    }

    /// The `nginx` or `apache` combined preset.
    pub fn combined(name: &str) -> Pattern {
        let (pattern, field, numbers, preset): (&str, &str, &'static [&'static str], _) =
            if name == "nginx" {
                (
                    NGINX_COMBINED,
                    "time_local",
                    &["status", "body_bytes_sent"],
                    Preset::Nginx,
                )
            } else {
                (APACHE_COMBINED, "time", &["status", "size"], Preset::Apache)
            };
        Pattern::with(
            OnceCell::new(),
            pattern,
            Some(TimestampRule {
                field: field.into(),
                format: TimeFormat::CommonLog,
            }),
            numbers,
            Some(preset),
        )
    }

    fn with(
        compiled: OnceCell<Compiled>,
        source: &'static str,
        timestamp: Option<TimestampRule>,
        numbers: &'static [&'static str],
        preset: Option<Preset>,
    ) -> Pattern {
        Pattern {
            source,
            compiled,
            timestamp,
            numbers,
            preset,
            last_time: RefCell::new(None),
        }
    }

    /// The time the timestamp field's `value` stands for (the last one's when it is the same).
    fn time_of(&self, rule: &TimestampRule, value: &Value) -> Option<f64> {
        let Value::String(text) = value else {
            return rule.format.read(value);
        };
        self.time_of_text(rule, text)
    }

    /// The time `text` stands for (the last one's when it is the same).
    fn time_of_text(&self, rule: &TimestampRule, text: &str) -> Option<f64> {
        let mut last = self.last_time.borrow_mut();
        if let Some((seen, time)) = last.as_ref()
            && seen == text
        {
            return *time;
        }
        let time = rule.format.read_text(text);
        *last = Some((text.to_string(), time));
        time
    }

    /// A preset's line the combined matcher parses: its fields as spans of `text`, and its
    /// time; `None` for any other line or pattern (then [`Pattern::parse`] parses it).
    pub fn parse_combined(&self, text: &str) -> Option<(Combined, Option<f64>)> {
        let preset = self.preset?;
        let Match::Yes(spans) = combined::matches(text) else {
            return None;
        };
        let time = match &self.timestamp {
            Some(rule) => self.time_of_text(rule, text.get(spans[3].clone())?),
            None => None,
        };
        Some((Combined::new(preset, spans)?, time))
    }

    /// Parses one record.
    pub fn parse(&self, text: &str) -> Parsed {
        let mut fields = Map::new();
        let mut message = None;
        let mut add = |name: &str, value: &str| {
            if name == "message" {
                message = Some(value.to_string());
                return;
            }
            let value = match value.parse::<u64>() {
                Ok(n) if self.numbers.contains(&name) => Value::from(n),
                _ => Value::from(value),
            };
            fields.insert(name.to_string(), value);
        };
        let fast = self.preset.map(|p| (p.names(), combined::matches(text)));
        match fast {
            Some((names, Match::Yes(spans))) => {
                for (name, span) in names.iter().zip(spans) {
                    if let Some(name) = name {
                        add(name, &text[span]);
                    }
                }
            }
            Some((_, Match::No)) => return no_match(text),
            Some((_, Match::Unsure)) | None => {
                let compiled = self.compiled.get_or_init(|| {
                    // The presets are constants, compiled by the tests.
                    Compiled::new(
                        Regex::new(self.source).unwrap_or_else(|_| unreachable!("preset compiles")),
                    )
                });
                let Some(captures) = compiled.regex.captures(text) else {
                    return no_match(text);
                };
                for (group, name) in compiled.names.iter().enumerate() {
                    if let (Some(name), Some(value)) = (name, captures.get(group)) {
                        add(name, value.as_str());
                    }
                }
            }
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

fn no_match(text: &str) -> Parsed {
    Parsed::raw(text, "the line does not match the pattern")
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

    /// The preset with the regex alone, as before the hand-written matcher.
    fn regex_only(name: &str) -> Pattern {
        let mut p = Pattern::combined(name);
        p.preset = None;
        p
    }

    /// Lines that are combined-log lines, lines a few edits away from one, and lines with
    /// the characters the matcher treats specially (spaces of every kind, quotes, escapes,
    /// brackets, Unicode digits and spaces).
    fn lines(count: usize) -> Vec<String> {
        let seeds = [
            r#"203.0.113.9 - alice [04/Dec/2026:11:00:00 +0100] "GET /a?q=\"x\" HTTP/1.1" 404 153 "https://example.org/" "curl/8.5.0""#,
            r#"::1 - - [04/Dec/2026:10:00:00 +0000] "HEAD / HTTP/1.0" 304 - "-" "Wget" extra"#,
            r#"10.0.0.1 ident bob [x] "" 200 0 "" """#,
        ];
        let pieces = [
            " ", "\t", "\n", "\r", "\u{b}", "\u{c}", "\u{a0}", "\u{2003}", "\u{85}", "\"", "\\",
            "\\\"", "\\\n", "[", "]", "-", "0", "7", "200", "\u{664}", "\u{ff11}", "é", "x", "",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut out: Vec<String> = seeds.iter().map(|s| s.to_string()).collect();
        while out.len() < count {
            let mut chars: Vec<char> = seeds[next(seeds.len())].chars().collect();
            for _ in 0..1 + next(3) {
                let at = next(chars.len() + 1);
                let piece: Vec<char> = pieces[next(pieces.len())].chars().collect();
                match next(3) {
                    0 => {
                        chars.splice(at..at, piece);
                    }
                    1 if at < chars.len() => {
                        chars.splice(at..at + 1, piece);
                    }
                    _ if at < chars.len() => {
                        chars.remove(at);
                    }
                    _ => {}
                }
            }
            out.push(chars.into_iter().collect());
        }
        out
    }

    #[test]
    fn the_matcher_parses_as_the_regex_does() {
        for name in ["nginx", "apache"] {
            let (fast, slow) = (Pattern::combined(name), regex_only(name));
            let mut seen = [0usize; 3];
            for line in lines(60_000) {
                let (a, b) = (fast.parse(&line), slow.parse(&line));
                assert_eq!(a, b, "{name}: {line:?}");
                seen[match combined::matches(&line) {
                    Match::Yes(_) => 0,
                    Match::No => 1,
                    Match::Unsure => 2,
                }] += 1;
            }
            // Every way through the matcher was taken many times.
            assert!(seen.iter().all(|n| *n > 1_000), "{name}: {seen:?}");
        }
    }

    #[test]
    fn presets_list_their_fields_sorted_and_their_numbers_as_the_regex_path_does() {
        for (name, preset) in [("nginx", Preset::Nginx), ("apache", Preset::Apache)] {
            let order: Vec<&str> = preset
                .order()
                .iter()
                .filter_map(|i| preset.names()[*i])
                .collect();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(order, sorted, "{name}");
            assert_eq!(
                order.len(),
                preset.names().iter().flatten().count(),
                "{name}"
            );
            let numbers: Vec<&str> = preset
                .numbers()
                .iter()
                .filter_map(|i| preset.names()[*i])
                .collect();
            assert_eq!(numbers, Pattern::combined(name).numbers, "{name}");
        }
    }

    #[test]
    fn span_fields_write_the_json_the_map_writes() {
        use crate::batch::Fields;
        for name in ["nginx", "apache"] {
            let p = Pattern::combined(name);
            let mut spanned = 0;
            for line in lines(20_000) {
                let Some((fields, time)) = p.parse_combined(&line) else {
                    continue;
                };
                spanned += 1;
                let parsed = p.parse(&line);
                assert_eq!(time, parsed.time, "{line:?}");
                let record = |fields| crate::batch::Record {
                    source: "s".into(),
                    file: "f".into(),
                    offset: 1,
                    path: "/p".into(),
                    time: 2.5,
                    time_from_read: false,
                    message: line.clone(),
                    fields,
                    truncated_bytes: None,
                    parse_error: None,
                };
                let a = serde_json::to_string(&record(Fields::Combined(fields))).unwrap();
                let b = serde_json::to_string(&record(Fields::Map(parsed.fields))).unwrap();
                assert_eq!(a, b);
            }
            assert!(spanned > 1_000, "{name}: {spanned}");
        }
    }
}
