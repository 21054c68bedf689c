//! The plugin catalogue (admin API, bearer token): `POST /api/v1/plugins` uploads a release
//! (a multipart form: the `manifest`, the `.so` as `file`, and its minisign `signature`, which
//! is required when `[plugins]` has a release key), `GET /api/v1/plugins` lists the releases
//! with the hosts running each. An upload is checked whole before anything is written: the
//! manifest's names, the size, that the file is an ELF shared object (Polaris never loads it),
//! the signature; the file then goes onto the package server (`crate::catalogue`) and into the
//! `plugins` table. The same release again with the same bytes is answered with what is stored;
//! with other bytes it is 409: a version, once published, never changes.

use axum::Json;
use axum::extract::State;
use axum::extract::multipart::{Field, Multipart, MultipartError, MultipartRejection};
use axum::http::StatusCode;
use wire::retcode;

use super::plugin_views::ReleaseView;
use crate::catalogue::signature::{self, SIGNATURE_MAX};
use crate::catalogue::{Manifest, StoreError, digest, elf, store_files};
use crate::db::plugins::Release;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Largest manifest accepted.
const MANIFEST_MAX: usize = 16 * 1024;

/// The form of an upload (its OpenAPI schema: the handler reads the parts itself).
#[derive(utoipa::ToSchema)]
#[allow(
    dead_code,
    reason = "a schema only: the parts are read from the multipart body"
)]
pub struct ReleaseUpload {
    /// The manifest, JSON: `{"agent": "nodus", "name": "cpu", "version": "1.0.0", "abi":
    /// "2.0.0", "roles": ["read"]}`.
    #[schema(value_type = String, content_media_type = "application/json")]
    manifest: String,
    /// The plugin, an ELF shared object (at most `plugins.max_size` bytes).
    #[schema(value_type = String, format = Binary, content_media_type = "application/octet-stream")]
    file: Vec<u8>,
    /// Its minisign signature (`minisign -S`, `mkpkg --sign`): required when Polaris has a
    /// release key.
    #[schema(value_type = Option<String>)]
    signature: Option<String>,
}

/// 413: over `plugins.max_size`.
fn too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        retcode::PAYLOAD_TOO_LARGE,
        format!("Payload too large: the plugin file is larger than plugins.max_size = {max} bytes"),
    )
}

fn multipart_error(e: &MultipartError, max: u64) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(max);
    }
    ApiError::invalid(format!("the multipart body: {}", e.body_text()))
}

/// Reads one part, at most `max` bytes (`None` when it is larger).
async fn read_part(
    mut field: Field<'_>,
    max: usize,
    limit: u64,
) -> Result<Option<Vec<u8>>, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| multipart_error(&e, limit))?
    {
        if bytes.len() + chunk.len() > max {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}

/// The parts of an upload.
#[derive(Default)]
struct Parts {
    manifest: Option<Vec<u8>>,
    file: Option<Vec<u8>>,
    signature: Option<Vec<u8>>,
}

async fn read_parts(mut multipart: Multipart, max_size: u64) -> Result<Parts, ApiError> {
    let mut parts = Parts::default();
    let file_max = usize::try_from(max_size).unwrap_or(usize::MAX);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(&e, max_size))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let (slot, max, what) = match name.as_str() {
            "manifest" => (&mut parts.manifest, MANIFEST_MAX, "the manifest"),
            "file" => (&mut parts.file, file_max, "the plugin file"),
            "signature" => (&mut parts.signature, SIGNATURE_MAX, "the signature"),
            other => {
                return Err(ApiError::invalid(format!(
                    "unknown part `{}`: send `manifest`, `file` and `signature`",
                    crate::limits::excerpt(other)
                )));
            }
        };
        if slot.is_some() {
            return Err(ApiError::invalid(format!("part `{name}` is sent twice")));
        }
        match read_part(field, max, max_size).await? {
            Some(bytes) => *slot = Some(bytes),
            None if name == "file" => return Err(too_large(max_size)),
            None => {
                return Err(ApiError::invalid(format!(
                    "{what} is larger than {max} bytes"
                )));
            }
        }
    }
    Ok(parts)
}

/// `POST /api/v1/plugins`: uploads a plugin release onto the package server and records it.
#[utoipa::path(post, path = "/api/v1/plugins", tag = "plugins", operation_id = "upload_plugin",
    request_body(content = ReleaseUpload, content_type = "multipart/form-data"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored and recorded", body = ReleaseView),
        (status = 200, description = "This release, with the same bytes, was already recorded", body = ReleaseView),
        (status = 400, description = "Invalid params (3021): a manifest field, not an ELF shared object, a missing or wrong signature, no package server", body = ErrorBody),
        (status = 409, description = "This release is recorded with another digest (3021)", body = ErrorBody),
        (status = 413, description = "The file is larger than plugins.max_size (3032)", body = ErrorBody),
        (status = 415, description = "Not sent as multipart/form-data (3021)", body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<ReleaseView>), ApiError> {
    let catalogue = state.catalogue.clone();
    let multipart = multipart.map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            retcode::INVALID_PARAMS,
            format!(
                "Invalid params: send the release as multipart/form-data ({})",
                e.body_text()
            ),
        )
    })?;
    let parts = read_parts(multipart, catalogue.max_size).await?;
    let manifest = parts
        .manifest
        .ok_or_else(|| ApiError::invalid("the `manifest` part is missing"))?;
    let manifest: Manifest = serde_json::from_slice(&manifest)
        .map_err(|e| ApiError::invalid(format!("`manifest`: {e}")))?;
    manifest
        .check()
        .map_err(|e| ApiError::invalid(format!("`manifest`: {e}")))?;
    let file = parts
        .file
        .ok_or_else(|| ApiError::invalid("the `file` part is missing"))?;
    elf::check_shared_object(&file).map_err(ApiError::invalid)?;
    let signature = parts
        .signature
        .map(|s| String::from_utf8(s).map_err(|_| ApiError::invalid("the signature is not text")))
        .transpose()?;
    match (catalogue.key(), &signature) {
        (Some(key), Some(signature)) => key.verify(&file, signature).map_err(ApiError::invalid)?,
        (Some(key), None) => {
            return Err(ApiError::invalid(format!(
                "this Polaris takes only releases signed with release key {}: send the \
                 `signature` part (minisign -S, or mkpkg --sign)",
                key.id()
            )));
        }
        (None, Some(signature)) => signature::readable(signature).map_err(ApiError::invalid)?,
        (None, None) => {}
    }
    let Some(root) = catalogue.root().map(std::path::Path::to_path_buf) else {
        return Err(ApiError::invalid(
            "this Polaris has no package server ([packages]) to keep plugin releases on",
        ));
    };
    let release = Release {
        agent: manifest.agent,
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        abi: manifest.abi.clone(),
        roles: manifest.roles.clone(),
        digest: digest(&file),
        size: file.len() as u64,
        path: manifest.path(),
        signed: signature.is_some(),
        created: crate::db::now(),
        hosts: 0,
    };
    // Recorded already: the same bytes are answered as stored, others are a conflict; the
    // files are not touched either way.
    if state
        .db
        .release(release.agent, &release.name, &release.version)
        .await?
        .is_some()
    {
        let stored = state.db.add_release(&release).await?;
        return Ok((StatusCode::OK, Json(ReleaseView::new(stored, &catalogue))));
    }
    let path = release.path.clone();
    let stored =
        tokio::task::spawn_blocking(move || store_files(&root, &path, &file, signature.as_deref()))
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    retcode::INTERNAL,
                    format!("Internal error: {e}"),
                )
            })?;
    match stored {
        Ok(()) => {}
        Err(StoreError::Conflict(why)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                retcode::INVALID_PARAMS,
                format!("Invalid params: {why}"),
            ));
        }
        Err(StoreError::Io(e)) => {
            tracing::error!(error = %e, path = %release.path, "Cannot store a plugin release.");
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                retcode::INTERNAL,
                "Internal error: the package server cannot store the file; retry later",
            ));
        }
    }
    let recorded = state.db.add_release(&release).await?;
    tracing::info!(agent = %recorded.agent, name = %recorded.name, version = %recorded.version,
        digest = %recorded.digest, "Plugin release recorded.");
    Ok((
        StatusCode::CREATED,
        Json(ReleaseView::new(recorded, &catalogue)),
    ))
}

/// `GET /api/v1/plugins`: the catalogue, by agent, name and version, each release with the
/// number of hosts running it.
#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins", operation_id = "plugin_releases",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<ReleaseView>), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<ReleaseView>>, ApiError> {
    let releases = state.db.releases().await?;
    Ok(Json(
        releases
            .into_iter()
            .map(|r| ReleaseView::new(r, &state.catalogue))
            .collect(),
    ))
}
