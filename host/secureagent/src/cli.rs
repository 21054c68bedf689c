//! `secureagent`'s command line (clap): the agents' common flags (`agentkit::AgentArgs`), `-t`,
//! and AIDE's verbs `--init`, `--check`, `--update` with `--json`; no verb is the daemon
//! (`--init-if-missing`: it writes the first baseline itself).

use agentkit::{AgentArgs, AgentDefaults};
use clap::Parser;

use crate::config;

/// AIDE's exit code for wrong usage (an unknown flag, verbs that exclude each other); clap's
/// own 2 would read as AIDE's "entries removed".
pub const EXIT_BAD_ARGUMENTS: u8 = 15;

/// secureagent's name and default configuration file.
#[derive(Debug)]
pub struct SecureAgent;

impl AgentDefaults for SecureAgent {
    const NAME: &'static str = "secureagent";
    const DEFAULT_CONFIG: &'static str = config::DEFAULT_CONFIG;
}

/// secureagent: file and directory integrity like AIDE (its rules, its verbs, its exit codes:
/// 1 added, 2 removed, 4 changed; 17 configuration error, 18 I/O error, 20 another run holds
/// the lock). With no verb, the daemon: checks on the configured schedule (`-f`: in the
/// foreground).
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub agent: AgentArgs<SecureAgent>,
    /// Test the configuration and the rules and exit: prints `Success` (exit 0) or
    /// `Failed!!!` (exit 1).
    #[arg(short = 't', conflicts_with_all = ["init", "check", "update"])]
    pub test_config: bool,
    /// Walk the tree and write the baseline (and its digest).
    #[arg(long, conflicts_with_all = ["check", "update"])]
    pub init: bool,
    /// Compare the tree with the baseline and report.
    #[arg(long, conflicts_with = "update")]
    pub check: bool,
    /// Check, then write the current state as the new baseline.
    #[arg(long)]
    pub update: bool,
    /// Print the check's report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Daemon only: when there is no baseline yet, write one first (an `--init`, reported to
    /// Polaris like one) instead of failing every check. Polaris flags a later `init` that
    /// writes another baseline than the accepted one: deleting it is no quiet way to swap it.
    #[arg(long, conflicts_with_all = ["init", "check", "update", "test_config"])]
    pub init_if_missing: bool,
}
