//! `gearctl -l`: every plugin of the directory with its roles and commands, and every file that
//! was skipped with the reason. Plugins are initialised as gearman would, so an `init` that fails
//! or panics shows up here.

use std::path::Path;
use std::process::ExitCode;

use plugin_api::Roles;
use plugin_host::{FileReport, LoadedPlugin, Registry, context};
use serde_json::json;

/// The commands a plugin answers.
fn commands(plugin: &LoadedPlugin) -> Vec<String> {
    if plugin.has_role(Roles::INFO) {
        vec![format!("getinfo.{}", plugin.name())]
    } else {
        Vec::new()
    }
}

/// Prints the listing of `dir`; exits 1 only when the directory cannot be read.
pub fn run(dir: &Path, as_json: bool) -> ExitCode {
    let mut registry = match Registry::scan(dir) {
        Ok(registry) => registry,
        Err(e) => {
            eprintln!(
                "gearctl: cannot read plugin directory {}: {e}",
                dir.display()
            );
            return ExitCode::FAILURE;
        }
    };
    registry.init_all(|_| context::init_context([]));
    if as_json {
        print_json(&registry);
    } else {
        print_table(dir, &registry);
    }
    for (plugin, _) in registry.plugins() {
        let _ = plugin.shutdown();
    }
    ExitCode::SUCCESS
}

fn print_table(dir: &Path, registry: &Registry) {
    println!("Plugins in {}:", dir.display());
    println!(
        "{:<12} {:<8} {:<16} {:<20} FILE",
        "NAME", "VERSION", "ROLES", "COMMANDS"
    );
    for (plugin, _) in registry.plugins() {
        let info = plugin.info();
        println!(
            "{:<12} {:<8} {:<16} {:<20} {}",
            plugin.name(),
            info.version,
            info.roles.names().join(","),
            commands(plugin).join(","),
            plugin.path().display()
        );
    }
    for report in registry.reports() {
        if let FileReport::Skipped { path, reason } = report {
            println!("skipped {}: {reason}", path.display());
        }
    }
}

fn print_json(registry: &Registry) {
    let plugins: Vec<_> = registry
        .plugins()
        .map(|(plugin, state)| {
            let info = plugin.info();
            json!({
                "name": plugin.name(),
                "version": info.version.as_str(),
                "abi_version": info.abi_version.as_str(),
                "description": info.description.as_str(),
                "roles": info.roles.names(),
                "commands": commands(plugin),
                "state": state.as_str(),
                "file": plugin.path(),
            })
        })
        .collect();
    let skipped: Vec<_> = registry
        .reports()
        .iter()
        .filter_map(|r| match r {
            FileReport::Skipped { path, reason } => {
                Some(json!({ "file": path, "reason": reason.to_string() }))
            }
            FileReport::Loaded { .. } => None,
        })
        .collect();
    println!("{}", json!({ "plugins": plugins, "skipped": skipped }));
}
