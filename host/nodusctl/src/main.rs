//! `nodusctl`: controls a running nodus over its unix socket (`wire::control`).
//!
//! `nodusctl plugin list | start <p> | stop <p> | remove <p> | load <path> | install <path>
//! [--as <name>]`, where `<p>` names a plugin instance (`http/primary`, or `cpu` for a plugin run
//! once); `--json plugin list` also gives each plugin's option schema and the options in force
//! (secrets as `"***"`). With `NODUS_TRACE=1`, every request and response line is printed to
//! stderr.
//!
//! Exit codes: 0 done, 1 the agent refused (unknown plugin, init failed, a `load` from outside
//! its plugin directory, an `install` whose new instances did not answer), 2 usage, 3 no agent listening on the socket, 4 no permission: the
//! socket file refused the connection, or the agent refused this user (it answers only root,
//! its own user and its `socket_group`).

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use nodusctl::cli::{Cli, Command, PluginCommand};
use wire::control::{PluginStatus, Request, Response};

/// How the agent's refusal of a peer begins (`agentkit::socket`).
const PERMISSION_DENIED: &str = "permission denied";

/// The path as the agent sees it: a bare name stays (the agent looks it up in its plugin
/// directory), anything else is made absolute.
fn for_agent(path: PathBuf) -> PathBuf {
    let bare = path.components().count() == 1 && path.is_relative();
    if bare {
        path
    } else {
        std::path::absolute(&path).unwrap_or(path)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut rename: Option<PathBuf> = None;
    let request = match cli.command {
        Command::Plugin(PluginCommand::List) => Request::PluginList,
        Command::Plugin(PluginCommand::Start { name }) => Request::PluginStart { name },
        Command::Plugin(PluginCommand::Stop { name }) => Request::PluginStop { name },
        Command::Plugin(PluginCommand::Remove { name }) => Request::PluginRemove { name },
        Command::Plugin(PluginCommand::Load { path }) => Request::PluginLoad {
            path: for_agent(path).display().to_string(),
        },
        Command::Plugin(PluginCommand::Install { path, installed_as }) => {
            let path = for_agent(path);
            let own_name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if installed_as.is_some() {
                rename = Some(path.clone());
            }
            Request::PluginInstall {
                path: path.display().to_string(),
                installed_as: installed_as.unwrap_or(own_name),
                version: None,
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
        print_skipped(&response.skipped);
    } else {
        for plugin in &response.plugins {
            println!("{}: {}", plugin.name, plugin.state);
        }
    }
    if let (Some(staged), true) = (&rename, response.ok)
        && let Err(why) = rename_installed(staged, &response)
    {
        eprintln!("nodusctl: the agent runs the new plugin, but {why}");
        return ExitCode::from(1);
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

/// After an `install --as`: renames the staged file to the name the agent recorded it as.
fn rename_installed(staged: &Path, response: &Response) -> Result<(), String> {
    let Some(target) = response.plugins.first().map(|p| PathBuf::from(&p.file)) else {
        return Ok(());
    };
    if target.as_path() == staged {
        return Ok(());
    }
    std::fs::rename(staged, &target).map_err(|e| {
        format!(
            "{} could not be renamed to {}: {e}",
            staged.display(),
            target.display()
        )
    })
}

/// The digest as the table shows it: its first 12 hex digits.
fn short_digest(digest: &str) -> String {
    let hex = digest.strip_prefix("SHA256:").unwrap_or(digest);
    if hex.is_empty() {
        "-".into()
    } else {
        hex.chars().take(12).collect()
    }
}

fn print_skipped(skipped: &[wire::plugins::SkippedFile]) {
    if skipped.is_empty() {
        return;
    }
    println!();
    println!("SKIPPED");
    for s in skipped {
        println!("{}: {}", s.file, s.reason);
    }
}

fn print_table(plugins: &[PluginStatus]) {
    println!(
        "{:<16} {:<10} {:<6} {:<10} {:<9} {:>10} {:>24} {:>8} {:>8}  {:<12}  QUEUE",
        "NAME",
        "VERSION",
        "ABI",
        "ROLE",
        "STATE",
        "INTERVAL",
        "LAST READ",
        "CALLS",
        "ERRORS",
        "DIGEST"
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
            "{:<16} {:<10} {:<6} {:<10} {:<9} {:>10} {:>24} {:>8} {:>8}  {:<12}  {queue}",
            p.name,
            p.version,
            p.abi,
            p.roles.join(","),
            p.state,
            interval,
            last,
            p.calls,
            p.errors,
            short_digest(&p.digest)
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
    fn digests_are_shortened_to_twelve_hex_digits() {
        let digest = format!("SHA256:{}", "ab12".repeat(16));
        assert_eq!(short_digest(&digest), "ab12ab12ab12");
        assert_eq!(short_digest(""), "-");
    }

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
