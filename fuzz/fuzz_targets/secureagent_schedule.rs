//! Fuzzes secureagent's `schedule` (its configuration: `every <N><s|m|h|d>` or a cron line):
//! parsing never panics, and the next times only move forward.
#![no_main]

use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use secureagent::schedule::When;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(when) = When::parse(text) else {
        return;
    };
    let mut t: DateTime<Utc> = Utc
        .with_ymd_and_hms(2024, 2, 28, 23, 59, 58)
        .single()
        .expect("a valid start time");
    for _ in 0..4 {
        match when.next_after(t) {
            Some(next) => {
                assert!(next > t, "{text}: {next} is not after {t}");
                t = next;
            }
            None => break,
        }
    }
});
