//! Who an agent request comes from: the host named by the verified client certificate of its
//! TLS connection (never a field of the body), checked against the database on every request,
//! so a revoked host is refused at once on every replica. [`AgentJson`] reads the JSON body
//! first and refuses after: a connection whose request body was left unread would be closed
//! under the client, which then fails its next request on it.

use std::sync::Arc;

use axum::extract::{FromRequest, Request};

use crate::error::ApiError;
use crate::listener::ClientCert;
use crate::pki::PeerCert;
use crate::state::AppState;

/// The authenticated host of an agent request.
#[derive(Debug, Clone)]
pub struct AgentIdentity {
    /// The host name the certificate carries.
    pub hostname: String,
    /// The certificate's serial.
    pub serial: String,
}

impl AgentIdentity {
    /// Refuses a body that speaks for another host than the certificate names.
    pub fn must_be(&self, claimed: &str, what: &str) -> Result<(), ApiError> {
        if claimed == self.hostname {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "the client certificate names host `{}`, the {what} speaks for `{}`",
                self.hostname,
                shorten(claimed)
            )))
        }
    }
}

/// At most 64 characters of text from a client, for error messages.
pub fn shorten(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

impl AgentIdentity {
    /// The host of a verified certificate, if it is not revoked.
    async fn verify(cert: Option<Arc<PeerCert>>, state: &AppState) -> Result<Self, ApiError> {
        let Some(cert) = cert else {
            return Err(ApiError::unauthorized(
                "Unauthorized: agent requests need the host's client certificate \
                 (mutual TLS with the certificate from enrollment)",
            ));
        };
        if !state.db.cert_valid(&cert.serial, &cert.hostname).await? {
            return Err(ApiError::forbidden(format!(
                "the certificate of host `{}` is revoked or was never issued here",
                cert.hostname
            )));
        }
        Ok(AgentIdentity {
            hostname: cert.hostname.clone(),
            serial: cert.serial.clone(),
        })
    }
}

/// An agent request's JSON body and the host it comes from. A missing or revoked certificate
/// is refused (401/403) before any complaint about the body, but only once the body is read.
pub struct AgentJson<T> {
    /// The authenticated host.
    pub identity: AgentIdentity,
    /// The body.
    pub body: T,
}

impl<T> FromRequest<AppState> for AgentJson<T>
where
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let AgentBody { identity, body } = AgentBody::<0>::from_request(request, state).await?;
        let body = crate::error::parse_json(&body)?;
        Ok(AgentJson { identity, body })
    }
}

/// An agent request's JSON body, unparsed (for a reader that borrows from it), and the host it
/// comes from; refused as [`AgentJson`] refuses. A route that takes compressed bodies names
/// the most bytes one may decode to (`ZSTD_LIMIT`, see [`crate::error::json_body`]); 0, the
/// default, takes plain bodies only.
pub struct AgentBody<const ZSTD_LIMIT: usize = 0> {
    /// The authenticated host.
    pub identity: AgentIdentity,
    /// The body (a JSON content type, within the route's limit).
    pub body: axum::body::Bytes,
}

impl<const ZSTD_LIMIT: usize> FromRequest<AppState> for AgentBody<ZSTD_LIMIT> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let cert = request
            .extensions()
            .get::<ClientCert>()
            .and_then(|cert| cert.0.clone());
        let body = crate::error::json_body(request, state, ZSTD_LIMIT).await;
        let identity = AgentIdentity::verify(cert, state).await?;
        Ok(AgentBody {
            identity,
            body: body?,
        })
    }
}
