//! Enrollment and host identity: `POST /agent/enroll` (token + CSR → client certificate),
//! `POST /agent/renew` (mutual TLS + CSR → a new certificate), and for admins
//! `POST /api/v1/enrollment-tokens` and `POST /api/v1/hosts/{hostname}/revoke`. Tokens are
//! random, shown once, and kept only as SHA-256 hashes.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use wire::enroll::{EnrollReply, EnrollRequest, MAX_CSR, RenewRequest};

use super::identity::AgentJson;
use crate::db::{Db, DbError, NewCert};
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::state::{AppState, Pki};

/// Longest host name, as the seed's `hostname CHAR(256)`.
const MAX_HOSTNAME: usize = 256;

/// `POST /api/v1/enrollment-tokens`: what the token allows.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// How many hosts may enroll with it (default 1).
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 100000)]
    pub uses: u32,
    /// Seconds until it expires (default one day).
    #[serde(default = "one_day")]
    #[schema(minimum = 60, maximum = 31536000)]
    pub expires_in: u64,
    /// Region the enrolled hosts are put in.
    #[schema(min_length = 1, max_length = 64)]
    pub region: Option<String>,
}

fn one() -> u32 {
    1
}
fn one_day() -> u64 {
    86_400
}

/// A new enrollment token (shown only here).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenReply {
    /// The token, for the BootAgent's `enroll_token`.
    pub token: String,
    /// Enrollments it allows.
    pub uses: u32,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// Region of the hosts that enroll with it.
    pub region: Option<String>,
}

/// A revocation's outcome.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RevokeReply {
    /// The host.
    pub hostname: String,
    /// Certificates revoked now.
    pub revoked: u64,
}

fn sha256_hex(text: &str) -> String {
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks a host name that will name a certificate and a host row.
pub fn check_hostname(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_HOSTNAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "hostname must be 1 to {MAX_HOSTNAME} characters of letters, digits, '-', '.', '_', ':'"
        )))
    }
}

/// Creates a token; shared by the admin API and `polaris enroll`.
pub async fn new_token(db: &Db, request: &TokenRequest) -> Result<TokenReply, ApiError> {
    if !(1..=100_000).contains(&request.uses) {
        return Err(ApiError::invalid("uses must be 1 to 100000"));
    }
    if !(60..=31_536_000).contains(&request.expires_in) {
        return Err(ApiError::invalid(
            "expires_in must be 60 to 31536000 seconds",
        ));
    }
    if let Some(region) = &request.region
        && (region.is_empty() || region.len() > 64)
    {
        return Err(ApiError::invalid("region must be 1 to 64 characters"));
    }
    let token = format!(
        "pet_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let expires_at = chrono::Utc::now().timestamp() + request.expires_in as i64;
    db.create_enrollment_token(
        &sha256_hex(&token),
        request.region.as_deref(),
        i64::from(request.uses),
        expires_at,
    )
    .await?;
    Ok(TokenReply {
        token,
        uses: request.uses,
        expires_at,
        region: request.region.clone(),
    })
}

fn pki(state: &AppState) -> Result<&Pki, ApiError> {
    state.pki.as_deref().ok_or_else(|| {
        ApiError::forbidden("this server runs without [tls]: it has no CA and enrolls no host")
    })
}

/// Why a certificate is issued, and what allows it.
enum Issue {
    /// A first enrollment with the token of this SHA-256.
    Enroll { token_hash: String },
    /// A renewal by the holder of the certificate with this serial.
    Renew { serial: String },
}

/// Signs `csr` for `hostname` and records the certificate (the token used, or the renewal
/// checked) before the answer goes out.
async fn issue(
    state: &AppState,
    csr: &str,
    hostname: String,
    why: Issue,
) -> Result<Json<EnrollReply>, ApiError> {
    let pki = pki(state)?;
    check_csr(csr)?;
    let issued = pki
        .authority
        .issue_client(csr, &hostname, pki.host_cert_lifetime)
        .map_err(ApiError::invalid)?;
    let cert = NewCert {
        serial: &issued.serial,
        hostname: &hostname,
        not_after: issued.not_after,
    };
    match why {
        Issue::Enroll { token_hash } => state.db.enroll(&token_hash, &cert).await?,
        Issue::Renew { serial } => state.db.renew(&serial, &cert).await?,
    }
    tracing::info!(%hostname, serial = %issued.serial, "Host certificate issued.");
    Ok(Json(EnrollReply {
        errcode: 0,
        hostname,
        cert: issued.pem,
        ca: pki.authority.ca_pem.clone(),
        not_after: issued.not_after,
    }))
}

fn check_csr(csr: &str) -> Result<(), ApiError> {
    if csr.is_empty() || csr.len() > MAX_CSR {
        return Err(ApiError::invalid(format!(
            "csr must be 1 to {MAX_CSR} bytes of PEM"
        )));
    }
    Ok(())
}

/// `POST /agent/enroll`: a host's one-time enrollment.
#[utoipa::path(post, path = "/agent/enroll", tag = "bootagent", request_body = EnrollRequest,
    responses(
        (status = 200, description = "Enrolled: the host's client certificate", body = EnrollReply),
        (status = 400, description = "Malformed request or CSR (3021)", body = ErrorBody),
        (status = 401, description = "Token unknown, used up or expired (3031)", body = ErrorBody),
        (status = 403, description = "The host is enrolled already; revoke it first (3034)", body = ErrorBody)))]
pub async fn enroll(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<EnrollRequest>,
) -> Result<Json<EnrollReply>, ApiError> {
    pki(&state)?;
    check_hostname(&request.hostname)?;
    if request.token.is_empty() || request.token.len() > 128 {
        return Err(ApiError::unauthorized(
            "Unauthorized: no such enrollment token",
        ));
    }
    let token_hash = sha256_hex(&request.token);
    // Nothing is parsed or signed for a client without a usable token.
    if !state.db.token_usable(&token_hash).await? {
        return Err(DbError::Unauthorized(
            "the enrollment token is unknown, used up or expired".into(),
        )
        .into());
    }
    let why = Issue::Enroll { token_hash };
    issue(&state, &request.csr, request.hostname, why).await
}

/// `POST /agent/renew`: a new certificate for the host of the current one.
#[utoipa::path(post, path = "/agent/renew", tag = "bootagent", request_body = RenewRequest,
    security(("mutualTLS" = [])),
    responses(
        (status = 200, description = "A new client certificate", body = EnrollReply),
        (status = 400, description = "Malformed CSR (3021)", body = ErrorBody),
        (status = 401, description = "No client certificate (3031)", body = ErrorBody),
        (status = 403, description = "The host is revoked (3034)", body = ErrorBody)))]
pub async fn renew(
    State(state): State<AppState>,
    AgentJson {
        identity,
        body: request,
    }: AgentJson<RenewRequest>,
) -> Result<Json<EnrollReply>, ApiError> {
    let why = Issue::Renew {
        serial: identity.serial,
    };
    issue(&state, &request.csr, identity.hostname, why).await
}

/// `POST /api/v1/enrollment-tokens`: a new token (shown once).
#[utoipa::path(post, path = "/api/v1/enrollment-tokens", tag = "admin", request_body = TokenRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new token", body = TokenReply),
        (status = 400, description = "Bad limits (3021)", body = ErrorBody),
        (status = 401, description = "No or wrong admin token (3031)", body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Result<Json<TokenReply>, ApiError> {
    Ok(Json(new_token(&state.db, &request).await?))
}

/// `POST /api/v1/hosts/{hostname}/revoke`: the host's certificates stop working now, on every
/// replica; its gearman connection on this replica is closed at once (on others within a
/// heartbeat).
#[utoipa::path(post, path = "/api/v1/hosts/{hostname}/revoke", tag = "admin",
    params(("hostname" = String, Path, description = "The host")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Revoked", body = RevokeReply),
        (status = 401, description = "No or wrong admin token (3031)", body = ErrorBody),
        (status = 404, description = "No certificate was ever issued to that host (203)", body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    Path(hostname): Path<String>,
) -> Result<Json<RevokeReply>, ApiError> {
    let revoked = state.db.revoke_host(&hostname).await?;
    if revoked == 0 && state.db.host(&hostname).await?.is_none() {
        return Err(ApiError::not_found(
            wire::retcode::NO_SUCH_HOST,
            format!("No such host: {}", super::identity::shorten(&hostname)),
        ));
    }
    state.hub.close_host(&hostname);
    tracing::warn!(%hostname, revoked, "Host revoked.");
    Ok(Json(RevokeReply { hostname, revoked }))
}
