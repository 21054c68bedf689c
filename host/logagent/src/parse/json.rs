//! The `json` format: one JSON object per record. Its keys are the fields; `message`, `msg`
//! or `log` (a string) is the message, else the whole line. A line that is not a JSON object
//! is kept raw in the message with the parser's error in `parse_error`.

use serde_json::Value;

use super::{Parsed, TimestampRule, cap_fields};

/// The keys tried, in order, for the message.
const MESSAGE_KEYS: [&str; 3] = ["message", "msg", "log"];

/// Parses one JSON record.
pub fn parse(text: &str, rule: Option<&TimestampRule>) -> Parsed {
    let mut fields = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(fields)) => fields,
        Ok(other) => {
            let kind = match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            };
            return Parsed::raw(text, format!("not a JSON object but {kind}"));
        }
        Err(e) => return Parsed::raw(text, format!("invalid JSON: {e}")),
    };
    let message = MESSAGE_KEYS
        .iter()
        .find_map(|key| match fields.get(*key) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| text.to_string());
    let time = match rule {
        Some(rule) => fields.get(&rule.field).and_then(|v| rule.format.read(v)),
        None => ["time", "timestamp", "@timestamp", "ts"]
            .iter()
            .find_map(|key| fields.get(*key))
            .and_then(|v| super::TimeFormat::Auto.read(v)),
    };
    cap_fields(&mut fields);
    Parsed {
        message,
        fields,
        time,
        parse_error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::TimeFormat;

    #[test]
    fn an_object_gives_its_fields_message_and_time() {
        let rule = TimestampRule {
            field: "at".into(),
            format: TimeFormat::Rfc3339,
        };
        let p = parse(
            r#"{"msg":"disk full","level":"error","at":"2026-12-04T10:00:00Z","n":3}"#,
            Some(&rule),
        );
        assert_eq!(p.message, "disk full");
        assert_eq!(p.fields["level"], "error");
        assert_eq!(p.fields["n"], 3);
        assert_eq!(p.time, Some(1_796_378_400.0));
        assert_eq!(p.parse_error, None);
        let plain = parse(r#"{"a":1}"#, None);
        assert_eq!(plain.message, r#"{"a":1}"#);
        assert_eq!(plain.time, None);
    }

    #[test]
    fn a_malformed_line_is_kept_raw_with_the_error() {
        let line = r#"{"msg":"cut in the mid"#;
        let p = parse(line, None);
        assert_eq!(p.message, line);
        assert!(p.fields.is_empty());
        assert!(p.parse_error.unwrap().starts_with("invalid JSON"));
        let p = parse("[1,2]", None);
        assert_eq!(
            p.parse_error.as_deref(),
            Some("not a JSON object but an array")
        );
    }

    #[test]
    fn too_many_fields_are_capped_and_counted() {
        let object: serde_json::Map<String, Value> = (0..300)
            .map(|i| (format!("k{i:03}"), Value::from(i)))
            .collect();
        let p = parse(&Value::Object(object).to_string(), None);
        assert_eq!(p.fields.len(), wire::logs::MAX_FIELDS);
        assert_eq!(p.fields["_fields_dropped"], 45);
    }
}
