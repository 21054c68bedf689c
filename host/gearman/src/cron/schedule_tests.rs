//! Next fire times of every schedule the seed lists (section 1.3) and of `L W LW # ?`, from
//! fixed instants. The expected times were worked out by hand against the calendar (checked
//! with `date -u -d` and an independent brute-force matcher in Python), not taken from croner.
//!
//! Calendar facts used: 2024 is a leap year; 2024-02-27 is a Tuesday, 2024-03-01 a Friday,
//! 2024-03-31 a Sunday, 2024-06-01 a Saturday, 2024-06-15 a Saturday, 2024-08-31 a Saturday,
//! 2024-09-15 a Sunday, 2024-04-04 a Thursday.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::schedule::Schedule;

fn utc(text: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .and_utc()
}

/// The next `n` fire times after `start`, formatted like the table.
fn next_n(spec: &str, start: &str, n: usize) -> Vec<String> {
    let schedule = Schedule::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
    let mut t = utc(start);
    let mut out = Vec::new();
    for _ in 0..n {
        t = schedule
            .next_after(t)
            .unwrap_or_else(|| panic!("{spec} stops firing after {t}"));
        out.push(t.format("%Y-%m-%dT%H:%M:%S").to_string());
    }
    out
}

fn check(table: &[(&str, &str, [&str; 3])]) {
    let mut failures = Vec::new();
    for (spec, start, expected) in table {
        let got = next_n(spec, start, 3);
        if got != expected {
            failures.push(format!(
                "{spec:?} from {start}: got {got:?}, want {expected:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

const T0: &str = "2024-02-27T10:17:23"; // a Tuesday, two days before Feb 29th

#[test]
fn seed_six_field_examples() {
    check(&[
        // top of every hour
        (
            "0 0 * * * *",
            T0,
            [
                "2024-02-27T11:00:00",
                "2024-02-27T12:00:00",
                "2024-02-27T13:00:00",
            ],
        ),
        // every ten seconds
        (
            "*/10 * * * * *",
            T0,
            [
                "2024-02-27T10:17:30",
                "2024-02-27T10:17:40",
                "2024-02-27T10:17:50",
            ],
        ),
        // 8, 9, 10 o'clock
        (
            "0 0 8-10 * * *",
            T0,
            [
                "2024-02-28T08:00:00",
                "2024-02-28T09:00:00",
                "2024-02-28T10:00:00",
            ],
        ),
        // 8:00, 8:30 ... 10:00 -- and 10:30, since hour 10 matches (Quartz's reading too)
        (
            "0 0/30 8-10 * * *",
            T0,
            [
                "2024-02-27T10:30:00",
                "2024-02-28T08:00:00",
                "2024-02-28T08:30:00",
            ],
        ),
        // on the hour 9-5 on weekdays: Friday 17:00, then Monday
        (
            "0 0 9-17 * * MON-FRI",
            "2024-03-01T16:30:00",
            [
                "2024-03-01T17:00:00",
                "2024-03-04T09:00:00",
                "2024-03-04T10:00:00",
            ],
        ),
        // every Christmas midnight
        (
            "0 0 0 25 12 ?",
            T0,
            [
                "2024-12-25T00:00:00",
                "2025-12-25T00:00:00",
                "2026-12-25T00:00:00",
            ],
        ),
    ]);
}

#[test]
fn seed_five_field_examples() {
    check(&[
        (
            "*/10 * * * *",
            T0,
            [
                "2024-02-27T10:20:00",
                "2024-02-27T10:30:00",
                "2024-02-27T10:40:00",
            ],
        ),
        // daily at 6, through Feb 29th
        (
            "0 6 * * *",
            T0,
            [
                "2024-02-28T06:00:00",
                "2024-02-29T06:00:00",
                "2024-03-01T06:00:00",
            ],
        ),
        (
            "0 */2 * * *",
            T0,
            [
                "2024-02-27T12:00:00",
                "2024-02-27T14:00:00",
                "2024-02-27T16:00:00",
            ],
        ),
        (
            "45 4 1,10,22 * *",
            T0,
            [
                "2024-03-01T04:45:00",
                "2024-03-10T04:45:00",
                "2024-03-22T04:45:00",
            ],
        ),
        // 23, 1, 3, 5, 7 (every two hours through midnight) and 8
        (
            "0 23-7/2,8 * * *",
            "2024-02-27T22:00:00",
            [
                "2024-02-27T23:00:00",
                "2024-02-28T01:00:00",
                "2024-02-28T03:00:00",
            ],
        ),
        (
            "0 23-7/2,8 * * *",
            "2024-02-28T06:30:00",
            [
                "2024-02-28T07:00:00",
                "2024-02-28T08:00:00",
                "2024-02-28T23:00:00",
            ],
        ),
        // the 4th (a Thursday here) OR Monday-Wednesday, as in Vixie cron
        (
            "0 11 4 * 1-3",
            "2024-04-03T12:00:00",
            [
                "2024-04-04T11:00:00",
                "2024-04-08T11:00:00",
                "2024-04-09T11:00:00",
            ],
        ),
        // Saturdays and Sundays
        (
            "45 11 * * 0,6",
            T0,
            [
                "2024-03-02T11:45:00",
                "2024-03-03T11:45:00",
                "2024-03-09T11:45:00",
            ],
        ),
        // weekdays: from a Friday morning, skips the weekend
        (
            "0 9 * * 1-5",
            "2024-03-01T10:00:00",
            [
                "2024-03-04T09:00:00",
                "2024-03-05T09:00:00",
                "2024-03-06T09:00:00",
            ],
        ),
        // 8, 11, 14 o'clock (16 is not on the step)
        (
            "2 8-16/3 * * *",
            T0,
            [
                "2024-02-27T11:02:00",
                "2024-02-27T14:02:00",
                "2024-02-28T08:02:00",
            ],
        ),
        // three spellings of every half hour 18:00-23:30
        (
            "0,30 18-23 * * *",
            "2024-02-27T23:10:00",
            [
                "2024-02-27T23:30:00",
                "2024-02-28T18:00:00",
                "2024-02-28T18:30:00",
            ],
        ),
        (
            "0-59/30 18-23 * * *",
            "2024-02-27T23:10:00",
            [
                "2024-02-27T23:30:00",
                "2024-02-28T18:00:00",
                "2024-02-28T18:30:00",
            ],
        ),
        (
            "*/30 18-23 * * *",
            "2024-02-27T23:10:00",
            [
                "2024-02-27T23:30:00",
                "2024-02-28T18:00:00",
                "2024-02-28T18:30:00",
            ],
        ),
    ]);
}

#[test]
fn last_day_of_month() {
    check(&[
        (
            "0 0 12 L * *",
            "2024-01-15T00:00:00",
            [
                "2024-01-31T12:00:00",
                "2024-02-29T12:00:00",
                "2024-03-31T12:00:00",
            ],
        ),
        (
            "0 0 12 L * *",
            "2023-01-15T00:00:00",
            [
                "2023-01-31T12:00:00",
                "2023-02-28T12:00:00",
                "2023-03-31T12:00:00",
            ],
        ),
    ]);
}

#[test]
fn nearest_weekday() {
    check(&[
        // June 1st is a Saturday: Monday the 3rd (W does not leave the month)
        (
            "0 0 9 1W * *",
            "2024-05-15T00:00:00",
            [
                "2024-06-03T09:00:00",
                "2024-07-01T09:00:00",
                "2024-08-01T09:00:00",
            ],
        ),
        // March 31st is a Sunday: Friday the 29th; April has no 31st
        (
            "0 0 9 31W * *",
            "2024-03-15T00:00:00",
            [
                "2024-03-29T09:00:00",
                "2024-05-31T09:00:00",
                "2024-07-31T09:00:00",
            ],
        ),
        // June 15th is a Saturday: Friday the 14th
        (
            "0 0 9 15W * *",
            "2024-06-10T00:00:00",
            [
                "2024-06-14T09:00:00",
                "2024-07-15T09:00:00",
                "2024-08-15T09:00:00",
            ],
        ),
        // September 15th is a Sunday: Monday the 16th
        (
            "0 0 9 15W * *",
            "2024-09-01T00:00:00",
            [
                "2024-09-16T09:00:00",
                "2024-10-15T09:00:00",
                "2024-11-15T09:00:00",
            ],
        ),
    ]);
}

#[test]
fn last_weekday_of_month() {
    check(&[
        // March 31st is a Sunday, April 30th a Tuesday
        (
            "0 0 18 LW * *",
            "2024-03-01T00:00:00",
            [
                "2024-03-29T18:00:00",
                "2024-04-30T18:00:00",
                "2024-05-31T18:00:00",
            ],
        ),
        // August 31st is a Saturday
        (
            "0 0 18 LW * *",
            "2024-08-01T00:00:00",
            [
                "2024-08-30T18:00:00",
                "2024-09-30T18:00:00",
                "2024-10-31T18:00:00",
            ],
        ),
    ]);
}

#[test]
fn nth_and_last_weekday() {
    let first_sundays = [
        "2024-03-03T00:00:00",
        "2024-04-07T00:00:00",
        "2024-05-05T00:00:00",
    ];
    check(&[
        // third Friday
        (
            "0 0 0 * * 5#3",
            T0,
            [
                "2024-03-15T00:00:00",
                "2024-04-19T00:00:00",
                "2024-05-17T00:00:00",
            ],
        ),
        (
            "0 0 0 * * fri#3",
            T0,
            [
                "2024-03-15T00:00:00",
                "2024-04-19T00:00:00",
                "2024-05-17T00:00:00",
            ],
        ),
        // first Sunday, written three ways
        ("0 0 0 * * 0#1", T0, first_sundays),
        ("0 0 0 * * 7#1", T0, first_sundays),
        ("0 0 0 * * SUN#1", T0, first_sundays),
        // last Friday
        (
            "0 0 0 * * 5L",
            T0,
            [
                "2024-03-29T00:00:00",
                "2024-04-26T00:00:00",
                "2024-05-31T00:00:00",
            ],
        ),
        (
            "0 0 0 * * 5#L",
            T0,
            [
                "2024-03-29T00:00:00",
                "2024-04-26T00:00:00",
                "2024-05-31T00:00:00",
            ],
        ),
    ]);
}

#[test]
fn weekday_numbers_follow_the_seed() {
    let sundays = [
        "2024-03-03T00:00:00",
        "2024-03-10T00:00:00",
        "2024-03-17T00:00:00",
    ];
    let saturdays = [
        "2024-03-02T00:00:00",
        "2024-03-09T00:00:00",
        "2024-03-16T00:00:00",
    ];
    check(&[
        ("0 0 0 * * 0", T0, sundays),
        ("0 0 0 * * 7", T0, sundays),
        ("0 0 0 * * SUN", T0, sundays),
        ("0 0 0 * * sun", T0, sundays),
        (
            "0 0 0 * * 1",
            T0,
            [
                "2024-03-04T00:00:00",
                "2024-03-11T00:00:00",
                "2024-03-18T00:00:00",
            ],
        ),
        ("0 0 0 * * 6", T0, saturdays),
        // Quartz: `L` alone in day-of-week is the week's last day, Saturday
        ("0 0 0 ? * L", T0, saturdays),
        (
            "0 0 0 * * MON-FRI",
            T0,
            [
                "2024-02-28T00:00:00",
                "2024-02-29T00:00:00",
                "2024-03-01T00:00:00",
            ],
        ),
        // a range through Sunday, and one that wraps past it
        (
            "0 0 12 ? * FRI-SUN",
            T0,
            [
                "2024-03-01T12:00:00",
                "2024-03-02T12:00:00",
                "2024-03-03T12:00:00",
            ],
        ),
        (
            "0 0 0 * * SAT-MON",
            T0,
            [
                "2024-03-02T00:00:00",
                "2024-03-03T00:00:00",
                "2024-03-04T00:00:00",
            ],
        ),
    ]);
}

#[test]
fn question_mark_and_month_names() {
    check(&[
        // the seed's "fire on the 20th whatever the weekday"
        (
            "0 0 0 20 * ?",
            T0,
            [
                "2024-03-20T00:00:00",
                "2024-04-20T00:00:00",
                "2024-05-20T00:00:00",
            ],
        ),
        // Mondays of January and July (2024-07-01 is a Monday)
        (
            "0 0 0 ? jan,jul 1",
            T0,
            [
                "2024-07-01T00:00:00",
                "2024-07-08T00:00:00",
                "2024-07-15T00:00:00",
            ],
        ),
        // a month range that wraps past December
        (
            "0 0 12 ? NOV-FEB *",
            "2024-02-29T13:00:00",
            [
                "2024-11-01T12:00:00",
                "2024-11-02T12:00:00",
                "2024-11-03T12:00:00",
            ],
        ),
        (
            "@hourly",
            T0,
            [
                "2024-02-27T11:00:00",
                "2024-02-27T12:00:00",
                "2024-02-27T13:00:00",
            ],
        ),
    ]);
}

#[test]
fn next_is_strictly_after() {
    let hourly = Schedule::parse("0 0 * * * *").unwrap();
    let at = utc("2024-02-27T11:00:00");
    assert_eq!(hourly.next_after(at), Some(utc("2024-02-27T12:00:00")));
    let every_second = Schedule::parse("* * * * * *").unwrap();
    let just_after = at + chrono::Duration::milliseconds(400);
    assert_eq!(
        every_second.next_after(just_after),
        Some(utc("2024-02-27T11:00:01"))
    );
}

#[test]
fn impossible_dates_never_fire() {
    let feb30 = Schedule::parse("0 0 0 30 2 *").unwrap();
    assert_eq!(feb30.next_after(utc(T0)), None);
}

#[test]
fn bad_schedules_are_rejected_with_a_clear_message() {
    for (spec, needle) in [
        ("0 0 0 1 1 * 2030", "has 7 fields; expected 6"),
        ("* * * *", "has 4 fields"),
        ("61 * * * * *", "second field `61`: 61 is out of range 0-59"),
        (
            "0 ? * * * *",
            "minute field `?`: `?` is only allowed in day-of-month and day-of-week",
        ),
        (
            "0 0 L * * *",
            "hour field `L`: `L` is only allowed in day-of-month and day-of-week",
        ),
        ("", "empty schedule"),
        ("   ", "empty schedule"),
        (
            "0 0 0 32 * *",
            "day-of-month field `32`: 32 is out of range 1-31",
        ),
        ("0 0 0 * 13 *", "month field `13`: 13 is out of range 1-12"),
        (
            "0 0 0 * * 8",
            "day-of-week field `8`: 8 is out of range 0-7",
        ),
        ("0 0 0 * * 5#6", "occurrence must be 1-5"),
        ("0 0 0 * FOO *", "month field `FOO`: `FOO` is not a number"),
        ("*/0 * * * * *", "step `0` must be a number of at least 1"),
        ("0 0 0 15C * *", "`C` (calendar) is not supported"),
        ("@often", "unknown nickname"),
    ] {
        match Schedule::parse(spec) {
            Ok(_) => panic!("{spec:?} was accepted"),
            Err(err) => assert!(err.contains(needle), "{spec:?}: {err:?} lacks {needle:?}"),
        }
    }
}
