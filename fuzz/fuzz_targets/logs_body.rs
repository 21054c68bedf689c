//! Fuzzes the body of `POST /api/v1/logs` as Polaris reads it: `parse_batch` (the borrowed
//! reading of both shapes, `records` and grouped `files`, falling back to `LogBatch` for the
//! error message), which refuses a bad batch whole. Never a panic; a refused body is a 4xx
//! with a message (3021 from the checks); an accepted batch keeps every record in order
//! (`records` first, then those of `files`), within the limits of `wire::logs`, with a
//! 16-hex-digit file, a finite time, no NUL in its texts and fields that read back as a JSON
//! object of at most `MAX_FIELDS` fields; a record kept with its file's preset has a message
//! the preset reads. What `LogBatch` reads the same way is accepted the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polaris::api::log_batch::{check_batch, is_file_generation, parse_batch};
use polaris::db::logs::LogFields;
use wire::logs::{LogBatch, MAX_BATCH_RECORDS, MAX_FIELDS, Preset};

fuzz_target!(|data: &[u8]| {
    let checked = match parse_batch(data) {
        Ok(checked) => checked,
        Err(e) => {
            assert!(e.status.is_client_error(), "{} for a bad body", e.status);
            assert!(!e.message.is_empty());
            return;
        }
    };
    assert!(checked.records.len() <= MAX_BATCH_RECORDS);
    for record in &checked.records {
        assert!(record.offset >= 0 && record.time.is_finite());
        assert!(is_file_generation(&record.file));
        let fields = record.fields.text(&record.message);
        for text in [&*record.message, &*record.path, &*fields] {
            assert!(!text.contains('\0'), "a NUL reaches the database");
        }
        if let LogFields::Preset(_) = record.fields {
            assert!(Preset::spans(&record.message).is_some(), "a preset record it cannot read");
        }
        let fields: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&fields).expect("stored fields are a JSON object");
        assert!(fields.len() <= MAX_FIELDS);
    }
    // A body `LogBatch` reads too: the same records, in the same order.
    if let Ok(batch) = serde_json::from_slice::<LogBatch>(data) {
        let sent: Vec<(String, u64)> = batch
            .clone()
            .all_records()
            .into_iter()
            .map(|r| (r.source, r.offset))
            .collect();
        let got: Vec<(String, u64)> = checked
            .records
            .iter()
            .map(|r| (r.source.to_string(), r.offset as u64))
            .collect();
        assert_eq!(got, sent);
        let again = check_batch(batch).expect("a batch accepted borrowed is accepted owned");
        assert_eq!(again.records.len(), checked.records.len());
    }
});
