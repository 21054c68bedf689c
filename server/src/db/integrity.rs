//! The database side of integrity reports (issue 17; statements in `common/integrity.rs`):
//! each run's report of a host's `secureagent` with its findings, the host's accepted baseline
//! digest (that of its latest `init` or `update` report), the flag on a report whose baseline
//! is not the accepted one, and acknowledgements (who and when) of findings and flagged
//! reports. The API layer (`api::integrity`) checks a report and builds these types.

use chrono::{DateTime, Utc};
use wire::integrity::{Change, IntegrityReport, RunKind};

use super::DbFuture;

/// A stored report's id and the verdict on its baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    /// Its id.
    pub id: i64,
    /// The baseline it used is the accepted one (`init` reports always are).
    pub baseline_ok: bool,
    /// Why not, when not.
    pub reason: Option<String>,
}

/// A stored report, without its findings.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSummary {
    /// Its id.
    pub id: i64,
    /// The host whose certificate sent it.
    pub host: String,
    /// The verb.
    pub kind: RunKind,
    /// The digest of the baseline used (check) or written (init, update).
    pub baseline_digest: String,
    /// `update`: the digest of the baseline its check used.
    pub previous_digest: Option<String>,
    /// The host's accepted digest when the report arrived.
    pub accepted_digest: Option<String>,
    /// The verdict on its baseline.
    pub baseline_ok: bool,
    /// Why the baseline is not ok.
    pub reason: Option<String>,
    /// When the run started, Unix seconds.
    pub started: f64,
    /// How long it took, seconds.
    pub duration_s: f64,
    /// Entries scanned.
    pub entries: u64,
    /// Entries added.
    pub added: u64,
    /// Entries removed.
    pub removed: u64,
    /// Entries changed.
    pub changed: u64,
    /// Entries unreadable.
    pub unreadable: u64,
    /// Findings stored.
    pub findings: u64,
    /// Findings the agent left out.
    pub findings_dropped: u64,
    /// When Polaris stored it.
    pub received_at: DateTime<Utc>,
    /// A flagged report's acknowledgement: who and when.
    pub acknowledged: Option<(String, DateTime<Utc>)>,
}

/// A stored finding.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingEntry {
    /// Its id.
    pub id: i64,
    /// The report it came in.
    pub report_id: i64,
    /// The host.
    pub host: String,
    /// The kind of the report it came in (`realtime`: the real-time watch's).
    pub kind: RunKind,
    /// The entry's path.
    pub path: String,
    /// Added, removed or changed.
    pub change: Change,
    /// The changed attribute.
    pub attribute: Option<String>,
    /// Its old value.
    pub old: Option<String>,
    /// Its new value.
    pub new: Option<String>,
    /// When the report arrived.
    pub received_at: DateTime<Utc>,
    /// Who acknowledged it and when.
    pub acknowledged: Option<(String, DateTime<Utc>)>,
}

/// Which findings to list, by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindingQuery {
    /// Only this host's.
    pub host: Option<String>,
    /// Acknowledged ones too.
    pub all: bool,
    /// Only ids above this (the previous page's last).
    pub after: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// What to acknowledge.
#[derive(Debug, Clone, PartialEq)]
pub enum AckTarget {
    /// These findings.
    Findings(Vec<i64>),
    /// Every finding and flagged report of a host up to a report id (inclusive).
    HostUpTo {
        /// The host.
        host: String,
        /// The last report acknowledged.
        report_id: i64,
    },
}

/// What an acknowledgement changed (what was acknowledged before is left as it was).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Acknowledged {
    /// Findings acknowledged now.
    pub findings: u64,
    /// Flagged reports acknowledged now.
    pub reports: u64,
}

/// A host's integrity state.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrityState {
    /// The host.
    pub host: String,
    /// Its accepted baseline digest (`None`: no `init` or `update` yet).
    pub accepted_digest: Option<String>,
    /// Its latest report.
    pub last_report: ReportSummary,
    /// Whether its latest check (or update) used the accepted baseline (`None`: none yet).
    pub last_check_baseline_ok: Option<bool>,
    /// Flagged reports not acknowledged (an `update` after them does not clear them).
    pub unacknowledged_flags: u64,
    /// Findings not acknowledged.
    pub unacknowledged_findings: u64,
}

/// Integrity reports (implemented once for every backend in `common/integrity.rs`).
pub trait IntegrityStore: Send + Sync {
    /// Stores a checked report of `host` with its findings in one transaction, judging its
    /// baseline against the host's accepted digest; an `init` or `update` makes its digest
    /// the accepted one.
    fn store_integrity_report<'a>(
        &'a self,
        host: &'a str,
        report: &'a IntegrityReport,
    ) -> DbFuture<'a, StoredReport>;

    /// Findings by id, at most `limit`.
    fn integrity_findings<'a>(&'a self, query: &'a FindingQuery)
    -> DbFuture<'a, Vec<FindingEntry>>;

    /// Acknowledges what `target` names that is not acknowledged yet, as `by`, now.
    fn acknowledge_integrity<'a>(
        &'a self,
        target: &'a AckTarget,
        by: &'a str,
    ) -> DbFuture<'a, Acknowledged>;

    /// The integrity state of each reporting host (or of one), by host name.
    fn integrity_states<'a>(&'a self, host: Option<&'a str>) -> DbFuture<'a, Vec<IntegrityState>>;
}
