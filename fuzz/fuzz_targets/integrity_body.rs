//! Fuzzes the body of `POST /api/v1/integrity/reports`: Polaris's JSON reading and
//! `check_report`. Never a panic; a refused body is a 4xx with a message (3021); an accepted
//! report has valid digests (a `previous_digest` only and always on `update`), finite
//! non-negative times, counts in the databases' range, at most `MAX_FINDINGS` findings, each
//! within its limits, without NUL, with an attribute exactly when changed; and it round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polaris::api::integrity::check_report;
use polaris::error::parse_json;
use wire::integrity::{
    Change, IntegrityReport, MAX_ATTRIBUTE, MAX_FINDINGS, MAX_PATH, MAX_VALUE, RunKind,
    is_digest,
};

fuzz_target!(|data: &[u8]| {
    let report: IntegrityReport = match parse_json(data) {
        Ok(report) => report,
        Err(e) => {
            assert!(e.status.is_client_error() && !e.message.is_empty());
            return;
        }
    };
    if let Err(e) = check_report(&report) {
        assert!(e.status.is_client_error() && !e.message.is_empty());
        assert_eq!(e.errcode, 3021);
        return;
    }
    assert!(is_digest(&report.baseline_digest));
    assert_eq!(report.kind == RunKind::Update, report.previous_digest.is_some());
    assert!(report.previous_digest.as_deref().is_none_or(is_digest));
    assert!(report.started.is_finite() && report.started >= 0.0);
    assert!(report.duration_s.is_finite() && report.duration_s >= 0.0);
    assert!(i64::try_from(report.entries).is_ok());
    assert!(report.findings.len() <= MAX_FINDINGS);
    for finding in &report.findings {
        assert!(!finding.path.is_empty() && finding.path.len() <= MAX_PATH);
        assert_eq!(finding.change == Change::Changed, finding.attribute.is_some());
        assert!(finding.attribute.as_ref().is_none_or(|a| a.len() <= MAX_ATTRIBUTE));
        for value in [&finding.old, &finding.new].into_iter().flatten() {
            assert!(value.len() <= MAX_VALUE && !value.contains('\0'));
        }
        assert!(!finding.path.contains('\0'));
    }
    platform_fuzz::json_round_trip(&report);
});
