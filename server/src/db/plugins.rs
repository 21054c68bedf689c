//! The database side of plugins managed from Polaris (issue 14; statements in
//! `common/inventory.rs`, `common/catalogue.rs` and `common/rollouts.rs`): the hosts' plugin
//! inventories (where each plugin runs, in which version and state), the catalogue of plugin
//! releases, and rollouts with their per-host progress. The HTTP shapes are built by
//! `api::plugin_views` from what is read here.

use chrono::{DateTime, Utc};
use wire::plugins::{InstanceReport, InstanceState, PluginAgent, PluginInventory, SkippedFile};

use super::{DbFuture, Target};

/// One loaded plugin of a host as stored: the agent's report and the worst state of its
/// instances.
#[derive(Debug, Clone)]
pub struct PlacedPlugin {
    /// The host.
    pub hostname: String,
    /// The agent that loaded it.
    pub agent: PluginAgent,
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
    /// Its instances as the agent reported them.
    pub instances: Vec<InstanceReport>,
    /// The worst state of its instances (`stopped` when it has none).
    pub state: InstanceState,
    /// The reason of the instance in that state, if it gave one.
    pub reason: Option<String>,
    /// When this host's inventory last changed.
    pub updated: DateTime<Utc>,
}

/// What one agent of a host last reported.
#[derive(Debug, Clone)]
pub struct AgentInventory {
    /// Which agent.
    pub agent: PluginAgent,
    /// Why it could not be asked, when it could not.
    pub error: Option<String>,
    /// Items its report left out (over the limits).
    pub cut: u64,
    /// When its inventory last changed (a report that repeats the last one is not written).
    pub updated: DateTime<Utc>,
    /// Its loaded plugins, by name.
    pub plugins: Vec<PlacedPlugin>,
    /// The files it did not load.
    pub skipped: Vec<SkippedFile>,
}

/// What is wrong with a plugin on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The agent could not be asked for its plugins (nodus not running, ...).
    AgentError,
    /// A plugin file was not loaded.
    Skipped,
    /// An instance's last call (or `init`) failed.
    Failing,
    /// An instance has failed long enough that its interval is stretched.
    Penalised,
}

/// One problem of one host.
#[derive(Debug, Clone)]
pub struct PluginProblem {
    /// The host.
    pub hostname: String,
    /// The agent.
    pub agent: PluginAgent,
    /// What is wrong.
    pub kind: ProblemKind,
    /// The plugin (failing, penalised).
    pub plugin: Option<String>,
    /// The instance (failing, penalised).
    pub instance: Option<String>,
    /// The file (skipped).
    pub file: Option<String>,
    /// Why, as the agent said.
    pub reason: String,
    /// When the host's inventory last changed.
    pub updated: DateTime<Utc>,
}

/// A plugin release of the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
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
    /// `SHA256:<hex>` of the file.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its path under the package root (`plugins/<agent>/<name>/<version>/<name>.so`).
    pub path: String,
    /// Whether its minisign signature lies beside it (`<path>.minisig`).
    pub signed: bool,
    /// When it was uploaded.
    pub created: DateTime<Utc>,
    /// Hosts whose inventory shows this agent running this plugin at this version (0 when
    /// read alone).
    pub hosts: u64,
}

/// What a rollout does on each host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutAction {
    /// Put a catalogue release on hosts that do not have the plugin.
    Install,
    /// Replace the plugin's version by a catalogue release (the old one kept if the new one
    /// does not answer).
    Upgrade,
    /// Stop the plugin's instances and delete its file.
    Remove,
    /// Start the plugin (or one instance).
    Start,
    /// Stop the plugin (or one instance).
    Stop,
    /// New options for one instance.
    Configure,
}

impl RolloutAction {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutAction::Install => "install",
            RolloutAction::Upgrade => "upgrade",
            RolloutAction::Remove => "remove",
            RolloutAction::Start => "start",
            RolloutAction::Stop => "stop",
            RolloutAction::Configure => "configure",
        }
    }

    /// The action a stored word names.
    pub fn parse(word: &str) -> Option<RolloutAction> {
        Some(match word {
            "install" => RolloutAction::Install,
            "upgrade" => RolloutAction::Upgrade,
            "remove" => RolloutAction::Remove,
            "start" => RolloutAction::Start,
            "stop" => RolloutAction::Stop,
            "configure" => RolloutAction::Configure,
            _ => return None,
        })
    }
}

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutState {
    /// Hosts are pending or running.
    Running,
    /// Every host succeeded.
    Succeeded,
    /// More hosts failed than `max_errors` allows: the hosts not begun were cancelled.
    Stopped,
    /// Every host was tried, and some failed (no more than `max_errors`).
    Failed,
}

impl RolloutState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutState::Running => "running",
            RolloutState::Succeeded => "succeeded",
            RolloutState::Stopped => "stopped",
            RolloutState::Failed => "failed",
        }
    }

    /// The state a stored word names.
    pub fn parse(word: &str) -> Option<RolloutState> {
        Some(match word {
            "running" => RolloutState::Running,
            "succeeded" => RolloutState::Succeeded,
            "stopped" => RolloutState::Stopped,
            "failed" => RolloutState::Failed,
            _ => return None,
        })
    }
}

/// Where one host of a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RolloutHostState {
    /// Not begun yet.
    Pending,
    /// Its command is queued or on its way; no answer yet.
    Running,
    /// The agent answered with success.
    Succeeded,
    /// The agent answered with a failure (its message says why), or the host was offline.
    Failed,
    /// Not begun: the rollout stopped first.
    Cancelled,
    /// No answer within the rollout's per-host timeout.
    TimedOut,
}

impl RolloutHostState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutHostState::Pending => "pending",
            RolloutHostState::Running => "running",
            RolloutHostState::Succeeded => "succeeded",
            RolloutHostState::Failed => "failed",
            RolloutHostState::Cancelled => "cancelled",
            RolloutHostState::TimedOut => "timed_out",
        }
    }

    /// The state a stored word names.
    pub fn parse(word: &str) -> Option<RolloutHostState> {
        Some(match word {
            "pending" => RolloutHostState::Pending,
            "running" => RolloutHostState::Running,
            "succeeded" => RolloutHostState::Succeeded,
            "failed" => RolloutHostState::Failed,
            "cancelled" => RolloutHostState::Cancelled,
            "timed_out" => RolloutHostState::TimedOut,
            _ => return None,
        })
    }

    /// Whether this counts against `max_errors`.
    pub fn is_error(self) -> bool {
        matches!(self, RolloutHostState::Failed | RolloutHostState::TimedOut)
    }
}

/// How many hosts of a rollout are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RolloutCounts {
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

impl RolloutCounts {
    /// Adds `n` hosts in `state`.
    pub fn add(&mut self, state: RolloutHostState, n: u64) {
        let slot = match state {
            RolloutHostState::Pending => &mut self.pending,
            RolloutHostState::Running => &mut self.running,
            RolloutHostState::Succeeded => &mut self.succeeded,
            RolloutHostState::Failed => &mut self.failed,
            RolloutHostState::Cancelled => &mut self.cancelled,
            RolloutHostState::TimedOut => &mut self.timed_out,
        };
        *slot += n;
    }

    /// Hosts that count against `max_errors` (failed or timed out).
    pub fn errors(&self) -> u64 {
        self.failed + self.timed_out
    }
}

/// One host of a rollout.
#[derive(Debug, Clone)]
pub struct RolloutHost {
    /// The host.
    pub hostname: String,
    /// Where it stands.
    pub state: RolloutHostState,
    /// The command carrying its part, once begun (`GET /api/v1/commands/{id}`).
    pub job_id: Option<String>,
    /// The answer's retcode, once settled.
    pub retcode: Option<u32>,
    /// The agent's message (or Polaris's: host offline, no answer), once settled.
    pub message: Option<String>,
    /// When it was begun.
    pub started: Option<DateTime<Utc>>,
    /// When it was settled (or cancelled).
    pub finished: Option<DateTime<Utc>>,
}

/// A rollout as stored.
#[derive(Debug, Clone)]
pub struct Rollout {
    /// Its id.
    pub id: String,
    /// What it does.
    pub action: RolloutAction,
    /// The agent concerned.
    pub agent: PluginAgent,
    /// The plugin.
    pub plugin: String,
    /// The catalogue release (install, upgrade).
    pub version: Option<String>,
    /// The instance (start, stop, configure), if one.
    pub instance: Option<String>,
    /// The method of the hosts' command.
    pub method: String,
    /// The single-host command every host gets (JSON of a `wire::Command`).
    pub command: String,
    /// Hosts in flight at most.
    pub max_concurrency: u32,
    /// Errors allowed before it stops.
    pub max_errors: u32,
    /// Seconds one host may take.
    pub timeout: u64,
    /// Where it stands.
    pub state: RolloutState,
    /// Why it stopped.
    pub reason: Option<String>,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// When its last host was settled.
    pub finished: Option<DateTime<Utc>>,
    /// Hosts per state.
    pub counts: RolloutCounts,
    /// Its hosts in order (empty in lists).
    pub hosts: Vec<RolloutHost>,
}

/// A rollout to store, as the API checked it.
pub struct NewRollout<'a> {
    /// Its id (a new UUID).
    pub id: &'a str,
    /// What it does.
    pub action: RolloutAction,
    /// The agent concerned.
    pub agent: PluginAgent,
    /// The plugin.
    pub plugin: &'a str,
    /// The catalogue release (install, upgrade).
    pub version: Option<&'a str>,
    /// The instance, if one.
    pub instance: Option<&'a str>,
    /// The method of the hosts' command.
    pub method: &'a str,
    /// The single-host command (JSON).
    pub command: &'a str,
    /// Which hosts: all must be known (or the region must have hosts).
    pub target: &'a Target,
    /// Hosts in flight at most (≥ 1).
    pub max_concurrency: u32,
    /// Errors allowed before it stops.
    pub max_errors: u32,
    /// Seconds one host may take.
    pub timeout: u64,
}

/// A running host of a rollout with what its command says so far.
#[derive(Debug, Clone)]
pub struct RunningHost {
    /// The host.
    pub hostname: String,
    /// Its command's id.
    pub job_id: String,
    /// When it was begun.
    pub started: DateTime<Utc>,
    /// The command, once it exists: its host part's state and result (`None` inside when
    /// the command has no part for the host: the host was unknown to it).
    pub command: Option<Option<super::CommandPart>>,
}

/// How one running host ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// The host.
    pub hostname: String,
    /// succeeded, failed or timed_out.
    pub state: RolloutHostState,
    /// The answer's retcode.
    pub retcode: u32,
    /// The agent's (or Polaris's) message.
    pub message: String,
}

/// A host a round began: its command is to be made with this id.
#[derive(Debug, Clone)]
pub struct Begun {
    /// The host.
    pub hostname: String,
    /// The command's id.
    pub job_id: String,
    /// When it was begun (its command's deadline is this plus the timeout).
    pub started: DateTime<Utc>,
}

/// The hosts' plugin inventories and the catalogue of releases (implemented once for every
/// backend in `common/inventory.rs` and `common/catalogue.rs`).
pub trait PluginStore: Send + Sync {
    /// Replaces everything stored of `hostname`'s plugins with `inventory` (cut to the
    /// limits: at most two agents, each bounded by `wire::plugins::INVENTORY_ITEMS_MAX`, texts
    /// clipped to the columns), in one transaction.
    fn replace_inventory<'a>(
        &'a self,
        hostname: &'a str,
        inventory: &'a PluginInventory,
    ) -> DbFuture<'a, ()>;

    /// A host's plugins per agent, by agent and plugin name.
    fn host_plugins<'a>(&'a self, hostname: &'a str) -> DbFuture<'a, Vec<AgentInventory>>;

    /// Where a plugin runs (at `version`, on `agent`, when given), by hostname.
    fn plugin_hosts<'a>(
        &'a self,
        name: &'a str,
        version: Option<&'a str>,
        agent: Option<PluginAgent>,
    ) -> DbFuture<'a, Vec<PlacedPlugin>>;

    /// Every agent that could not be asked, file skipped and instance failing or penalised,
    /// by hostname; at most `limit`.
    fn plugin_problems<'a>(&'a self, limit: u32) -> DbFuture<'a, Vec<PluginProblem>>;

    /// Records a release; the same release (agent, name, version) with the same digest is
    /// returned as stored, with another digest it fails with [`super::DbError::Conflict`].
    fn add_release<'a>(&'a self, release: &'a Release) -> DbFuture<'a, Release>;

    /// One release.
    fn release<'a>(
        &'a self,
        agent: PluginAgent,
        name: &'a str,
        version: &'a str,
    ) -> DbFuture<'a, Option<Release>>;

    /// Every release with the number of hosts running it, by agent, name and version.
    fn releases<'a>(&'a self) -> DbFuture<'a, Vec<Release>>;
}

/// Rollouts and their hosts (implemented once for every backend in `common/rollouts.rs`).
/// Every change of a rollout's hosts locks the rollout's row first, so that schedulers on
/// several replicas take turns per rollout.
pub trait RolloutStore: Send + Sync {
    /// Stores a rollout and its hosts (pending, in the order given, or by hostname for a
    /// region). Fails with [`super::DbError::UnknownHosts`] naming every unknown host, or for
    /// a region without hosts; nothing is stored then.
    fn create_rollout<'a>(&'a self, new: &'a NewRollout<'a>) -> DbFuture<'a, Rollout>;

    /// A rollout with its counts and hosts.
    fn rollout<'a>(&'a self, id: &'a str) -> DbFuture<'a, Option<Rollout>>;

    /// Rollouts, newest first, with their counts (no hosts); at most `limit`.
    fn rollouts<'a>(&'a self, limit: u32) -> DbFuture<'a, Vec<Rollout>>;

    /// The rollouts not finished (running, or stopped with hosts still in flight), with their
    /// counts (no hosts).
    fn active_rollouts<'a>(&'a self) -> DbFuture<'a, Vec<Rollout>>;

    /// The running hosts of a rollout with their commands' progress.
    fn running_hosts<'a>(&'a self, id: &'a str) -> DbFuture<'a, Vec<RunningHost>>;

    /// Records how running hosts ended (a host no longer running is left alone: another
    /// replica settled it); returns how many changed. When the errors then pass
    /// `max_errors`, the rollout becomes `stopped` with the reason and its pending hosts
    /// `cancelled`, in the same transaction.
    fn settle_hosts<'a>(&'a self, id: &'a str, settled: &'a [Settled]) -> DbFuture<'a, u64>;

    /// Begins pending hosts of a running rollout, in order, as many as `max_concurrency`
    /// minus the running ones allows; each gets a command id. Atomic across replicas.
    fn begin_hosts<'a>(&'a self, id: &'a str) -> DbFuture<'a, Vec<Begun>>;

    /// Finishes a rollout with no host pending or running: `succeeded`, `failed` (some
    /// failed, not more than `max_errors`), or `stopped` as it was. `None` while hosts remain.
    fn finish_rollout<'a>(&'a self, id: &'a str) -> DbFuture<'a, Option<RolloutState>>;
}
