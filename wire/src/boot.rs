//! The BootAgent protocol (seed "BootAgent protocol"): agent-initiated HTTP requests.
//!
//! `POST /agent/status` carries a [`StatusReport`] every `step` seconds and is answered with a
//! [`StatusReply`] holding the host's pending [`BootJob`]s; `POST /agent/job/result` carries
//! [`JobResult`]s and is answered with a [`ResultReply`]. Field names are the seed's, including
//! its spelling `stoped`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the BootAgent reports about its host every `step` seconds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    /// The host's identity: host name, AgentSN or address (unique per host).
    pub hostname: String,
    /// The BootAgent's own version, e.g. `bootagent-1.2.4-x86_64`.
    pub version: String,
    /// Seconds the BootAgent has been running.
    pub uptime: u64,
    /// The agent's clock, Unix seconds.
    pub timestamp: i64,
    /// Seconds between reports; the host is offline after 3 × step of silence.
    pub step: u64,
    /// The agents the BootAgent manages.
    #[serde(default)]
    pub agents: Vec<AgentStatus>,
    /// Region of the host (not in the seed's example; defaults to `unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// One managed agent in a [`StatusReport`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentStatus {
    /// The agent's unique name, e.g. `BasicAgent`.
    pub name: String,
    /// Its version.
    pub version: String,
    /// `stoped`, `running`, `fatal` or `killed`.
    pub status: AgentState,
    /// Seconds it has been running.
    pub uptime: u64,
}

/// The seed's agent states.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    /// Stopped on purpose (the seed's spelling).
    Stoped,
    /// Running.
    Running,
    /// Failed after several retries.
    Fatal,
    /// Killed, e.g. for exceeding its resource limits.
    Killed,
}

impl AgentState {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Stoped => "stoped",
            AgentState::Running => "running",
            AgentState::Fatal => "fatal",
            AgentState::Killed => "killed",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<AgentState> {
        Some(match s {
            "stoped" => AgentState::Stoped,
            "running" => AgentState::Running,
            "fatal" => AgentState::Fatal,
            "killed" => AgentState::Killed,
            _ => return None,
        })
    }
}

/// The answer to a status report.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusReply {
    /// 0 = ok.
    pub errcode: u32,
    /// Jobs for this host; each is handed out again until its result arrives.
    #[serde(default)]
    pub jobs: Vec<BootJob>,
}

/// What a boot job asks the BootAgent to do.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum BootAction {
    /// Download, verify and install an agent.
    Install,
    /// Install a new version beside the old one and switch.
    Upgrade,
    /// Stop and remove an agent.
    Uninstall,
    /// Restart an agent.
    Restart,
    /// Stop an agent.
    Stop,
    /// Change the BootAgent's own configuration (`svrlist`, `step`).
    Config,
}

impl BootAction {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BootAction::Install => "install",
            BootAction::Upgrade => "upgrade",
            BootAction::Uninstall => "uninstall",
            BootAction::Restart => "restart",
            BootAction::Stop => "stop",
            BootAction::Config => "config",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<BootAction> {
        Some(match s {
            "install" => BootAction::Install,
            "upgrade" => BootAction::Upgrade,
            "uninstall" => BootAction::Uninstall,
            "restart" => BootAction::Restart,
            "stop" => BootAction::Stop,
            "config" => BootAction::Config,
            _ => return None,
        })
    }
}

/// One job in a [`StatusReply`], as the seed shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BootJob {
    /// Job id (a UUID).
    pub id: String,
    /// What to do.
    pub action: BootAction,
    /// The agent concerned (not for `config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Package URL (install, upgrade): http, https or ftp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `SHA256:<hex>` of the package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// Environment for the agent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Resource limits, e.g. `{"CPU": "10%", "memory": "20M"}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, String>,
    /// `config`: the servers to report to, comma separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svrlist: Option<String>,
    /// `config`: seconds between reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
}

/// One job's outcome, posted to `/agent/job/result` (the body is an array of these).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JobResult {
    /// The job id.
    pub id: String,
    /// 0 = done; anything else = failed.
    pub errcode: u32,
    /// What happened.
    pub message: String,
    /// The host reporting (optional; the seed's example omits it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// The answer to posted job results.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResultReply {
    /// 0 = every result stored; otherwise the agent re-sends (see `message`).
    pub errcode: u32,
    /// Why not, when errcode is not 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_seed_examples() {
        let report: StatusReport = serde_json::from_str(
            r#"{ "hostname": "127.0.0.1", "version": "bootagent-1.2.4-x86_64", "uptime": 1234, "timestamp": 1232,
                 "step": 600, "agents": [ { "name": "BasicAgent", "version": "1.2.3", "status": "stoped", "uptime": 123 } ] }"#,
        )
        .unwrap();
        assert_eq!(report.agents[0].status, AgentState::Stoped);
        let reply: StatusReply = serde_json::from_str(
            r#"{ "errcode": 0, "jobs": [
              { "id": "ddc8a9b9", "action": "install", "name": "BasicAgent", "url": "ftp://server:21/BasicAgent/BasicAgent-1.5.6.rpm",
                "checksum": "SHA256:4a34b8d7", "env": { "PATH": "/usr/bin;/usr/local/bin" }, "limits": { "CPU": "10%", "memory": "20M" } },
              { "id": "x", "action": "config", "svrlist": "192.168.9.1:1234,", "step": 1200 } ] }"#,
        )
        .unwrap();
        assert_eq!(reply.jobs[0].action, BootAction::Install);
        assert_eq!(reply.jobs[0].limits["CPU"], "10%");
        assert_eq!(reply.jobs[1].step, Some(1200));
        let results: Vec<JobResult> =
            serde_json::from_str(r#"[ { "id": "ddc8a9b9", "errcode": 0, "message": "success" } ]"#)
                .unwrap();
        assert_eq!(results[0].errcode, 0);
    }
}
