//! Fuzzes the gearman ⇄ Polaris frames (`wire::agent`): [`AgentMessage`] as Polaris reads it,
//! [`ServerMessage`] as gearman reads it (a typed command, or a refusal keeping the frame), and
//! the bare typed [`Request`] gearman's local socket takes from gearctl. Never a panic, and every parsed frame survives serialise → parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use platform_fuzz::json_round_trip;
use wire::agent::{AgentMessage, Request, ServerMessage};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(message) = serde_json::from_str::<AgentMessage>(text) {
        json_round_trip(&message);
    }
    if let Ok(request) = serde_json::from_str::<Request>(text) {
        json_round_trip(&request);
    }
    if let Ok(message) = ServerMessage::parse(text) {
        let frame = message.to_text();
        let again = ServerMessage::parse(&frame)
            .unwrap_or_else(|e| panic!("own frame does not parse: {e}\n{frame}"));
        assert_eq!(again.to_text(), frame, "frame is not stable");
        let third = ServerMessage::parse(&again.to_text()).expect("stable frame parses");
        assert_eq!(again, third);
    }
});
