//! `gearctl`: gearman's control tool.
//!
//! `gearctl -c getinfo.<name> [-a <arguments>]` loads the plugin library directly and prints
//! the result object (`resp`, `retcode`, `message`, `data`) as one line of JSON on stdout, the
//! same object Polaris returns per host. `gearctl -l` lists the plugins of the directory and the
//! files that were skipped, with the reason.
//!
//! Layout: `main.rs` (flags and exit codes), `info.rs` (one `getinfo.*` call), `list.rs` (`-l`).

mod info;
mod list;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// The environment variable that overrides gearman's plugin directory.
const PLUGIN_DIR_ENV: &str = "GEARMAN_PLUGIN_DIR";

/// Runs gearman plugins locally (getinfo.*) and lists the plugins installed.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    /// The command to run: `getinfo.<plugin>`.
    #[arg(
        short = 'c',
        long = "command",
        value_name = "COMMAND",
        conflicts_with = "list"
    )]
    command: Option<String>,

    /// Arguments for the command, as one string, e.g. `-a "-U root"`.
    #[arg(
        short = 'a',
        long = "args",
        value_name = "ARGUMENTS",
        allow_hyphen_values = true
    )]
    args: Option<String>,

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
        Some(command) => info::run(&dir, &command, cli.args.as_deref().unwrap_or("")),
        None => {
            eprintln!(
                "gearctl: nothing to do: give -c <command> [-a <arguments>] or -l (see --help)"
            );
            ExitCode::from(2)
        }
    }
}
