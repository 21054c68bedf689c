//! The database side of host identity (see `common/trust.rs` for the statements): enrollment
//! tokens, issued certificates, revocation.

use super::{Db, DbError, Pool};

/// A certificate the CA just issued, to record.
#[derive(Debug, Clone, Copy)]
pub struct NewCert<'a> {
    /// Its serial, lower-case hex.
    pub serial: &'a str,
    /// The host it names.
    pub hostname: &'a str,
    /// Expiry, Unix seconds.
    pub not_after: i64,
}

impl Db {
    /// Stores an enrollment token by its SHA-256 (hex): `uses` enrollments until `expires_at`
    /// (Unix seconds), hosts put in `region` when given.
    pub async fn create_enrollment_token(
        &self,
        hash: &str,
        region: Option<&str>,
        uses: i64,
        expires_at: i64,
    ) -> Result<(), DbError> {
        dispatch!(self, s => s.create_enrollment_token(hash, region, uses, expires_at).await)
    }

    /// Whether an enrollment token exists, has uses left and has not expired (a cheap check
    /// before any CSR is parsed and signed; [`Db::enroll`] checks again as it uses it).
    pub async fn token_usable(&self, token_hash: &str) -> Result<bool, DbError> {
        dispatch!(self, s => s.token_usable(token_hash).await)
    }

    /// Uses the token once, registers the host (in the token's region) and records its first
    /// certificate, in one transaction. Fails with [`DbError::Unauthorized`] for a token that
    /// is unknown, used up or expired, and [`DbError::Forbidden`] for a host that holds a valid
    /// certificate already (it must be revoked first); nothing changes then.
    pub async fn enroll(&self, token_hash: &str, cert: &NewCert<'_>) -> Result<(), DbError> {
        dispatch!(self, s => s.enroll(token_hash, cert).await)
    }

    /// Records a renewed certificate of a host whose certificate `old_serial` is not revoked.
    pub async fn renew(&self, old_serial: &str, cert: &NewCert<'_>) -> Result<(), DbError> {
        dispatch!(self, s => s.renew(old_serial, cert).await)
    }

    /// Whether the certificate `serial` was issued to `hostname` and is not revoked.
    pub async fn cert_valid(&self, serial: &str, hostname: &str) -> Result<bool, DbError> {
        dispatch!(self, s => s.cert_valid(serial, hostname).await)
    }

    /// Hosts with a certificate revoked at or after `since` (Unix seconds).
    pub async fn revoked_since(&self, since: i64) -> Result<Vec<String>, DbError> {
        dispatch!(self, s => s.revoked_since(since).await)
    }

    /// Revokes every certificate of a host; returns how many.
    pub async fn revoke_host(&self, hostname: &str) -> Result<u64, DbError> {
        dispatch!(self, s => s.revoke_host(hostname).await)
    }
}
