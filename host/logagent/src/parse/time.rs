//! Timestamps: RFC 3339, Unix seconds or milliseconds, or a strftime format (with or without
//! a zone; without one, local time). All give Unix seconds with fractions.

use chrono::{DateTime, NaiveDateTime, TimeZone as _};

/// How a timestamp is written.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeFormat {
    /// RFC 3339, else Unix seconds (the default).
    Auto,
    /// RFC 3339 (`2026-12-04T10:00:00.5Z`).
    Rfc3339,
    /// Unix seconds (fractions allowed).
    Unix,
    /// Unix milliseconds.
    UnixMs,
    /// A strftime format (chrono's).
    Strftime(String),
}

impl TimeFormat {
    /// The format named in the configuration (default [`TimeFormat::Auto`]).
    pub fn new(text: Option<&str>) -> Result<TimeFormat, String> {
        Ok(match text {
            None => TimeFormat::Auto,
            Some("rfc3339") => TimeFormat::Rfc3339,
            Some("unix") => TimeFormat::Unix,
            Some("unix_ms") => TimeFormat::UnixMs,
            Some("") => return Err("timestamp_format is empty".into()),
            Some(f) => {
                if chrono::format::StrftimeItems::new(f)
                    .any(|i| matches!(i, chrono::format::Item::Error))
                {
                    return Err(format!("timestamp_format `{f}` is not a strftime format"));
                }
                TimeFormat::Strftime(f.to_string())
            }
        })
    }

    /// The time `value` (a JSON string or number) stands for, in Unix seconds.
    pub fn read(&self, value: &serde_json::Value) -> Option<f64> {
        match value {
            serde_json::Value::Number(n) => {
                let n = n.as_f64()?;
                match self {
                    TimeFormat::UnixMs => Some(n / 1000.0),
                    TimeFormat::Auto | TimeFormat::Unix => Some(n),
                    _ => None,
                }
            }
            serde_json::Value::String(s) => self.read_text(s),
            _ => None,
        }
    }

    /// The time `text` stands for, in Unix seconds.
    pub fn read_text(&self, text: &str) -> Option<f64> {
        let text = text.trim();
        match self {
            TimeFormat::Auto => rfc3339(text).or_else(|| text.parse().ok()),
            TimeFormat::Rfc3339 => rfc3339(text),
            TimeFormat::Unix => text.parse().ok(),
            TimeFormat::UnixMs => text.parse::<f64>().ok().map(|ms| ms / 1000.0),
            TimeFormat::Strftime(format) => {
                if let Ok(t) = DateTime::parse_from_str(text, format) {
                    return Some(seconds(t.timestamp(), t.timestamp_subsec_nanos()));
                }
                let naive = NaiveDateTime::parse_from_str(text, format).ok()?;
                let local = chrono::Local.from_local_datetime(&naive).earliest()?;
                Some(seconds(local.timestamp(), local.timestamp_subsec_nanos()))
            }
        }
    }
}

/// An RFC 3339 timestamp in Unix seconds.
pub fn rfc3339(text: &str) -> Option<f64> {
    let t = DateTime::parse_from_rfc3339(text).ok()?;
    Some(seconds(t.timestamp(), t.timestamp_subsec_nanos()))
}

fn seconds(secs: i64, nanos: u32) -> f64 {
    secs as f64 + f64::from(nanos) / 1e9
}

/// Now, in Unix seconds.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_usual_ways_of_writing_time() {
        let auto = TimeFormat::new(None).unwrap();
        assert_eq!(
            auto.read_text("2026-12-04T10:00:00.5Z"),
            Some(1_796_378_400.5)
        );
        assert_eq!(auto.read_text("1796378400"), Some(1_796_378_400.0));
        assert_eq!(
            auto.read(&serde_json::json!(1_796_378_400)),
            Some(1_796_378_400.0)
        );
        let ms = TimeFormat::new(Some("unix_ms")).unwrap();
        assert_eq!(
            ms.read(&serde_json::json!(1_796_378_400_500u64)),
            Some(1_796_378_400.5)
        );
        let nginx = TimeFormat::new(Some("%d/%b/%Y:%H:%M:%S %z")).unwrap();
        assert_eq!(
            nginx.read_text("04/Dec/2026:11:00:00 +0100"),
            Some(1_796_378_400.0)
        );
        assert_eq!(auto.read_text("yesterday"), None);
        assert!(TimeFormat::new(Some("%Q")).is_err());
    }
}
