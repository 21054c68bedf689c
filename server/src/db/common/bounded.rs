//! A plugin inventory from the network made storable: [`check_inventory`] cuts it to the
//! limits (each agent once, `wire::plugins::INVENTORY_ITEMS_MAX` items each, each plugin once)
//! and clips every text to its column, counting what it left out, so that a broken or hostile
//! agent cannot make its host's inventory unstorable; and the stored words of agents and
//! instance states. Pure functions, used by `inventory` before its first statement.

use std::collections::HashSet;

use wire::plugins::{InstanceReport, InstanceState, PluginAgent, PluginInventory, SkippedFile};

use crate::db::DbError;

/// Longest plugin or instance name kept (`plugin_inventory.name`).
pub(super) const NAME_MAX: usize = 64;
/// Longest version kept.
pub(super) const VERSION_MAX: usize = 64;
/// Longest plugin-api version kept.
const ABI_MAX: usize = 32;
/// Most roles kept per plugin, and the longest role.
const ROLES_MAX: usize = 8;
const ROLE_MAX: usize = 16;
/// Longest file path kept.
const FILE_MAX: usize = 1024;
/// Longest digest kept.
const DIGEST_MAX: usize = 80;
/// Longest reason or error kept.
const REASON_MAX: usize = 1024;
/// Longest instance name kept.
const INSTANCE_MAX: usize = 128;

/// `text` without NUL (PostgreSQL refuses it) and cut to `max` characters.
pub fn clip(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| if c == '\0' { '\u{fffd}' } else { c })
        .collect()
}

/// How bad a state is: the worst of a plugin's instances is its state.
fn severity(state: InstanceState) -> u8 {
    match state {
        InstanceState::Running => 0,
        InstanceState::Stopped => 1,
        InstanceState::Failing => 2,
        InstanceState::Penalised => 3,
    }
}

/// The stored word of an instance state.
pub fn state_word(state: InstanceState) -> &'static str {
    match state {
        InstanceState::Running => "running",
        InstanceState::Stopped => "stopped",
        InstanceState::Failing => "failing",
        InstanceState::Penalised => "penalised",
    }
}

pub fn parse_state(word: &str) -> Result<InstanceState, DbError> {
    Ok(match word {
        "running" => InstanceState::Running,
        "stopped" => InstanceState::Stopped,
        "failing" => InstanceState::Failing,
        "penalised" => InstanceState::Penalised,
        other => {
            return Err(DbError::Invalid(format!(
                "stored state `{other}` is unknown"
            )));
        }
    })
}

/// The stored word of an agent.
pub fn parse_agent(word: &str) -> Result<PluginAgent, DbError> {
    match word {
        "gearman" => Ok(PluginAgent::Gearman),
        "nodus" => Ok(PluginAgent::Nodus),
        other => Err(DbError::Invalid(format!(
            "stored agent `{other}` is unknown"
        ))),
    }
}

/// One agent's part of an inventory, ready to store.
#[derive(Debug, PartialEq)]
pub struct CheckedAgent {
    pub agent: PluginAgent,
    pub error: Option<String>,
    pub cut: i64,
    pub plugins: Vec<CheckedPlugin>,
    pub skipped: Vec<SkippedFile>,
}

/// One plugin row, ready to store.
#[derive(Debug, PartialEq)]
pub struct CheckedPlugin {
    pub name: String,
    pub version: String,
    pub abi: String,
    /// JSON array.
    pub roles: String,
    pub file: String,
    pub digest: String,
    /// JSON array of the instances.
    pub instances: String,
    pub state: InstanceState,
    pub reason: Option<String>,
}

/// An inventory cut to the limits: each agent once (the first report of it wins), each bounded
/// by `wire::plugins::INVENTORY_ITEMS_MAX`, each plugin once per agent (by its clipped name),
/// texts clipped to their columns. What is left out is counted in the agent's `cut`.
pub fn check_inventory(inventory: &PluginInventory) -> Result<Vec<CheckedAgent>, DbError> {
    let mut agents: Vec<CheckedAgent> = Vec::new();
    for report in &inventory.agents {
        if agents.iter().any(|a| a.agent == report.agent) {
            continue;
        }
        let report = report.clone().bounded();
        let mut cut = i64::try_from(report.cut).unwrap_or(i64::MAX);
        let mut names = HashSet::new();
        let mut plugins = Vec::with_capacity(report.plugins.len());
        for plugin in &report.plugins {
            let name = clip(&plugin.name, NAME_MAX);
            if name.is_empty() || !names.insert(name.clone()) {
                cut = cut.saturating_add(1);
                continue;
            }
            let roles: Vec<String> = plugin
                .roles
                .iter()
                .take(ROLES_MAX)
                .map(|r| clip(r, ROLE_MAX))
                .collect();
            let instances: Vec<InstanceReport> = plugin
                .instances
                .iter()
                .map(|i| InstanceReport {
                    name: clip(&i.name, INSTANCE_MAX),
                    state: i.state,
                    reason: i.reason.as_deref().map(|r| clip(r, REASON_MAX)),
                    options: i.options.clone(),
                })
                .collect();
            let worst = instances.iter().max_by_key(|i| severity(i.state));
            let (state, reason) = match worst {
                Some(i) => (i.state, i.reason.clone()),
                None => (InstanceState::Stopped, None),
            };
            plugins.push(CheckedPlugin {
                name,
                version: clip(&plugin.version, VERSION_MAX),
                abi: clip(&plugin.abi, ABI_MAX),
                roles: super::commands::json(&roles)?,
                file: clip(&plugin.file, FILE_MAX),
                digest: clip(&plugin.digest, DIGEST_MAX),
                instances: super::commands::json(&instances)?,
                state,
                reason,
            });
        }
        let skipped = report
            .skipped
            .iter()
            .map(|s| SkippedFile {
                file: clip(&s.file, FILE_MAX),
                reason: clip(&s.reason, REASON_MAX),
            })
            .collect();
        agents.push(CheckedAgent {
            agent: report.agent,
            error: report.error.as_deref().map(|e| clip(e, REASON_MAX)),
            cut,
            plugins,
            skipped,
        });
    }
    Ok(agents)
}

#[cfg(test)]
mod tests {
    use wire::plugins::{AgentPlugins, PluginReport};

    use super::*;

    fn instance(name: &str, state: InstanceState, reason: Option<&str>) -> InstanceReport {
        InstanceReport {
            name: name.into(),
            state,
            reason: reason.map(str::to_owned),
            options: Default::default(),
        }
    }

    #[test]
    fn the_worst_instance_names_the_state_and_the_inventory_is_bounded() {
        let plugin = PluginReport {
            name: "http".into(),
            version: "2.1.0".into(),
            abi: "2.1.0".into(),
            roles: vec!["write".into()],
            file: "/usr/lib/cargo/nodus/http.so".into(),
            digest: format!("SHA256:{}", "a".repeat(64)),
            schema: Vec::new(),
            instances: vec![
                instance("http/a", InstanceState::Running, None),
                instance(
                    "http/b",
                    InstanceState::Penalised,
                    Some("connection refused"),
                ),
                instance("http/c", InstanceState::Failing, Some("timeout")),
            ],
        };
        let mut twice = plugin.clone();
        twice.version = "0\0bad".into();
        let nodus = AgentPlugins {
            agent: PluginAgent::Nodus,
            error: None,
            plugins: vec![plugin.clone(), twice],
            skipped: vec![SkippedFile {
                file: "/usr/lib/cargo/nodus/old.so".into(),
                reason: "x".repeat(5000),
            }],
            cut: 0,
        };
        let mut again = nodus.clone();
        again.error = Some("second report of one agent".into());
        let checked = check_inventory(&PluginInventory {
            agents: vec![nodus, again],
        })
        .unwrap();
        assert_eq!(checked.len(), 1, "an agent counts once");
        let agent = &checked[0];
        assert_eq!(agent.error, None);
        assert_eq!(agent.cut, 1, "the second `http` is left out and counted");
        assert_eq!(agent.plugins[0].state, InstanceState::Penalised);
        assert_eq!(
            agent.plugins[0].reason.as_deref(),
            Some("connection refused")
        );
        assert_eq!(agent.plugins[0].roles, r#"["write"]"#);
        assert_eq!(agent.skipped[0].reason.chars().count(), REASON_MAX);

        let empty = PluginReport {
            name: "idle".into(),
            ..PluginReport::default()
        };
        let checked = check_inventory(&PluginInventory {
            agents: vec![AgentPlugins {
                agent: PluginAgent::Gearman,
                error: None,
                plugins: vec![empty],
                skipped: vec![],
                cut: 0,
            }],
        })
        .unwrap();
        assert_eq!(checked[0].plugins[0].state, InstanceState::Stopped);
        assert_eq!(clip("a\0b", 2), "a\u{fffd}");
    }
}
