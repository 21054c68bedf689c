//! Extractors and fallbacks whose refusals are the documented JSON `{errcode, message}` rather
//! than axum's plain text or empty bodies: [`ApiQuery`] (query strings), [`ApiPath`] (path
//! parameters) and [`method_not_allowed`] (405, keeping axum's `Allow` header). Bodies go
//! through [`crate::error::ApiJson`].

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;
use wire::retcode;

use crate::error::ApiError;

/// `Query<T>` whose rejections are 400/3021 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_error(&rejection)),
        }
    }
}

fn query_error(rejection: &QueryRejection) -> ApiError {
    let text = rejection.body_text();
    let why = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(&text);
    ApiError::invalid(format!("query string: {}", excerpt_long(why)))
}

/// `Path<T>` whose rejections are 400/3021 (or 500/3040 for a route that does not fit its
/// handler, a bug of ours).
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(path_error(&rejection)),
        }
    }
}

fn path_error(rejection: &PathRejection) -> ApiError {
    if rejection.status().is_server_error() {
        tracing::error!("path extraction failed: {}", rejection.body_text());
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            retcode::INTERNAL,
            "Internal error",
        );
    }
    ApiError::invalid(format!("path: {}", excerpt_long(&rejection.body_text())))
}

/// The fallback of a route asked with a method it does not have: 405/3036 in JSON (axum adds
/// the `Allow` header listing the methods it has). Mounted with
/// `Router::method_not_allowed_fallback`.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        retcode::METHOD_NOT_ALLOWED,
        "Method not allowed: see the Allow header for this route's methods",
    )
}

/// Whether a request says its body is JSON (`application/json`, or `application/*+json`).
pub fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

/// A body that failed to deserialize read again with every number that has a zero fraction
/// and fits an integer (`5.0`) made an integer: JSON does not tell them apart, serde does.
/// `None` when there is no such number or the body still does not fit.
pub fn integral_floats<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    fn walk(value: &mut Value) -> bool {
        match value {
            Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                // Only where a double holds every integer exactly (|f| <= 2^53): a larger
                // number may have been rounded into range when it was parsed.
                const EXACT: f64 = 9_007_199_254_740_992.0;
                let integer = (f.fract() == 0.0 && f.abs() <= EXACT).then(|| Value::from(f as i64));
                integer.map(|i| *value = i).is_some()
            }
            Value::Array(items) => items.iter_mut().fold(false, |any, v| walk(v) | any),
            Value::Object(map) => map.values_mut().fold(false, |any, v| walk(v) | any),
            _ => false,
        }
    }
    let mut value: Value = serde_json::from_slice(bytes).ok()?;
    if !walk(&mut value) {
        return None;
    }
    serde_json::from_value(value).ok()
}

/// A rejection's text, cut short: it may quote the client's input.
fn excerpt_long(text: &str) -> String {
    // Room for the parameter's name and the reason around one quoted value.
    match text.char_indices().nth(4 * crate::limits::ECHO_MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::get;
    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    struct Params {
        #[allow(dead_code)]
        n: u32,
    }

    /// Serves `router` on a loopback port for one request: (status, `Allow`, body).
    async fn call(router: Router, method: &str, uri: &str) -> (u16, Option<String>, String) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!("{method} {uri} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).await.unwrap();
        let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let allow = head
            .lines()
            .find_map(|l| l.strip_prefix("allow: "))
            .map(str::to_owned);
        (status, allow, body.to_owned())
    }

    fn router() -> Router {
        Router::new()
            .route("/q", get(|ApiQuery(_): ApiQuery<Params>| async { "ok" }))
            .route("/p/{n}", get(|ApiPath(_): ApiPath<u32>| async { "ok" }))
            .method_not_allowed_fallback(method_not_allowed)
    }

    #[test]
    fn integral_floats_are_integers() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Counts {
            a: u32,
            b: i64,
            c: f64,
        }
        let counts: Option<Counts> = integral_floats(br#"{"a": 5.0, "b": -2.0, "c": 1.5}"#);
        assert_eq!(
            counts,
            Some(Counts {
                a: 5,
                b: -2,
                c: 1.5
            })
        );
        assert_eq!(
            integral_floats::<Counts>(br#"{"a": 5.5, "b": 1, "c": 1}"#),
            None
        );
        assert_eq!(
            integral_floats::<Counts>(br#"{"a": 1, "b": 1, "c": 1}"#),
            None
        );
        // Out of range once parsed exactly, though it rounds to i64::MIN as a double.
        let below = br#"{"a": 1.0, "b": -9223372036854775809, "c": 1}"#;
        assert_eq!(integral_floats::<Counts>(below), None);
    }

    #[test]
    fn json_content_types() {
        let mut headers = HeaderMap::new();
        assert!(!json_content_type(&headers));
        for (value, json) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/problem+json", true),
            ("text/plain", false),
            ("application/jsonx", false),
        ] {
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(json_content_type(&headers), json, "{value}");
        }
    }

    #[tokio::test]
    async fn rejections_are_json() {
        let long = "9".repeat(10_000);
        for uri in [
            "/q",
            "/q?n=x",
            &format!("/q?n={long}"),
            "/p/x",
            &format!("/p/{long}"),
        ] {
            let (status, _, body) = call(router(), "GET", uri).await;
            assert_eq!(status, 400, "{uri}");
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["errcode"], 3021, "{uri}");
            let message = body["message"].as_str().unwrap();
            assert!(message.len() < 400, "{uri}: {message}");
        }
        assert_eq!(call(router(), "GET", "/q?n=3").await.0, 200);

        let (status, allow, body) = call(router(), "DELETE", "/q").await;
        assert_eq!(status, 405);
        assert_eq!(allow.as_deref(), Some("GET,HEAD"));
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["errcode"], 3036);
    }
}
