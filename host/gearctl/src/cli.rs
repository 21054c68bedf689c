//! `gearctl`'s command line (clap). The binary parses it, and `xtask` renders its man page
//! and shell completions from the same definition.

use std::path::PathBuf;

use clap::Parser;

/// The environment variable that overrides the agent's socket.
pub const SOCKET_ENV: &str = "GEARMAN_SOCKET";
/// The environment variable that overrides nodus's socket (as for `nodusctl`).
pub const NODUS_SOCKET_ENV: &str = "NODUS_SOCKET";

/// Runs gearman plugins locally (getinfo.*) and lists the plugins installed.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Cli {
    /// The method to run: `getinfo.<plugin>` (in-process), or a method of the running agent.
    #[arg(
        short = 'c',
        long = "command",
        value_name = "COMMAND",
        conflicts_with = "list"
    )]
    pub command: Option<String>,

    /// Arguments for the method, as one string, e.g. `-a "-U root"`, a task id, a schedule.
    #[arg(
        short = 'a',
        long = "args",
        value_name = "ARGUMENTS",
        allow_hyphen_values = true
    )]
    pub args: Option<String>,

    /// The shell command of `sync.bash`, `async.bash` and `cron.add`.
    #[arg(long = "cmd", value_name = "COMMAND", allow_hyphen_values = true)]
    pub cmd: Option<String>,

    /// Seconds before the command is stopped (default 120).
    #[arg(short = 't', long = "timeout", value_name = "SECONDS")]
    pub timeout: Option<u64>,

    /// User to run the command as (default root).
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,

    /// Group to run the command as.
    #[arg(short = 'g', long = "group")]
    pub group: Option<String>,

    /// The running agent's socket.
    #[arg(
        short = 's',
        long = "socket",
        env = SOCKET_ENV,
        default_value = "/var/run/cargo/gearman.sock"
    )]
    pub socket: PathBuf,

    /// List the host's plugins (gearman's and nodus's) with version and state, and the files
    /// skipped with the reason: the running agent's inventory, else the plugin directory's.
    #[arg(short = 'l', long = "list")]
    pub list: bool,

    /// nodus's control socket, asked by `-l` when gearman does not answer.
    #[arg(
        long = "nodus-socket",
        env = NODUS_SOCKET_ENV,
        default_value = "/var/run/cargo/nodus.sock"
    )]
    pub nodus_socket: PathBuf,

    /// With `-l`: print the listing as JSON.
    #[arg(long = "json", requires = "list")]
    pub json: bool,

    /// Plugin directory [env: GEARMAN_PLUGIN_DIR; default /usr/lib/cargo/gearman, or the
    /// executable's directory when that does not exist]. With `-l`: list this folder's
    /// plugins instead of asking the running agent.
    #[arg(short = 'd', long = "plugin-dir", value_name = "DIR")]
    pub plugin_dir: Option<PathBuf>,
}
