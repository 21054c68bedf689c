//! The database side of host identity (see `common/trust.rs` for the statements): enrollment
//! tokens, issued certificates, revocation.

use super::DbFuture;

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

/// Host identity: enrollment tokens, issued certificates, revocation (implemented once for
/// every backend in `common/trust.rs`).
pub trait TrustStore: Send + Sync {
    /// Stores an enrollment token by its SHA-256 (hex): `uses` enrollments until `expires_at`
    /// (Unix seconds), hosts put in `region` when given.
    fn create_enrollment_token<'a>(
        &'a self,
        hash: &'a str,
        region: Option<&'a str>,
        uses: i64,
        expires_at: i64,
    ) -> DbFuture<'a, ()>;

    /// Whether an enrollment token exists, has uses left and has not expired (a cheap check
    /// before any CSR is parsed and signed; [`Db::enroll`] checks again as it uses it).
    fn token_usable<'a>(&'a self, token_hash: &'a str) -> DbFuture<'a, bool>;

    /// Uses the token once, registers the host (in the token's region) and records its first
    /// certificate, in one transaction. Fails with [`DbError::Unauthorized`] for a token that
    /// is unknown, used up or expired, and [`DbError::Forbidden`] for a host that holds a valid
    /// certificate already (it must be revoked first); nothing changes then.
    fn enroll<'a>(&'a self, token_hash: &'a str, cert: &'a NewCert<'a>) -> DbFuture<'a, ()>;

    /// Records a renewed certificate of a host whose certificate `old_serial` is not revoked.
    fn renew<'a>(&'a self, old_serial: &'a str, cert: &'a NewCert<'a>) -> DbFuture<'a, ()>;

    /// Whether the certificate `serial` was issued to `hostname` and is not revoked.
    fn cert_valid<'a>(&'a self, serial: &'a str, hostname: &'a str) -> DbFuture<'a, bool>;

    /// Hosts with a certificate revoked at or after `since` (Unix seconds).
    fn revoked_since<'a>(&'a self, since: i64) -> DbFuture<'a, Vec<String>>;

    /// Revokes every certificate of a host; returns how many.
    fn revoke_host<'a>(&'a self, hostname: &'a str) -> DbFuture<'a, u64>;
}
