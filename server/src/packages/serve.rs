//! `GET` / `HEAD`: a directory without its trailing slash is redirected (301), one with it gets
//! the [`super::index`] page, and a file is streamed by tower-http's `ServeFile` (256 KiB
//! chunks, `Content-Length`, `Last-Modified`, `ETag`, conditional requests, one `Range`).
//! `ServeFile` is only ever given a canonical path that [`super::path`] has checked.

use std::io;
use std::path::PathBuf;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use tower_http::services::ServeFile;

use super::path::{self, Lookup};
use super::{Packages, status};

/// Read size for file bodies: a few of these per download is all the memory a stream holds.
const READ_CHUNK: usize = 256 * 1024;

/// Answers a `GET` or `HEAD`; `original` is the request URI before `nest` stripped its prefix.
pub async fn get(packages: &Packages, original: &Uri, req: Request) -> Response {
    let Some(request_path) = path::parse(req.uri().path()) else {
        tracing::warn!(uri = %original, "refused request path");
        return status(StatusCode::NOT_FOUND);
    };
    let found = match path::resolve(&packages.root, &request_path.segments).await {
        Ok(Lookup::Inside(found)) => found,
        Ok(Lookup::Missing | Lookup::Outside) => return status(StatusCode::NOT_FOUND),
        Err(e) => return io_error(e),
    };
    let meta = match tokio::fs::metadata(&found).await {
        Ok(meta) => meta,
        Err(e) => return io_error(e),
    };
    let trailing_slash = original.path().ends_with('/');
    if meta.is_dir() {
        if !trailing_slash {
            return redirect_to_slash(original);
        }
        return index(packages, found, original, req.method() == Method::HEAD).await;
    }
    if trailing_slash || !meta.is_file() {
        // nginx: a file named like a directory is 404; fifos, sockets and devices are never served.
        return status(StatusCode::NOT_FOUND);
    }
    serve_file(found, req).await
}

/// 301 to the same path with `/` appended (the query kept), as nginx does for directories.
fn redirect_to_slash(original: &Uri) -> Response {
    let location = match original.query() {
        Some(query) => format!("{}/?{query}", original.path()),
        None => format!("{}/", original.path()),
    };
    match HeaderValue::try_from(location) {
        Ok(location) => (
            StatusCode::MOVED_PERMANENTLY,
            [(header::LOCATION, location)],
            "",
        )
            .into_response(),
        Err(_) => status(StatusCode::NOT_FOUND),
    }
}

/// The autoindex page of a directory.
async fn index(packages: &Packages, dir: PathBuf, original: &Uri, head: bool) -> Response {
    let root = packages.root.clone();
    let entries = match tokio::task::spawn_blocking(move || super::index::list(&dir, &root)).await {
        Ok(Ok(entries)) => entries,
        Ok(Err(e)) => return io_error(e),
        Err(e) => {
            tracing::error!(error = %e, "directory listing task failed");
            return status(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let title = percent_decode_str(original.path()).decode_utf8_lossy();
    let page = super::index::render(&title, &entries);
    let length = page.len();
    let body = if head {
        Body::empty()
    } else {
        Body::from(page)
    };
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (header::CONTENT_LENGTH, HeaderValue::from(length)),
    ];
    (headers, body).into_response()
}

/// Streams a checked file. A multi-range request gets the whole file (200), which HTTP allows.
async fn serve_file(path: PathBuf, req: Request) -> Response {
    let mut service = ServeFile::new(&path)
        .with_buf_chunk_size(READ_CHUNK)
        .ignore_multi_range_requests(true);
    match service.try_call(req).await {
        Ok(response) => {
            let mut response = response.map(Body::new);
            add_charset(response.headers_mut());
            response
        }
        Err(e) => io_error(e),
    }
}

/// `charset utf-8;`: nginx adds the charset to text types that have none.
fn add_charset(headers: &mut axum::http::HeaderMap) {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    if value.starts_with("text/")
        && !value.contains("charset")
        && let Ok(with) = HeaderValue::try_from(format!("{value}; charset=utf-8"))
    {
        headers.insert(header::CONTENT_TYPE, with);
    }
}

/// Maps a file system error to a response: 404 for "not there", 403 for permissions, else 500.
fn io_error(e: io::Error) -> Response {
    if path::is_missing(&e) {
        return status(StatusCode::NOT_FOUND);
    }
    if e.kind() == io::ErrorKind::PermissionDenied {
        return status(StatusCode::FORBIDDEN);
    }
    tracing::error!(error = %e, "package server I/O error");
    status(StatusCode::INTERNAL_SERVER_ERROR)
}
