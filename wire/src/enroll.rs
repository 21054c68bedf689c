//! Enrollment (not in the seed; the trust model of architecture.md): a new host's BootAgent
//! sends a one-time [`EnrollRequest`] (an enrollment token and a CSR; its private key never
//! leaves the host) to `POST /agent/enroll` over HTTPS and receives an [`EnrollReply`] with a
//! client certificate naming the host. Before it expires the BootAgent sends a
//! [`RenewRequest`] to `POST /agent/renew` under mutual TLS with the certificate it holds.

use serde::{Deserialize, Serialize};

/// Longest CSR accepted, in bytes of PEM.
pub const MAX_CSR: usize = 8192;

/// `POST /agent/enroll`: a host asks for its identity.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The enrollment token an admin created (`polaris enroll`, `POST /api/v1/enrollment-tokens`).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub token: String,
    /// The host's name (unique in the fleet); the certificate will carry it.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub hostname: String,
    /// A PKCS#10 certificate signing request in PEM, signed by the host's own key.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 8192))]
    pub csr: String,
}

/// `POST /agent/renew`: a host with a valid certificate asks for a new one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    /// A new CSR in PEM (a new key, or the same one).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 8192))]
    pub csr: String,
}

/// The answer to an enrollment or a renewal.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollReply {
    /// 0 = ok.
    pub errcode: u32,
    /// The host's name as the certificate carries it.
    pub hostname: String,
    /// The client certificate, PEM.
    pub cert: String,
    /// The CA certificate Polaris's server and client certificates chain to, PEM.
    pub ca: String,
    /// When the certificate expires, Unix seconds.
    pub not_after: i64,
}
