//! `PUT`: the body is streamed to a hidden temporary file in the target's directory, fsynced,
//! and renamed over the target, so a reader sees the old file or the whole new one, never half.
//! The parent directory must already exist (409 otherwise, as nginx's `dav_methods PUT` with
//! `create_full_put_path off`): directories are made by the operator, so a typo in an upload
//! URL cannot scatter new directories. Too large (`max_upload`) → 413; nothing is left behind
//! by a refused, oversized or interrupted upload.

use std::future::poll_fn;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use axum::body::{Body, HttpBody as _};
use axum::extract::Request;
use axum::http::{StatusCode, Uri, header};
use axum::response::Response;
use tokio::io::{AsyncWriteExt as _, BufWriter};

use super::path::{self, Lookup};
use super::{Packages, status};

/// Write buffer between the request body and the file.
const WRITE_BUFFER: usize = 256 * 1024;

/// Answers a `PUT`: 201 Created for a new file, 204 No Content for a replaced one.
pub async fn put(packages: &Packages, original: &Uri, req: Request) -> Response {
    let Some(request_path) = path::parse(req.uri().path()) else {
        tracing::warn!(uri = %original, "refused upload path");
        return status(StatusCode::NOT_FOUND);
    };
    let Some((name, parent)) = request_path.segments.split_last() else {
        return status(StatusCode::CONFLICT); // the root itself
    };
    if original.path().ends_with('/') {
        return status(StatusCode::CONFLICT); // a directory URL
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > packages.max_upload) {
        return status(StatusCode::PAYLOAD_TOO_LARGE);
    }

    let dir = match path::resolve(&packages.root, parent).await {
        Ok(Lookup::Inside(dir)) => dir,
        Ok(Lookup::Missing) => return status(StatusCode::CONFLICT),
        Ok(Lookup::Outside) => return status(StatusCode::NOT_FOUND),
        Err(e) => return io_error(&e),
    };
    let target = dir.join(std::ffi::OsStr::from_bytes(name));
    // `symlink_metadata`: a symlink at the target is replaced, never written through.
    let existed = match tokio::fs::symlink_metadata(&target).await {
        Ok(meta) if meta.is_dir() => return status(StatusCode::CONFLICT),
        Ok(_) => true,
        Err(e) if path::is_missing(&e) => {
            if !tokio::fs::metadata(&dir).await.is_ok_and(|m| m.is_dir()) {
                return status(StatusCode::CONFLICT); // the parent is a file
            }
            false
        }
        Err(e) => return io_error(&e),
    };

    let mut temp = TempFile::new(&dir);
    match receive(req.into_body(), &temp.path, packages.max_upload).await {
        Ok(()) => {}
        Err(Refusal::TooLarge) => return status(StatusCode::PAYLOAD_TOO_LARGE),
        Err(Refusal::Body(e)) => {
            tracing::warn!(file = %target.display(), error = %e, "upload interrupted, discarded");
            return status(StatusCode::BAD_REQUEST);
        }
        Err(Refusal::Io(e)) => return io_error(&e),
    }
    if let Err(e) = tokio::fs::rename(&temp.path, &target).await {
        return io_error(&e);
    }
    temp.keep();
    sync_dir(dir).await;
    tracing::info!(file = %target.display(), replaced = existed, "package uploaded");
    status(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

/// Why a body was not stored.
enum Refusal {
    /// Past `max_upload`.
    TooLarge,
    /// The client's body broke off (disconnect, short body, bad chunking).
    Body(axum::Error),
    /// Writing the file failed.
    Io(io::Error),
}

/// Streams the body into a new file at `path`, then flushes and fsyncs it.
async fn receive(mut body: Body, path: &Path, max: u64) -> Result<(), Refusal> {
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .await
        .map_err(Refusal::Io)?;
    let mut file = BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut total: u64 = 0;
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(data) = frame.map_err(Refusal::Body)?.into_data() else {
            continue; // trailers
        };
        total = total.saturating_add(data.len() as u64);
        if total > max {
            return Err(Refusal::TooLarge);
        }
        file.write_all(&data).await.map_err(Refusal::Io)?;
    }
    file.flush().await.map_err(Refusal::Io)?;
    file.get_mut().sync_all().await.map_err(Refusal::Io)
}

/// A hidden temporary file next to the target, removed on drop unless kept (also when the
/// request future is dropped because the client went away).
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl TempFile {
    fn new(dir: &Path) -> TempFile {
        let name = format!(".polaris-upload-{}", uuid::Uuid::new_v4().simple());
        TempFile {
            path: dir.join(name),
            keep: false,
        }
    }

    fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove partial upload");
        }
    }
}

/// Fsyncs a directory so the rename survives a crash (best effort).
async fn sync_dir(dir: PathBuf) {
    let synced = tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all()).await;
    if let Ok(Err(e)) = synced {
        tracing::warn!(error = %e, "cannot fsync upload directory");
    }
}

/// Maps a file system error: 403 for permissions, 507 for a full disk, else 500.
fn io_error(e: &io::Error) -> Response {
    match e.kind() {
        io::ErrorKind::PermissionDenied => status(StatusCode::FORBIDDEN),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            status(StatusCode::INSUFFICIENT_STORAGE)
        }
        _ => {
            tracing::error!(error = %e, "package upload I/O error");
            status(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}
