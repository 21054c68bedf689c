//! `gearctl -l`: the host's plugin inventory, gearman's plugins and nodus's, with version,
//! roles, state and file (`--json`: the inventory object itself, each plugin with its option
//! schema). One truth: when gearman runs (and no `-d` names a folder to look at), this is its
//! answer to `plugin.list`, what Polaris is sent; otherwise the folder's info plugins are
//! loaded here as gearman would run them (an `init` that fails or panics shows up as a skipped
//! file) and nodus is asked over its socket, with the same code (`plugin_host::inventory`).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use plugin_host::inventory::{nodus_plugins, plugin_report};
use plugin_host::{control, info};
use wire::agent::Request;
use wire::control::Request as NodusRequest;
use wire::plugins::{AgentPlugins, InstanceReport, PluginAgent, PluginInventory};
use wire::{Command, Resp};

/// How long nodus may take to list its plugins.
const NODUS_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the inventory comes from.
pub struct Sources<'a> {
    /// The folder to look at instead of asking the running agent (`-d`).
    pub dir: Option<&'a Path>,
    /// The folder looked at when the agent does not answer.
    pub default_dir: &'a Path,
    /// gearman's socket.
    pub socket: &'a Path,
    /// nodus's socket.
    pub nodus_socket: &'a Path,
}

/// Prints the inventory; exits 1 only when gearman's folder cannot be read.
pub fn run(sources: &Sources<'_>, as_json: bool) -> ExitCode {
    let from_agent = match sources.dir {
        Some(_) => None,
        None => ask_agent(sources.socket),
    };
    let (inventory, origin) = match from_agent {
        Some(inventory) => (
            inventory,
            format!("the running gearman at {}", sources.socket.display()),
        ),
        None => {
            let dir = sources.dir.unwrap_or(sources.default_dir);
            let Some(own) = scan(dir) else {
                return ExitCode::FAILURE;
            };
            let nodus = nodus_plugins(control::call(
                sources.nodus_socket,
                &NodusRequest::PluginList,
                NODUS_TIMEOUT,
            ));
            let inventory = PluginInventory {
                agents: vec![own, nodus],
            };
            (inventory, format!("{} (gearman not asked)", dir.display()))
        }
    };
    if as_json {
        match serde_json::to_string(&inventory) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("gearctl: cannot print the inventory: {e}"),
        }
    } else {
        print_table(&inventory, &origin);
    }
    ExitCode::SUCCESS
}

/// The running agent's `plugin.list`, or `None` when no agent answers it.
fn ask_agent(socket: &Path) -> Option<PluginInventory> {
    let request = Request {
        id: String::new(),
        command: Command::PluginList,
    };
    let result = crate::remote::ask(socket, &request).ok()?;
    if result.resp != Resp::Success {
        eprintln!(
            "gearctl: the agent at {} did not list its plugins ({}); looking at the folder",
            socket.display(),
            result.message
        );
        return None;
    }
    serde_json::from_value(result.data?).ok()
}

/// The info plugins of `dir` as gearman would run them, each shut down again.
fn scan(dir: &Path) -> Option<AgentPlugins> {
    let found = match info::run_dir(dir) {
        Ok(found) => found,
        Err(e) => {
            eprintln!(
                "gearctl: cannot read plugin directory {}: {e}",
                dir.display()
            );
            return None;
        }
    };
    let plugins = found
        .instances
        .values()
        .map(|instance| {
            let path = instance.plugin().path();
            let running = InstanceReport {
                name: instance.plugin().name().to_string(),
                ..InstanceReport::default()
            };
            plugin_report(instance.plugin(), path, vec![running])
        })
        .collect();
    for instance in found.instances.values() {
        let _ = instance.shutdown();
    }
    Some(
        AgentPlugins {
            agent: PluginAgent::Gearman,
            error: None,
            plugins,
            skipped: found.skipped,
            cut: 0,
        }
        .bounded(),
    )
}

fn print_table(inventory: &PluginInventory, origin: &str) {
    println!("Plugins on this host, from {origin}:");
    println!(
        "{:<8} {:<20} {:<10} {:<16} {:<10} {:<18} FILE",
        "AGENT", "NAME", "VERSION", "ROLES", "STATE", "COMMANDS"
    );
    for agent in &inventory.agents {
        if let Some(error) = &agent.error {
            println!("{:<8} not asked: {error}", agent.agent);
            continue;
        }
        for plugin in &agent.plugins {
            let command = match agent.agent {
                PluginAgent::Gearman if plugin.roles.iter().any(|r| r == "info") => {
                    format!("getinfo.{}", plugin.name)
                }
                _ => String::new(),
            };
            for instance in &plugin.instances {
                let state = format!("{:?}", instance.state).to_lowercase();
                println!(
                    "{:<8} {:<20} {:<10} {:<16} {:<10} {:<18} {}",
                    agent.agent,
                    instance.name,
                    plugin.version,
                    plugin.roles.join(","),
                    state,
                    command,
                    plugin.file
                );
                if let Some(reason) = &instance.reason {
                    println!("{:<8}   {}: {reason}", "", instance.name);
                }
            }
        }
        for skipped in &agent.skipped {
            println!(
                "{:<8} skipped {}: {}",
                agent.agent, skipped.file, skipped.reason
            );
        }
        if agent.cut > 0 {
            println!("{:<8} ({} more not listed)", agent.agent, agent.cut);
        }
    }
}
