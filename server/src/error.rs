//! API errors: every failure answers JSON `{"errcode": <retcode>, "message": "..."}` with a
//! fitting HTTP status, so agents and scripts can always parse the body. [`ApiJson`] is the
//! JSON extractor that turns malformed bodies into such errors instead of axum's plain text.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wire::retcode;

use crate::db::DbError;
use crate::limits::excerpt;

/// Most names an error message lists (then "and N more").
const NAMES_MAX: usize = 20;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Platform retcode (see `wire::retcode`).
    pub errcode: u32,
    /// What went wrong.
    pub message: String,
}

/// The JSON body of an error.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Platform retcode, never 0.
    pub errcode: u32,
    /// What went wrong.
    pub message: String,
}

impl ApiError {
    /// An error with status, retcode and message.
    pub fn new(status: StatusCode, errcode: u32, message: impl Into<String>) -> Self {
        ApiError {
            status,
            errcode,
            message: message.into(),
        }
    }

    /// 400 "Invalid params: <why>" (3021).
    pub fn invalid(why: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            retcode::INVALID_PARAMS,
            format!("Invalid params: {why}"),
        )
    }

    /// 404 with the given retcode.
    pub fn not_found(errcode: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, errcode, message)
    }

    /// 401 (3031), with a bearer challenge.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, retcode::UNAUTHORIZED, message)
    }

    /// 403 "Forbidden: <why>" (3034): authenticated, but not allowed this.
    pub fn forbidden(why: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            retcode::FORBIDDEN,
            format!("Forbidden: {why}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody {
            errcode: self.errcode,
            message: self.message,
        });
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Bearer realm=\"polaris\""),
            );
        }
        response
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::UnknownJob(id) => Self::not_found(
                retcode::NO_SUCH_JOB,
                format!("No such job: {}", excerpt(&id)),
            ),
            DbError::UnknownHosts(hosts) => {
                let mut names: Vec<String> =
                    hosts.iter().take(NAMES_MAX).map(|h| excerpt(h)).collect();
                if hosts.len() > NAMES_MAX {
                    names.push(format!("and {} more", hosts.len() - NAMES_MAX));
                }
                Self::not_found(
                    retcode::NO_SUCH_HOST,
                    format!("No such host: {}", names.join(", ")),
                )
            }
            DbError::Invalid(why) => Self::invalid(why),
            DbError::Conflict(why) => Self::new(
                StatusCode::CONFLICT,
                retcode::INVALID_PARAMS,
                format!("Invalid params: {why}"),
            ),
            DbError::Unauthorized(why) => Self::unauthorized(format!("Unauthorized: {why}")),
            DbError::Forbidden(why) => Self::forbidden(why),
            other => {
                // The detail (SQL, addresses, constraint names) stays in the log.
                tracing::error!("{other}");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    retcode::INTERNAL,
                    "Internal error: the database failed; retry later",
                )
            }
        }
    }
}

/// `Json<T>` whose rejections are [`ApiError`]s: 400/3021 for syntax, missing fields and wrong
/// types (naming the field), 413/3032 for bodies over the limit, 415 for a wrong content type.
/// Integers written with a zero fraction (`5.0`, the same number in JSON) are read as integers.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_body(req, state, 0).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON request's body, unparsed: 415 for a wrong content type, 413/3032 for a body over
/// the route's limit. With `zstd_limit` above 0 a body may come compressed
/// (`Content-Encoding: zstd`), and is decoded to at most that many bytes (413/3032 past it,
/// 400/3021 when it is not zstd); any other content coding is 415.
pub async fn json_body<S: Send + Sync>(
    req: Request,
    state: &S,
    zstd_limit: usize,
) -> Result<Bytes, ApiError> {
    if !crate::extract::json_content_type(req.headers()) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            retcode::INVALID_PARAMS,
            "Invalid params: send the body as Content-Type: application/json",
        ));
    }
    let zstd = match req.headers().get(header::CONTENT_ENCODING) {
        None => false,
        Some(coding) => match coding.to_str().map(str::trim) {
            Ok(c) if c.eq_ignore_ascii_case("identity") => false,
            Ok(c) if c.eq_ignore_ascii_case("zstd") && zstd_limit > 0 => true,
            _ => {
                let taken = if zstd_limit > 0 {
                    "zstd or none"
                } else {
                    "none"
                };
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    retcode::INVALID_PARAMS,
                    format!(
                        "Invalid params: Content-Encoding `{}` is not taken here: {taken}",
                        excerpt(&String::from_utf8_lossy(coding.as_bytes()))
                    ),
                ));
            }
        },
    };
    let body =
        Bytes::from_request(req, state)
            .await
            .map_err(|rejection| match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => too_large(),
                _ => ApiError::invalid(rejection.body_text()),
            })?;
    if zstd {
        unzstd(&body, zstd_limit).map(Bytes::from)
    } else {
        Ok(body)
    }
}

/// The largest zstd window a body may need (`2^23`: 8 MiB, what zstd's levels up to 19 use on
/// large inputs): a frame asking for more is refused instead of making the server allocate it.
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// `body` (zstd frames, one after the other) decoded to at most `limit` bytes.
pub fn unzstd(body: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    use std::io::Read as _;
    let not_zstd = |e: std::io::Error| {
        ApiError::invalid(format!(
            "the body is not zstd (Content-Encoding: zstd): {}",
            excerpt(&e.to_string())
        ))
    };
    let mut decoder = zstd::stream::read::Decoder::with_buffer(body).map_err(not_zstd)?;
    decoder
        .window_log_max(ZSTD_WINDOW_LOG_MAX)
        .map_err(not_zstd)?;
    // Room for what log batches usually decode to (taken from the system as it is written
    // to): growing by copies showed in the profile of the ingest.
    let mut out = Vec::with_capacity(body.len().saturating_mul(32).min(limit));
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(not_zstd)?;
    if out.len() > limit {
        return Err(too_large());
    }
    Ok(out)
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        retcode::PAYLOAD_TOO_LARGE,
        "Payload too large: the request body is over the server's limit",
    )
}

/// A JSON body read as [`ApiJson`] reads it: 400/3021 naming the field that is wrong.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Parsed plainly first: axum's `Json` tracks the path of every value it reads (for its
    // error message), which showed in the profile of the metrics ingest (P4). Only a body
    // that fails is parsed again through it, for the message.
    if let Ok(value) = serde_json::from_slice::<T>(bytes) {
        return Ok(value);
    }
    match Json::<T>::from_bytes(bytes) {
        Ok(Json(value)) => Ok(value),
        Err(rejection) => crate::extract::integral_floats(bytes)
            .ok_or_else(|| ApiError::invalid(rejection.body_text())),
    }
}
