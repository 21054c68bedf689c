//! Fuzzes gearman's crontab lines and schedules (`cron.add` args from Polaris or gearctl):
//! parsing never panics, a parsed schedule parses again to the same fire times, and fire times
//! only move forward.
#![no_main]

use chrono::{DateTime, TimeZone, Utc};
use gearman::cron::line::parse_line;
use gearman::cron::schedule::Schedule;
use libfuzzer_sys::fuzz_target;

/// How many successive fire times are checked per schedule.
const STEPS: usize = 4;

fn check_schedule(schedule: &Schedule) {
    let again = Schedule::parse(schedule.as_str()).expect("a parsed schedule parses again");
    assert_eq!(again.as_str(), schedule.as_str());
    let start: DateTime<Utc> = Utc
        .with_ymd_and_hms(2024, 2, 28, 23, 59, 58)
        .single()
        .expect("a valid start time");
    let mut t = start;
    for _ in 0..STEPS {
        let next = schedule.next_after(t);
        assert_eq!(next, again.next_after(t), "same schedule, same fire time");
        match next {
            Some(next) => {
                assert!(
                    next > t,
                    "{} fired at {next}, not after {t}",
                    schedule.as_str()
                );
                t = next;
            }
            None => break,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(schedule) = Schedule::parse(text) {
        check_schedule(&schedule);
    }
    if let Ok(line) = parse_line(text) {
        assert!(!line.user.is_empty() && !line.user.contains(char::is_whitespace));
        assert!(!line.cmd.is_empty(), "a parsed line has a command");
        assert_eq!(line.cmd, line.cmd.trim_end());
        assert!(text.contains(line.cmd.as_str()));
        check_schedule(&line.schedule);
    }
});
