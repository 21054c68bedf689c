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
    /// The Common Log Format's `03/Dec/2026:14:17:17 +0000` (`%d/%b/%Y:%H:%M:%S %z`, as nginx's
    /// and Apache's combined logs write it), read without a general strftime parser: it is
    /// most of the cost of an nginx line otherwise.
    CommonLog,
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
            TimeFormat::CommonLog => common_log(text)
                .or_else(|| TimeFormat::Strftime("%d/%b/%Y:%H:%M:%S %z".into()).read_text(text)),
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

/// `dd/Mon/yyyy:HH:MM:SS +hhmm` in Unix seconds; `None` when it is written otherwise.
fn common_log(text: &str) -> Option<f64> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let b = text.as_bytes();
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let month = MONTHS.iter().position(|m| &b[3..6] == *m)? as u32 + 1;
    let date =
        chrono::NaiveDate::from_ymd_opt(i32::try_from(number(7, 11)?).ok()?, month, number(0, 2)?)?;
    let (h, m, sec) = (number(12, 14)?, number(15, 17)?, number(18, 20)?);
    if b[14] != b':' || b[17] != b':' {
        return None;
    }
    let local = date.and_hms_opt(h, m, sec)?.and_utc().timestamp();
    let sign = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let offset = i64::from(number(22, 24)? * 3600 + number(24, 26)? * 60);
    Some((local - sign * offset) as f64)
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
    fn common_log_time_reads_as_strftime_does() {
        let general = TimeFormat::Strftime("%d/%b/%Y:%H:%M:%S %z".into());
        for text in [
            "03/Dec/2026:14:17:17 +0000",
            "29/Feb/2024:23:59:59 -0730",
            "01/Jan/1970:00:00:00 +0100",
        ] {
            assert_eq!(
                TimeFormat::CommonLog.read_text(text),
                general.read_text(text),
                "{text}"
            );
            assert!(common_log(text).is_some(), "{text}");
        }
        assert_eq!(
            TimeFormat::CommonLog.read_text("30/Feb/2024:00:00:00 +0000"),
            None
        );
        // Written otherwise: the general parser's answer.
        let short = "3/Dec/2026:14:17:17 +0000";
        assert_eq!(common_log(short), None);
        assert_eq!(
            TimeFormat::CommonLog.read_text(short),
            general.read_text(short)
        );
    }

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
