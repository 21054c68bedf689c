//! `gearctl`: gearman's control tool.
//!
//! `gearctl -c getinfo.<name> [-a <arguments>]` loads the plugin library directly and prints
//! the result object (`resp`, `retcode`, `message`, `data`) as one line of JSON on stdout, the
//! same object Polaris returns per host. `gearctl -l` lists the plugins of the directory and the
//! files that were skipped, with the reason. Every other method (`sync.bash`, `async.bash`,
//! `task.list`, `task.query`, `task.kill`, `cron.add`, `cron.list`, `cron.remove`) is sent to
//! the running agent over its local socket, e.g. `gearctl -c task.list`,
//! `gearctl -c cron.add -a '*/10 * * * * *' --cmd date`.
//!
//! Layout: `main.rs` (flags and exit codes), `info.rs` (one `getinfo.*` call), `list.rs` (`-l`),
//! `remote.rs` (methods of the running agent).

mod info;
mod list;
mod remote;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// The environment variable that overrides gearman's plugin directory.
const PLUGIN_DIR_ENV: &str = "GEARMAN_PLUGIN_DIR";
/// The environment variable that overrides the agent's socket.
const SOCKET_ENV: &str = "GEARMAN_SOCKET";
/// Methods answered by plugins loaded in-process; the rest go to the running agent.
const INFO_PREFIX: &str = "getinfo.";

/// Runs gearman plugins locally (getinfo.*) and lists the plugins installed.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    /// The method to run: `getinfo.<plugin>` (in-process), or a method of the running agent.
    #[arg(
        short = 'c',
        long = "command",
        value_name = "COMMAND",
        conflicts_with = "list"
    )]
    command: Option<String>,

    /// Arguments for the method, as one string, e.g. `-a "-U root"`, a task id, a schedule.
    #[arg(
        short = 'a',
        long = "args",
        value_name = "ARGUMENTS",
        allow_hyphen_values = true
    )]
    args: Option<String>,

    /// The shell command of `sync.bash`, `async.bash` and `cron.add`.
    #[arg(long = "cmd", value_name = "COMMAND", allow_hyphen_values = true)]
    cmd: Option<String>,

    /// Seconds before the command is stopped (default 120).
    #[arg(short = 't', long = "timeout", value_name = "SECONDS")]
    timeout: Option<u64>,

    /// User to run the command as (default root).
    #[arg(short = 'u', long = "user")]
    user: Option<String>,

    /// Group to run the command as.
    #[arg(short = 'g', long = "group")]
    group: Option<String>,

    /// The running agent's socket.
    #[arg(
        short = 's',
        long = "socket",
        env = SOCKET_ENV,
        default_value = "/var/run/cargo/gearman.sock"
    )]
    socket: PathBuf,

    /// List the plugins found, their commands, and the files skipped with the reason.
    #[arg(short = 'l', long = "list")]
    list: bool,

    /// With `-l`: print the listing as JSON.
    #[arg(long = "json", requires = "list")]
    json: bool,

    /// Plugin directory [env: GEARMAN_PLUGIN_DIR; default /usr/lib/cargo/gearman, or the
    /// executable's directory when that does not exist].
    #[arg(short = 'd', long = "plugin-dir", value_name = "DIR")]
    plugin_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = plugin_host::dirs::plugin_dir(cli.plugin_dir.as_deref(), PLUGIN_DIR_ENV, "gearman");
    if cli.list {
        return list::run(&dir, cli.json);
    }
    match cli.command {
        Some(command) if command.starts_with(INFO_PREFIX) => {
            info::run(&dir, &command, cli.args.as_deref().unwrap_or(""))
        }
        Some(method) => {
            let request = wire::agent::Request {
                id: String::new(),
                method,
                cmd: cli.cmd,
                timeout: cli.timeout,
                user: cli.user,
                group: cli.group,
                args: cli.args,
                extra: Default::default(),
            };
            remote::run(&cli.socket, &request)
        }
        None => {
            eprintln!(
                "gearctl: nothing to do: give -c <command> [-a <arguments>] or -l (see --help)"
            );
            ExitCode::from(2)
        }
    }
}
