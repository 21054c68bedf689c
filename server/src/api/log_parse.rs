//! A log batch read without copying (`POST /api/v1/logs`): a server-side mirror of
//! `wire::logs::LogBatch` (both shapes: `records`, and `files` of grouped records) whose texts
//! borrow from the request body where JSON allows it and whose `fields` are kept as the JSON
//! text sent, checked by `log_fields` without building a `Value`: that text is what is stored.
//! `log_batch` checks what is read here; a body this reading refuses is read again as
//! `LogBatch` for the error message (or for what it accepts besides: integers written as `5.0`).

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::Deserializer;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use wire::logs::{FileRecord, LogBatch, LogFile, LogRecord, Preset, SourceStatus};

/// A batch as read from the body.
#[derive(Deserialize, Debug, Default)]
pub struct IncomingBatch<'a> {
    /// Its records, each naming its file.
    #[serde(default, borrow)]
    pub records: Vec<IncomingRecord<'a>>,
    /// Its records grouped by file.
    #[serde(default, borrow)]
    pub files: Vec<IncomingFile<'a>>,
    /// Its sources' states (few: read as owned).
    #[serde(default)]
    pub sources: Vec<SourceStatus>,
}

/// A record as read from the body: the fields of `wire::logs::LogRecord`, borrowed.
#[derive(Deserialize, Debug)]
pub struct IncomingRecord<'a> {
    /// The source's name.
    #[serde(borrow)]
    pub source: Cow<'a, str>,
    /// The file generation.
    #[serde(borrow)]
    pub file: Cow<'a, str>,
    /// The file's path when read.
    #[serde(borrow)]
    pub path: Cow<'a, str>,
    /// Byte offset of the record in that generation.
    pub offset: u64,
    /// Unix seconds.
    pub time: f64,
    /// `time` is the read time.
    #[serde(default)]
    pub time_from_read: bool,
    /// The message.
    #[serde(borrow)]
    pub message: Cow<'a, str>,
    /// The parsed fields: the JSON text sent (`{}` when none).
    #[serde(default, borrow)]
    pub fields: RawFields<'a>,
    /// Bytes dropped from a long record.
    #[serde(default)]
    pub truncated_bytes: Option<u64>,
    /// Why the format did not parse the record.
    #[serde(default)]
    pub parse_error: Option<String>,
}

impl<'a> IncomingRecord<'a> {
    /// The record as one of a file's, with its source, file and path apart.
    pub fn split(self) -> ([Cow<'a, str>; 3], IncomingFileRecord<'a>) {
        (
            [self.source, self.file, self.path],
            IncomingFileRecord {
                offset: self.offset,
                time: self.time,
                time_from_read: self.time_from_read,
                message: self.message,
                fields: Some(self.fields),
                truncated_bytes: self.truncated_bytes,
                parse_error: self.parse_error,
            },
        )
    }
}

/// The records of one file as read from the body: `wire::logs::LogFile`, borrowed.
#[derive(Deserialize, Debug)]
pub struct IncomingFile<'a> {
    /// The source's name.
    #[serde(borrow)]
    pub source: Cow<'a, str>,
    /// The file generation.
    #[serde(borrow)]
    pub file: Cow<'a, str>,
    /// The file's path when read.
    #[serde(borrow)]
    pub path: Cow<'a, str>,
    /// The preset whose fields its records sent without `fields` have.
    #[serde(default)]
    pub preset: Option<Preset>,
    /// Its records.
    #[serde(default, borrow)]
    pub records: Vec<IncomingFileRecord<'a>>,
}

/// A record of a file as read from the body: `wire::logs::FileRecord`, borrowed.
#[derive(Deserialize, Debug)]
pub struct IncomingFileRecord<'a> {
    /// Byte offset of the record in that generation.
    pub offset: u64,
    /// Unix seconds.
    pub time: f64,
    /// `time` is the read time.
    #[serde(default)]
    pub time_from_read: bool,
    /// The message.
    #[serde(borrow)]
    pub message: Cow<'a, str>,
    /// The parsed fields: the JSON text sent; absent: none, or those of the file's preset.
    #[serde(default, borrow)]
    pub fields: Option<RawFields<'a>>,
    /// Bytes dropped from a long record.
    #[serde(default)]
    pub truncated_bytes: Option<u64>,
    /// Why the format did not parse the record.
    #[serde(default)]
    pub parse_error: Option<String>,
}

/// A record's fields as sent: the JSON text of the value (not yet known to be an object:
/// `log_fields::check_fields`).
#[derive(Debug, Clone, PartialEq)]
pub struct RawFields<'a>(pub Cow<'a, str>);

impl Default for RawFields<'_> {
    fn default() -> Self {
        RawFields(Cow::Borrowed("{}"))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawFields<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(deserializer)?;
        Ok(RawFields(Cow::Borrowed(raw.get())))
    }
}

impl<'a> From<LogBatch> for IncomingBatch<'a> {
    fn from(batch: LogBatch) -> Self {
        IncomingBatch {
            records: batch
                .records
                .into_iter()
                .map(IncomingRecord::from)
                .collect(),
            files: batch.files.into_iter().map(IncomingFile::from).collect(),
            sources: batch.sources,
        }
    }
}

fn raw(fields: Map<String, Value>) -> RawFields<'static> {
    RawFields(Cow::Owned(Value::Object(fields).to_string()))
}

impl<'a> From<LogRecord> for IncomingRecord<'a> {
    fn from(record: LogRecord) -> Self {
        IncomingRecord {
            source: Cow::Owned(record.source),
            file: Cow::Owned(record.file),
            path: Cow::Owned(record.path),
            offset: record.offset,
            time: record.time,
            time_from_read: record.time_from_read,
            message: Cow::Owned(record.message),
            fields: raw(record.fields),
            truncated_bytes: record.truncated_bytes,
            parse_error: record.parse_error,
        }
    }
}

impl<'a> From<LogFile> for IncomingFile<'a> {
    fn from(file: LogFile) -> Self {
        IncomingFile {
            source: Cow::Owned(file.source),
            file: Cow::Owned(file.file),
            path: Cow::Owned(file.path),
            preset: file.preset,
            records: file
                .records
                .into_iter()
                .map(IncomingFileRecord::from)
                .collect(),
        }
    }
}

impl<'a> From<FileRecord> for IncomingFileRecord<'a> {
    fn from(record: FileRecord) -> Self {
        IncomingFileRecord {
            offset: record.offset,
            time: record.time,
            time_from_read: record.time_from_read,
            message: Cow::Owned(record.message),
            fields: record.fields.map(raw),
            truncated_bytes: record.truncated_bytes,
            parse_error: record.parse_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_without_escapes_are_borrowed_and_fields_kept_as_sent() {
        let body = br#"{"records":[{"source":"nginx","file":"0123456789abcdef","offset":7,
            "path":"/a","time":1.5,"message":"say \"hi\"",
            "fields":{"z":1,"a":"x","a":[1,{"b":null}]}}],
            "files":[{"source":"web","file":"fedcba9876543210","path":"/w","records":[
            {"offset":3,"time":2,"message":"m"}]}]}"#;
        let batch: IncomingBatch = serde_json::from_slice(body).unwrap();
        let record = &batch.records[0];
        assert!(matches!(record.source, Cow::Borrowed("nginx")));
        assert!(matches!(record.message, Cow::Owned(_)));
        assert_eq!(record.message, "say \"hi\"");
        assert_eq!(record.fields.0, r#"{"z":1,"a":"x","a":[1,{"b":null}]}"#);
        let file = &batch.files[0];
        assert!(matches!(file.path, Cow::Borrowed("/w")));
        assert_eq!(file.records[0].fields, None);
        assert_eq!(file.records[0].offset, 3);
    }

    #[test]
    fn what_log_batch_refuses_this_refuses_too() {
        for body in [
            &br#"{"records":[{"source":"s"}]}"#[..],
            br#"{"records":[{"source":"s","file":"f","offset":-1,"path":"","time":1,"message":""}]}"#,
            br#"{"files":[{"source":"s","file":"f","path":"","records":[{"offset":1}]}]}"#,
            br#"{"files":[{"source":"s","file":"f","records":[]}]}"#,
        ] {
            assert!(serde_json::from_slice::<LogBatch>(body).is_err());
            assert!(serde_json::from_slice::<IncomingBatch>(body).is_err());
        }
    }
}
