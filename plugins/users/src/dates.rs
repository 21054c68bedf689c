//! Day numbers (days since 1970-01-01, as `/etc/shadow` stores them) turned into dates, and the
//! `chage -l` lines computed from a shadow entry with the same rules as shadow-utils' `chage`.

use serde_json::{Value, json};

use crate::files::ShadowEntry;

/// Beyond this day number `chage` prints "never" (its `LONG_MAX / SCALE` overflow guard).
const MAX_DAY: i64 = i64::MAX / 86_400;

/// `chage` treats a maximum age of 10000 days or more as "the password never expires".
const NEVER_EXPIRES_DAYS: i64 = 10_000;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Converts a day number into (year, month 1-12, day 1-31) of the proleptic Gregorian calendar.
///
/// This is Howard Hinnant's `civil_from_days`; it is exact for any day in `±MAX_DAY`.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day as an ISO 8601 date, `YYYY-MM-DD`.
pub fn iso_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day as `chage -l` prints it in the C locale (`%b %d, %Y`, e.g. `May 20, 2025`).
pub fn chage_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    let month = MONTHS[(m as usize).saturating_sub(1) % 12];
    format!("{month} {d:02}, {y}")
}

/// The ISO date of a day number, or `None` when the field is empty or out of range.
pub fn iso_or_none(days: Option<i64>) -> Option<String> {
    days.filter(|d| (0..=MAX_DAY).contains(d)).map(iso_date)
}

/// The seven `chage -l` lines of one account, as a JSON object.
///
/// Dates follow chage: "never", "password must be changed" (last change is day 0) or a date;
/// the three numbers are `null` where the shadow field is empty (chage would print -1).
pub fn chage_fields(s: &ShadowEntry) -> Value {
    // chage reads empty fields as -1.
    let last = s.last_change.unwrap_or(-1);
    let max = s.max_days.unwrap_or(-1);
    let inactive = s.inactive_days.unwrap_or(-1);
    let expire = s.expire.unwrap_or(-1);
    const MUST_CHANGE: &str = "password must be changed";

    let last_change = if !(0..=MAX_DAY).contains(&last) {
        "never".to_string()
    } else if last == 0 {
        MUST_CHANGE.to_string()
    } else {
        chage_date(last)
    };

    let no_expiry = last < 0 || !(0..NEVER_EXPIRES_DAYS).contains(&max) || last > MAX_DAY;
    let password_expires = if last == 0 {
        MUST_CHANGE.to_string()
    } else if no_expiry {
        "never".to_string()
    } else {
        chage_date(last + max)
    };

    let password_inactive = if last == 0 {
        MUST_CHANGE.to_string()
    } else if no_expiry || inactive < 0 || inactive > MAX_DAY - last - max {
        "never".to_string()
    } else {
        chage_date(last + max + inactive)
    };

    let account_expires = if (0..=MAX_DAY).contains(&expire) {
        chage_date(expire)
    } else {
        "never".to_string()
    };

    json!({
        "last_password_change": last_change,
        "password_expires": password_expires,
        "password_inactive": password_inactive,
        "account_expires": account_expires,
        "min_days_between_changes": s.min_days,
        "max_days_between_changes": s.max_days,
        "warn_days_before_expiry": s.warn_days,
    })
}
