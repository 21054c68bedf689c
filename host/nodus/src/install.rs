//! `plugin_install`: put a new library (a new plugin, or a new version of one that runs) in
//! place without a restart, checked first, with nothing changed when the check fails.
//!
//! The library is loaded from the staged path its caller (gearman) wrote beside the installed
//! plugins: a path never loaded before, so the new code really loads (a loaded library is
//! never unloaded, and `dlopen` of a path already open would return the old one). For each of
//! its plugins the instances are made (see `Agent::candidates_for`) and checked (`trial`); only
//! when all answer are the old instances retired (`Agent::put_in_place`), the plugins recorded
//! under `installed_as`, and a plugin the configuration file does not name remembered in
//! `managed.json`, so a restart of nodus loads it again. The caller renames the staged file to
//! `installed_as` after an `ok` answer.

use std::path::Path;

use plugin_host::LoadedPlugin;
use wire::control::Response;

use crate::agent::Agent;
use crate::trial;

/// Carries out `plugin_install { path, installed_as, version }`.
pub fn handle(
    agent: &Agent,
    path: &str,
    installed_as: &str,
    version: Option<&str>,
) -> Result<Response, Response> {
    let _one = agent.changing();
    let staged = crate::paths::in_plugin_dir(agent.plugin_dir(), Path::new(path))
        .map_err(Response::error)?;
    let installed =
        crate::paths::installed_path(agent.plugin_dir(), installed_as).map_err(Response::error)?;
    let refuse = |reason: String| {
        tracing::warn!(file = %staged.display(), "Plugin install refused: {reason}.");
        agent.skipped().refused(&staged, reason.clone());
        Response::error(reason)
    };
    let plugins = plugin_host::load(&staged).map_err(|e| refuse(e.to_string()))?;
    if let Some(expected) = version
        && let Some(other) = plugins
            .iter()
            .find(|p| p.info().version.as_str() != expected)
    {
        return Err(refuse(format!(
            "version mismatch: plugin `{}` reports version {}, the release is {expected}",
            other.name(),
            other.info().version
        )));
    }
    let plugins: Vec<LoadedPlugin> = plugins.iter().map(|p| p.installed_as(&installed)).collect();
    let candidates = plugins
        .iter()
        .flat_map(|p| agent.candidates_for(p))
        .collect();
    let tried = trial::try_all(agent, candidates).map_err(refuse)?;

    let mut managed = agent.managed().clone();
    let before = managed.clone();
    for plugin in &plugins {
        if !agent.config().names_in_file(plugin.name()) {
            managed.plugins.insert(plugin.name().to_string());
        }
    }
    if managed != before
        && let Err(e) = agent.save_managed(managed)
    {
        tried.into_iter().for_each(trial::Tried::discard);
        return Err(refuse(e));
    }

    let previous: Vec<(String, Option<String>)> = plugins
        .iter()
        .map(|p| {
            let old = agent.registry().remove(p.name());
            (
                p.name().to_string(),
                old.map(|o| o.info().version.to_string()),
            )
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tried {
        let worker = t.worker.clone();
        agent.put_in_place(t);
        statuses.push(worker.status());
    }
    for plugin in plugins {
        let _ = agent.registry().add(plugin);
    }
    for (name, old) in previous {
        let from = old.map(|v| format!(" (was {v})")).unwrap_or_default();
        let now = statuses.iter().find(|s| s.plugin == name);
        tracing::info!(
            plugin = %name,
            "Plugin `{name}` {} installed as {}{from}, loaded from {}, {}.",
            now.map_or("", |s| s.version.as_str()),
            installed.display(),
            staged.display(),
            now.map_or("", |s| s.digest.as_str()),
        );
    }
    Ok(Response::ok(statuses))
}
