//! The checks of a log batch (`POST /api/v1/logs`) before anything is stored: the limits of
//! `wire::logs`, a finite time, a file generation of 16 lowercase hex digits, integers in the
//! databases' range, a known source state. A bad batch is refused whole (3021, naming the
//! record or source and what is wrong), so nothing of it is stored. NUL characters, which
//! PostgreSQL cannot store in text, become U+FFFD; over-long paths, errors and reasons are cut
//! (they describe a record, they are not its content).

use serde_json::{Map, Value};
use wire::logs::{
    LogBatch, LogRecord, MAX_BATCH_RECORDS, MAX_FIELDS, MAX_SOURCE_NAME, SourceStatus,
};

use super::identity::shorten;
use crate::db::logs::{NewLogRecord, NewSourceState, field_index};
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

/// Checks a batch; the error names the first thing wrong.
pub fn check_batch(batch: LogBatch) -> Result<CheckedBatch, ApiError> {
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
    let records = batch
        .records
        .into_iter()
        .enumerate()
        .map(|(i, record)| {
            check_record(record).map_err(|why| ApiError::invalid(format!("record {i}: {why}")))
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

fn check_record(record: LogRecord) -> Result<NewLogRecord, String> {
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
    if record.fields.len() > MAX_FIELDS {
        return Err(format!(
            "at most {MAX_FIELDS} fields, this record has {}",
            record.fields.len()
        ));
    }
    let fields = without_nul_map(record.fields);
    let field_index = field_index(&fields);
    let fields =
        serde_json::to_string(&Value::Object(fields)).map_err(|e| format!("fields: {e}"))?;
    Ok(NewLogRecord {
        source: record.source,
        file: record.file,
        offset: signed("offset", record.offset)?,
        path: note(&record.path),
        time: record.time,
        time_from_read: record.time_from_read,
        message: without_nul(record.message),
        fields,
        field_index,
        truncated_bytes: record
            .truncated_bytes
            .map(|n| signed("truncated_bytes", n))
            .transpose()?,
        parse_error: record.parse_error.as_deref().map(note),
    })
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
        assert_eq!(record.message, "m\u{fffd}x");
        assert_eq!(record.fields, r#"{"k�":["v�"]}"#);
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
}
