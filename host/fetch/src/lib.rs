//! Package downloads for the agents that install software: the BootAgent (its agents'
//! packages, checked against the job's `SHA256:<hex>`) and gearman (`daemon.*` packages). One
//! implementation opens a URL as a stream, downloads it into a temporary file while hashing
//! it, and unpacks tarballs into a folder. Which folder a package ends up in, and what it
//! must contain, is the caller's business.
//!
//! Layout:
//! - [`fetcher`]: [`Fetcher`] opens http, https, ftp (and, where allowed, local) URLs and
//!   downloads them into a [`Download`] with an optional SHA-256 check; used by both agents.
//! - [`http`]: the ureq agent (rustls, optional CA file) and GET with basic auth.
//! - [`ftp`]: a small passive-mode FTP client streaming one file.
//! - [`url`]: credentials in URLs, percent-decoding, a URL's file name.
//! - [`tarball`]: `.tar.gz`, `.tgz` and `.tar` unpacking.

pub mod fetcher;
pub mod ftp;
pub mod http;
pub mod tarball;
pub mod url;

use std::path::PathBuf;

pub use fetcher::{Body, Download, Fetcher, MAX_BYTES, parse_checksum, sha256_file};

/// A byte count as people read it: `4 GiB`, `64 MiB`, `1000 bytes`.
pub fn size_text(bytes: u64) -> String {
    for (unit, name) in [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    format!("{bytes} bytes")
}
pub use http::{http_agent, http_agent_with_identity, http_config_with_identity};
pub use tarball::Tarball;
pub use url::file_name;

/// Why a download failed. URLs in the messages are shown without their user and password.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A URL, checksum or CA file that cannot be used; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// The connection, the server or the file being read failed.
    #[error("download {url}: {error}")]
    Download {
        /// The URL.
        url: String,
        /// What failed.
        error: std::io::Error,
    },
    /// An HTTP answer other than 2xx (redirects are not followed).
    #[error("download {url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status (shown with its reason, `404 Not Found`).
        status: ureq::http::StatusCode,
    },
    /// The download is larger than the limit ([`MAX_BYTES`], or the caller's).
    #[error("{url} is larger than {} (the limit of this download)", size_text(*.limit))]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The download does not have the expected SHA-256; it has been deleted.
    #[error(
        "checksum mismatch for {url}: expected SHA256:{expected}, got SHA256:{got} ({size} bytes); nothing installed"
    )]
    Mismatch {
        /// The URL.
        url: String,
        /// The expected digest (lower-case hex).
        expected: String,
        /// The digest of what was downloaded.
        got: String,
        /// How many bytes were downloaded.
        size: u64,
    },
    /// A local file or folder could not be created or written.
    #[error("{action} {}: {error}", path.display())]
    Local {
        /// `create` or `write`.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
}
