//! Checks one field of a schedule and rewrites it into the plain form croner evaluates.
//!
//! This is where the seed's rules are enforced with messages that name the field: value
//! ranges, which field may use `? L W #`, month and weekday names, Sunday = 0 or 7. It also
//! fills the gaps croner leaves: backwards ranges (`23-7/2`), a bare `L` in day-of-week and
//! the Quartz start/step form `0/30`. [`crate::schedule`] hands the result to croner.

/// The six fields of a schedule, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Second,
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

/// The fields in the order they are written.
pub(crate) const FIELDS: [Field; 6] = [
    Field::Second,
    Field::Minute,
    Field::Hour,
    Field::DayOfMonth,
    Field::Month,
    Field::DayOfWeek,
];

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Field {
    /// The field's name in messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Field::Second => "second",
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
        }
    }

    /// The smallest and largest value (day-of-week allows 7 for Sunday).
    fn bounds(self) -> (u32, u32) {
        match self {
            Field::Second | Field::Minute => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (0, 7),
        }
    }

    /// Rewrites `text` (one field of a schedule) for croner, or says what is wrong with it.
    pub(crate) fn normalize(self, text: &str) -> Result<String, String> {
        let upper = text.to_ascii_uppercase();
        let fail = |why: String| format!("{} field `{text}`: {why}", self.name());
        if upper == "?" {
            return match self {
                Field::DayOfMonth | Field::DayOfWeek => Ok("*".into()),
                _ => Err(fail(
                    "`?` is only allowed in day-of-month and day-of-week".into(),
                )),
            };
        }
        if upper == "*" {
            return Ok(upper);
        }
        let mut parts = Vec::new();
        for part in upper.split(',') {
            parts.push(self.part(part).map_err(fail)?);
        }
        Ok(parts.join(","))
    }

    /// One comma-separated element of the field.
    fn part(self, part: &str) -> Result<String, String> {
        if part.is_empty() {
            return Err("empty list element".into());
        }
        if part.contains('?') {
            return Err("`?` must stand alone, in day-of-month or day-of-week".into());
        }
        if matches!(self, Field::DayOfMonth | Field::DayOfWeek) && part.contains('C') {
            return Err("`C` (calendar) is not supported".into());
        }
        match self {
            Field::DayOfMonth => {
                if part == "L" || part == "LW" {
                    return Ok(part.into());
                }
                if part.starts_with("L-") {
                    return Err("`L-<n>` (days before the last) is not supported".into());
                }
                if let Some(day) = part.strip_suffix('W') {
                    let day = self.value(day)?;
                    return Ok(format!("{day}W"));
                }
                if part.contains('L') {
                    return Err("`L` must stand alone or as `LW`".into());
                }
                if part.contains('W') {
                    return Err("`W` must follow one day, as in `15W`".into());
                }
            }
            Field::DayOfWeek => {
                // Quartz: `L` alone in day-of-week is the last day of the week, Saturday.
                if part == "L" {
                    return Ok("6".into());
                }
                if let Some((day, nth)) = part.split_once('#') {
                    let day = self.value(day)?;
                    if nth != "L" && !matches!(nth.parse::<u32>(), Ok(1..=5)) {
                        return Err(format!("`#{nth}`: the occurrence must be 1-5 or L"));
                    }
                    return Ok(format!("{day}#{nth}"));
                }
                if let Some(day) = part.strip_suffix('L') {
                    let day = self.value(day)?;
                    return Ok(format!("{day}#L"));
                }
            }
            _ => {}
        }
        for ch in ['L', 'W', '#'] {
            if part.contains(ch) && !self.name_letter(part, ch) {
                return Err(format!(
                    "`{ch}` is only allowed in {}",
                    match ch {
                        'W' => "day-of-month",
                        '#' => "day-of-week",
                        _ => "day-of-month and day-of-week",
                    }
                ));
            }
        }
        self.range(part)
    }

    /// True when `ch` in `part` only appears inside a month or weekday name of this field.
    fn name_letter(self, part: &str, ch: char) -> bool {
        let names: &[&str] = match self {
            Field::Month => &MONTHS,
            Field::DayOfWeek => &WEEKDAYS,
            _ => return false,
        };
        part.split(['-', '/'])
            .filter(|piece| piece.contains(ch))
            .all(|piece| names.contains(&piece))
    }

    /// `*`, `*/s`, `n`, `n/s`, `a-b`, `a-b/s`; a backwards `a-b` wraps around.
    fn range(self, part: &str) -> Result<String, String> {
        let (lo, hi) = self.bounds();
        let (base, step) = match part.split_once('/') {
            Some((base, step)) => {
                let step = step
                    .parse::<u32>()
                    .ok()
                    .filter(|s| *s >= 1)
                    .ok_or_else(|| format!("step `{step}` must be a number of at least 1"))?;
                (base, Some(step))
            }
            None => (part, None),
        };
        if base == "*" {
            return Ok(part.into());
        }
        let (start, end) = match base.split_once('-') {
            Some((start, end)) => (self.value(start)?, self.range_end(end)?),
            // Quartz's `0/30`: from 0 to the top of the field, every 30.
            None if step.is_some() => (self.value(base)?, hi),
            None => return Ok(self.value(base)?.to_string()),
        };
        let step = step.unwrap_or(1);
        if start <= end {
            return Ok(format!("{start}-{end}/{step}"));
        }
        // Backwards: run past the top and continue from the bottom (`23-7/2` = 23,1,3,5,7).
        if self == Field::DayOfMonth {
            return Err(format!(
                "range {start}-{end} runs backwards; months differ in length"
            ));
        }
        let (lo, hi) = if self == Field::DayOfWeek {
            (0, 6)
        } else {
            (lo, hi)
        };
        let start = if self == Field::DayOfWeek && start == 7 {
            0
        } else {
            start
        };
        let count = hi - lo + 1;
        let span = (end + count - start) % count;
        let values: Vec<String> = (0..=span)
            .step_by(step as usize)
            .map(|offset| (lo + (start - lo + offset) % count).to_string())
            .collect();
        Ok(values.join(","))
    }

    /// The end of a range: as [`Self::value`], except that `SUN` ends a range as 7.
    fn range_end(self, text: &str) -> Result<u32, String> {
        if self == Field::DayOfWeek && text == "SUN" {
            return Ok(7);
        }
        self.value(text)
    }

    /// One number or name of this field, checked against its range.
    fn value(self, text: &str) -> Result<u32, String> {
        let (lo, hi) = self.bounds();
        let named = match self {
            Field::Month => MONTHS.iter().position(|m| *m == text).map(|i| i as u32 + 1),
            Field::DayOfWeek => WEEKDAYS.iter().position(|d| *d == text).map(|i| i as u32),
            _ => None,
        };
        if let Some(value) = named {
            return Ok(value);
        }
        let value = text
            .parse::<u32>()
            .map_err(|_| format!("`{text}` is not a number"))?;
        if value < lo || value > hi {
            return Err(format!("{value} is out of range {lo}-{hi}"));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sunday_become_numbers() {
        assert_eq!(Field::DayOfWeek.normalize("MON-FRI").unwrap(), "1-5/1");
        assert_eq!(Field::DayOfWeek.normalize("sun").unwrap(), "0");
        assert_eq!(Field::DayOfWeek.normalize("FRI-SUN").unwrap(), "5-7/1");
        assert_eq!(Field::DayOfWeek.normalize("SAT-MON").unwrap(), "6,0,1");
        assert_eq!(Field::DayOfWeek.normalize("fri#3").unwrap(), "5#3");
        assert_eq!(Field::DayOfWeek.normalize("5L").unwrap(), "5#L");
        assert_eq!(Field::Month.normalize("jan,Mar-may").unwrap(), "1,3-5/1");
        assert_eq!(Field::Month.normalize("NOV-FEB").unwrap(), "11,12,1,2");
    }

    #[test]
    fn backwards_ranges_wrap_and_keep_the_step() {
        assert_eq!(Field::Hour.normalize("23-7/2,8").unwrap(), "23,1,3,5,7,8");
        assert_eq!(Field::Minute.normalize("0/30").unwrap(), "0-59/30");
        assert!(Field::DayOfMonth.normalize("25-5").is_err());
    }

    #[test]
    fn letters_outside_their_fields_are_named_in_the_message() {
        let err = Field::Hour.normalize("L").unwrap_err();
        assert!(err.contains("hour field `L`"), "{err}");
        let err = Field::Minute.normalize("?").unwrap_err();
        assert!(
            err.contains("only allowed in day-of-month and day-of-week"),
            "{err}"
        );
        let err = Field::DayOfMonth.normalize("3#2").unwrap_err();
        assert!(err.contains("only allowed in day-of-week"), "{err}");
        let err = Field::DayOfWeek.normalize("5W").unwrap_err();
        assert!(err.contains("only allowed in day-of-month"), "{err}");
        let err = Field::DayOfWeek.normalize("5#6").unwrap_err();
        assert!(err.contains("1-5"), "{err}");
        let err = Field::DayOfMonth.normalize("15C").unwrap_err();
        assert!(err.contains("not supported"), "{err}");
    }
}
