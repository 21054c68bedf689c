//! When the daemon checks (`schedule` in the configuration): `every <N><s|m|h|d>` (an
//! interval counted from the daemon's start) or a cron line in the project's syntax (six
//! fields with seconds, five without, `@daily`, `? L W #`; see the `cronspec` crate), in UTC.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The shortest interval.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The longest interval (a year and a day).
pub const MAX_INTERVAL: Duration = Duration::from_secs(366 * 86_400);
/// The longest schedule text.
pub const MAX_SCHEDULE_BYTES: usize = 256;

/// A parsed `schedule`.
#[derive(Debug, Clone)]
pub enum When {
    /// Every so long, from the daemon's start.
    Every(Duration),
    /// At the times of a cron line.
    Cron(Box<cronspec::Schedule>),
}

impl When {
    /// Parses `every 6h`-style intervals and cron lines; the error says what is wrong.
    pub fn parse(text: &str) -> Result<When, String> {
        if text.len() > MAX_SCHEDULE_BYTES {
            return Err(format!("schedule is over {MAX_SCHEDULE_BYTES} bytes"));
        }
        let text = text.trim();
        let Some(interval) = text.strip_prefix("every") else {
            return cronspec::Schedule::parse(text).map(|s| When::Cron(Box::new(s)));
        };
        let interval = interval.trim();
        let split = interval
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(interval.len());
        let (number, unit) = interval.split_at(split);
        let number: u64 = number.parse().map_err(|_| {
            format!("schedule `{text}`: expected `every <number><s|m|h|d>`, such as `every 6h`")
        })?;
        let unit_s = match unit.trim() {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            other => {
                return Err(format!(
                    "schedule `{text}`: unit `{other}` is not one of s, m, h, d"
                ));
            }
        };
        let every = Duration::from_secs(number.saturating_mul(unit_s));
        if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&every) {
            return Err(format!(
                "schedule `{text}`: the interval must be from 1s to 366d"
            ));
        }
        Ok(When::Every(every))
    }

    /// The first time strictly after `t`; `None` when a cron line never fires again.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            When::Every(every) => chrono::Duration::from_std(*every)
                .ok()
                .and_then(|d| t.checked_add_signed(d)),
            When::Cron(schedule) => schedule.next_after(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, h, m, s).unwrap()
    }

    #[test]
    fn intervals_count_from_the_given_time() {
        let when = When::parse("every 6h").unwrap();
        assert_eq!(when.next_after(at(10, 0, 0)), Some(at(16, 0, 0)));
        let when = When::parse("  every 90s ").unwrap();
        assert_eq!(when.next_after(at(10, 0, 0)), Some(at(10, 1, 30)));
        assert_eq!(
            When::parse("every 2d")
                .unwrap()
                .next_after(at(10, 0, 0))
                .map(|t| t.to_rfc3339()),
            Some("2026-12-06T10:00:00+00:00".into())
        );
    }

    #[test]
    fn cron_lines_use_the_project_syntax_with_seconds() {
        // Every 15 minutes at second 30; 2026-12-04 is a Friday.
        let when = When::parse("30 */15 * * * *").unwrap();
        assert_eq!(when.next_after(at(10, 7, 0)), Some(at(10, 15, 30)));
        // Five fields: second 0. Weekdays at 03:00: Friday 10:00 -> Monday 03:00.
        let when = When::parse("0 3 * * MON-FRI").unwrap();
        assert_eq!(
            when.next_after(at(10, 0, 0)).map(|t| t.to_rfc3339()),
            Some("2026-12-07T03:00:00+00:00".into())
        );
        // The last day of the month.
        let when = When::parse("0 0 1 L * ?").unwrap();
        assert_eq!(
            when.next_after(at(10, 0, 0)).map(|t| t.to_rfc3339()),
            Some("2026-12-31T01:00:00+00:00".into())
        );
        assert!(When::parse("@daily").is_ok());
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        for (text, says) in [
            ("every", "expected `every <number>"),
            ("every 6", "unit ``"),
            ("every 6w", "unit `w`"),
            ("every 0s", "from 1s"),
            ("every 400d", "from 1s"),
            ("every 99999999999999999999h", "expected"),
            ("61 * * * * *", "second field `61`"),
            ("* * *", "3 fields"),
        ] {
            let err = When::parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
        assert!(When::parse(&"* ".repeat(200)).unwrap_err().contains("over"));
    }
}
