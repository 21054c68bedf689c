//! The JSON shapes (and OpenAPI schemas) of what the plugin APIs answer: a host's inventory,
//! where a plugin runs, plugin problems, catalogue releases and rollouts, built from the
//! database's domain types (`crate::db::plugins`). The instance, skipped-file and agent shapes
//! are the wire contract's own (`wire::plugins`): the API shows what the agent reported.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use wire::plugins::{InstanceReport, InstanceState, PluginAgent, SkippedFile};

use crate::catalogue::Catalogue;
use crate::db::plugins::{
    AgentInventory, PlacedPlugin, PluginProblem, ProblemKind, Release, Rollout, RolloutAction,
    RolloutCounts, RolloutHost, RolloutHostState, RolloutState,
};

/// A host's plugins, per agent.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HostPluginsView {
    /// The host.
    pub hostname: String,
    /// When its gearman was last seen connected (its session refreshed), `null` when none is:
    /// while it is, the inventory below is current (a change is sent at once, and the whole
    /// inventory with every heartbeat).
    pub agent_seen: Option<DateTime<Utc>>,
    /// Each agent that reported, by name (empty before the first report).
    pub agents: Vec<AgentPluginsView>,
}

/// What one agent of a host reported.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentPluginsView {
    /// Which agent.
    pub agent: PluginAgent,
    /// Why the agent could not be asked (nodus not running, ...), when it could not.
    pub error: Option<String>,
    /// Items its report left out (over the limits).
    pub cut: u64,
    /// When its inventory last changed (reports that repeat it, once per heartbeat, are not
    /// written).
    pub updated: DateTime<Utc>,
    /// Its loaded plugins, by name.
    pub plugins: Vec<PluginView>,
    /// The plugin files it did not load, with the reason.
    pub skipped: Vec<SkippedFile>,
}

/// One loaded plugin of a host.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PluginView {
    /// The plugin's name.
    pub name: String,
    /// The version it reports.
    pub version: String,
    /// The plugin-api version it was built against.
    pub abi: String,
    /// `read`, `write`, `info`.
    pub roles: Vec<String>,
    /// The file it was loaded from.
    pub file: String,
    /// `SHA256:<hex>` of that file.
    pub digest: String,
    /// The worst state of its instances (`stopped` when it has none).
    pub state: InstanceState,
    /// The reason that instance gave.
    pub reason: Option<String>,
    /// Its instances with their state and options (secret options shown as `"***"`).
    pub instances: Vec<InstanceReport>,
}

impl From<PlacedPlugin> for PluginView {
    fn from(p: PlacedPlugin) -> Self {
        PluginView {
            name: p.name,
            version: p.version,
            abi: p.abi,
            roles: p.roles,
            file: p.file,
            digest: p.digest,
            state: p.state,
            reason: p.reason,
            instances: p.instances,
        }
    }
}

impl From<AgentInventory> for AgentPluginsView {
    fn from(a: AgentInventory) -> Self {
        AgentPluginsView {
            agent: a.agent,
            error: a.error,
            cut: a.cut,
            updated: a.updated,
            plugins: a.plugins.into_iter().map(PluginView::from).collect(),
            skipped: a.skipped,
        }
    }
}

/// A host running a plugin.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PluginHostView {
    /// The host.
    pub hostname: String,
    /// The agent that loaded it.
    pub agent: PluginAgent,
    /// The version it reports.
    pub version: String,
    /// The plugin-api version it was built against.
    pub abi: String,
    /// `SHA256:<hex>` of its file.
    pub digest: String,
    /// The file it was loaded from.
    pub file: String,
    /// The worst state of its instances.
    pub state: InstanceState,
    /// The reason that instance gave.
    pub reason: Option<String>,
    /// Its instances.
    pub instances: Vec<InstanceReport>,
    /// When the host's inventory last changed.
    pub updated: DateTime<Utc>,
}

impl From<PlacedPlugin> for PluginHostView {
    fn from(p: PlacedPlugin) -> Self {
        PluginHostView {
            hostname: p.hostname,
            agent: p.agent,
            version: p.version,
            abi: p.abi,
            digest: p.digest,
            file: p.file,
            state: p.state,
            reason: p.reason,
            instances: p.instances,
            updated: p.updated,
        }
    }
}

/// What is wrong.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKindView {
    /// The agent could not be asked for its plugins.
    AgentError,
    /// A plugin file was not loaded.
    Skipped,
    /// An instance's last call (or its `init`) failed.
    Failing,
    /// An instance failed long enough that its interval is stretched.
    Penalised,
}

/// One problem of one host.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PluginProblemView {
    /// The host.
    pub hostname: String,
    /// The agent.
    pub agent: PluginAgent,
    /// What is wrong.
    pub problem: ProblemKindView,
    /// The plugin (failing, penalised).
    pub plugin: Option<String>,
    /// The instance (failing, penalised).
    pub instance: Option<String>,
    /// The file (skipped; the plugin's file when failing or penalised).
    pub file: Option<String>,
    /// Why, as the agent said.
    pub reason: String,
    /// When the host's inventory last changed.
    pub updated: DateTime<Utc>,
}

impl From<PluginProblem> for PluginProblemView {
    fn from(p: PluginProblem) -> Self {
        PluginProblemView {
            hostname: p.hostname,
            agent: p.agent,
            problem: match p.kind {
                ProblemKind::AgentError => ProblemKindView::AgentError,
                ProblemKind::Skipped => ProblemKindView::Skipped,
                ProblemKind::Failing => ProblemKindView::Failing,
                ProblemKind::Penalised => ProblemKindView::Penalised,
            },
            plugin: p.plugin,
            instance: p.instance,
            file: p.file,
            reason: p.reason,
            updated: p.updated,
        }
    }
}

/// A plugin release of the catalogue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReleaseView {
    /// The agent that loads it.
    pub agent: PluginAgent,
    /// The plugin's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The plugin-api version it was built against.
    pub abi: String,
    /// `read`, `write`, `info`.
    pub roles: Vec<String>,
    /// `SHA256:<hex>` of the file: the `checksum` of install and upgrade commands.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its path under the package root.
    pub path: String,
    /// Where agents download it (unknown when the package URL is: see `plugins.package_url`).
    pub url: Option<String>,
    /// Whether its minisign signature lies beside it (`<url>.minisig`).
    pub signed: bool,
    /// When it was uploaded.
    pub created: DateTime<Utc>,
    /// Hosts whose inventory shows this agent running this plugin at this version.
    pub hosts: u64,
}

impl ReleaseView {
    /// The view of a release, with its URL from the catalogue's package URL.
    pub fn new(release: Release, catalogue: &Catalogue) -> ReleaseView {
        ReleaseView {
            url: catalogue.url(&release.path),
            agent: release.agent,
            name: release.name,
            version: release.version,
            abi: release.abi,
            roles: release.roles,
            digest: release.digest,
            size: release.size,
            path: release.path,
            signed: release.signed,
            created: release.created,
            hosts: release.hosts,
        }
    }
}

/// What a rollout does on each host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RolloutActionView {
    /// `plugin.install` of a catalogue release.
    Install,
    /// `plugin.upgrade` to a catalogue release (the old version is kept if the new one
    /// does not answer).
    Upgrade,
    /// `plugin.remove`.
    Remove,
    /// `plugin.start` (the plugin, or one instance).
    Start,
    /// `plugin.stop` (the plugin, or one instance).
    Stop,
    /// `plugin.configure`: new options for one instance.
    Configure,
}

impl From<RolloutActionView> for RolloutAction {
    fn from(a: RolloutActionView) -> Self {
        match a {
            RolloutActionView::Install => RolloutAction::Install,
            RolloutActionView::Upgrade => RolloutAction::Upgrade,
            RolloutActionView::Remove => RolloutAction::Remove,
            RolloutActionView::Start => RolloutAction::Start,
            RolloutActionView::Stop => RolloutAction::Stop,
            RolloutActionView::Configure => RolloutAction::Configure,
        }
    }
}

impl From<RolloutAction> for RolloutActionView {
    fn from(a: RolloutAction) -> Self {
        match a {
            RolloutAction::Install => RolloutActionView::Install,
            RolloutAction::Upgrade => RolloutActionView::Upgrade,
            RolloutAction::Remove => RolloutActionView::Remove,
            RolloutAction::Start => RolloutActionView::Start,
            RolloutAction::Stop => RolloutActionView::Stop,
            RolloutAction::Configure => RolloutActionView::Configure,
        }
    }
}

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RolloutStateView {
    /// Hosts are pending or running.
    Running,
    /// Every host succeeded.
    Succeeded,
    /// More hosts failed or timed out than `max_errors`: hosts not begun were cancelled,
    /// those in flight finished.
    Stopped,
    /// Every host was tried and some failed (no more than `max_errors`).
    Failed,
}

/// Where one host of a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RolloutHostStateView {
    /// Not begun yet.
    Pending,
    /// Its command is on its way or running; no answer yet.
    Running,
    /// The agent answered with success.
    Succeeded,
    /// The agent answered with a failure (`message` says why), or the host was offline.
    Failed,
    /// Not begun: the rollout stopped first.
    Cancelled,
    /// No answer within the per-host `timeout`.
    TimedOut,
}

/// Hosts of a rollout per state.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct RolloutCountsView {
    /// Not begun.
    pub pending: u64,
    /// In flight.
    pub running: u64,
    /// Done.
    pub succeeded: u64,
    /// Failed.
    pub failed: u64,
    /// Never begun (the rollout stopped).
    pub cancelled: u64,
    /// No answer in time.
    pub timed_out: u64,
}

impl From<RolloutCounts> for RolloutCountsView {
    fn from(c: RolloutCounts) -> Self {
        RolloutCountsView {
            pending: c.pending,
            running: c.running,
            succeeded: c.succeeded,
            failed: c.failed,
            cancelled: c.cancelled,
            timed_out: c.timed_out,
        }
    }
}

/// One host of a rollout.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RolloutHostView {
    /// The host.
    pub hostname: String,
    /// Where it stands.
    pub state: RolloutHostStateView,
    /// The command carrying its part, once begun (`GET /api/v1/commands/{id}`).
    pub command: Option<String>,
    /// The answer's retcode, once settled.
    pub retcode: Option<u32>,
    /// The agent's message (or Polaris's: host offline, no answer before the timeout).
    pub message: Option<String>,
    /// When it was begun.
    pub started: Option<DateTime<Utc>>,
    /// When it was settled or cancelled.
    pub finished: Option<DateTime<Utc>>,
}

impl From<RolloutHost> for RolloutHostView {
    fn from(h: RolloutHost) -> Self {
        RolloutHostView {
            hostname: h.hostname,
            state: match h.state {
                RolloutHostState::Pending => RolloutHostStateView::Pending,
                RolloutHostState::Running => RolloutHostStateView::Running,
                RolloutHostState::Succeeded => RolloutHostStateView::Succeeded,
                RolloutHostState::Failed => RolloutHostStateView::Failed,
                RolloutHostState::Cancelled => RolloutHostStateView::Cancelled,
                RolloutHostState::TimedOut => RolloutHostStateView::TimedOut,
            },
            command: h.job_id,
            retcode: h.retcode,
            message: h.message,
            started: h.started,
            finished: h.finished,
        }
    }
}

/// A rollout: one plugin action for many hosts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RolloutView {
    /// Its id.
    pub id: String,
    /// What it does on each host.
    pub action: RolloutActionView,
    /// The agent concerned.
    pub agent: PluginAgent,
    /// The plugin.
    pub plugin: String,
    /// The catalogue release (install, upgrade).
    pub version: Option<String>,
    /// The instance (start, stop, configure), if one.
    pub instance: Option<String>,
    /// The method of each host's command (`plugin.install`, ...).
    pub method: String,
    /// Hosts in flight at most.
    pub max_concurrency: u32,
    /// Hosts that may fail or time out before it stops (it stops when more do).
    pub max_errors: u32,
    /// Seconds one host may take.
    pub timeout: u64,
    /// Where it stands.
    pub state: RolloutStateView,
    /// Why it stopped or failed.
    pub reason: Option<String>,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// When its last host was settled.
    pub finished: Option<DateTime<Utc>>,
    /// Hosts per state.
    pub counts: RolloutCountsView,
    /// Its hosts in order (absent in the list of rollouts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<RolloutHostView>>,
}

impl RolloutView {
    /// The view of a rollout; `with_hosts` for one rollout, not for lists.
    pub fn new(rollout: Rollout, with_hosts: bool) -> RolloutView {
        RolloutView {
            id: rollout.id,
            action: rollout.action.into(),
            agent: rollout.agent,
            plugin: rollout.plugin,
            version: rollout.version,
            instance: rollout.instance,
            method: rollout.method,
            max_concurrency: rollout.max_concurrency,
            max_errors: rollout.max_errors,
            timeout: rollout.timeout,
            state: match rollout.state {
                RolloutState::Running => RolloutStateView::Running,
                RolloutState::Succeeded => RolloutStateView::Succeeded,
                RolloutState::Stopped => RolloutStateView::Stopped,
                RolloutState::Failed => RolloutStateView::Failed,
            },
            reason: rollout.reason,
            created: rollout.created,
            finished: rollout.finished,
            counts: rollout.counts.into(),
            hosts: with_hosts.then(|| {
                rollout
                    .hosts
                    .into_iter()
                    .map(RolloutHostView::from)
                    .collect()
            }),
        }
    }
}
