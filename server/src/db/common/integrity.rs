//! Integrity reports in the database, written once for the three backends: a report and its
//! findings are inserted in one write transaction that first reads the host's accepted digest
//! (its latest `init` or `update` report, locked where the backend can), so the verdict and
//! the new accepted digest are one step. The id of the new report is read back by a random
//! key, which needs no `RETURNING` (MySQL has none). A `realtime` report is judged like a
//! `check` and never becomes the accepted digest (only `init` and `update` do).

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};
use uuid::Uuid;
use wire::integrity::{Change, IntegrityReport, RunKind};

use super::{Dialect, SqlStore, corrupt, now, unsigned};
use crate::db::integrity::{
    AckTarget, Acknowledged, FindingEntry, FindingQuery, IntegrityState, IntegrityStore,
    ReportSummary, StoredReport,
};
use crate::db::{DbError, DbFuture};

/// Binds per inserted finding.
const FINDING_BINDS: usize = 7;

const REPORT_COLUMNS: &str = "id, host, kind, baseline_digest, previous_digest, \
    accepted_digest, baseline_ok, reason, started, duration_s, entries, added, removed, \
    changed, unreadable, findings, findings_dropped, received_at, acknowledged_by, \
    acknowledged_at";

/// An `integrity_reports` row.
#[derive(sqlx::FromRow)]
pub struct ReportRow {
    id: i64,
    host: String,
    kind: String,
    baseline_digest: String,
    previous_digest: Option<String>,
    accepted_digest: Option<String>,
    baseline_ok: i64,
    reason: Option<String>,
    started: f64,
    duration_s: f64,
    entries: i64,
    added: i64,
    removed: i64,
    changed: i64,
    unreadable: i64,
    findings: i64,
    findings_dropped: i64,
    received_at: DateTime<Utc>,
    acknowledged_by: Option<String>,
    acknowledged_at: Option<DateTime<Utc>>,
}

/// An `integrity_findings` row with its report's arrival.
#[derive(sqlx::FromRow)]
pub struct FindingRow {
    id: i64,
    report_id: i64,
    host: String,
    report_kind: String,
    path: String,
    change_kind: String,
    attribute: Option<String>,
    old_value: Option<String>,
    new_value: Option<String>,
    received_at: DateTime<Utc>,
    acknowledged_by: Option<String>,
    acknowledged_at: Option<DateTime<Utc>>,
}

fn acknowledged(by: Option<String>, at: Option<DateTime<Utc>>) -> Option<(String, DateTime<Utc>)> {
    by.zip(at)
}

impl TryFrom<ReportRow> for ReportSummary {
    type Error = DbError;

    fn try_from(row: ReportRow) -> Result<Self, DbError> {
        Ok(ReportSummary {
            id: row.id,
            kind: RunKind::parse(&row.kind).ok_or_else(|| corrupt("report kind", &row.kind))?,
            host: row.host,
            baseline_digest: row.baseline_digest,
            previous_digest: row.previous_digest,
            accepted_digest: row.accepted_digest,
            baseline_ok: row.baseline_ok != 0,
            reason: row.reason,
            started: row.started,
            duration_s: row.duration_s,
            entries: unsigned(row.entries),
            added: unsigned(row.added),
            removed: unsigned(row.removed),
            changed: unsigned(row.changed),
            unreadable: unsigned(row.unreadable),
            findings: unsigned(row.findings),
            findings_dropped: unsigned(row.findings_dropped),
            received_at: row.received_at,
            acknowledged: acknowledged(row.acknowledged_by, row.acknowledged_at),
        })
    }
}

impl TryFrom<FindingRow> for FindingEntry {
    type Error = DbError;

    fn try_from(row: FindingRow) -> Result<Self, DbError> {
        Ok(FindingEntry {
            id: row.id,
            report_id: row.report_id,
            kind: RunKind::parse(&row.report_kind)
                .ok_or_else(|| corrupt("report kind", &row.report_kind))?,
            host: row.host,
            path: row.path,
            change: Change::parse(&row.change_kind)
                .ok_or_else(|| corrupt("finding change", &row.change_kind))?,
            attribute: row.attribute,
            old: row.old_value,
            new: row.new_value,
            received_at: row.received_at,
            acknowledged: acknowledged(row.acknowledged_by, row.acknowledged_at),
        })
    }
}

/// The verdict on the baseline a run used, given the host's accepted digest. A host's first
/// `--init` is accepted; a later one that writes another baseline is flagged: it compared
/// nothing, so whatever changed since the accepted baseline went unreported (the quiet way to
/// swap a baseline with root on the host). It still becomes the accepted digest, as an update
/// does, and the flag stays until an admin acknowledges it.
pub fn verdict(report: &IntegrityReport, accepted: Option<&str>) -> (bool, Option<String>) {
    let used = match report.kind {
        RunKind::Init => {
            return match accepted {
                Some(accepted) if accepted != report.baseline_digest => (
                    false,
                    Some(format!(
                        "a new --init replaced the accepted baseline {accepted}: the changes \
                         since it were not compared"
                    )),
                ),
                _ => (true, None),
            };
        }
        // A real-time report compares with the baseline like a check; it never changes it.
        RunKind::Check | RunKind::Realtime => Some(report.baseline_digest.as_str()),
        RunKind::Update => report.previous_digest.as_deref(),
    };
    match (used, accepted) {
        (_, None) => (false, Some("no accepted baseline".into())),
        (None, Some(_)) => (
            false,
            Some("the update does not say which baseline it checked".into()),
        ),
        (Some(used), Some(accepted)) if used == accepted => (true, None),
        (Some(used), Some(accepted)) => (
            false,
            Some(format!(
                "baseline digest {used} is not the accepted {accepted}"
            )),
        ),
    }
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl<D> IntegrityStore for SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    f64: Type<D> + for<'q> Encode<'q, D>,
    DateTime<Utc>: Type<D> + for<'q> Encode<'q, D>,
    String: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    for<'a> Option<&'a str>: Type<D> + Encode<'a, D>,
    for<'r> (i64,): FromRow<'r, D::Row>,
    for<'r> (String,): FromRow<'r, D::Row>,
    for<'r> ReportRow: FromRow<'r, D::Row>,
    for<'r> FindingRow: FromRow<'r, D::Row>,
{
    fn store_integrity_report<'a>(
        &'a self,
        host: &'a str,
        report: &'a IntegrityReport,
    ) -> DbFuture<'a, StoredReport> {
        Box::pin(async move {
            let received = now();
            let mut tx = self.begin_write().await?;
            let mut select = QueryBuilder::<D>::new(
                "SELECT baseline_digest FROM integrity_reports WHERE host = ",
            );
            select.push_bind(host);
            select.push(" AND kind IN ('init', 'update') ORDER BY id DESC LIMIT 1");
            select.push(D::FOR_UPDATE);
            let accepted: Option<(String,)> =
                select.build_query_as().fetch_optional(&mut *tx).await?;
            let accepted = accepted.map(|(digest,)| digest);
            let (ok, reason) = verdict(report, accepted.as_deref());
            let key = Uuid::new_v4().to_string();
            sqlx::query::<D>(D::sql(
                "INSERT INTO integrity_reports (report_key, host, kind, baseline_digest, \
                 previous_digest, accepted_digest, baseline_ok, reason, started, duration_s, \
                 entries, added, removed, changed, unreadable, findings, findings_dropped, \
                 received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ))
            .bind(key.as_str())
            .bind(host)
            .bind(report.kind.as_str())
            .bind(report.baseline_digest.as_str())
            .bind(report.previous_digest.as_deref())
            .bind(accepted.as_deref())
            .bind(i64::from(ok))
            .bind(reason.as_deref())
            .bind(report.started)
            .bind(report.duration_s)
            .bind(signed(report.entries))
            .bind(signed(report.added))
            .bind(signed(report.removed))
            .bind(signed(report.changed))
            .bind(signed(report.unreadable))
            .bind(report.findings.len() as i64)
            .bind(signed(report.findings_dropped))
            .bind(received)
            .execute(&mut *tx)
            .await?;
            let (id,): (i64,) = sqlx::query_as(D::sql(
                "SELECT id FROM integrity_reports WHERE report_key = ?",
            ))
            .bind(key.as_str())
            .fetch_one(&mut *tx)
            .await?;
            let per_insert = (D::MAX_BINDS / FINDING_BINDS).clamp(1, 1000);
            for chunk in report.findings.chunks(per_insert) {
                let mut insert = QueryBuilder::<D>::new(
                    "INSERT INTO integrity_findings (report_id, host, path, change_kind, \
                     attribute, old_value, new_value) ",
                );
                insert.push_values(chunk, |mut row, finding| {
                    row.push_bind(id)
                        .push_bind(host)
                        .push_bind(finding.path.as_str())
                        .push_bind(finding.change.as_str())
                        .push_bind(finding.attribute.as_deref())
                        .push_bind(finding.old.as_deref())
                        .push_bind(finding.new.as_deref());
                });
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(StoredReport {
                id,
                baseline_ok: ok,
                reason,
            })
        })
    }

    fn integrity_findings<'a>(
        &'a self,
        query: &'a FindingQuery,
    ) -> DbFuture<'a, Vec<FindingEntry>> {
        Box::pin(async move {
            let mut select = QueryBuilder::<D>::new(
                "SELECT f.id, f.report_id, f.host, r.kind AS report_kind, f.path, f.change_kind, \
                 f.attribute, \
                 f.old_value, f.new_value, r.received_at, f.acknowledged_by, \
                 f.acknowledged_at FROM integrity_findings f \
                 JOIN integrity_reports r ON r.id = f.report_id WHERE 1 = 1",
            );
            if let Some(host) = &query.host {
                select.push(" AND f.host = ").push_bind(host.as_str());
            }
            if !query.all {
                select.push(" AND f.acknowledged_at IS NULL");
            }
            if let Some(after) = query.after {
                select.push(" AND f.id > ").push_bind(after);
            }
            select.push(" ORDER BY f.id LIMIT ");
            select.push_bind(i64::from(query.limit));
            let rows: Vec<FindingRow> = select.build_query_as().fetch_all(&self.pool).await?;
            rows.into_iter().map(FindingEntry::try_from).collect()
        })
    }

    fn acknowledge_integrity<'a>(
        &'a self,
        target: &'a AckTarget,
        by: &'a str,
    ) -> DbFuture<'a, Acknowledged> {
        Box::pin(async move {
            let at = now();
            let mut tx = self.begin_write().await?;
            let mut done = Acknowledged::default();
            match target {
                AckTarget::Findings(ids) => {
                    for chunk in ids.chunks(1000) {
                        let mut update = QueryBuilder::<D>::new(
                            "UPDATE integrity_findings SET acknowledged_by = ",
                        );
                        update
                            .push_bind(by)
                            .push(", acknowledged_at = ")
                            .push_bind(at);
                        update.push(" WHERE acknowledged_at IS NULL AND id IN (");
                        let mut list = update.separated(", ");
                        for id in chunk {
                            list.push_bind(*id);
                        }
                        update.push(")");
                        let result = update.build().execute(&mut *tx).await?;
                        done.findings += D::rows_affected(&result);
                    }
                }
                AckTarget::HostUpTo { host, report_id } => {
                    let result = sqlx::query::<D>(D::sql(
                        "UPDATE integrity_findings SET acknowledged_by = ?, acknowledged_at = ? \
                         WHERE host = ? AND report_id <= ? AND acknowledged_at IS NULL",
                    ))
                    .bind(by)
                    .bind(at)
                    .bind(host.as_str())
                    .bind(*report_id)
                    .execute(&mut *tx)
                    .await?;
                    done.findings = D::rows_affected(&result);
                    let result = sqlx::query::<D>(D::sql(
                        "UPDATE integrity_reports SET acknowledged_by = ?, acknowledged_at = ? \
                         WHERE host = ? AND id <= ? AND baseline_ok = 0 \
                         AND acknowledged_at IS NULL",
                    ))
                    .bind(by)
                    .bind(at)
                    .bind(host.as_str())
                    .bind(*report_id)
                    .execute(&mut *tx)
                    .await?;
                    done.reports = D::rows_affected(&result);
                }
            }
            tx.commit().await?;
            Ok(done)
        })
    }

    fn integrity_states<'a>(&'a self, host: Option<&'a str>) -> DbFuture<'a, Vec<IntegrityState>> {
        Box::pin(async move {
            let hosts: Vec<(String,)> = match host {
                Some(host) => vec![(host.to_owned(),)],
                None => {
                    sqlx::query_as(D::sql(
                        "SELECT DISTINCT host FROM integrity_reports ORDER BY host",
                    ))
                    .fetch_all(&self.pool)
                    .await?
                }
            };
            let mut states = Vec::with_capacity(hosts.len());
            for (host,) in hosts {
                if let Some(state) = self.integrity_state(&host).await? {
                    states.push(state);
                }
            }
            Ok(states)
        })
    }
}

impl<D> SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    for<'r> (i64,): FromRow<'r, D::Row>,
    for<'r> ReportRow: FromRow<'r, D::Row>,
{
    /// The latest report of `host` of the kinds `kinds` (an SQL list).
    async fn latest_report(
        &self,
        host: &str,
        kinds: &'static str,
    ) -> Result<Option<ReportSummary>, DbError> {
        let mut select = QueryBuilder::<D>::new("SELECT ");
        select.push(REPORT_COLUMNS);
        select
            .push(" FROM integrity_reports WHERE host = ")
            .push_bind(host);
        select.push(" AND kind IN ").push(kinds);
        select.push(" ORDER BY id DESC LIMIT 1");
        let row: Option<ReportRow> = select.build_query_as().fetch_optional(&self.pool).await?;
        row.map(ReportSummary::try_from).transpose()
    }

    /// One host's state; `None` when it never reported.
    async fn integrity_state(&self, host: &str) -> Result<Option<IntegrityState>, DbError> {
        let Some(last_report) = self
            .latest_report(host, "('init', 'check', 'update', 'realtime')")
            .await?
        else {
            return Ok(None);
        };
        let accepted = self.latest_report(host, "('init', 'update')").await?;
        let last_check = self.latest_report(host, "('check', 'update')").await?;
        let (flags,): (i64,) = sqlx::query_as(D::sql(
            "SELECT COUNT(*) FROM integrity_reports WHERE host = ? AND baseline_ok = 0 \
             AND acknowledged_at IS NULL",
        ))
        .bind(host)
        .fetch_one(&self.pool)
        .await?;
        let (findings,): (i64,) = sqlx::query_as(D::sql(
            "SELECT COUNT(*) FROM integrity_findings WHERE host = ? \
             AND acknowledged_at IS NULL",
        ))
        .bind(host)
        .fetch_one(&self.pool)
        .await?;
        Ok(Some(IntegrityState {
            host: host.to_owned(),
            accepted_digest: accepted.map(|report| report.baseline_digest),
            last_check_baseline_ok: last_check.map(|report| report.baseline_ok),
            last_report,
            unacknowledged_flags: unsigned(flags),
            unacknowledged_findings: unsigned(findings),
        }))
    }
}
