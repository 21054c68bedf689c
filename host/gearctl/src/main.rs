//! `gearctl`: gearman's control tool.
//!
//! `gearctl -c getinfo.<name> [-a <arguments>]` loads the plugin library directly and prints
//! the result object (`resp`, `retcode`, `message`, `data`) as one line of JSON on stdout, the
//! same object Polaris returns per host. `gearctl -l` lists the host's plugins, gearman's and
//! nodus's, with version and state, and the files that were skipped, with the reason: the
//! running agent's inventory (what Polaris is sent), or, when no agent answers or `-d` names a
//! folder, that folder's plugins loaded here and nodus asked directly. Every other method (`sync.bash`, `async.bash`,
//! `task.list`, `task.query`, `task.kill`, `cron.add`, `cron.list`, `cron.remove`) is sent to
//! the running agent over its local socket, e.g. `gearctl -c task.list`,
//! `gearctl -c cron.add -a '*/10 * * * * *' --cmd date`,
//! `gearctl -c daemon.init -a '{"name": "mon", ...}'` (the seed's fields as one JSON object),
//! `gearctl -c plugin.upgrade -a '{"agent": "gearman", "name": ..., "url": ..., ...}'`.
//! The typed command is built and checked here first: an unknown method (3022) or a bad
//! parameter (3021) is answered without asking the agent.
//!
//! Layout: `cli.rs` (the flags, in the library part for `xtask`), `main.rs` (exit codes),
//! `info.rs` (one `getinfo.*` call), `list.rs` (`-l`), `remote.rs` (methods of the running
//! agent).

mod info;
mod list;
mod remote;

use std::process::ExitCode;

use clap::Parser;
use gearctl::cli::Cli;

/// The environment variable that overrides gearman's plugin directory.
const PLUGIN_DIR_ENV: &str = "GEARMAN_PLUGIN_DIR";
/// Methods answered by plugins loaded in-process; the rest go to the running agent.
const INFO_PREFIX: &str = "getinfo.";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = plugin_host::dirs::plugin_dir(cli.plugin_dir.as_deref(), PLUGIN_DIR_ENV, "gearman");
    if cli.list {
        let sources = list::Sources {
            dir: cli.plugin_dir.as_deref(),
            default_dir: &dir,
            socket: &cli.socket,
            nodus_socket: &cli.nodus_socket,
        };
        return list::run(&sources, cli.json);
    }
    match cli.command {
        Some(command) if command.starts_with(INFO_PREFIX) => {
            info::run(&dir, &command, cli.args.as_deref().unwrap_or(""))
        }
        Some(method) => {
            let flags = remote::Flags {
                cmd: cli.cmd,
                timeout: cli.timeout,
                user: cli.user,
                group: cli.group,
                args: cli.args,
            };
            match remote::request(&method, flags) {
                Ok(request) => remote::run(&cli.socket, &request),
                Err(refused) => remote::print(&refused.into_result()),
            }
        }
        None => {
            eprintln!(
                "gearctl: nothing to do: give -c <command> [-a <arguments>] or -l (see --help)"
            );
            ExitCode::from(2)
        }
    }
}
