//! What the three backends share: the one implementation of [`crate::db::Store`] for
//! [`SqlStore`], generic over a [`Dialect`]: hosts and boot jobs in `store`, metric values in
//! `metrics` (their packing in `chunks`, series bookkeeping in `series`), commands in
//! `commands`, agent sessions and cron runs in `sessions`, host identity in `trust`, plugin
//! inventories in `inventory` (made storable by `bounded`), the plugin catalogue in
//! `catalogue`, rollouts in `rollouts`, migrations and data upgrades in `upgrade`; and here the
//! pure helpers: validation of what arrives, the rows read back, and how they become the domain
//! types.
//!
//! Every check happens before the first statement, so a refused request stores nothing on any
//! backend, and the limits match the narrowest schema (MySQL's `VARCHAR` lengths), so the three
//! backends accept exactly the same data.

mod bounded;
mod catalogue;
mod chunks;
mod commands;
mod integrity;
mod inventory;
mod log_pack;
mod log_query;
mod log_upgrade;
mod logs;
mod metrics;
mod rollouts;
mod series;
mod sessions;
mod store;
mod trust;
mod upgrade;

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, SubsecRound, Utc};
use wire::boot::{AgentState, BootJob, StatusReport};

use super::{DbError, Host, HostAgent, HostJob, HostJobStatus, HostStatus, Job};

pub use store::{Dialect, SqlStore};

/// Longest host name (`hosts.hostname`).
const HOSTNAME_MAX: usize = 256;
/// Longest region (`hosts.region`).
const REGION_MAX: usize = 64;
/// Longest version or agent name (`hosts.version`, `host_agents.name`, `host_agents.version`).
const NAME_MAX: usize = 128;
/// Longest job id given by the caller (`jobs.id`).
const JOB_ID_MAX: usize = 64;
/// Longest `step` accepted (a year), so that `steps × step` stays far from overflowing.
const STEP_MAX: u64 = 365 * 24 * 3600;

/// The current time at the precision every backend stores (microseconds), so a value written
/// and read back compares equal.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Refuses an empty (when `required`), too long or NUL-containing text field; PostgreSQL cannot
/// store NUL in text and MySQL would cut a too-long value or fail.
pub fn check_text(what: &str, value: &str, required: bool, max: usize) -> Result<(), DbError> {
    if required && value.is_empty() {
        return Err(DbError::Invalid(format!("{what} is empty")));
    }
    // A string has no more characters than bytes: count them only for long ones.
    if value.len() > max && value.chars().count() > max {
        return Err(DbError::Invalid(format!(
            "{what} is longer than {max} characters"
        )));
    }
    if value.contains('\0') {
        return Err(DbError::Invalid(format!("{what} contains a NUL character")));
    }
    Ok(())
}

/// A status report that passed the checks, with integers in the databases' signed range.
pub struct CheckedReport<'a> {
    pub hostname: &'a str,
    pub region: Option<&'a str>,
    pub version: &'a str,
    pub step: i64,
    pub agents: Vec<CheckedAgent<'a>>,
}

/// One agent of a [`CheckedReport`].
pub struct CheckedAgent<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub status: &'static str,
    pub uptime: i64,
}

/// Checks a status report: field lengths, `step` at most a year, agent names unique.
pub fn check_report(report: &StatusReport) -> Result<CheckedReport<'_>, DbError> {
    check_text("hostname", &report.hostname, true, HOSTNAME_MAX)?;
    check_text("version", &report.version, false, NAME_MAX)?;
    if let Some(region) = &report.region {
        check_text("region", region, true, REGION_MAX)?;
    }
    if report.step > STEP_MAX {
        return Err(DbError::Invalid(format!(
            "step {} is longer than a year",
            report.step
        )));
    }
    let mut seen = HashSet::new();
    let mut agents = Vec::with_capacity(report.agents.len());
    for agent in &report.agents {
        check_text("agent name", &agent.name, true, NAME_MAX)?;
        check_text("agent version", &agent.version, false, NAME_MAX)?;
        if !seen.insert(agent.name.as_str()) {
            return Err(DbError::Invalid(format!(
                "agent `{}` is reported twice",
                agent.name
            )));
        }
        let uptime = i64::try_from(agent.uptime).map_err(|_| {
            DbError::Invalid(format!("uptime of agent `{}` is out of range", agent.name))
        })?;
        agents.push(CheckedAgent {
            name: &agent.name,
            version: &agent.version,
            status: agent.status.as_str(),
            uptime,
        });
    }
    Ok(CheckedReport {
        hostname: &report.hostname,
        region: report.region.as_deref(),
        version: &report.version,
        step: report.step as i64,
        agents,
    })
}

/// Checks a job's spec and returns it as stored (JSON).
pub fn check_spec(spec: &BootJob) -> Result<String, DbError> {
    check_text("job id", &spec.id, true, JOB_ID_MAX)?;
    serde_json::to_string(spec).map_err(|e| DbError::Invalid(format!("job spec: {e}")))
}

/// The hostnames a job names, each once, in the order given.
pub fn unique_names(names: &[String]) -> Result<Vec<&str>, DbError> {
    let mut seen = HashSet::new();
    let names: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|name| seen.insert(*name))
        .collect();
    if names.is_empty() {
        return Err(DbError::Invalid("a job needs at least one host".into()));
    }
    Ok(names)
}

/// Fails with [`DbError::UnknownHosts`] naming every name that was not found.
pub fn all_found(names: &[&str], found: &[(i64, String)]) -> Result<(), DbError> {
    let found: HashSet<&str> = found.iter().map(|(_, name)| name.as_str()).collect();
    let unknown: Vec<String> = names
        .iter()
        .filter(|name| !found.contains(*name))
        .map(|name| name.to_string())
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(DbError::UnknownHosts(unknown))
    }
}

/// Turns a unique-key violation into [`DbError::Invalid`] with `message`; other errors pass.
pub fn conflict(error: sqlx::Error, message: impl FnOnce() -> String) -> DbError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => DbError::Conflict(message()),
        _ => DbError::Sqlx(error),
    }
}

/// What one host-job row tells the agent: the job's spec with the host's own id.
pub fn handed_out(id: String, spec: &str) -> Result<BootJob, DbError> {
    let mut job = parse_spec(spec)?;
    job.id = id;
    Ok(job)
}

fn parse_spec(spec: &str) -> Result<BootJob, DbError> {
    serde_json::from_str(spec)
        .map_err(|e| DbError::Invalid(format!("stored job spec is unreadable: {e}")))
}

fn corrupt(what: &str, value: &str) -> DbError {
    DbError::Invalid(format!("stored {what} `{value}` is not known"))
}

/// A stored non-negative integer as the API's unsigned type.
fn unsigned<T: TryFrom<i64> + Default>(value: i64) -> T {
    T::try_from(value).unwrap_or_default()
}

/// Counts per host status, every status present (0 when no host has it).
pub fn status_counts(rows: Vec<(String, i64)>) -> BTreeMap<String, u64> {
    let mut counts: BTreeMap<String, u64> = ["unknown", "online", "offline"]
        .into_iter()
        .map(|status| (status.to_owned(), 0))
        .collect();
    for (status, count) in rows {
        counts.insert(status, unsigned(count));
    }
    counts
}

/// A `hosts` row.
#[derive(sqlx::FromRow)]
pub struct HostRow {
    id: i64,
    hostname: String,
    region: String,
    status: String,
    step: i64,
    version: String,
    last_seen: Option<DateTime<Utc>>,
    gmt_create: DateTime<Utc>,
    gmt_modify: DateTime<Utc>,
}

/// A `host_agents` row.
#[derive(sqlx::FromRow)]
pub struct AgentRow {
    host_id: i64,
    name: String,
    version: String,
    status: String,
    uptime: i64,
    gmt_modify: DateTime<Utc>,
}

/// Hosts with their agents, by hostname, agents by name (sorted here, so the order is the same
/// whatever the database's collation).
pub fn host_views(hosts: Vec<HostRow>, agents: Vec<AgentRow>) -> Result<Vec<Host>, DbError> {
    let mut by_host: BTreeMap<i64, Vec<HostAgent>> = BTreeMap::new();
    for row in agents {
        let status =
            AgentState::parse(&row.status).ok_or_else(|| corrupt("agent status", &row.status))?;
        by_host.entry(row.host_id).or_default().push(HostAgent {
            name: row.name,
            version: row.version,
            status,
            uptime: unsigned(row.uptime),
            gmt_modify: row.gmt_modify,
        });
    }
    let mut views = hosts
        .into_iter()
        .map(|row| {
            let status = match row.status.as_str() {
                "unknown" => HostStatus::Unknown,
                "online" => HostStatus::Online,
                "offline" => HostStatus::Offline,
                other => return Err(corrupt("host status", other)),
            };
            let mut agents = by_host.remove(&row.id).unwrap_or_default();
            agents.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(Host {
                id: row.id,
                hostname: row.hostname,
                region: row.region,
                status,
                step: unsigned(row.step),
                version: row.version,
                last_seen: row.last_seen,
                gmt_create: row.gmt_create,
                gmt_modify: row.gmt_modify,
                agents,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    views.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    Ok(views)
}

/// A `jobs` row.
#[derive(sqlx::FromRow)]
pub struct JobRow {
    spec: String,
    gmt_create: DateTime<Utc>,
}

/// A `host_job` row with its host's name.
#[derive(sqlx::FromRow)]
pub struct HostJobRow {
    id: String,
    hostname: String,
    status: String,
    handed_out: i64,
    errcode: Option<i64>,
    message: Option<String>,
    gmt_modify: DateTime<Utc>,
}

impl HostJobRow {
    /// A new, pending part of a job.
    pub fn pending(id: String, hostname: String, now: DateTime<Utc>) -> HostJobRow {
        let status = "pending".to_owned();
        HostJobRow {
            id,
            hostname,
            status,
            handed_out: 0,
            errcode: None,
            message: None,
            gmt_modify: now,
        }
    }

    /// The id the agent sees.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A job with its parts, hosts by hostname.
pub fn job_view(id: &str, job: JobRow, parts: Vec<HostJobRow>) -> Result<Job, DbError> {
    let mut hosts = parts
        .into_iter()
        .map(|row| {
            let status = match row.status.as_str() {
                "pending" => HostJobStatus::Pending,
                "done" => HostJobStatus::Done,
                "failed" => HostJobStatus::Failed,
                other => return Err(corrupt("job status", other)),
            };
            Ok(HostJob {
                id: row.id,
                hostname: row.hostname,
                status,
                handed_out: unsigned(row.handed_out),
                errcode: row.errcode.map(unsigned),
                message: row.message,
                gmt_modify: row.gmt_modify,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    hosts.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    let mut spec = parse_spec(&job.spec)?;
    spec.id = id.to_owned();
    Ok(Job {
        id: id.to_owned(),
        spec,
        gmt_create: job.gmt_create,
        hosts,
    })
}

/// A new job's row, as it is stored.
pub fn new_job_row(spec: String, now: DateTime<Utc>) -> JobRow {
    JobRow {
        spec,
        gmt_create: now,
    }
}

/// `sql` with PostgreSQL's numbered placeholders: the n-th `?` becomes `$n`. The statements of
/// this module never have a `?` inside a string literal.
pub fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_placeholders() {
        assert_eq!(
            numbered("a = ? AND (? IS NULL OR b = ?)"),
            "a = $1 AND ($2 IS NULL OR b = $3)"
        );
    }

    #[test]
    fn checks_text() {
        assert!(check_text("x", "", true, 3).is_err());
        assert!(check_text("x", "abcd", false, 3).is_err());
        assert!(check_text("x", "a\0", false, 3).is_err());
        assert!(check_text("x", "äöü", true, 3).is_ok());
        assert!(check_text("x", "äöüä", true, 3).is_err());
        assert!(check_text("x", "", false, 3).is_ok());
    }

    #[test]
    fn counts_every_status() {
        let counts = status_counts(vec![("online".into(), 2)]);
        assert_eq!(counts["online"], 2);
        assert_eq!(counts["offline"], 0);
        assert_eq!(counts["unknown"], 0);
    }
}
