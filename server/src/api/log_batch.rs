//! The checks of a log batch (`POST /api/v1/logs`) before anything is stored: the limits of
//! `wire::logs`, a finite time, a file generation of 16 lowercase hex digits, integers in the
//! databases' range, a known source state, fields that are a JSON object (stored as the text
//! sent). A bad batch is refused whole (3021, naming the record or source and what is wrong),
//! so nothing of it is stored. NUL characters, which PostgreSQL cannot store in text, become
//! U+FFFD; over-long paths, errors and reasons are cut (they describe a record, they are not
//! its content).

use std::borrow::Cow;
use std::sync::Arc;

use wire::logs::{LogBatch, MAX_BATCH_RECORDS, MAX_FIELDS, MAX_SOURCE_NAME, Preset, SourceStatus};

use super::identity::shorten;
use super::log_fields::check_fields;
use super::log_parse::{IncomingBatch, IncomingFileRecord};
use crate::db::logs::{LogFields, NewLogRecord, NewSourceState};
use crate::error::ApiError;

/// Most sources one batch may report.
pub const MAX_SOURCES: usize = 1024;
/// Longest path, parse error or last error kept, in bytes (longer ones are cut).
pub const MAX_NOTE: usize = 4096;
/// The states a source may be in.
pub const SOURCE_STATES: [&str; 4] = ["reading", "idle", "waiting", "error"];

/// A batch that passed the checks, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedBatch<'a> {
    /// Its records: those of `records`, then those of `files`.
    pub records: Vec<NewLogRecord<'a>>,
    /// Its sources' states.
    pub sources: Vec<NewSourceState>,
}

/// Reads and checks a body of `POST /api/v1/logs`: borrowed from the body where it can be
/// ([`IncomingBatch`]); a body that reading refuses is read as `LogBatch`, which names what is
/// wrong (or accepts it: integers written as `5.0`).
pub fn parse_batch(body: &[u8]) -> Result<CheckedBatch<'_>, ApiError> {
    // The body's UTF-8 checked once, in one pass (serde_json reading bytes checks each string
    // it borrows again: 3.5% of Polaris's samples in benchmark P5).
    let read = std::str::from_utf8(body)
        .ok()
        .and_then(|text| serde_json::from_str::<IncomingBatch>(text).ok());
    match read {
        Some(batch) => check_incoming(batch),
        None => check_batch(crate::error::parse_json::<LogBatch>(body)?),
    }
}

/// Checks a batch; the error names the first thing wrong.
pub fn check_batch(batch: LogBatch) -> Result<CheckedBatch<'static>, ApiError> {
    check_incoming(IncomingBatch::from(batch))
}

/// Checks a batch as read from the body; the error names the first thing wrong.
pub fn check_incoming(batch: IncomingBatch<'_>) -> Result<CheckedBatch<'_>, ApiError> {
    let total = batch.records.len()
        + batch
            .files
            .iter()
            .map(|file| file.records.len())
            .sum::<usize>();
    if total > MAX_BATCH_RECORDS {
        return Err(ApiError::invalid(format!(
            "a batch holds at most {MAX_BATCH_RECORDS} records, this one {total}"
        )));
    }
    if batch.sources.len() > MAX_SOURCES {
        return Err(ApiError::invalid(format!(
            "a batch reports at most {MAX_SOURCES} sources, this one {}",
            batch.sources.len()
        )));
    }
    let mut records = Vec::with_capacity(total);
    let mut shared = Shared::default();
    for (i, record) in batch.records.into_iter().enumerate() {
        let (names, record) = record.split();
        let checked = shared
            .file(&names)
            .and_then(|file| check_record(record, &file, None));
        records.push(checked.map_err(|why| ApiError::invalid(format!("record {i}: {why}")))?);
    }
    for (f, group) in batch.files.into_iter().enumerate() {
        let file = shared
            .file(&[group.source, group.file, group.path])
            .map_err(|why| ApiError::invalid(format!("file {f}: {why}")))?;
        for (i, record) in group.records.into_iter().enumerate() {
            records.push(
                check_record(record, &file, group.preset)
                    .map_err(|why| ApiError::invalid(format!("file {f} record {i}: {why}")))?,
            );
        }
    }
    let sources = batch
        .sources
        .into_iter()
        .enumerate()
        .map(|(i, source)| {
            check_source(source).map_err(|why| ApiError::invalid(format!("source {i}: {why}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CheckedBatch { records, sources })
}

/// The checked source, file and path records share.
#[derive(Clone)]
struct FileNames {
    source: Arc<str>,
    file: Arc<str>,
    path: Arc<str>,
}

/// The source, file and path of the record before: the records of one file share them (and
/// are checked once).
#[derive(Default)]
struct Shared {
    last: Option<([String; 3], FileNames)>,
}

impl Shared {
    /// The checked names of `[source, file, path]`.
    fn file(&mut self, names: &[Cow<'_, str>; 3]) -> Result<FileNames, String> {
        if let Some((known, checked)) = &self.last
            && known.iter().zip(names).all(|(a, b)| a.as_str() == &**b)
        {
            return Ok(checked.clone());
        }
        let [source, file, path] = names;
        check_source_name(source)?;
        if !is_file_generation(file) {
            return Err(format!(
                "`file` must be 16 lowercase hex digits, not `{}`",
                shorten(file)
            ));
        }
        let checked = FileNames {
            source: Arc::from(source.as_ref()),
            file: Arc::from(file.as_ref()),
            path: Arc::from(note(path)),
        };
        self.last = Some((names.clone().map(Cow::into_owned), checked.clone()));
        Ok(checked)
    }
}

/// Checks a record of a file whose preset is `preset`.
fn check_record<'a>(
    record: IncomingFileRecord<'a>,
    file: &FileNames,
    preset: Option<Preset>,
) -> Result<NewLogRecord<'a>, String> {
    if !record.time.is_finite() {
        return Err("`time` must be a finite number of Unix seconds".into());
    }
    let has_nul = record.message.contains('\0');
    let fields = match (record.fields, preset) {
        (Some(fields), _) => LogFields::Json(check_sent_fields(fields.0)?),
        (None, None) => LogFields::Json(Cow::Borrowed("{}")),
        // The fields of a message with a NUL are stored as text: the message is stored with
        // U+FFFD in its place, which the preset may not read as it read the NUL.
        (None, Some(preset)) if has_nul => LogFields::Json(Cow::Owned(
            preset
                .fields_text(&record.message)
                .ok_or_else(|| not_read_by(preset))?,
        )),
        (None, Some(preset)) => {
            if Preset::spans(&record.message).is_none() {
                return Err(not_read_by(preset));
            }
            LogFields::Preset(preset)
        }
    };
    let message = if has_nul {
        Cow::Owned(record.message.replace('\0', "\u{fffd}"))
    } else {
        record.message
    };
    Ok(NewLogRecord {
        source: file.source.clone(),
        file: file.file.clone(),
        offset: signed("offset", record.offset)?,
        path: file.path.clone(),
        time: record.time,
        time_from_read: record.time_from_read,
        message,
        fields,
        truncated_bytes: record
            .truncated_bytes
            .map(|n| signed("truncated_bytes", n))
            .transpose()?,
        parse_error: record.parse_error.as_deref().map(note),
    })
}

/// A record's `fields` as sent, checked: the text stored.
fn check_sent_fields(fields: Cow<'_, str>) -> Result<Cow<'_, str>, String> {
    if check_fields(&fields, MAX_FIELDS)?.spaced {
        // Pretty-printed by the client: stored (and counted by retention) without its layout.
        let value: serde_json::Value =
            serde_json::from_str(&fields).map_err(|e| format!("fields: {e}"))?;
        Ok(Cow::Owned(value.to_string()))
    } else {
        Ok(fields)
    }
}

/// Why a record sent without fields in a file with `preset` is refused.
fn not_read_by(preset: Preset) -> String {
    format!(
        "the message is not a line the `{}` preset reads on its own: send its `fields`",
        preset.name()
    )
}

fn check_source(source: SourceStatus) -> Result<NewSourceState, String> {
    check_source_name(&source.name)?;
    if !SOURCE_STATES.contains(&source.state.as_str()) {
        return Err(format!(
            "`state` must be one of {}, not `{}`",
            SOURCE_STATES.join(", "),
            shorten(&source.state)
        ));
    }
    Ok(NewSourceState {
        path: note(&source.path),
        files: signed("files", source.files)?,
        open_files: signed("open_files", source.open_files)?,
        offset: signed("offset", source.offset)?,
        size: signed("size", source.size)?,
        lag: signed("lag", source.lag)?,
        state: source.state,
        lost_bytes: signed("lost_bytes", source.lost_bytes)?,
        truncations: signed("truncations", source.truncations)?,
        parse_errors: signed("parse_errors", source.parse_errors)?,
        truncated_records: signed("truncated_records", source.truncated_records)?,
        rejected_records: signed("rejected_records", source.rejected_records)?,
        last_error: source.last_error.as_deref().map(note),
        name: source.name,
    })
}

/// A source name: 1 to [`MAX_SOURCE_NAME`] bytes, no control characters.
fn check_source_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_SOURCE_NAME {
        return Err(format!(
            "the source name must be 1 to {MAX_SOURCE_NAME} bytes, `{}` is {}",
            shorten(name),
            name.len()
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "the source name `{}` holds a control character",
            shorten(name).escape_debug()
        ));
    }
    Ok(())
}

/// Whether `file` names a file generation: 16 lowercase hex digits.
pub fn is_file_generation(file: &str) -> bool {
    file.len() == 16 && file.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn signed(what: &str, value: u64) -> Result<i64, String> {
    i64::try_from(value).map_err(|_| format!("`{what}` {value} is over 2^63 - 1"))
}

/// A descriptive text, without NUL, cut to [`MAX_NOTE`] bytes on a character boundary.
fn note(text: &str) -> String {
    let mut end = text.len().min(MAX_NOTE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    without_nul(text[..end].to_owned())
}

fn without_nul(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{fffd}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};
    use wire::logs::LogRecord;

    use super::*;

    fn batch(record: Value) -> LogBatch {
        serde_json::from_value(json!({ "records": [record] })).unwrap()
    }

    fn good() -> Value {
        json!({"source": "nginx", "file": "0123456789abcdef", "offset": 7, "path": "/a",
            "time": 1.5, "message": "m\u{0}x", "fields": {"k\u{0}": ["v\u{0}"]}})
    }

    #[test]
    fn a_good_batch_is_stored_without_nul() {
        let checked = check_batch(batch(good())).unwrap();
        let record = &checked.records[0];
        assert_eq!(&*record.message, "m\u{fffd}x");
        // The fields as sent: NUL stays escaped, in a JSON text that reads back the same.
        let fields = record.fields.text(&record.message);
        assert!(!fields.contains('\0'));
        let back: Value = serde_json::from_str(&fields).unwrap();
        assert_eq!(back, good()["fields"]);
        assert_eq!(record.offset, 7);
    }

    #[test]
    fn bad_records_are_named() {
        let cases = [
            ("file", json!("0123456789ABCDEF"), "16 lowercase hex"),
            ("file", json!("abc"), "16 lowercase hex"),
            ("source", json!(""), "source name"),
            (
                "source",
                json!("x".repeat(MAX_SOURCE_NAME + 1)),
                "source name",
            ),
            ("offset", json!(u64::MAX), "offset"),
        ];
        for (key, value, why) in cases {
            let mut record = good();
            record[key] = value;
            let error = check_batch(batch(record)).unwrap_err();
            assert_eq!(error.errcode, 3021);
            assert!(
                error.message.contains("record 0") && error.message.contains(why),
                "{}",
                error.message
            );
        }
        let mut record = good();
        let fields: Map<String, Value> = (0..=MAX_FIELDS)
            .map(|i| (i.to_string(), json!(i)))
            .collect();
        record["fields"] = Value::Object(fields);
        assert!(
            check_batch(batch(record))
                .unwrap_err()
                .message
                .contains("fields")
        );
        let mut batch = batch(good());
        batch.records[0].time = f64::NAN;
        assert!(check_batch(batch).unwrap_err().message.contains("finite"));
    }

    #[test]
    fn too_many_records_or_a_bad_state_are_refused() {
        let one: LogRecord = serde_json::from_value(good()).unwrap();
        let many = LogBatch {
            records: vec![one; MAX_BATCH_RECORDS + 1],
            ..LogBatch::default()
        };
        assert!(check_batch(many).unwrap_err().message.contains("at most"));
        let source = SourceStatus {
            name: "nginx".into(),
            state: "sleeping".into(),
            ..Default::default()
        };
        let bad = LogBatch {
            sources: vec![source],
            ..LogBatch::default()
        };
        assert!(check_batch(bad).unwrap_err().message.contains("source 0"));
    }

    #[test]
    fn a_preset_file_s_records_without_fields_keep_the_preset_and_others_refused() {
        const LINE: &str =
            r#"::1 - - [04/Dec/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"curl\""#;
        let body = format!(
            r#"{{"files":[{{"source":"web","file":"0123456789abcdef","path":"/w","preset":"nginx",
            "records":[{{"offset":1,"time":2,"message":"{LINE}"}},
            {{"offset":2,"time":2,"message":"é","fields":{{"a":1}}}},
            {{"offset":3,"time":2,"message":"{}"}}]}}]}}"#,
            LINE.replacen("::1", "::1\\u0000", 1)
        );
        for checked in [
            parse_batch(body.as_bytes()).unwrap(),
            check_batch(serde_json::from_str(&body).unwrap()).unwrap(),
        ] {
            let [read, sent, nul] = &checked.records[..] else {
                panic!("three records")
            };
            assert_eq!(read.fields, LogFields::Preset(Preset::Nginx));
            assert_eq!(read.fields.stored_len(), 0);
            let fields: Value = serde_json::from_str(&read.fields.text(&read.message)).unwrap();
            assert_eq!(fields["status"], 200);
            assert_eq!(fields["remote_addr"], "::1");
            assert_eq!(sent.fields, LogFields::Json(r#"{"a":1}"#.into()));
            // A NUL: the message is stored with U+FFFD, its fields as read with the NUL.
            assert!(nul.message.starts_with("::1\u{fffd} -"));
            let LogFields::Json(text) = &nul.fields else {
                panic!("{:?}", nul.fields)
            };
            let fields: Value = serde_json::from_str(text).unwrap();
            assert_eq!(fields["remote_addr"], "::1\u{0}");
        }
        let unread = body.replacen(LINE, "not a combined line", 1);
        let error = parse_batch(unread.as_bytes()).unwrap_err();
        assert_eq!(error.errcode, 3021);
        assert!(
            error.message.contains("file 0 record 0") && error.message.contains("`nginx` preset"),
            "{}",
            error.message
        );
        // Without a preset, a record without fields has none.
        let plain = body.replacen(r#""preset":"nginx","#, "", 1);
        let checked = parse_batch(plain.as_bytes()).unwrap();
        assert_eq!(checked.records[0].fields, LogFields::Json("{}".into()));
    }

    #[test]
    fn grouped_records_are_checked_as_records_are() {
        let grouped = br#"{"files":[{"source":"web","file":"0123456789abcdef","path":"/w",
            "records":[{"offset":1,"time":2,"message":"a","fields":{"b":1,"a":"x"}},
            {"offset":9,"time":3,"time_from_read":true,"message":"c","truncated_bytes":4}]}],
            "records":[{"source":"s","file":"fedcba9876543210","offset":0,"path":"/s",
            "time":1,"message":"first"}]}"#;
        let checked = parse_batch(grouped).unwrap();
        let seen: Vec<(&str, &str, i64, &str, String)> = checked
            .records
            .iter()
            .map(|r| {
                let fields = r.fields.text(&r.message).into_owned();
                (&*r.source, &*r.path, r.offset, &*r.message, fields)
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("s", "/s", 0, "first", "{}".into()),
                ("web", "/w", 1, "a", r#"{"b":1,"a":"x"}"#.into()),
                ("web", "/w", 9, "c", "{}".into())
            ]
        );
        assert!(checked.records[2].time_from_read);
        assert_eq!(checked.records[2].truncated_bytes, Some(4));
        // The records of one file share its names.
        assert!(Arc::ptr_eq(
            &checked.records[1].path,
            &checked.records[2].path
        ));
        // The same batch as `LogBatch` (the reading of a body the borrowed one refuses).
        let owned: LogBatch = serde_json::from_slice(grouped).unwrap();
        let again = check_batch(owned).unwrap();
        assert_eq!(again.records.len(), 3);
        assert_eq!(
            again.records[1].fields,
            LogFields::Json(r#"{"a":"x","b":1}"#.into())
        );
        for (bad, why) in [
            (
                r#"{"files":[{"source":"","file":"0123456789abcdef","path":"","records":[]}]}"#,
                "file 0: the source name",
            ),
            (
                r#"{"files":[{"source":"s","file":"0123456789abcdef","path":"","records":[{"offset":1,"time":1,"message":"","fields":[1]}]}]}"#,
                "file 0 record 0: fields",
            ),
        ] {
            let error = parse_batch(bad.as_bytes()).unwrap_err();
            assert!(error.message.contains(why), "{}", error.message);
        }
        let one = r#"{"offset":1,"time":1,"message":""}"#;
        let many = format!(
            r#"{{"files":[{{"source":"s","file":"0123456789abcdef","path":"","records":[{}]}}],
            "records":[{{"source":"s","file":"0123456789abcdef","offset":1,"path":"","time":1,"message":""}}]}}"#,
            vec![one; MAX_BATCH_RECORDS].join(",")
        );
        assert!(
            parse_batch(many.as_bytes())
                .unwrap_err()
                .message
                .contains("at most")
        );
    }

    #[test]
    fn a_body_the_borrowed_reading_refuses_is_read_or_refused_as_before() {
        // `5.0` is an integer to `ApiJson`.
        let body = br#"{"records":[{"source":"s","file":"0123456789abcdef","offset":5.0,
            "path":"","time":1,"message":"m"}]}"#;
        assert_eq!(parse_batch(body).unwrap().records[0].offset, 5);
        let error = parse_batch(br#"{"records":[{"source":"s"}]}"#).unwrap_err();
        assert_eq!(error.errcode, 3021);
        assert!(error.message.contains("file"), "{}", error.message);
    }
}
