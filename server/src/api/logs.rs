//! Log records: the ingest endpoint the hosts' `logagent` posts batches to (mutual TLS; the
//! host is the certificate's) and the admin queries: records by host, source, time, text and
//! field with cursor paging, and each host's sources.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wire::logs::{LogAck, LogBatch};

use super::identity::{AgentBody, shorten};
use super::log_batch::parse_batch;
use crate::db::logs::{LogEntry, LogQuery, LogSource};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

/// Records a page holds when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;
/// Most records one page holds.
pub const MAX_LIMIT: u32 = 1000;
/// Most `field` conditions one query takes.
pub const MAX_FIELD_FILTERS: usize = 16;
/// Longest `contains` text or field value, in bytes.
pub const MAX_FILTER_TEXT: usize = 1024;

/// `POST /api/v1/logs`: stores a batch of the certificate's host, each record once. The body
/// may come compressed (`Content-Encoding: zstd`, as logagent sends it; at most
/// `wire::logs::MAX_BATCH_BYTES` either way).
#[utoipa::path(post, path = "/api/v1/logs", tag = "logs", operation_id = "ingest_logs", request_body = LogBatch,
    security(("mutualTLS" = [])),
    responses(
        (status = 200, description = "Committed: records stored now and records held already", body = LogAck),
        (status = 401, description = "No client certificate (3031)", body = ErrorBody),
        (status = 403, description = "A revoked host (3034)", body = ErrorBody),
        (status = 400, description = "A bad batch (3021, naming the record or source); nothing stored", body = ErrorBody),
        (status = 413, description = "Body over `wire::logs::MAX_BATCH_BYTES` (32 MiB), compressed or decoded", body = ErrorBody),
        (status = 415, description = "Not `application/json`, or a Content-Encoding other than zstd (3021)", body = ErrorBody)))]
pub async fn ingest(
    State(state): State<AppState>,
    AgentBody { identity, body }: AgentBody<{ wire::logs::MAX_BATCH_BYTES }>,
) -> Result<Json<LogAck>, ApiError> {
    let checked = parse_batch(&body)?;
    let count = state
        .db
        .store_logs(&identity.hostname, &checked.records, &checked.sources)
        .await?;
    Ok(Json(LogAck {
        stored: count.stored,
        duplicates: count.duplicates,
    }))
}

/// What `GET /api/v1/logs` takes (every parameter optional; `field` may repeat).
#[derive(Deserialize, utoipa::IntoParams, Default, Debug)]
#[into_params(parameter_in = Query)]
pub struct LogQueryParams {
    /// Only this host's records.
    pub host: Option<String>,
    /// Only this source's records.
    pub source: Option<String>,
    /// From this time on (inclusive): Unix seconds (`1764806400.5`) or RFC 3339
    /// (`2026-12-04T00:00:00Z`).
    pub from: Option<String>,
    /// Before this time (exclusive), as `from`.
    pub to: Option<String>,
    /// Only messages containing this text (case-sensitive, at most 1024 bytes).
    pub contains: Option<String>,
    /// `name:value`: only records whose field `name` equals `value` (a string field without
    /// its quotes, a number as written: `field=status:404`). Repeat it for several; all must
    /// match (at most 16).
    pub field: Option<Vec<String>>,
    /// Records per page, 1 to 1000 (default 100).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of records, in (time, id) order.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LogPage {
    /// The records.
    pub records: Vec<LogRecordView>,
    /// Pass it as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A stored log record.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LogRecordView {
    /// Polaris's id.
    pub id: i64,
    /// The host (its certificate's name).
    pub host: String,
    /// The source's name.
    pub source: String,
    /// The file generation (16 hex digits).
    pub file: String,
    /// Byte offset of the record in that generation.
    pub offset: u64,
    /// The file's path when read.
    pub path: String,
    /// Unix seconds.
    pub time: f64,
    /// `true`: the record had no timestamp; `time` is when it was read.
    pub time_from_read: bool,
    /// The message.
    pub message: String,
    /// The fields the source's format parsed.
    #[schema(value_type = Object)]
    pub fields: Value,
    /// Bytes the agent dropped from a long record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated_bytes: Option<u64>,
    /// Why the format did not parse it (kept raw then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
    /// When Polaris stored it (RFC 3339).
    pub received_at: String,
}

impl From<LogEntry> for LogRecordView {
    fn from(entry: LogEntry) -> Self {
        LogRecordView {
            id: entry.id,
            host: entry.host,
            source: entry.source,
            file: entry.file,
            offset: entry.offset,
            path: entry.path,
            time: entry.time,
            time_from_read: entry.time_from_read,
            message: entry.message,
            fields: serde_json::from_str(&entry.fields).unwrap_or(Value::Null),
            truncated_bytes: entry.truncated_bytes,
            parse_error: entry.parse_error,
            received_at: entry.received_at.to_rfc3339(),
        }
    }
}

/// `GET /api/v1/logs`: log records by host, source, time range, text and fields, a page at a
/// time.
#[utoipa::path(get, path = "/api/v1/logs", tag = "logs", operation_id = "query_logs", params(LogQueryParams),
    security(("bearer" = [])),
    responses((status = 200, body = LogPage),
        (status = 400, description = "A bad parameter (3021)", body = ErrorBody)))]
pub async fn query(
    State(state): State<AppState>,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Result<Json<LogPage>, ApiError> {
    let query = log_query(params_of(pairs)?)?;
    let limit = query.limit as usize;
    let mut entries = state
        .db
        .query_logs(&LogQuery {
            limit: query.limit + 1,
            ..query
        })
        .await?;
    let next_cursor = if entries.len() > limit {
        entries.truncate(limit);
        entries.last().map(|last| cursor(last.time, last.id))
    } else {
        None
    };
    Ok(Json(LogPage {
        records: entries.into_iter().map(LogRecordView::from).collect(),
        next_cursor,
    }))
}

/// The parameters of a query string, `field` repeated; an unknown or repeated parameter is
/// refused.
pub fn params_of(pairs: Vec<(String, String)>) -> Result<LogQueryParams, ApiError> {
    let mut params = LogQueryParams::default();
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "host" => &mut params.host,
            "source" => &mut params.source,
            "from" => &mut params.from,
            "to" => &mut params.to,
            "contains" => &mut params.contains,
            "cursor" => &mut params.cursor,
            "field" => {
                params.field.get_or_insert_with(Vec::new).push(value);
                continue;
            }
            "limit" => {
                let limit = value
                    .parse()
                    .map_err(|_| ApiError::invalid(format!("`limit` must be 1 to {MAX_LIMIT}")))?;
                params.limit = Some(limit);
                continue;
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "unknown parameter `{}`: host, source, from, to, contains, field, limit \
                     and cursor are known",
                    shorten(other)
                )));
            }
        };
        if slot.replace(value).is_some() {
            return Err(ApiError::invalid(format!("`{name}` is given twice")));
        }
    }
    Ok(params)
}

/// The database query the parameters ask for.
pub fn log_query(params: LogQueryParams) -> Result<LogQuery, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "`limit` must be 1 to {MAX_LIMIT}"
        )));
    }
    let from = params
        .from
        .as_deref()
        .map(|t| time_of("from", t))
        .transpose()?;
    let to = params.to.as_deref().map(|t| time_of("to", t)).transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(ApiError::invalid("`from` must be before `to`"));
    }
    if let Some(text) = &params.contains
        && (text.is_empty() || text.len() > MAX_FILTER_TEXT)
    {
        return Err(ApiError::invalid(format!(
            "`contains` must be 1 to {MAX_FILTER_TEXT} bytes"
        )));
    }
    let conditions = params.field.unwrap_or_default();
    if conditions.len() > MAX_FIELD_FILTERS {
        return Err(ApiError::invalid(format!(
            "at most {MAX_FIELD_FILTERS} `field` conditions"
        )));
    }
    let fields = conditions
        .iter()
        .map(|condition| field_condition(condition))
        .collect::<Result<Vec<_>, _>>()?;
    let after = params.cursor.as_deref().map(cursor_of).transpose()?;
    for (what, text) in [("host", &params.host), ("source", &params.source)] {
        if let Some(text) = text
            && (text.is_empty() || text.len() > 256 || text.contains('\0'))
        {
            return Err(ApiError::invalid(format!(
                "`{what}` must be 1 to 256 bytes without NUL"
            )));
        }
    }
    if params.contains.as_deref().is_some_and(|t| t.contains('\0')) {
        return Err(ApiError::invalid("`contains` holds a NUL character"));
    }
    Ok(LogQuery {
        host: params.host,
        source: params.source,
        from,
        to,
        contains: params.contains,
        fields,
        after,
        limit,
    })
}

/// A `field` condition `name:value`.
fn field_condition(condition: &str) -> Result<(String, String), ApiError> {
    let Some((name, value)) = condition.split_once(':') else {
        return Err(ApiError::invalid(format!(
            "`field` must be `name:value`, not `{}`",
            shorten(condition)
        )));
    };
    let bad_name = name.is_empty()
        || name.len() > 128
        || name
            .chars()
            .any(|c| c == '"' || c == '\\' || c.is_control());
    if bad_name {
        return Err(ApiError::invalid(format!(
            "`field` name `{}` must be 1 to 128 bytes without quotes, backslashes or control \
             characters",
            shorten(name)
        )));
    }
    if value.len() > MAX_FILTER_TEXT || value.contains('\0') {
        return Err(ApiError::invalid(format!(
            "`field` value must be at most {MAX_FILTER_TEXT} bytes without NUL"
        )));
    }
    Ok((name.to_owned(), value.to_owned()))
}

/// A time parameter: Unix seconds or RFC 3339.
fn time_of(what: &str, text: &str) -> Result<f64, ApiError> {
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
    {
        return Ok(seconds);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_micros() as f64 / 1e6)
        .map_err(|_| {
            ApiError::invalid(format!(
                "`{what}` must be Unix seconds or an RFC 3339 time, not `{}`",
                shorten(text)
            ))
        })
}

/// The opaque cursor after the record at (time, id): 32 hex digits.
fn cursor(time: f64, id: i64) -> String {
    format!("{:016x}{:016x}", time.to_bits(), id)
}

fn cursor_of(text: &str) -> Result<(f64, i64), ApiError> {
    let bad = || ApiError::invalid("`cursor` is not one this server gave");
    if text.len() != 32 || !text.is_ascii() {
        return Err(bad());
    }
    let time = u64::from_str_radix(&text[..16], 16).map_err(|_| bad())?;
    let id = u64::from_str_radix(&text[16..], 16).map_err(|_| bad())?;
    let time = f64::from_bits(time);
    let id = i64::try_from(id).map_err(|_| bad())?;
    if !time.is_finite() {
        return Err(bad());
    }
    Ok((time, id))
}

/// One source of a host: the agent's last report of it, when that was, and what Polaris holds.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LogSourceView {
    /// The source as its agent last reported it.
    #[serde(flatten)]
    pub status: wire::logs::SourceStatus,
    /// When the agent last reported it (RFC 3339).
    pub updated: String,
    /// Records Polaris holds of it now (after retention).
    pub records: u64,
}

impl From<LogSource> for LogSourceView {
    fn from(source: LogSource) -> Self {
        LogSourceView {
            status: source.status,
            updated: source.updated.to_rfc3339(),
            records: source.records,
        }
    }
}

/// `GET /api/v1/hosts/{hostname}/log-sources`: a host's log sources as its agent last
/// reported them, by name.
#[utoipa::path(get, path = "/api/v1/hosts/{hostname}/log-sources", tag = "logs",
    operation_id = "log_sources",
    params(("hostname" = String, Path, description = "Host name")),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<LogSourceView>),
        (status = 404, description = "No such host (3033)", body = ErrorBody)))]
pub async fn sources(
    State(state): State<AppState>,
    ApiPath(hostname): ApiPath<String>,
) -> Result<Json<Vec<LogSourceView>>, ApiError> {
    let sources = state.db.log_sources(&hostname).await?;
    if sources.is_empty() && state.db.host(&hostname).await?.is_none() {
        return Err(ApiError::not_found(
            wire::retcode::NOT_FOUND,
            format!("Not found: no host `{}`", shorten(&hostname)),
        ));
    }
    Ok(Json(sources.into_iter().map(LogSourceView::from).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
        query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn cursors_round_trip_exactly() {
        for (time, id) in [(0.0, 1), (1764806400.123456, 42), (-5.5, i64::MAX)] {
            assert_eq!(cursor_of(&cursor(time, id)).unwrap(), (time, id));
        }
        for bad in ["", "zz", &"f".repeat(32), &"0".repeat(31)] {
            assert!(cursor_of(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parameters_become_a_query() {
        let params = params_of(pairs(&[
            ("host", "web1"),
            ("from", "2025-12-04T00:00:00Z"),
            ("to", "1764892800"),
            ("field", "status:404"),
            ("field", "method:GET"),
            ("contains", "GET /"),
        ]))
        .unwrap();
        let query = log_query(params).unwrap();
        assert_eq!(query.host.as_deref(), Some("web1"));
        assert_eq!(query.from, Some(1764806400.0));
        assert_eq!(query.to, Some(1764892800.0));
        assert_eq!(
            query.fields,
            [
                ("status".into(), "404".into()),
                ("method".into(), "GET".into())
            ]
        );
        assert_eq!(query.limit, DEFAULT_LIMIT);
    }

    #[test]
    fn bad_parameters_are_named() {
        let cases: [(&[(&str, &str)], &str); 7] = [
            (&[("limit", "0")], "limit"),
            (&[("limit", "1001")], "limit"),
            (&[("from", "yesterday")], "from"),
            (&[("from", "10"), ("to", "5")], "before"),
            (&[("field", "status")], "name:value"),
            (&[("field", "a\"b:1")], "quotes"),
            (&[("colour", "red")], "unknown"),
        ];
        for (query, why) in cases {
            let error = params_of(pairs(query))
                .and_then(log_query)
                .err()
                .unwrap_or_else(|| panic!("{query:?} accepted"));
            assert_eq!(error.errcode, 3021);
            assert!(error.message.contains(why), "{query:?}: {}", error.message);
        }
        assert!(params_of(pairs(&[("host", "a"), ("host", "b")])).is_err());
    }
}
