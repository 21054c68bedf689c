//! Who an agent request comes from: the host named by the verified client certificate of its
//! TLS connection (never a field of the body), checked against the database on every request,
//! so a revoked host is refused at once on every replica.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::listener::ClientCert;
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

impl FromRequestParts<AppState> for AgentIdentity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let cert = parts
            .extensions
            .get::<ClientCert>()
            .and_then(|cert| cert.0.clone());
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
