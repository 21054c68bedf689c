//! The package file server under `/packages/`, replacing nginx + vsftpd: HTTP Basic auth on
//! every request against an htpasswd file, nginx-style autoindex pages, streamed downloads
//! with `Range`, and atomic uploads with `PUT`. Mounted by the caller with
//! `Router::nest_service("/packages", packages::router(&config)?)`: unlike `Router::nest`
//! (whose nested routes never match `/packages/`, the root's own index), `nest_service` routes
//! `/packages`, `/packages/` and everything below. Decisions about trailing slashes use
//! [`OriginalUri`], which keeps the path as the client sent it.
//!
//! Layout:
//! - [`path`]: request path → file under the root, refusing every way out (`..`, `%2f`, symlinks).
//! - [`htpasswd`]: the user file, re-read when it changes, and a 60 s cache of good checks.
//! - [`hash`]: bcrypt, Apache apr1 MD5 and `{SHA}` verification.
//! - [`index`]: the autoindex page.
//! - [`serve`]: `GET`/`HEAD` of directories (redirect, index) and files (tower-http `ServeFile`).
//! - [`upload`]: `PUT` through a temporary file and an atomic rename.
//!
//! Request bodies are streamed and limited here by `max_upload`, so this router must not sit
//! under a global `RequestBodyLimitLayer` smaller than that.

pub mod hash;
pub mod htpasswd;
pub mod index;
pub mod path;
pub mod serve;
pub mod upload;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::config::PackagesConfig;
use htpasswd::Htpasswd;

/// The methods served; anything else gets 405 with this `Allow`.
const ALLOW: &str = "GET, HEAD, PUT";

/// Shared state of the package router.
pub struct Packages {
    /// Canonical root directory: every served path must start with it.
    root: PathBuf,
    users: Htpasswd,
    /// The `WWW-Authenticate` value sent with every 401.
    challenge: HeaderValue,
    max_upload: u64,
}

/// Builds the package router, with its own state, to be mounted with
/// `nest_service("/packages", …)`. Fails when the root is not a directory or the htpasswd file
/// cannot be read.
pub fn router(config: &PackagesConfig) -> anyhow::Result<Router> {
    let root = std::fs::canonicalize(&config.root)
        .with_context(|| format!("package root {}", config.root.display()))?;
    anyhow::ensure!(
        root.is_dir(),
        "package root {} is not a directory",
        root.display()
    );
    let users = Htpasswd::open(&config.htpasswd)?;
    let realm = config.realm.replace('\\', "\\\\").replace('"', "\\\"");
    let challenge = HeaderValue::try_from(format!("Basic realm=\"{realm}\", charset=\"UTF-8\""))
        .context("packages.realm cannot be sent in a header")?;
    let state = Arc::new(Packages {
        root,
        users,
        challenge,
        max_upload: config.max_upload,
    });
    Ok(Router::new()
        .route("/", any(dispatch))
        .route("/{*path}", any(dispatch))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state))
}

/// Sends each authenticated request to its method's handler.
async fn dispatch(
    State(packages): State<Arc<Packages>>,
    OriginalUri(original): OriginalUri,
    req: Request,
) -> Response {
    match *req.method() {
        Method::GET | Method::HEAD => serve::get(&packages, &original, req).await,
        Method::PUT => upload::put(&packages, &original, req).await,
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, ALLOW)],
            "405 Method Not Allowed\n",
        )
            .into_response(),
    }
}

/// HTTP Basic auth on every request: 401 with the realm's challenge unless the credentials
/// match the htpasswd file.
async fn authenticate(State(packages): State<Arc<Packages>>, req: Request, next: Next) -> Response {
    if let Some((user, password)) = credentials(req.headers()) {
        match packages.users.check(&user, &password).await {
            Ok(true) => return next.run(req).await,
            Ok(false) => {
                tracing::info!(user, uri = %req.uri(), "package server: wrong password or unknown user")
            }
            Err(e) => {
                tracing::error!(error = %e, "package server: cannot read the htpasswd file");
                return status(StatusCode::INTERNAL_SERVER_ERROR);
            }
        }
    }
    let mut response = status(StatusCode::UNAUTHORIZED);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, packages.challenge.clone());
    response
}

/// The user and password of an `Authorization: Basic` header (UTF-8, as the challenge asks).
fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// A response whose body is just the status line, like nginx's error pages (none for 204).
fn status(code: StatusCode) -> Response {
    if code == StatusCode::NO_CONTENT {
        return code.into_response();
    }
    let text = format!(
        "{} {}\n",
        code.as_u16(),
        code.canonical_reason().unwrap_or("")
    );
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_basic_credentials() {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode("alice:pa:ss wörd"));
        headers.insert(header::AUTHORIZATION, HeaderValue::try_from(value).unwrap());
        assert_eq!(
            credentials(&headers),
            Some(("alice".into(), "pa:ss wörd".into()))
        );
        for bad in ["Bearer abc", "Basic !!!", "Basic", "Basic YWxpY2U="] {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(bad));
            assert_eq!(credentials(&headers), None, "{bad}");
        }
    }
}
