//! The checks of a log batch (`POST /api/v1/logs`) before anything is stored: the limits of
//! `wire::logs`, a finite time, a file generation of 16 lowercase hex digits, integers in the
//! databases' range, a known source state. A bad batch is refused whole (3021, naming the
//! record or source and what is wrong), so nothing of it is stored. NUL characters, which
//! PostgreSQL cannot store in text, become U+FFFD; over-long paths, errors and reasons are cut
//! (they describe a record, they are not its content).

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};
use wire::logs::{LogBatch, MAX_BATCH_RECORDS, MAX_FIELDS, MAX_SOURCE_NAME, SourceStatus};

use super::identity::shorten;
use super::log_parse::{FieldValue, Fields, IncomingBatch, IncomingRecord};
use crate::db::logs::{NewLogRecord, NewSourceState, field_index, push_field_line};
use crate::error::ApiError;

/// Most sources one batch may report.
pub const MAX_SOURCES: usize = 1024;
/// Longest path, parse error or last error kept, in bytes (longer ones are cut).
pub const MAX_NOTE: usize = 4096;
/// The states a source may be in.
pub const SOURCE_STATES: [&str; 4] = ["reading", "idle", "waiting", "error"];

/// A batch that passed the checks, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedBatch {
    /// Its records.
    pub records: Vec<NewLogRecord>,
    /// Its sources' states.
    pub sources: Vec<NewSourceState>,
}

/// Reads and checks a body of `POST /api/v1/logs`: borrowed from the body where it can be
/// ([`IncomingBatch`]); a body that reading refuses is read as `LogBatch`, which names what is
/// wrong (or accepts it: integers written as `5.0`).
pub fn parse_batch(body: &[u8]) -> Result<CheckedBatch, ApiError> {
    match serde_json::from_slice::<IncomingBatch>(body) {
        Ok(batch) => check_incoming(batch),
        Err(_) => check_batch(crate::error::parse_json::<LogBatch>(body)?),
    }
}

/// Checks a batch; the error names the first thing wrong.
pub fn check_batch(batch: LogBatch) -> Result<CheckedBatch, ApiError> {
    check_incoming(IncomingBatch::from(batch))
}

/// Checks a batch as read from the body; the error names the first thing wrong.
pub fn check_incoming(batch: IncomingBatch<'_>) -> Result<CheckedBatch, ApiError> {
    if batch.records.len() > MAX_BATCH_RECORDS {
        return Err(ApiError::invalid(format!(
            "a batch holds at most {MAX_BATCH_RECORDS} records, this one {}",
            batch.records.len()
        )));
    }
    if batch.sources.len() > MAX_SOURCES {
        return Err(ApiError::invalid(format!(
            "a batch reports at most {MAX_SOURCES} sources, this one {}",
            batch.sources.len()
        )));
    }
    let mut shared = Shared::default();
    let records = batch
        .records
        .into_iter()
        .enumerate()
        .map(|(i, record)| {
            check_record(record, &mut shared)
                .map_err(|why| ApiError::invalid(format!("record {i}: {why}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
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

/// The source, file and path of the record before: the records of one file share them.
#[derive(Default)]
struct Shared {
    source: Option<Arc<str>>,
    file: Option<Arc<str>>,
    path: Option<Arc<str>>,
}

/// `text` as shared, the same `Arc` as the record before's when equal.
fn share(last: &mut Option<Arc<str>>, text: &str) -> Arc<str> {
    match last {
        Some(known) if **known == *text => known.clone(),
        _ => last.insert(Arc::from(text)).clone(),
    }
}

fn check_record(record: IncomingRecord<'_>, shared: &mut Shared) -> Result<NewLogRecord, String> {
    check_source_name(&record.source)?;
    if !is_file_generation(&record.file) {
        return Err(format!(
            "`file` must be 16 lowercase hex digits, not `{}`",
            shorten(&record.file)
        ));
    }
    if !record.time.is_finite() {
        return Err("`time` must be a finite number of Unix seconds".into());
    }
    let (fields, field_index) = stored_fields(record.fields)?;
    let path = if record.path.len() <= MAX_NOTE && !record.path.contains('\0') {
        share(&mut shared.path, &record.path)
    } else {
        Arc::from(note(&record.path))
    };
    let message = if record.message.contains('\0') {
        Arc::from(record.message.replace('\0', "\u{fffd}"))
    } else {
        Arc::from(record.message.as_ref())
    };
    Ok(NewLogRecord {
        source: share(&mut shared.source, &record.source),
        file: share(&mut shared.file, &record.file),
        offset: signed("offset", record.offset)?,
        path,
        time: record.time,
        time_from_read: record.time_from_read,
        message,
        fields: Arc::from(fields),
        field_index: Arc::from(field_index),
        truncated_bytes: record
            .truncated_bytes
            .map(|n| signed("truncated_bytes", n))
            .transpose()?,
        parse_error: record.parse_error.as_deref().map(|e| Arc::from(note(e))),
    })
}

/// A record's fields as stored: the JSON text of the object (names in order, the last of a
/// name given twice, no NUL) and its [`field_index`], written in one pass. The same texts as
/// `serde_json::to_string` of the cleaned `Map` and `field_index` of it (a test holds them
/// to it); a name holding NUL goes through that `Map`.
fn stored_fields(fields: Fields<'_>) -> Result<(String, String), String> {
    let mut fields = fields.0;
    if fields.iter().any(|(name, _)| name.contains('\0')) {
        let map: Map<String, Value> = fields
            .into_iter()
            .map(|(name, value)| (name.into_owned(), value.into_value()))
            .collect();
        if map.len() > MAX_FIELDS {
            return Err(too_many_fields(map.len()));
        }
        let map = without_nul_map(map);
        let index = field_index(&map);
        let text =
            serde_json::to_string(&Value::Object(map)).map_err(|e| format!("fields: {e}"))?;
        return Ok((text, index));
    }
    // Sorted by name as a `Map` is; stable, so of a name given twice the last one stays.
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    let mut kept: Vec<(Cow<'_, str>, FieldValue<'_>)> = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        match kept.last_mut() {
            Some(last) if last.0 == name => last.1 = value,
            _ => kept.push((name, value)),
        }
    }
    if kept.len() > MAX_FIELDS {
        return Err(too_many_fields(kept.len()));
    }
    let mut text = Vec::with_capacity(64 + kept.len() * 32);
    let mut index = String::with_capacity(64 + kept.len() * 24);
    index.push('\n');
    text.push(b'{');
    for (i, (name, value)) in kept.into_iter().enumerate() {
        if i > 0 {
            text.push(b',');
        }
        serde_json::to_writer(&mut text, name.as_ref()).map_err(|e| format!("fields: {e}"))?;
        text.push(b':');
        let value = match value {
            FieldValue::Text(t) if t.contains('\0') => {
                FieldValue::Text(Cow::Owned(t.replace('\0', "\u{fffd}")))
            }
            FieldValue::Nested(nested) => FieldValue::Nested(without_nul_value(nested)),
            other => other,
        };
        serde_json::to_writer(&mut text, &value).map_err(|e| format!("fields: {e}"))?;
        let line = match &value {
            FieldValue::Text(t) => Some(Cow::Borrowed(t.as_ref())),
            FieldValue::Number(n) => Some(Cow::Owned(n.to_string())),
            FieldValue::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            FieldValue::Null | FieldValue::Nested(_) => None,
        };
        if let Some(line) = line {
            push_field_line(&mut index, &name, &line);
            index.push('\n');
        }
    }
    text.push(b'}');
    let text = String::from_utf8(text).map_err(|e| format!("fields: {e}"))?;
    Ok((text, index))
}

fn too_many_fields(n: usize) -> String {
    format!("at most {MAX_FIELDS} fields, this record has {n}")
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

fn without_nul_map(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .map(|(key, value)| (without_nul(key), without_nul_value(value)))
        .collect()
}

fn without_nul_value(value: Value) -> Value {
    match value {
        Value::String(text) => Value::String(without_nul(text)),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nul_value).collect()),
        Value::Object(map) => Value::Object(without_nul_map(map)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
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
        assert_eq!(&*record.fields, r#"{"k�":["v�"]}"#);
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
            sources: vec![],
        };
        assert!(check_batch(many).unwrap_err().message.contains("at most"));
        let source = SourceStatus {
            name: "nginx".into(),
            state: "sleeping".into(),
            ..Default::default()
        };
        let bad = LogBatch {
            records: vec![],
            sources: vec![source],
        };
        assert!(check_batch(bad).unwrap_err().message.contains("source 0"));
    }

    /// The texts the old reading wrote: `Map`, cleaned, written and indexed.
    fn through_map(fields: &Value) -> (String, String) {
        let map = without_nul_map(fields.as_object().unwrap().clone());
        let index = field_index(&map);
        (serde_json::to_string(&Value::Object(map)).unwrap(), index)
    }

    #[test]
    fn fields_are_stored_as_through_a_map() {
        let cases = [
            r#"{}"#,
            r#"{"status":200,"path":"/a=b\\c\nd","ok":true,"no":null,"f":1.5e3,"neg":-7}"#,
            r#"{"z":"1","a":"2","z":"3","m":[1,"x\u0000"],"o":{"k\u0000":"v\u0000"}}"#,
            r#"{"é=":"ü\"q","tab":"a\tb","big":18446744073709551615,"small":-9223372036854775808}"#,
            r#"{"k\u0000":"v","k\ufffd":"w","x\u0000y":1}"#,
            r#"{"f":0.1,"g":1e-7,"h":123456789012345678901234567890}"#,
        ];
        for text in cases {
            let value: Value = serde_json::from_str(text).unwrap();
            let body = format!(
                r#"{{"records":[{{"source":"s","file":"0123456789abcdef","offset":1,"path":"",
                "time":1,"message":"","fields":{text}}}]}}"#
            );
            let incoming: IncomingBatch = serde_json::from_slice(body.as_bytes()).unwrap();
            let record = incoming.records.into_iter().next().unwrap();
            let (stored, index) = stored_fields(record.fields).unwrap();
            assert_eq!((stored.clone(), index), through_map(&value), "{text}");
            let parsed = parse_batch(body.as_bytes()).unwrap();
            assert_eq!(&*parsed.records[0].fields, stored);
        }
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
