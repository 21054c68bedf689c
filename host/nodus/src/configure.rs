//! `instance_configure`: new options for one running (or stopped) instance, in force without
//! a restart and kept across restarts.
//!
//! The options (the instance's whole set) are checked against the plugin's schema, a new
//! instance is made with them and checked like an install's (`trial`), the options are saved
//! in `managed.json` (where they replace the configuration file's options of that instance, in
//! the daemon and in `nodus -t`), and only then does the new instance replace the old one
//! (`Agent::put_in_place`). When any step fails, the old instance runs on untouched.

use serde_json::{Map, Value};
use wire::control::Response;

use crate::agent::Agent;
use crate::trial::{self, Candidate};

/// Carries out `instance_configure { plugin, instance, options }`.
pub fn handle(
    agent: &Agent,
    plugin: &str,
    instance: Option<&str>,
    options: &Map<String, Value>,
) -> Result<Response, Response> {
    let _one = agent.changing();
    let pairs = crate::managed::option_pairs(options)
        .map_err(|e| Response::error(format!("invalid options: {e}")))?;
    let id = instance_id(agent, plugin, instance)?;
    let worker = agent.worker(&id)?;
    if worker.plugin().name() != plugin {
        return Err(Response::error(format!(
            "instance `{id}` is not an instance of plugin `{plugin}`"
        )));
    }
    let candidate = Candidate {
        plugin: worker.plugin().clone(),
        id: id.clone(),
        options: pairs,
        stopped: worker.is_stopped(),
    };
    let refuse = |reason: String| {
        tracing::warn!(plugin = %id, "New options for `{id}` refused: {reason}.");
        Response::error(reason)
    };
    let mut tried = trial::try_all(agent, vec![candidate]).map_err(refuse)?;
    let mut managed = agent.managed().clone();
    managed.options.insert(id.clone(), options.clone());
    if let Err(e) = agent.save_managed(managed) {
        tried.drain(..).for_each(trial::Tried::discard);
        return Err(refuse(e));
    }
    let mut statuses = Vec::new();
    for t in tried {
        let worker = t.worker.clone();
        agent.put_in_place(t);
        statuses.push(worker.status());
    }
    tracing::info!(plugin = %id, "Instance `{id}` runs with new options.");
    Ok(Response::ok(statuses))
}

/// The instance asked for: `<plugin>/<instance>`, or the plugin's only instance.
fn instance_id(agent: &Agent, plugin: &str, instance: Option<&str>) -> Result<String, Response> {
    if let Some(instance) = instance {
        return Ok(format!("{plugin}/{instance}"));
    }
    match agent.instances_of(plugin).as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Response::error(format!(
            "no instance of plugin `{plugin}` is loaded"
        ))),
        many => Err(Response::error(format!(
            "plugin `{plugin}` runs {} instances ({}): name one",
            many.len(),
            many.join(", ")
        ))),
    }
}
