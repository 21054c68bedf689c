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
//! - [`htpasswd`]: the user file, re-read when it changes, and a 60 s cache of good checks;
//!   unknown users cost a hash check like known ones.
//! - [`throttle`]: failed logins per client address (429 past `login_failures` a window).
//! - [`hash`]: bcrypt, Apache apr1 MD5 and `{SHA}` verification.
//! - [`index`]: the autoindex page.
//! - [`serve`]: `GET`/`HEAD` of directories (redirect, index) and files (tower-http `ServeFile`).
//! - [`upload`]: `PUT` through a temporary file and an atomic rename.
//!
//! Rights: every user of the htpasswd file may download (`GET`, `HEAD`); only those listed in
//! `packages.uploaders` may upload (`PUT`), others get 403 (errcode 3034).
//!
//! Request bodies are streamed and limited here by `max_upload`, so this router must not sit
//! under a global `RequestBodyLimitLayer` smaller than that.

pub mod hash;
pub mod htpasswd;
pub mod index;
pub mod path;
pub mod serve;
pub mod throttle;
pub mod upload;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::extract::{ConnectInfo, OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::config::PackagesConfig;
use crate::error::ApiError;
use htpasswd::Htpasswd;
use throttle::Throttle;

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
    /// Users who may `PUT`.
    uploaders: HashSet<String>,
    /// Failed logins per client address.
    throttle: Throttle,
}

/// The user a request authenticated as (a request extension set by [`authenticate`]).
#[derive(Clone)]
struct User(String);

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
        uploaders: config.uploaders.iter().cloned().collect(),
        throttle: Throttle::new(
            config.login_failures,
            Duration::from_secs(config.login_window),
        ),
    });
    Ok(Router::new()
        .route("/", any(by_method))
        .route("/{*path}", any(by_method))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state))
}

/// Sends each authenticated request to its method's handler.
async fn by_method(
    State(packages): State<Arc<Packages>>,
    OriginalUri(original): OriginalUri,
    req: Request,
) -> Response {
    match *req.method() {
        Method::GET | Method::HEAD => serve::get(&packages, &original, req).await,
        Method::PUT => {
            let user = req.extensions().get::<User>().map(|u| u.0.as_str());
            if !user.is_some_and(|u| packages.uploaders.contains(u)) {
                tracing::info!(user, uri = %original, "package server: upload by a download-only user refused");
                return ApiError::forbidden(
                    "this user may download but not upload (see packages.uploaders)",
                )
                .into_response();
            }
            upload::put(&packages, &original, req).await
        }
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, ALLOW)],
            "405 Method Not Allowed\n",
        )
            .into_response(),
    }
}

/// HTTP Basic auth on every request: 401 with the realm's challenge unless the credentials
/// match the htpasswd file; 429 for an address past its failed logins (checked first).
async fn authenticate(
    State(packages): State<Arc<Packages>>,
    mut req: Request,
    next: Next,
) -> Response {
    // Without the connection's address (a server not started with it), all clients share one
    // count.
    let address = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    if let Some(wait) = packages.throttle.refused(address, Instant::now()) {
        return too_many(wait);
    }
    if let Some((user, password)) = credentials(req.headers()) {
        match packages.users.check(&user, &password).await {
            Ok(true) => {
                req.extensions_mut().insert(User(user));
                return next.run(req).await;
            }
            Ok(false) => {
                packages.throttle.failed(address, Instant::now());
                tracing::info!(user, %address, uri = %req.uri(), "package server: wrong password or unknown user")
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

/// 429 (errcode 3035) with `Retry-After`: too many failed logins from this address.
fn too_many(wait: Duration) -> Response {
    let seconds = throttle::retry_after(wait);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        wire::retcode::TOO_MANY_REQUESTS,
        format!(
            "Too many requests: too many failed logins from this address; retry in {seconds} s"
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
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
