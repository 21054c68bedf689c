//! `logagentctl`'s command line (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The agent's default control socket.
pub const DEFAULT_SOCKET: &str = "/var/run/cargo/logagent.sock";

/// Shows what a running logagent reads.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Cli {
    /// The agent's control socket.
    #[arg(short = 's', long, value_name = "PATH", env = "LOGAGENT_SOCKET", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Print the agent's answer as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The sources: files matched and open, bytes acknowledged, size, lag, state, lost bytes,
    /// truncations, parse errors, records cut, last error (the default).
    Sources,
    /// The files: source, generation id, acknowledged offset, bytes read, size, lag, open or
    /// not, gone (rotated away or deleted, being read to its end).
    Files,
}
