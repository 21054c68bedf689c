//! Fuzzes logagent's hand-written matcher for the nginx/Apache combined presets against the
//! regex it stands in for: where it answers, it finds the regex's spans, or no match when the
//! regex finds none.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use logagent::parse::combined::{Match, matches};
use logagent::parse::pattern::APACHE_COMBINED;
use regex::Regex;

fuzz_target!(|data: &[u8]| {
    static REGEX: OnceLock<Regex> = OnceLock::new();
    let regex = REGEX.get_or_init(|| Regex::new(APACHE_COMBINED).expect("the preset compiles"));
    let text = String::from_utf8_lossy(data);
    match matches(&text) {
        Match::Yes(spans) => {
            let captures = regex.captures(&text).expect("the regex matches too");
            for (group, span) in spans.iter().enumerate() {
                let found = captures.get(group + 1).expect("every group takes part");
                assert_eq!(found.range(), *span, "group {}", group + 1);
            }
        }
        Match::No => assert!(!regex.is_match(&text), "the regex matches"),
        Match::Unsure => {}
    }
});
