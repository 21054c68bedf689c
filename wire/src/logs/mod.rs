//! The log agent ⇄ Polaris contract: the batches `logagent` posts to `POST /api/v1/logs`
//! (mutual TLS: the host is the certificate's, never a body's) and Polaris's acknowledgement.
//!
//! Delivery is at-least-once from the agent and exactly-once at the server: every record
//! names the file generation it was read from ([`LogRecord::file`]) and the byte offset where
//! it starts, and Polaris stores each `(host, source, file, offset)` once. The agent commits a
//! file's offset only after the batch holding its records is acknowledged ([`LogAck`]), so a
//! record sent twice (agent killed between send and commit) is stored once.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub mod combined;
pub mod preset;

pub use preset::Preset;

/// Most records in one batch; Polaris refuses a larger batch whole (3021).
pub const MAX_BATCH_RECORDS: usize = 10_000;
/// Largest request body Polaris accepts on `POST /api/v1/logs`, in bytes.
pub const MAX_BATCH_BYTES: usize = 32 * 1024 * 1024;
/// Longest source name (a configured `[[source]]`'s `name`), in bytes.
pub const MAX_SOURCE_NAME: usize = 128;
/// Most fields one record may carry.
pub const MAX_FIELDS: usize = 256;

/// What one POST carries: records of any of the host's sources, in read order per file, and
/// the state of every source for Polaris's views.
///
/// Records come in either of two shapes, both accepted in one body: `records`, each naming its
/// source, file and path (the first shape, which agents before the grouped one send), and
/// `files`, the records of one (source, file, path) after it once (what `logagent` sends now:
/// a smaller body, cheaper to write and to read). Polaris acknowledges every record of both
/// ([`LogAck`]: `stored + duplicates` is their number; a Polaris that knows only `records`
/// acknowledges none of `files`, which is how an agent sees it must send `records`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogBatch {
    /// The records, in read order within each file.
    #[serde(default)]
    pub records: Vec<LogRecord>,
    /// Records grouped by the (source, file, path) they were read from, in read order within
    /// each file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<LogFile>,
    /// The agent's sources as they are now (may be empty when nothing changed).
    #[serde(default)]
    pub sources: Vec<SourceStatus>,
}

/// Records of one file generation read under one path: what [`LogRecord`] says of each,
/// its source, file and path said once.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogFile {
    /// The configured source's name, as [`LogRecord::source`].
    pub source: String,
    /// The file generation, as [`LogRecord::file`].
    pub file: String,
    /// The file's path when the records were read.
    pub path: String,
    /// The combined-log preset the file's source parses with, when the agent leaves out the
    /// fields it reads: a record sent without `fields` has the fields this preset reads in
    /// its message ([`Preset::fields`]), and Polaris refuses it if the preset cannot read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    /// The records, in read order.
    #[serde(default)]
    pub records: Vec<FileRecord>,
}

/// A record of a [`LogFile`]: the fields of [`LogRecord`] but its source, file and path.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileRecord {
    /// Byte offset of the record's first byte in the file generation.
    pub offset: u64,
    /// Unix seconds, as [`LogRecord::time`].
    pub time: f64,
    /// `true` when `time` is the read time, as [`LogRecord::time_from_read`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub time_from_read: bool,
    /// The message, as [`LogRecord::message`].
    pub message: String,
    /// The fields the source's format parsed, as [`LogRecord::fields`]; absent: none, or,
    /// in a file with a [`LogFile::preset`], those the preset reads in the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Map<String, Value>>,
    /// Bytes dropped from the end of a long record, as [`LogRecord::truncated_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_bytes: Option<u64>,
    /// Why the format did not parse the record, as [`LogRecord::parse_error`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
}

impl LogBatch {
    /// Every record, of `records` then of `files`, each with its source, file and path and
    /// its fields (a preset's made from the message; none if the preset cannot read it).
    pub fn all_records(self) -> Vec<LogRecord> {
        let mut all = self.records;
        for group in self.files {
            let preset = group.preset;
            all.extend(group.records.into_iter().map(|r| {
                LogRecord {
                    source: group.source.clone(),
                    file: group.file.clone(),
                    offset: r.offset,
                    path: group.path.clone(),
                    time: r.time,
                    time_from_read: r.time_from_read,
                    fields: r
                        .fields
                        .or_else(|| preset.and_then(|p| p.fields(&r.message)))
                        .unwrap_or_default(),
                    message: r.message,
                    truncated_bytes: r.truncated_bytes,
                    parse_error: r.parse_error,
                }
            }));
        }
        all
    }

    /// How many records it holds, of both shapes.
    pub fn len(&self) -> usize {
        self.records.len() + self.files.iter().map(|f| f.records.len()).sum::<usize>()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One log record: a line, or several lines joined by a multiline rule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogRecord {
    /// The configured source's name (unique on the host).
    pub source: String,
    /// The file generation it was read from: 16 lowercase hex digits the agent draws at random
    /// when it first sees a file (device + inode + fingerprint of its first bytes) and draws
    /// again when that file is truncated (copytruncate), so an offset names one record.
    pub file: String,
    /// Byte offset of the record's first byte in that file generation.
    pub offset: u64,
    /// The file's path when the record was read.
    pub path: String,
    /// The record's time, Unix seconds (fractions allowed): from its timestamp field, or the
    /// read time when it has none ([`LogRecord::time_from_read`]).
    pub time: f64,
    /// `true` when the record had no timestamp (or one that did not parse) and [`time`] is the
    /// time it was read.
    ///
    /// [`time`]: LogRecord::time
    #[serde(default)]
    pub time_from_read: bool,
    /// The message: the raw line(s) for `line` sources, the format's message field otherwise.
    pub message: String,
    /// The fields the source's format parsed (`json` keys, `regex` captures, syslog's
    /// facility/severity/host/app/pid/msgid/structured data, nginx's status, ...).
    #[serde(default)]
    pub fields: Map<String, Value>,
    /// Bytes dropped from the end of a record longer than the source's `max_record_bytes`
    /// (the head is kept); absent when the record is whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_bytes: Option<u64>,
    /// Why the format did not parse the record (it is then kept raw in `message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
}

/// A source as the agent sees it, for `GET /api/v1/hosts/{hostname}/log-sources`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SourceStatus {
    /// The configured source's name.
    pub name: String,
    /// Its path or glob.
    pub path: String,
    /// Files it matches now.
    pub files: u64,
    /// Files open now (idle files are closed and reopened when they grow).
    pub open_files: u64,
    /// Bytes read and acknowledged, over its files.
    pub offset: u64,
    /// Size of its files now.
    pub size: u64,
    /// Bytes written to its files and not yet acknowledged (`size - offset`).
    pub lag: u64,
    /// `reading`, `idle`, `waiting` (Polaris unreachable: the files are the buffer) or `error`.
    pub state: String,
    /// Bytes that rotated away and were deleted before they were read: lost, and said so.
    pub lost_bytes: u64,
    /// Truncations seen (copytruncate, or a file shorter than its offset).
    pub truncations: u64,
    /// Records whose format did not parse.
    pub parse_errors: u64,
    /// Records cut to `max_record_bytes`.
    pub truncated_records: u64,
    /// Records Polaris refused for good when sent alone (HTTP 400, retcode 3021): skipped,
    /// logged by the agent with their file and offset, and their offsets committed.
    #[serde(default)]
    pub rejected_records: u64,
    /// The last error (a file that cannot be read, a bad glob), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Polaris's answer to a batch, sent once the batch is committed to its database.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogAck {
    /// Records stored now.
    pub stored: u64,
    /// Records Polaris already held (the same host, source, file and offset): sent again after
    /// an agent restart, and not stored twice.
    pub duplicates: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_round_trips_and_defaults_what_is_optional() {
        let text = r#"{"records":[{"source":"nginx","file":"0123456789abcdef","offset":42,
            "path":"/var/log/nginx/access.log","time":1764806400.5,"message":"GET /",
            "fields":{"status":200}}]}"#;
        let batch: LogBatch = serde_json::from_str(text).unwrap();
        let record = &batch.records[0];
        assert_eq!(record.offset, 42);
        assert!(!record.time_from_read);
        assert_eq!(record.truncated_bytes, None);
        assert_eq!(record.fields["status"], 200);
        assert!(batch.sources.is_empty());
        let back = serde_json::to_value(&batch).unwrap();
        assert!(back["records"][0].get("parse_error").is_none());
        assert_eq!(serde_json::from_value::<LogBatch>(back).unwrap(), batch);
    }

    #[test]
    fn grouped_records_name_their_file_once_and_come_out_as_records() {
        let text = r#"{"records":[{"source":"a","file":"0123456789abcdef","offset":1,
            "path":"/a","time":1,"message":"one"}],
            "files":[{"source":"web","file":"fedcba9876543210","path":"/var/log/w.log",
            "records":[{"offset":0,"time":2.5,"message":"two","fields":{"status":200}},
            {"offset":4,"time":3,"time_from_read":true,"message":"three","parse_error":"x"}]}]}"#;
        let batch: LogBatch = serde_json::from_str(text).unwrap();
        assert_eq!(batch.len(), 3);
        let back = serde_json::to_value(&batch).unwrap();
        assert!(
            back["files"][0]["records"][0]
                .get("time_from_read")
                .is_none()
        );
        assert_eq!(serde_json::from_value::<LogBatch>(back).unwrap(), batch);
        let all = batch.all_records();
        let seen: Vec<(&str, &str, u64, &str)> = all
            .iter()
            .map(|r| (&*r.source, &*r.path, r.offset, &*r.message))
            .collect();
        assert_eq!(
            seen,
            [
                ("a", "/a", 1, "one"),
                ("web", "/var/log/w.log", 0, "two"),
                ("web", "/var/log/w.log", 4, "three")
            ]
        );
        assert!(all[2].time_from_read && all[1].fields["status"] == 200);
        assert!(
            serde_json::to_value(LogBatch::default())
                .unwrap()
                .get("files")
                .is_none()
        );
    }
}
