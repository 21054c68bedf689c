//! The database side of log records (issue 16; statements in `common/logs.rs`, stored as
//! compressed chunks, `common/log_pack.rs`): the records the hosts' `logagent` posts, stored
//! once per (host, source, file, offset), queried by host, source, time, text and field; each
//! host's sources as last reported; retention by age and by size, a chunk at a time. The API
//! layer (`api::logs`) checks a batch and builds these types; the HTTP shapes are built there
//! from what is read here.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use wire::logs::Preset;
use wire::logs::preset::FieldValue;

use super::DbFuture;

/// A checked record, ready to store (integers in the databases' signed range, no NUL). The
/// records of one file share one source, file and path (`Arc<str>`); message and fields borrow
/// from the request body where they can (the body outlives the store).
#[derive(Debug, Clone, PartialEq)]
pub struct NewLogRecord<'a> {
    /// The source's name.
    pub source: Arc<str>,
    /// The file generation (16 lowercase hex digits).
    pub file: Arc<str>,
    /// Byte offset of the record in that generation.
    pub offset: i64,
    /// The file's path when read.
    pub path: Arc<str>,
    /// Unix seconds, finite.
    pub time: f64,
    /// `time` is the read time (the record had no timestamp).
    pub time_from_read: bool,
    /// The message.
    pub message: Cow<'a, str>,
    /// The parsed fields.
    pub fields: LogFields<'a>,
    /// Bytes dropped from a long record.
    pub truncated_bytes: Option<i64>,
    /// Why the format did not parse the record.
    pub parse_error: Option<String>,
}

impl NewLogRecord<'_> {
    /// The bytes retention by size counts for it: its message and the fields' text stored.
    pub fn bytes(&self) -> i64 {
        (self.message.len() + self.fields.stored_len()) as i64
    }
}

/// A record's fields, as stored.
#[derive(Debug, Clone, PartialEq)]
pub enum LogFields<'a> {
    /// A JSON object's text, as the agent sent it (its [`field_index`] is made when a query
    /// asks for fields).
    Json(Cow<'a, str>),
    /// The fields this preset reads in the record's message (`wire::logs::preset`; checked
    /// when the record was received): not stored, made again when read.
    Preset(Preset),
}

impl LogFields<'_> {
    /// The fields' JSON text of a record whose message is `message` (`{}` if a preset does not
    /// read it, which a record checked when received does not come to).
    pub fn text<'t>(&'t self, message: &str) -> Cow<'t, str> {
        match self {
            LogFields::Json(text) => Cow::Borrowed(text),
            LogFields::Preset(preset) => {
                Cow::Owned(preset.fields_text(message).unwrap_or_else(|| "{}".into()))
            }
        }
    }

    /// The bytes of fields text stored for it.
    pub fn stored_len(&self) -> usize {
        match self {
            LogFields::Json(text) => text.len(),
            LogFields::Preset(_) => 0,
        }
    }
}

/// The text searched for field equality: each top-level scalar field (string, number, bool)
/// as a line [`field_line`], between newlines.
pub fn field_index(fields: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut index = String::from("\n");
    for (name, value) in fields {
        let text = match value {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        push_field_line(&mut index, name, &text);
        index.push('\n');
    }
    index
}

/// The [`field_index`] of a stored fields text (`"\n"`, no field, if it is not an object).
pub fn field_index_of(fields: &str) -> String {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(fields) {
        Ok(map) => field_index(&map),
        Err(_) => "\n".into(),
    }
}

impl LogFields<'_> {
    /// The [`field_index`] of these fields, of a record whose message is `message`: a preset's
    /// made from the spans its matcher finds (the text its fields would have, without writing
    /// and reading it as JSON: a `field=` query reads every record of the chunks it scans).
    pub fn index(&self, message: &str) -> String {
        let preset = match self {
            LogFields::Json(text) => return field_index_of(text),
            LogFields::Preset(preset) => *preset,
        };
        let mut index = String::from("\n");
        let Some(spans) = Preset::spans(message) else {
            return index;
        };
        let text_of = |i: usize| message.get(spans[i].clone()).unwrap_or_default();
        for (name, value) in preset.entries(text_of) {
            match value {
                FieldValue::Number(number, _) => {
                    push_field_line(&mut index, name, &number.to_string());
                }
                FieldValue::Text(text) => push_field_line(&mut index, name, text),
            }
            index.push('\n');
        }
        index
    }
}

/// One field as a line of the index, `<name>=<value>`: a backslash, a newline (and in the
/// name an `=`) escaped with a backslash, so a line names one field and one value.
pub fn field_line(name: &str, value: &str) -> String {
    let mut line = String::with_capacity(name.len() + value.len() + 1);
    push_field_line(&mut line, name, value);
    line
}

/// Appends [`field_line`] of `name` and `value` to `out`.
pub fn push_field_line(out: &mut String, name: &str, value: &str) {
    let escape = |out: &mut String, text: &str, equals: bool| {
        if !text.contains(['\\', '\n', '=']) {
            out.push_str(text);
            return;
        }
        for c in text.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '=' if equals => out.push_str("\\="),
                c => out.push(c),
            }
        }
    };
    escape(out, name, true);
    out.push('=');
    escape(out, value, false);
}

/// A checked source state, as the agent last reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSourceState {
    /// The source's name.
    pub name: String,
    /// Its path or glob.
    pub path: String,
    /// Files it matches.
    pub files: i64,
    /// Files open.
    pub open_files: i64,
    /// Bytes read and acknowledged.
    pub offset: i64,
    /// Size of its files.
    pub size: i64,
    /// Bytes not yet acknowledged.
    pub lag: i64,
    /// `reading`, `idle`, `waiting` or `error`.
    pub state: String,
    /// Bytes lost (rotated away and deleted unread).
    pub lost_bytes: i64,
    /// Truncations seen.
    pub truncations: i64,
    /// Records whose format did not parse.
    pub parse_errors: i64,
    /// Records cut to the maximum record size.
    pub truncated_records: i64,
    /// Records Polaris refused for good (the agent skipped them).
    pub rejected_records: i64,
    /// The last error.
    pub last_error: Option<String>,
}

/// What a batch did: records stored now, and records already held (a resend).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoredCount {
    /// Records stored now.
    pub stored: u64,
    /// Records already held.
    pub duplicates: u64,
}

/// A stored log record.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Its id: its chunk's id × 2^16 + its index in the chunk (with `time`, the paging order).
    pub id: i64,
    /// The host whose certificate sent it.
    pub host: String,
    /// The source's name.
    pub source: String,
    /// The file generation.
    pub file: String,
    /// Byte offset in that generation.
    pub offset: u64,
    /// The file's path when read.
    pub path: String,
    /// Unix seconds.
    pub time: f64,
    /// `time` is the read time.
    pub time_from_read: bool,
    /// The message.
    pub message: String,
    /// The fields, a JSON object's text.
    pub fields: String,
    /// Bytes dropped from a long record.
    pub truncated_bytes: Option<u64>,
    /// Why the format did not parse it.
    pub parse_error: Option<String>,
    /// When Polaris stored it.
    pub received_at: DateTime<Utc>,
}

/// A query of log records, in (time, id) order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogQuery {
    /// Only this host's.
    pub host: Option<String>,
    /// Only this source's.
    pub source: Option<String>,
    /// From this time on (Unix seconds, inclusive).
    pub from: Option<f64>,
    /// Before this time (Unix seconds, exclusive).
    pub to: Option<f64>,
    /// Messages containing this text (case-sensitive).
    pub contains: Option<String>,
    /// Fields equal to values: a top-level field's scalar value as text (a string without its
    /// quotes, a number as serde_json writes it, `true`/`false`); every pair must match.
    pub fields: Vec<(String, String)>,
    /// Only records after this (time, id): the previous page's last.
    pub after: Option<(f64, i64)>,
    /// At most this many records.
    pub limit: u32,
}

/// One source of a host, as its agent last reported it, with the records stored of it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSource {
    /// The source as its agent last reported it.
    pub status: wire::logs::SourceStatus,
    /// When the agent last reported it.
    pub updated: DateTime<Utc>,
    /// Records Polaris holds of it now.
    pub records: u64,
}

/// How long and how much Polaris keeps (`[logs]`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LogRetention {
    /// Chunks (a batch's records of one file) whose newest record's time is older than this
    /// many seconds are deleted; `None`: no limit.
    pub max_age: Option<u64>,
    /// The oldest chunks (by their newest record's time) are deleted until the rest's message
    /// and field bytes total at most this; `None`: no limit.
    pub max_bytes: Option<u64>,
}

/// What one retention round deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pruned {
    /// Records of the chunks older than `max_age`.
    pub by_age: u64,
    /// Records of the chunks deleted to get under `max_bytes`.
    pub by_size: u64,
}

/// Log records and sources (implemented once for every backend in `common/logs.rs`).
pub trait LogStore: Send + Sync {
    /// Stores a checked batch of `host` in one transaction: each record unless the same
    /// (host, source, file, offset) is held already, and the sources' states. Returns the
    /// counts once committed.
    fn store_logs<'a>(
        &'a self,
        host: &'a str,
        records: &'a [NewLogRecord<'_>],
        sources: &'a [NewSourceState],
    ) -> DbFuture<'a, StoredCount>;

    /// The records a query selects, in (time, id) order, at most `limit`.
    fn query_logs<'a>(&'a self, query: &'a LogQuery) -> DbFuture<'a, Vec<LogEntry>>;

    /// A host's sources, by name.
    fn log_sources<'a>(&'a self, host: &'a str) -> DbFuture<'a, Vec<LogSource>>;

    /// Deletes the chunks the retention does not keep, oldest first (by their newest record's
    /// time, then id); `now` in Unix seconds.
    fn prune_logs(&self, retention: LogRetention, now: f64) -> DbFuture<'_, Pruned>;

    /// Message and field bytes of every record held (what `max_bytes` limits).
    fn log_bytes(&self) -> DbFuture<'_, u64>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preset_s_index_is_the_index_of_its_fields_text() {
        let users = ["-", "a=b", "x\\y", "é"];
        let requests = [r#"GET / HTTP/1.1"#, r#"GET /q?a=\"b\" HTTP/1.1"#, r"\\", ""];
        let sizes = ["0", "-", "007", "18446744073709551616", "42"];
        let mut lines = 0;
        for user in users {
            for request in requests {
                for size in sizes {
                    let line = format!(
                        r#"::1 - {user} [04/Dec/2026:10:00:00 +0000] "{request}" 404 {size} "-" "a=b\n""#
                    );
                    for preset in [Preset::Nginx, Preset::Apache] {
                        let want = preset
                            .fields_text(&line)
                            .map_or_else(|| "\n".into(), |text| field_index_of(&text));
                        assert_eq!(LogFields::Preset(preset).index(&line), want, "{line}");
                    }
                    lines += 1;
                }
            }
        }
        assert_eq!(lines, 80);
        let index = LogFields::Preset(Preset::Nginx)
            .index(r#"::1 - a=b [t] "GET / HTTP/1.1" 404 007 "-" "x""#);
        assert!(index.contains("\nremote_user=a=b\n") && index.contains("\nbody_bytes_sent=7\n"));
        assert_eq!(LogFields::Preset(Preset::Nginx).index("not a line"), "\n");
    }
}
