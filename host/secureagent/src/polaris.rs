//! Reports to Polaris: each run's report as `wire::integrity::IntegrityReport`, posted to
//! `<polaris>/api/v1/integrity/reports` with the host's client certificate (mutual TLS, as
//! logagent does). A report Polaris cannot take now (unreachable, an error, 401/403) is kept
//! in the baseline's folder (0700; never walked) as a 0600 file `report-<time>.json` and sent
//! before the next run's, oldest first, so none is lost; at most [`MAX_PENDING`] are kept.
//! A report Polaris refuses as invalid (3021) is renamed `.refused` and not sent again.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wire::integrity::{
    Change, Finding, IntegrityAck, IntegrityReport, MAX_FINDINGS, MAX_PATH, MAX_REPORT_BYTES,
    MAX_VALUE, RunKind,
};

use crate::config::Config;
use crate::report::{CheckReport, EntryReport};

/// Most reports kept for a later send; past it the oldest is dropped (and said so).
pub const MAX_PENDING: usize = 100;
/// Largest answer read from Polaris, in bytes.
const MAX_ANSWER: u64 = 64 * 1024;
/// Polaris's retcode for "Invalid params".
const INVALID_PARAMS: u64 = 3021;
/// Largest kept report read back, in bytes (a report with 10,000 findings of 4 KiB values
/// each is under 100 MiB; larger files are not ours).
const MAX_PENDING_BYTES: u64 = 128 * 1024 * 1024;

/// `text` cut to at most `max` bytes at a character boundary, ending with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The report of an `--init`.
pub fn init_report(
    digest: &str,
    started: f64,
    duration_s: f64,
    entries: usize,
    unreadable: usize,
) -> IntegrityReport {
    IntegrityReport {
        kind: RunKind::Init,
        baseline_digest: digest.to_string(),
        previous_digest: None,
        started,
        duration_s,
        entries: entries as u64,
        added: 0,
        removed: 0,
        changed: 0,
        unreadable: unreadable as u64,
        findings: Vec::new(),
        findings_dropped: 0,
    }
}

/// The report of a `--check` (`new_digest`: `None`) or an `--update` (the digest it wrote).
pub fn check_report(
    report: &CheckReport,
    started: f64,
    new_digest: Option<&str>,
) -> IntegrityReport {
    let mut findings = Vec::new();
    let mut total = 0u64;
    let mut push = |finding: Finding| {
        total += 1;
        if findings.len() < MAX_FINDINGS {
            findings.push(finding);
        }
    };
    let whole = |entry: &EntryReport, change: Change| Finding {
        path: cut(&entry.path, MAX_PATH),
        change,
        attribute: None,
        old: None,
        new: None,
    };
    for entry in &report.added {
        push(whole(entry, Change::Added));
    }
    for entry in &report.removed {
        push(whole(entry, Change::Removed));
    }
    for entry in &report.changed {
        for attr in &entry.attributes {
            push(Finding {
                path: cut(&entry.path, MAX_PATH),
                change: Change::Changed,
                attribute: Some(attr.name.to_string()),
                old: Some(cut(&attr.old, MAX_VALUE)),
                new: Some(cut(&attr.new, MAX_VALUE)),
            });
        }
    }
    let dropped = total - findings.len() as u64;
    let (kind, baseline_digest, previous_digest) = match new_digest {
        Some(new) => (
            RunKind::Update,
            new.to_string(),
            Some(report.baseline.digest.clone()),
        ),
        None => (RunKind::Check, report.baseline.digest.clone(), None),
    };
    IntegrityReport {
        kind,
        baseline_digest,
        previous_digest,
        started,
        duration_s: report.summary.duration_s,
        entries: report.summary.entries as u64,
        added: report.summary.added as u64,
        removed: report.summary.removed as u64,
        changed: report.summary.changed as u64,
        unreadable: report.summary.unreadable as u64,
        findings,
        findings_dropped: dropped,
    }
}

/// The report as JSON within Polaris's body limit (`MAX_REPORT_BYTES`): findings are left
/// out from the end, counted in `findings_dropped`, until it fits.
fn fitted(report: &IntegrityReport) -> serde_json::Result<Vec<u8>> {
    let mut body = serde_json::to_vec(report)?;
    if body.len() <= MAX_REPORT_BYTES {
        return Ok(body);
    }
    let mut smaller = report.clone();
    while body.len() > MAX_REPORT_BYTES && !smaller.findings.is_empty() {
        let keep = smaller.findings.len() / 2;
        let dropped = (smaller.findings.len() - keep) as u64;
        smaller.findings.truncate(keep);
        smaller.findings_dropped += dropped;
        body = serde_json::to_vec(&smaller)?;
    }
    Ok(body)
}

/// What became of a run's report.
#[derive(Debug)]
pub enum Delivery {
    /// No `polaris` configured.
    Off,
    /// Sent with the reports kept before (`earlier` of them); Polaris's answer.
    Sent { ack: IntegrityAck, earlier: usize },
    /// Kept in `path` for the next run: why it was not sent, and how many wait in all.
    Kept {
        path: PathBuf,
        why: String,
        waiting: usize,
    },
    /// Not sent and not kept: Polaris refuses it as invalid, or it could not be written.
    Lost { why: String },
}

impl Delivery {
    /// The line the terminal report ends with.
    pub fn line(&self) -> String {
        match self {
            Delivery::Off => "Report not sent: no `polaris` configured.".into(),
            Delivery::Sent { ack, earlier } => {
                let earlier = match earlier {
                    0 => String::new(),
                    n => format!(" after {n} kept report(s)"),
                };
                if ack.baseline_ok {
                    format!(
                        "Report sent to Polaris{earlier} (report {}); Polaris accepts the baseline.",
                        ack.id
                    )
                } else {
                    format!(
                        "Report sent to Polaris{earlier} (report {}); POLARIS FLAGGED THE BASELINE: {}.",
                        ack.id,
                        ack.reason.as_deref().unwrap_or("not the accepted one")
                    )
                }
            }
            Delivery::Lost { why } => format!("Report NOT sent and not kept: {why}."),
            Delivery::Kept { path, why, waiting } => format!(
                "Report kept in {} ({waiting} waiting): Polaris could not take it: {why}. It is sent with the next run.",
                path.display()
            ),
        }
    }
}

/// Why a send failed.
enum SendError {
    /// Polaris refused the report as invalid: sending it again will not help.
    Refused(String),
    /// Unreachable, an error, or not now (401, 403, 5xx): try again later.
    Later(String),
}

/// Posts reports to Polaris.
struct Client {
    agent: ureq::Agent,
    url: String,
}

impl Client {
    fn new(config: &Config) -> Result<Client, String> {
        let identity = (config.polaris.starts_with("https://")
            || (config.cert.exists() && config.key.exists()))
        .then_some((config.cert.as_path(), config.key.as_path()));
        let agent = fetch::http_agent_with_identity(
            concat!("secureagent/", env!("CARGO_PKG_VERSION")),
            config.ca.as_deref(),
            Duration::from_secs(config.timeout_s.max(1)),
            0,
            identity,
        )
        .map_err(|e| format!("Polaris client: {e}"))?;
        Ok(Client {
            agent,
            url: format!(
                "{}/api/v1/integrity/reports",
                config.polaris.trim_end_matches('/')
            ),
        })
    }

    fn send(&self, body: &[u8]) -> Result<IntegrityAck, SendError> {
        let mut response = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(body)
            .map_err(|e| SendError::Later(format!("POST {}: {e}", self.url)))?;
        let status = response.status();
        let mut text = String::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_ANSWER)
            .read_to_string(&mut text)
            .map_err(|e| SendError::Later(format!("POST {}: reading the answer: {e}", self.url)))?;
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|e| {
                SendError::Later(format!(
                    "POST {}: an answer that is not an acknowledgement: {e}",
                    self.url
                ))
            });
        }
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let message = answer["message"]
            .as_str()
            .unwrap_or(text.trim())
            .to_string();
        if status.as_u16() == 400 && answer["errcode"].as_u64() == Some(INVALID_PARAMS) {
            return Err(SendError::Refused(message));
        }
        Err(SendError::Later(format!(
            "POST {}: HTTP {status}: {message}",
            self.url
        )))
    }
}

/// The reports kept in `dir`, oldest first.
fn pending(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("report-") && n.ends_with(".json"))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Keeps `body` in `dir` as a 0600 file named by the time; drops the oldest past
/// [`MAX_PENDING`] (logged).
fn keep(dir: &Path, body: &[u8]) -> std::io::Result<PathBuf> {
    agentkit::private::private_dir(dir)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let path = dir.join(format!("report-{nanos:020}.json"));
    let tmp = dir.join(format!(".report-{nanos:020}.tmp"));
    {
        use std::io::Write;
        let mut file = agentkit::private::create_private(&tmp)?;
        file.write_all(body)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    let all = pending(dir);
    if all.len() > MAX_PENDING {
        for old in &all[..all.len() - MAX_PENDING] {
            tracing::warn!(path = %old.display(), "more than {MAX_PENDING} reports kept: the oldest is dropped");
            let _ = std::fs::remove_file(old);
        }
    }
    Ok(path)
}

/// Sends the reports kept in `dir` (oldest first), then `report`; keeps `report` when it
/// cannot be sent now. Call it with the run lock held, so no other run sends the same file.
pub fn deliver(config: &Config, dir: &Path, report: &IntegrityReport) -> Delivery {
    if config.polaris.is_empty() {
        return Delivery::Off;
    }
    let body = match fitted(report) {
        Ok(body) => body,
        Err(e) => {
            return Delivery::Lost {
                why: format!("it cannot be written as JSON: {e}"),
            };
        }
    };
    let kept = |why: String| match keep(dir, &body) {
        Ok(path) => Delivery::Kept {
            path,
            why,
            waiting: pending(dir).len(),
        },
        Err(e) => Delivery::Lost {
            why: format!("{why}; and it could not be kept in {}: {e}", dir.display()),
        },
    };
    let client = match Client::new(config) {
        Ok(client) => client,
        Err(why) => return kept(why),
    };
    let mut earlier = 0;
    for path in pending(dir) {
        let old = match std::fs::File::open(&path).and_then(|f| {
            let mut bytes = Vec::new();
            f.take(MAX_PENDING_BYTES).read_to_end(&mut bytes)?;
            Ok(bytes)
        }) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(path = %path.display(), "a kept report cannot be read: {e}");
                continue;
            }
        };
        match client.send(&old) {
            Ok(ack) => {
                earlier += 1;
                tracing::info!(path = %path.display(), report = ack.id, baseline_ok = ack.baseline_ok, "kept report sent");
                let _ = std::fs::remove_file(&path);
            }
            Err(SendError::Refused(why)) => {
                tracing::error!(path = %path.display(), "Polaris refuses a kept report: {why}; renamed .refused");
                let _ = std::fs::rename(&path, path.with_extension("json.refused"));
            }
            Err(SendError::Later(why)) => return kept(why),
        }
    }
    match client.send(&body) {
        Ok(ack) => Delivery::Sent { ack, earlier },
        Err(SendError::Later(why)) => kept(why),
        Err(SendError::Refused(why)) => {
            tracing::error!("Polaris refuses the report: {why}");
            Delivery::Lost {
                why: format!("Polaris refuses it as invalid: {why}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_at_a_character_boundary() {
        assert_eq!(cut("short", 10), "short");
        let long = "é".repeat(3000);
        let cut = cut(&long, MAX_VALUE);
        assert!(
            cut.len() <= MAX_VALUE && cut.ends_with('…'),
            "{}",
            cut.len()
        );
    }

    #[test]
    fn a_report_over_the_body_limit_leaves_findings_out_and_counts_them() {
        let finding = Finding {
            path: format!("/{}", "p".repeat(MAX_PATH - 1)),
            change: Change::Changed,
            attribute: Some("xattrs".into()),
            old: Some("o".repeat(MAX_VALUE)),
            new: Some("n".repeat(MAX_VALUE)),
        };
        let mut report = init_report(&"a".repeat(64), 0.0, 0.0, 1, 0);
        report.kind = RunKind::Check;
        report.findings = vec![finding; MAX_FINDINGS];
        report.findings_dropped = 5;
        let body = fitted(&report).unwrap();
        assert!(body.len() <= MAX_REPORT_BYTES);
        let sent: IntegrityReport = serde_json::from_slice(&body).unwrap();
        assert!(!sent.findings.is_empty() && sent.findings.len() < MAX_FINDINGS);
        assert_eq!(
            sent.findings.len() as u64 + sent.findings_dropped,
            MAX_FINDINGS as u64 + 5
        );
        report.findings.truncate(3);
        assert_eq!(
            fitted(&report).unwrap(),
            serde_json::to_vec(&report).unwrap()
        );
    }

    #[test]
    fn reports_are_kept_0600_oldest_first_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let first = keep(&state, b"{}").unwrap();
        let second = keep(&state, b"{}").unwrap();
        assert_eq!(pending(&state), [first.clone(), second]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&first).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(&state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        for _ in 0..MAX_PENDING {
            keep(&state, b"{}").unwrap();
        }
        let all = pending(&state);
        assert_eq!(all.len(), MAX_PENDING);
        assert!(!all.contains(&first), "the oldest is dropped");
    }
}
