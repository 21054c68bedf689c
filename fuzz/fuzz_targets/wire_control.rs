//! Fuzzes nodus's control socket messages (`wire::control`): the [`Request`] nodus reads from
//! a client and the [`Response`] nodusctl reads back. Never a panic, and every parsed message
//! survives serialise → parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use platform_fuzz::json_round_trip;
use wire::control::{Request, Response};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(request) = serde_json::from_str::<Request>(text) {
        json_round_trip(&request);
    }
    if let Ok(response) = serde_json::from_str::<Response>(text) {
        json_round_trip(&response);
    }
});
