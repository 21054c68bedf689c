//! API errors: every failure answers JSON `{"errcode": <retcode>, "message": "..."}` with a
//! fitting HTTP status, so agents and scripts can always parse the body. [`ApiJson`] is the
//! JSON extractor that turns malformed bodies into such errors instead of axum's plain text.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
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
        let bytes = json_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON request's body, unparsed: 415 for a wrong content type, 413/3032 for a body over
/// the route's limit.
pub async fn json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if !crate::extract::json_content_type(req.headers()) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            retcode::INVALID_PARAMS,
            "Invalid params: send the body as Content-Type: application/json",
        ));
    }
    Bytes::from_request(req, state)
        .await
        .map_err(|rejection| match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                retcode::PAYLOAD_TOO_LARGE,
                "Payload too large: the request body is over the server's limit",
            ),
            _ => ApiError::invalid(rejection.body_text()),
        })
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
