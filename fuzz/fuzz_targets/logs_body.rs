//! Fuzzes the body of `POST /api/v1/logs`: Polaris's JSON extractor and `check_batch`, which
//! refuses a bad batch whole. Never a panic; a refused body is a 4xx with a message (3021 from
//! the checks); an accepted batch keeps every record in order, within the limits of
//! `wire::logs`, with a 16-hex-digit file, a finite time, no NUL and fields that are a JSON
//! object whose index names only top-level scalar fields.
#![no_main]

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{Request, header};
use libfuzzer_sys::fuzz_target;
use polaris::api::log_batch::{check_batch, is_file_generation};
use polaris::error::ApiJson;
use wire::logs::{LogBatch, MAX_BATCH_RECORDS, MAX_FIELDS};

fuzz_target!(|data: &[u8]| {
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/logs")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(data.to_vec()))
        .expect("a request made here");
    let parsed = platform_fuzz::runtime().block_on(ApiJson::<LogBatch>::from_request(request, &()));
    let batch = match parsed {
        Ok(ApiJson(batch)) => batch,
        Err(e) => {
            assert!(e.status.is_client_error(), "{} for a bad body", e.status);
            assert!(!e.message.is_empty());
            return;
        }
    };
    let sent: Vec<(String, u64)> = batch
        .records
        .iter()
        .map(|r| (r.source.clone(), r.offset))
        .collect();
    let checked = match check_batch(batch) {
        Ok(checked) => checked,
        Err(e) => {
            assert!(e.status.is_client_error() && !e.message.is_empty());
            assert_eq!(e.errcode, 3021);
            return;
        }
    };
    assert!(checked.records.len() <= MAX_BATCH_RECORDS);
    assert_eq!(checked.records.len(), sent.len());
    for (record, (source, offset)) in checked.records.iter().zip(&sent) {
        assert_eq!((&record.source, record.offset as u64), (source, *offset));
        assert!(record.offset >= 0 && record.time.is_finite());
        assert!(is_file_generation(&record.file));
        for text in [&record.message, &record.path, &record.fields, &record.field_index] {
            assert!(!text.contains('\0'), "a NUL reaches the database");
        }
        let fields: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&record.fields).expect("stored fields are a JSON object");
        assert!(fields.len() <= MAX_FIELDS);
        assert!(record.field_index.starts_with('\n') && record.field_index.ends_with('\n'));
        let scalars = fields
            .values()
            .filter(|v| v.is_string() || v.is_number() || v.is_boolean())
            .count();
        assert_eq!(record.field_index.matches('\n').count(), scalars + 1);
    }
});
