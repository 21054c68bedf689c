//! The JSON shapes of what the admin, gearman and metrics APIs answer, and their OpenAPI
//! schemas, built from the database's domain types (`crate::db`), which know neither: the
//! names and field order here are the API's contract.

use chrono::{DateTime, Utc};
use serde::Serialize;
use wire::agent::CronRun;
use wire::boot::{AgentState, BootJob};

use crate::db;

/// A host's status as Polaris sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HostStatus {
    /// Registered but never reported, or state not known.
    Unknown,
    /// Reported within `offline_after_steps` × step.
    Online,
    /// Silent for longer than that.
    Offline,
}

impl From<db::HostStatus> for HostStatus {
    fn from(status: db::HostStatus) -> Self {
        match status {
            db::HostStatus::Unknown => HostStatus::Unknown,
            db::HostStatus::Online => HostStatus::Online,
            db::HostStatus::Offline => HostStatus::Offline,
        }
    }
}

/// A registered host with its managed agents.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HostView {
    /// Database id.
    pub id: i64,
    /// Host name / AgentSN (unique).
    pub hostname: String,
    /// Region (default `unknown`).
    pub region: String,
    /// unknown / online / offline.
    pub status: HostStatus,
    /// Seconds between its reports.
    pub step: u64,
    /// BootAgent version last reported.
    pub version: String,
    /// When it last reported.
    pub last_seen: Option<DateTime<Utc>>,
    /// When it was registered.
    pub gmt_create: DateTime<Utc>,
    /// When its row last changed.
    pub gmt_modify: DateTime<Utc>,
    /// Its agents as last reported.
    pub agents: Vec<AgentView>,
}

impl From<db::Host> for HostView {
    fn from(host: db::Host) -> Self {
        HostView {
            id: host.id,
            hostname: host.hostname,
            region: host.region,
            status: host.status.into(),
            step: host.step,
            version: host.version,
            last_seen: host.last_seen,
            gmt_create: host.gmt_create,
            gmt_modify: host.gmt_modify,
            agents: host.agents.into_iter().map(AgentView::from).collect(),
        }
    }
}

/// One managed agent of a host.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentView {
    /// Agent name.
    pub name: String,
    /// Agent version.
    pub version: String,
    /// stoped / running / fatal / killed.
    pub status: AgentState,
    /// Seconds running.
    pub uptime: u64,
    /// When this was reported.
    pub gmt_modify: DateTime<Utc>,
}

impl From<db::HostAgent> for AgentView {
    fn from(agent: db::HostAgent) -> Self {
        AgentView {
            name: agent.name,
            version: agent.version,
            status: agent.status,
            uptime: agent.uptime,
            gmt_modify: agent.gmt_modify,
        }
    }
}

/// The state of a job on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HostJobStatus {
    /// Waiting to be handed out, or handed out and no result yet.
    Pending,
    /// The agent reported errcode 0.
    Done,
    /// The agent reported a non-zero errcode.
    Failed,
}

impl From<db::HostJobStatus> for HostJobStatus {
    fn from(status: db::HostJobStatus) -> Self {
        match status {
            db::HostJobStatus::Pending => HostJobStatus::Pending,
            db::HostJobStatus::Done => HostJobStatus::Done,
            db::HostJobStatus::Failed => HostJobStatus::Failed,
        }
    }
}

/// A job on one host.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HostJobView {
    /// The id the agent sees for this host's part of the job.
    pub id: String,
    /// The host.
    pub hostname: String,
    /// pending / done / failed.
    pub status: HostJobStatus,
    /// How many times it was handed out.
    pub handed_out: u32,
    /// The agent's errcode, once reported.
    pub errcode: Option<u32>,
    /// The agent's message, once reported.
    pub message: Option<String>,
    /// Last change.
    pub gmt_modify: DateTime<Utc>,
}

/// A job with its per-host parts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobView {
    /// The job's id (the admin API's handle).
    pub id: String,
    /// What it asks (its `id` field is the job id; each host gets its own id, see `hosts`).
    pub spec: BootJob,
    /// When it was created.
    pub gmt_create: DateTime<Utc>,
    /// Per host.
    pub hosts: Vec<HostJobView>,
}

impl From<db::Job> for JobView {
    fn from(job: db::Job) -> Self {
        let hosts = job.hosts.into_iter().map(|part| HostJobView {
            id: part.id,
            hostname: part.hostname,
            status: part.status.into(),
            handed_out: part.handed_out,
            errcode: part.errcode,
            message: part.message,
            gmt_modify: part.gmt_modify,
        });
        JobView {
            id: job.id,
            spec: job.spec,
            gmt_create: job.gmt_create,
            hosts: hosts.collect(),
        }
    }
}

/// A connected gearman agent: its session as the replica holding it recorded it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// The host.
    pub hostname: String,
    /// The replica holding the connection.
    pub replica: String,
    /// The agent's version as it said in `init`.
    pub version: String,
    /// The agent's address as the replica saw it.
    pub address: String,
    /// When it connected.
    pub connected_at: DateTime<Utc>,
    /// When the replica last confirmed it alive.
    pub seen_at: DateTime<Utc>,
}

impl From<db::SessionView> for SessionView {
    fn from(session: db::SessionView) -> Self {
        SessionView {
            hostname: session.hostname,
            replica: session.replica,
            version: session.version,
            address: session.address,
            connected_at: session.connected_at,
            seen_at: session.seen_at,
        }
    }
}

/// A stored cron run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CronRunView {
    /// The host.
    pub hostname: String,
    /// What ran, when, and how it ended.
    #[serde(flatten)]
    pub run: CronRun,
}

impl From<db::CronRunRecord> for CronRunView {
    fn from(record: db::CronRunRecord) -> Self {
        CronRunView {
            hostname: record.hostname,
            run: record.run,
        }
    }
}

/// One series in a metrics query answer.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SeriesPoints {
    /// Plugin instance.
    pub plugin_instance: String,
    /// Type instance.
    pub type_instance: String,
    /// Data source name.
    pub dsname: String,
    /// gauge / derive / counter / absolute.
    pub dstype: String,
    /// `[bucket start, average]`, oldest first; empty buckets are left out.
    pub points: Vec<(f64, f64)>,
}

impl From<db::SeriesPoints> for SeriesPoints {
    fn from(series: db::SeriesPoints) -> Self {
        SeriesPoints {
            plugin_instance: series.plugin_instance,
            type_instance: series.type_instance,
            dsname: series.dsname,
            dstype: series.dstype,
            points: series.points,
        }
    }
}
