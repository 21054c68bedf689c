//! Fuzzes the body of `POST /api/v1/commands`: Polaris's JSON extractor and `validate`, which
//! types the command. Never a panic; a refused body is a 4xx with a message (3022 for an
//! unknown method, else 3021); an accepted one becomes the stored spec that the dispatcher
//! reads back, the same typed command, and the frame each host gets parses as that command.
#![no_main]

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{Request, header};
use libfuzzer_sys::fuzz_target;
use polaris::api::commands::{CommandBody, StoredCommand, validate};
use polaris::error::ApiJson;
use wire::agent::ServerMessage;

fuzz_target!(|data: &[u8]| {
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/commands")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(data.to_vec()))
        .expect("a request made here");
    let parsed =
        platform_fuzz::runtime().block_on(ApiJson::<CommandBody>::from_request(request, &()));
    let body = match parsed {
        Ok(ApiJson(body)) => body,
        Err(e) => {
            assert!(e.status.is_client_error(), "{} for a bad body", e.status);
            assert!(!e.message.is_empty());
            return;
        }
    };
    let request = match validate(body) {
        Ok(request) => request,
        Err(e) => {
            assert!(e.status.is_client_error() && !e.message.is_empty());
            assert!(e.errcode == 3021 || e.errcode == 3022, "{}", e.errcode);
            return;
        }
    };
    // As `create` stores it, and as the dispatcher reads it back.
    let stored = StoredCommand {
        hosts: request.hosts.clone(),
        command: request.command.clone(),
    };
    let spec = serde_json::to_string(&stored).expect("an accepted request serialises");
    let back = StoredCommand::parse(&spec)
        .unwrap_or_else(|e| panic!("stored spec does not read back: {e}\n{spec}"));
    assert_eq!(back, stored);
    let frame = serde_json::to_string(&wire::agent::Request {
        id: "fuzz-id".into(),
        command: back.command,
    })
    .expect("a frame");
    match ServerMessage::parse(&frame) {
        Ok(ServerMessage::Request(sent)) => {
            assert_eq!(sent.id, "fuzz-id");
            assert_eq!(sent.command, request.command);
        }
        other => panic!("the host's frame is not the command: {other:?}\n{frame}"),
    }
});
