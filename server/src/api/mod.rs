//! The HTTP API, one file per audience:
//! - [`bootagent`]: the BootAgent protocol (`/agent/status`, `/agent/job/result`), agent-initiated;
//! - [`enroll`]: enrollment and renewal of host certificates, tokens and revocation;
//! - [`identity`]: the host an agent request comes from (its client certificate);
//! - [`admin`]: the admin API under `/api/v1` (bearer token): hosts, boot jobs;
//! - [`commands`]: commands fanned out to gearman agents (`/api/v1/commands`), and
//!   [`command_schema`], the OpenAPI schema of their body (one per method);
//! - [`gearman`]: connected agents and cron runs (`/api/v1/agents`, `.../cron-runs`);
//! - [`metrics`]: the metrics ingest nodus's `http` writer posts to, and the query endpoint;
//! - [`logs`]: the log records `logagent` posts and their queries (a batch read borrowed from
//!   the body in [`log_parse`], its checks in [`log_batch`]);
//! - [`integrity`]: the reports `secureagent` posts, their findings, acknowledgements and
//!   each host's baseline state;
//! - [`inventory`]: where plugins run, per host and per plugin, and plugin problems;
//! - [`catalogue`]: plugin releases (upload, list); [`rollouts`]: plugin rollouts;
//! - [`views`], [`plugin_views`]: the JSON shapes (and OpenAPI schemas) of what they answer,
//!   built from the database's domain types.

pub mod admin;
pub mod bootagent;
pub mod catalogue;
pub mod command_schema;
pub mod commands;
pub mod enroll;
pub mod gearman;
pub mod identity;
pub mod integrity;
pub mod inventory;
pub mod log_batch;
pub mod log_fields;
pub mod log_parse;
pub mod logs;
pub mod metrics;
pub mod plugin_views;
pub mod rollouts;
pub mod views;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ApiError;
use crate::state::AppState;

/// Middleware: requires `Authorization: Bearer <admin_token>`.
pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    match given {
        Some(token) if constant_time_eq(token.as_bytes(), state.config.admin_token.as_bytes()) => {
            Ok(next.run(request).await)
        }
        Some(_) => Err(ApiError::unauthorized("Unauthorized: wrong bearer token")),
        None => Err(ApiError::unauthorized(
            "Unauthorized: send Authorization: Bearer <admin_token>",
        )),
    }
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is case-insensitive
/// (RFC 9110 §11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compares secrets without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn compares_tokens() {
        assert!(super::constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!super::constant_time_eq(b"secret-token", b"secret-tokeN"));
        assert!(!super::constant_time_eq(b"secret", b"secret-token"));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["Bearer tok", "bearer tok", "BEARER  tok ", " bEaReR tok"] {
            assert_eq!(super::bearer(value), Some("tok"), "{value}");
        }
        for value in ["Basic tok", "Bearertok", "tok", ""] {
            assert_eq!(super::bearer(value), None, "{value}");
        }
    }
}
