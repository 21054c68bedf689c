//! `nodusctl`: controls a running nodus over its unix socket (`wire::control`).
//!
//! `nodusctl plugin list | start <p> | stop <p> | remove <p> | load <path>`. With
//! `NODUS_TRACE=1`, every request and response line is printed to stderr.
//!
//! Exit codes: 0 done, 1 the agent refused (unknown plugin, init failed, a `load` from outside
//! its plugin directory), 2 usage, 3 no agent listening on the socket, 4 no permission: the
//! socket file refused the connection, or the agent refused this user (it answers only root,
//! its own user and its `socket_group`).

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use wire::control::{PluginStatus, Request, Response};

/// The agent's default control socket.
const DEFAULT_SOCKET: &str = "/var/run/cargo/nodus.sock";
/// How the agent's refusal of a peer begins (`agentkit::socket`).
const PERMISSION_DENIED: &str = "permission denied";

/// Controls a running nodus.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    /// The agent's control socket.
    #[arg(short = 's', long, value_name = "PATH", env = "NODUS_SOCKET", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Print the answer as JSON.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Manage the agent's plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Subcommand, Debug)]
enum PluginCommand {
    /// List plugins: name, role, state, interval (with any penalty), last read, errors.
    List,
    /// Resume a stopped plugin.
    Start {
        /// Plugin name.
        name: String,
    },
    /// Pause a plugin (it is shut down; a writer's queue keeps filling).
    Stop {
        /// Plugin name.
        name: String,
    },
    /// Take a plugin out of the running agent.
    Remove {
        /// Plugin name.
        name: String,
    },
    /// Load a new plugin file from the agent's plugin directory and start it.
    Load {
        /// The `.so` file: a name in the plugin directory (`csv`, `libcsv.so`) or a path into it.
        path: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let request = match cli.command {
        Command::Plugin(PluginCommand::List) => Request::PluginList,
        Command::Plugin(PluginCommand::Start { name }) => Request::PluginStart { name },
        Command::Plugin(PluginCommand::Stop { name }) => Request::PluginStop { name },
        Command::Plugin(PluginCommand::Remove { name }) => Request::PluginRemove { name },
        Command::Plugin(PluginCommand::Load { path }) => {
            // A bare name is looked up by the agent in its plugin directory.
            let bare = path.components().count() == 1 && path.is_relative();
            let path = if bare {
                path
            } else {
                std::path::absolute(&path).unwrap_or(path)
            };
            Request::PluginLoad {
                path: path.display().to_string(),
            }
        }
    };
    let listing = request == Request::PluginList;
    let response = match exchange(&cli.socket, &request) {
        Ok(response) => response,
        Err((code, message)) => {
            eprintln!("nodusctl: {message}");
            return ExitCode::from(code);
        }
    };
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&response).unwrap_or_default()
        );
    } else if let Some(error) = &response.error {
        eprintln!("nodusctl: {error}");
    } else if listing {
        print_table(&response.plugins);
    } else {
        for plugin in &response.plugins {
            println!("{}: {}", plugin.name, plugin.state);
        }
    }
    match &response.error {
        _ if response.ok => ExitCode::SUCCESS,
        Some(error) if error.starts_with(PERMISSION_DENIED) => ExitCode::from(4),
        _ => ExitCode::from(1),
    }
}

fn trace(direction: &str, line: &str) {
    if std::env::var_os("NODUS_TRACE").is_some_and(|v| v != "0" && !v.is_empty()) {
        eprintln!("{direction} {}", line.trim_end());
    }
}

/// Sends one request and reads the answer; errors carry the exit code.
fn exchange(socket: &Path, request: &Request) -> Result<Response, (u8, String)> {
    let mut stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
        ErrorKind::PermissionDenied => (
            4,
            format!(
                "permission denied on {} (run as root or as a member of its group)",
                socket.display()
            ),
        ),
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => (
            3,
            format!(
                "no nodus is running: cannot connect to {} ({e})",
                socket.display()
            ),
        ),
        _ => (3, format!("cannot connect to {}: {e}", socket.display())),
    })?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut line = serde_json::to_string(request).map_err(|e| (2, e.to_string()))?;
    line.push('\n');
    trace(">>", &line);
    stream
        .write_all(line.as_bytes())
        .map_err(|e| (3, format!("sending to the agent: {e}")))?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .map_err(|e| (3, format!("reading the agent's answer: {e}")))?;
    trace("<<", &answer);
    serde_json::from_str(&answer).map_err(|e| {
        (
            3,
            format!("the agent's answer is not understood ({e}): {answer}"),
        )
    })
}

fn print_table(plugins: &[PluginStatus]) {
    println!(
        "{:<12} {:<10} {:<8} {:>10} {:>24} {:>8} {:>8}  QUEUE",
        "NAME", "ROLE", "STATE", "INTERVAL", "LAST READ", "CALLS", "ERRORS"
    );
    for p in plugins {
        let interval = match (p.interval, p.base_interval) {
            (Some(now), Some(base)) if now > base => format!("{now}s ({base}s)"),
            (Some(now), _) => format!("{now}s"),
            _ => "-".into(),
        };
        let last = p.last_read.map(format_age).unwrap_or_else(|| "-".into());
        let queue = p
            .queue
            .as_ref()
            .map(|q| format!("{} queued, {} dropped", q.len, q.dropped))
            .unwrap_or_default();
        println!(
            "{:<12} {:<10} {:<8} {:>10} {:>24} {:>8} {:>8}  {queue}",
            p.name,
            p.roles.join(","),
            p.state,
            interval,
            last,
            p.calls,
            p.errors
        );
    }
}

/// How long ago the Unix time `t` was, e.g. `3.2s ago`.
fn format_age(t: f64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    format!("{:.1}s ago", (now - t).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_ages() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert_eq!(format_age(now - 3.0), "3.0s ago");
        assert_eq!(format_age(now + 10.0), "0.0s ago");
    }
}
