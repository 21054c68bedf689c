//! `nodusctl`'s command line (clap). The binary parses it, and `xtask` renders its man page
//! and shell completions from the same definition.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The agent's default control socket.
pub const DEFAULT_SOCKET: &str = "/var/run/cargo/nodus.sock";
/// Controls a running nodus.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Cli {
    /// The agent's control socket.
    #[arg(short = 's', long, value_name = "PATH", env = "NODUS_SOCKET", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Print the answer as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Manage the agent's plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// List plugin instances: name, version, plugin-api version, role, state (running,
    /// stopped, failing, penalised), interval (with any penalty), last read, errors, digest of
    /// the file; then the plugins and files skipped, with the reason (`--json`: also each
    /// plugin's option schema and the options in force, secrets as "***").
    List,
    /// Resume a stopped plugin.
    Start {
        /// Instance name: `http/primary`, or the plugin's name when it runs once.
        name: String,
    },
    /// Pause a plugin (it is shut down; a writer's queue keeps filling).
    Stop {
        /// Instance name: `http/primary`, or the plugin's name when it runs once.
        name: String,
    },
    /// Take a plugin out of the running agent.
    Remove {
        /// Instance name: `http/primary`, or the plugin's name when it runs once.
        name: String,
    },
    /// Load a new plugin file from the agent's plugin directory and start it.
    Load {
        /// The `.so` file: a name in the plugin directory (`csv`, `libplugin_csv.so`) or a path into it.
        path: PathBuf,
    },
    /// Install a plugin, or a new version of one, checked: the agent loads the file, makes
    /// its instances (those running, with their options; else those configured; else one)
    /// and checks them (init, and a first read for a read plugin); only then do they replace
    /// the old ones. On failure nothing changes and the reason is printed. With `--as`, the
    /// file is then renamed to that name (the agent records it under it).
    Install {
        /// The new `.so`, in the agent's plugin directory under a name never loaded before
        /// (e.g. `.rollout-2.0.0.so.new`; a changed file at a path already loaded would not
        /// load again).
        path: PathBuf,
        /// The file name it is installed as, in the plugin directory (`rollout.so`); default:
        /// its own name.
        #[arg(long = "as", value_name = "NAME")]
        installed_as: Option<String>,
    },
}
