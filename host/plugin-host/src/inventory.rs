//! The plugin inventory's parts ([`wire::plugins`]), made one way for every reader: gearman's
//! `plugin.list` and the inventory it sends Polaris, and `gearctl -l`. A loaded plugin becomes
//! a [`PluginReport`] ([`plugin_report`]), a file not loaded a [`SkippedFile`] ([`skipped`]),
//! and nodus's answer to `plugin_list` its [`AgentPlugins`] ([`nodus_plugins`]). Secret
//! option values (plugin-api 2.1's `secret` type) never leave the host: [`masked_options`]
//! shows them as `"***"`.

use std::collections::BTreeMap;
use std::path::Path;

use plugin_api::OptionSchema;
use plugin_api::schema::SECRET_SHOWN;
use serde_json::{Map, Value};
use wire::control::{OptionDoc, PluginStatus, Response};
use wire::plugins::{
    AgentPlugins, INVENTORY_ITEMS_MAX, InstanceReport, InstanceState, PluginAgent, PluginReport,
    SkippedFile,
};

use crate::LoadedPlugin;
use crate::loader::LoadError;

/// One loaded plugin as the inventory shows it: installed as `file` (a release is loaded from
/// its staged name, then renamed), running as `instances`; the digest and plugin-api version
/// are its library's, as the loader found them.
pub fn plugin_report(
    plugin: &LoadedPlugin,
    file: &Path,
    instances: Vec<InstanceReport>,
) -> PluginReport {
    let info = plugin.info();
    PluginReport {
        name: plugin.name().to_string(),
        version: info.version.to_string(),
        abi: plugin.abi().to_string(),
        roles: info.roles.names().into_iter().map(str::to_string).collect(),
        file: file.display().to_string(),
        digest: plugin.digest().to_string(),
        instances,
        schema: plugin
            .options()
            .iter()
            .take(INVENTORY_ITEMS_MAX)
            .map(option_doc)
            .collect(),
    }
}

/// One option of a schema as listings show it (`nodusctl --json plugin list`'s `options`).
pub fn option_doc(option: &OptionSchema) -> OptionDoc {
    OptionDoc {
        name: option.name.to_string(),
        kind: option.kind.name().to_string(),
        required: option.required,
        repeated: option.repeated,
        default: option
            .default
            .as_ref()
            .map(|d| option.shown(d.as_str()).to_string())
            .into_option(),
        choices: option.choices.iter().map(|c| c.to_string()).collect(),
        doc: option.doc.to_string(),
    }
}

/// The options an instance runs with (`(key, value)`, a repeated key once per value), by the
/// schema's spelling of each name: a repeated option as an array, a secret one as `"***"`.
pub fn masked_options(schema: &[OptionSchema], options: &[(String, String)]) -> Map<String, Value> {
    let mut shown = Map::new();
    for (key, value) in options {
        let option = schema
            .iter()
            .find(|o| o.name.as_str().eq_ignore_ascii_case(key));
        let (name, value) = match option {
            Some(option) => (option.name.to_string(), option.shown(value).to_string()),
            // Not in the schema (the check refuses such options before init): shown masked,
            // as nothing says it is harmless.
            None => (key.clone(), SECRET_SHOWN.to_string()),
        };
        let repeated = option.is_some_and(|o| o.repeated);
        match shown.get_mut(&name) {
            Some(Value::Array(values)) if repeated => values.push(Value::String(value)),
            _ if repeated => {
                shown.insert(name, Value::Array(vec![Value::String(value)]));
            }
            _ => {
                shown.insert(name, Value::String(value));
            }
        }
    }
    shown
}

/// A file not loaded, with its one-line reason.
pub fn skipped(path: &Path, reason: &LoadError) -> SkippedFile {
    SkippedFile {
        file: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// nodus's plugins from its answer to `plugin_list` (or why it could not be asked): its
/// instances grouped by plugin, each with its state, cut to the inventory's bounds.
pub fn nodus_plugins(answer: Result<Response, String>) -> AgentPlugins {
    let response = match answer {
        Ok(response) if response.ok => response,
        Ok(response) => {
            let why = response.error.unwrap_or_else(|| "refused".into());
            return unreachable_agent(PluginAgent::Nodus, format!("nodus refused: {why}"));
        }
        Err(why) => return unreachable_agent(PluginAgent::Nodus, why),
    };
    let mut by_plugin: BTreeMap<String, PluginReport> = BTreeMap::new();
    for status in response.plugins {
        let Some(state) = instance_state(&status) else {
            continue;
        };
        let plugin = if status.plugin.is_empty() {
            status.name.clone()
        } else {
            status.plugin.clone()
        };
        let report = by_plugin
            .entry(plugin.clone())
            .or_insert_with(|| PluginReport {
                name: plugin,
                version: status.version.clone(),
                abi: status.abi.clone(),
                roles: status.roles.clone(),
                file: status.file.clone(),
                digest: status.digest.clone(),
                instances: Vec::new(),
                schema: status.options.clone(),
            });
        let reason = match state {
            InstanceState::Running => None,
            _ => status.last_error.clone(),
        };
        report.instances.push(InstanceReport {
            name: status.name,
            state,
            reason,
            options: status.configured,
        });
    }
    AgentPlugins {
        agent: PluginAgent::Nodus,
        error: None,
        plugins: by_plugin.into_values().collect(),
        skipped: response.skipped,
        cut: 0,
    }
    .bounded()
}

/// An agent that could not be asked, and why.
pub fn unreachable_agent(agent: PluginAgent, why: String) -> AgentPlugins {
    AgentPlugins {
        agent,
        error: Some(why),
        plugins: Vec::new(),
        skipped: Vec::new(),
        cut: 0,
    }
}

/// The inventory state of one nodus instance, or `None` for one already removed. A running
/// read instance whose interval nodus stretched past its base is `penalised` (what nodus's
/// back-off means), whichever words the nodus speaks.
pub fn instance_state(status: &PluginStatus) -> Option<InstanceState> {
    Some(match status.state.as_str() {
        "removed" => return None,
        "running" => match (status.interval, status.base_interval) {
            (Some(now), Some(base)) if now > base => InstanceState::Penalised,
            _ => InstanceState::Running,
        },
        "stopped" | "loaded" => InstanceState::Stopped,
        "penalised" => InstanceState::Penalised,
        // `failing`, and any state a newer nodus may add: not running as it should.
        _ => InstanceState::Failing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(name: &str, plugin: &str, state: &str) -> PluginStatus {
        PluginStatus {
            name: name.into(),
            plugin: plugin.into(),
            version: "1.0.0".into(),
            roles: vec!["read".into()],
            state: state.into(),
            file: format!("/usr/lib/cargo/nodus/{plugin}.so"),
            ..PluginStatus::default()
        }
    }

    #[test]
    fn nodus_instances_are_grouped_by_plugin_with_their_states() {
        let mut penalised = status("cpu", "cpu", "running");
        penalised.base_interval = Some(10.0);
        penalised.interval = Some(40.0);
        penalised.last_error = Some("read failed".into());
        let mut stopped = status("http/backup", "http", "stopped");
        stopped.last_error = Some("stopped by nodusctl".into());
        let answer = Response {
            ok: true,
            error: None,
            plugins: vec![
                penalised,
                status("http/primary", "http", "running"),
                stopped,
                status("gone", "gone", "removed"),
                status("load", "", "failing"),
            ],
            skipped: vec![SkippedFile {
                file: "/usr/lib/cargo/nodus/old.so".into(),
                reason: "ABI version mismatch".into(),
            }],
        };
        let nodus = nodus_plugins(Ok(answer));
        assert_eq!(nodus.error, None);
        let names: Vec<_> = nodus.plugins.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["cpu", "http", "load"], "removed ones are gone");
        let http = &nodus.plugins[1];
        let states: Vec<_> = http.instances.iter().map(|i| (&*i.name, i.state)).collect();
        assert_eq!(
            states,
            [
                ("http/primary", InstanceState::Running),
                ("http/backup", InstanceState::Stopped)
            ]
        );
        assert_eq!(
            http.instances[1].reason.as_deref(),
            Some("stopped by nodusctl")
        );
        assert_eq!(
            nodus.plugins[0].instances[0].state,
            InstanceState::Penalised
        );
        assert_eq!(nodus.plugins[2].instances[0].state, InstanceState::Failing);
        assert_eq!(nodus.skipped.len(), 1);
    }

    #[test]
    fn a_nodus_that_cannot_be_asked_is_an_error_not_an_empty_list() {
        let down = nodus_plugins(Err("no nodus at /run/x.sock: connection refused".into()));
        assert_eq!(
            down.error.as_deref(),
            Some("no nodus at /run/x.sock: connection refused")
        );
        let refused = nodus_plugins(Ok(Response::error("permission denied")));
        assert_eq!(
            refused.error.as_deref(),
            Some("nodus refused: permission denied")
        );
        assert!(refused.plugins.is_empty());
    }

    #[test]
    fn secrets_are_masked_and_repeated_options_listed() {
        use plugin_api::OptionSpec;
        let specs = [
            OptionSpec::string("URL", "where to send"),
            OptionSpec::string("Header", "extra header").repeated(),
            OptionSpec::secret("Password", "basic auth password").default("changeme"),
        ];
        let schema: Vec<OptionSchema> = specs.iter().map(OptionSpec::to_schema).collect();
        let options = [
            ("url", "http://a"),
            ("Header", "A: b"),
            ("HEADER", "C: d"),
            ("password", "hunter2"),
            ("Unknown", "x"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let shown = masked_options(&schema, &options);
        assert_eq!(
            Value::Object(shown),
            serde_json::json!({"URL": "http://a", "Header": ["A: b", "C: d"],
                "Password": "***", "Unknown": "***"})
        );
        let doc = option_doc(&schema[2]);
        assert_eq!(doc.kind, "secret");
        assert_eq!(
            doc.default.as_deref(),
            Some("***"),
            "a default is a value too"
        );
    }
}
