//! The integrity agent ⇄ Polaris contract: the report `secureagent` posts to
//! `POST /api/v1/integrity/reports` after each `--init`, `--check` or `--update`, and after
//! each real-time comparison of the daemon (kind `realtime`) (mutual TLS:
//! the host is the certificate's, never a body's) and Polaris's answer, which says whether the
//! baseline the run used is the one Polaris accepted for the host.
//!
//! Polaris keeps each host's accepted baseline digest, taken from its `init` and `update`
//! reports; a `check` (or the check part of an `update`) whose baseline digest differs is
//! flagged, so a baseline swapped on the host, even with its `.sha256` rewritten, is caught.

use serde::{Deserialize, Serialize};

/// Most findings in one report; Polaris refuses a report with more (3021, naming the limit).
/// The agent sends the first [`MAX_FINDINGS`] and counts the rest in
/// [`IntegrityReport::findings_dropped`].
pub const MAX_FINDINGS: usize = 10_000;
/// Largest request body Polaris accepts on `POST /api/v1/integrity/reports`, in bytes.
pub const MAX_REPORT_BYTES: usize = 16 * 1024 * 1024;
/// Longest path of a finding, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH: usize = 4096;
/// Longest attribute name of a finding, in bytes.
pub const MAX_ATTRIBUTE: usize = 32;
/// Longest old or new value of a finding, in bytes (a long ACL or xattr list is cut by the
/// agent, which ends it with `…`).
pub const MAX_VALUE: usize = 4096;
/// Length of a baseline digest: SHA-256 as 64 lowercase hex digits.
pub const DIGEST_LEN: usize = 64;

/// Which verb the run was.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// `--init`: a new baseline was written; its digest becomes the accepted one.
    Init,
    /// `--check`: the current state was compared with the baseline.
    Check,
    /// `--update`: a check, then the current state written as the new baseline, whose digest
    /// becomes the accepted one.
    Update,
    /// A real-time comparison of the paths the daemon's watch saw change (not a whole
    /// check): judged against the accepted baseline like a `check`, never changes it.
    Realtime,
}

impl RunKind {
    /// The lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Init => "init",
            RunKind::Check => "check",
            RunKind::Update => "update",
            RunKind::Realtime => "realtime",
        }
    }

    /// The kind a stored name names.
    pub fn parse(name: &str) -> Option<RunKind> {
        Some(match name {
            "init" => RunKind::Init,
            "check" => RunKind::Check,
            "update" => RunKind::Update,
            "realtime" => RunKind::Realtime,
            _ => return None,
        })
    }
}

/// What happened to an entry.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// In the tree, not in the baseline.
    Added,
    /// In the baseline, not in the tree.
    Removed,
    /// In both, with an attribute changed.
    Changed,
}

impl Change {
    /// The lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
        }
    }

    /// The change a stored name names.
    pub fn parse(name: &str) -> Option<Change> {
        Some(match name {
            "added" => Change::Added,
            "removed" => Change::Removed,
            "changed" => Change::Changed,
            _ => return None,
        })
    }
}

/// One finding: an added or removed entry (no attribute), or one changed attribute of an
/// entry (a changed entry with three changed attributes is three findings).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// The entry's path as the rules name it (under the root prefix).
    pub path: String,
    /// Added, removed or changed.
    pub change: Change,
    /// The changed attribute's name as in AIDE's report (`sha256`, `perm`, `size`, ...);
    /// absent for added and removed entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// The old value (changed entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The new value (changed entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

/// One run's report.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IntegrityReport {
    /// The verb.
    pub kind: RunKind,
    /// SHA-256 (64 lowercase hex digits) of the baseline the run used (`check`) or wrote
    /// (`init`, `update`).
    pub baseline_digest: String,
    /// `update` only: the digest of the baseline its check part used (checked against the
    /// accepted one like a `check`'s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_digest: Option<String>,
    /// When the run started, Unix seconds.
    pub started: f64,
    /// How long it took, seconds.
    pub duration_s: f64,
    /// Entries in the tree.
    pub entries: u64,
    /// Entries added.
    pub added: u64,
    /// Entries removed.
    pub removed: u64,
    /// Entries changed.
    pub changed: u64,
    /// Entries the agent could not read.
    pub unreadable: u64,
    /// The findings, at most [`MAX_FINDINGS`].
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Findings the agent left out to stay within [`MAX_FINDINGS`].
    #[serde(default)]
    pub findings_dropped: u64,
}

/// Polaris's answer to a stored report.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntegrityAck {
    /// The report's id at Polaris.
    pub id: i64,
    /// `false`: the baseline the run used is not the one Polaris accepted for the host (or
    /// there was none: `reason` says which); the report is flagged.
    pub baseline_ok: bool,
    /// Why the baseline is not accepted, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Whether `text` is a digest as sent: 64 lowercase hex digits.
pub fn is_digest(text: &str) -> bool {
    text.len() == DIGEST_LEN && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_round_trips_and_unknown_fields_are_refused() {
        let report = IntegrityReport {
            kind: RunKind::Update,
            baseline_digest: "a".repeat(64),
            previous_digest: Some("b".repeat(64)),
            started: 1_764_806_400.5,
            duration_s: 0.25,
            entries: 10,
            added: 1,
            removed: 0,
            changed: 1,
            unreadable: 0,
            findings: vec![Finding {
                path: "/etc/passwd".into(),
                change: Change::Changed,
                attribute: Some("sha256".into()),
                old: Some("x".into()),
                new: Some("y".into()),
            }],
            findings_dropped: 0,
        };
        let text = serde_json::to_string(&report).unwrap();
        assert!(text.contains(r#""kind":"update""#), "{text}");
        assert_eq!(
            serde_json::from_str::<IntegrityReport>(&text).unwrap(),
            report
        );
        let extra = text.replacen('{', r#"{"host":"other","#, 1);
        assert!(serde_json::from_str::<IntegrityReport>(&extra).is_err());
        let bad_kind = text.replace(r#""update""#, r#""verify""#);
        assert!(serde_json::from_str::<IntegrityReport>(&bad_kind).is_err());
    }

    #[test]
    fn digests_are_64_lowercase_hex_digits() {
        assert!(is_digest(&"0af9".repeat(16)));
        assert!(!is_digest(&"0AF9".repeat(16)));
        assert!(!is_digest(&"0af9".repeat(15)));
        assert!(!is_digest(&"g".repeat(64)));
    }
}
