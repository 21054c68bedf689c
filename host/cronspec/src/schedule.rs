//! A cron schedule with seconds (seed 1.3) and its next fire time, in UTC.
//!
//! The private `field` module checks each field and rewrites it; croner 4 evaluates the
//! result. Six fields are `second minute hour day-of-month month day-of-week`; a classic
//! five-field line has no seconds and fires at second 0. Times are UTC, so there is no
//! daylight-saving jump.

use std::fmt;

use chrono::{DateTime, Timelike, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::field::{FIELDS, Field};

/// A parsed schedule: the text as given and the pattern that computes fire times.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// The schedule as written (trimmed, one space between fields).
    text: String,
    /// The rewritten six-field pattern croner evaluates.
    cron: Cron,
}

/// `@nickname` schedules, as in Vixie cron, in six-field form.
const NICKNAMES: [(&str, &str); 7] = [
    ("@yearly", "0 0 0 1 1 *"),
    ("@annually", "0 0 0 1 1 *"),
    ("@monthly", "0 0 0 1 * *"),
    ("@weekly", "0 0 0 * * 0"),
    ("@daily", "0 0 0 * * *"),
    ("@midnight", "0 0 0 * * *"),
    ("@hourly", "0 0 * * * *"),
];

impl Schedule {
    /// Parses six fields (`second minute hour day-of-month month day-of-week`), five fields
    /// (seconds = 0) or an `@hourly`-style nickname. The error names the field and the
    /// problem, e.g. "second field `61`: 61 is out of range 0-59".
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let text = words.join(" ");
        let expanded;
        let fields: Vec<&str> = match words.as_slice() {
            [] => return Err("empty schedule".into()),
            [nick] if nick.starts_with('@') => {
                let lower = nick.to_ascii_lowercase();
                expanded = NICKNAMES
                    .iter()
                    .find(|(name, _)| *name == lower)
                    .map(|(_, fields)| *fields)
                    .ok_or_else(|| {
                        format!(
                            "unknown nickname `{nick}` (known: {})",
                            NICKNAMES.map(|(name, _)| name).join(", ")
                        )
                    })?;
                expanded.split(' ').collect()
            }
            [_, _, _, _, _] => std::iter::once("0").chain(words.iter().copied()).collect(),
            [_, _, _, _, _, _] => words.clone(),
            _ => {
                return Err(format!(
                    "schedule `{text}` has {} fields; expected 6 (second minute hour \
                     day-of-month month day-of-week) or 5 (without the second)",
                    words.len()
                ));
            }
        };
        let mut normalized = Vec::with_capacity(6);
        for (field, value) in FIELDS.iter().zip(&fields) {
            normalized.push(field.normalize(value)?);
        }
        let pattern = normalized.join(" ");
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Disallowed)
            .build()
            .parse(&pattern)
            .map_err(|e| format!("schedule `{text}`: {e}"))?;
        Ok(Schedule { text, cron })
    }

    /// The first fire time strictly after `t`, or `None` when the schedule never fires
    /// again (such as `0 0 0 30 2 *`, February 30th).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Whole seconds: a fire at 10:00:00 is not "after" 10:00:00.4, but 10:00:01 is.
        let t = t.with_nanosecond(0)?;
        self.cron.find_next_occurrence(&t, false).ok()
    }

    /// The schedule as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// True when `word` is a valid day-of-week field (used by gearman to tell six-field crontab lines from
/// five-field ones).
pub fn is_day_of_week(word: &str) -> bool {
    Field::DayOfWeek.normalize(word).is_ok()
}
