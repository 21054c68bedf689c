//! Fuzzes the body of `POST /api/v1/commands`: Polaris's JSON extractor and `validate`.
//! Never a panic; a refused body is a 4xx with a message; an accepted one becomes the stored
//! spec that the dispatcher parses as the agent's `wire::agent::Request`, fields unchanged.
#![no_main]

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{Request, header};
use libfuzzer_sys::fuzz_target;
use polaris::api::commands::{CommandRequest, validate};
use polaris::error::ApiJson;

fuzz_target!(|data: &[u8]| {
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/commands")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(data.to_vec()))
        .expect("a request made here");
    let parsed =
        platform_fuzz::runtime().block_on(ApiJson::<CommandRequest>::from_request(request, &()));
    let mut body = match parsed {
        Ok(ApiJson(body)) => body,
        Err(e) => {
            assert!(e.status.is_client_error(), "{} for a bad body", e.status);
            assert!(!e.message.is_empty());
            return;
        }
    };
    if let Err(e) = validate(&body) {
        assert!(e.status.is_client_error() && !e.message.is_empty());
        return;
    }
    // As `create` stores it, and as the dispatcher reads it back.
    let id = body.id.take().unwrap_or_else(|| "fuzz-id".to_string());
    body.id = Some(id.clone());
    let spec = serde_json::to_string(&body).expect("an accepted request serialises");
    let sent: wire::agent::Request = serde_json::from_str(&spec)
        .unwrap_or_else(|e| panic!("stored spec is not an agent request: {e}\n{spec}"));
    assert_eq!(sent.id, id);
    assert_eq!(sent.method, body.method);
    assert_eq!(sent.cmd, body.cmd);
    assert_eq!(sent.timeout, body.timeout);
    assert_eq!(sent.user, body.user);
    assert_eq!(sent.group, body.group);
    assert_eq!(sent.args, body.args);
    for (key, value) in &body.parameters {
        assert_eq!(sent.extra.get(key), Some(value), "parameter `{key}` kept");
    }
});
