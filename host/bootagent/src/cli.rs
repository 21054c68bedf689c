//! `bootagent`'s command line (clap): the agents' common flags (`agentkit::AgentArgs`),
//! `--enroll` and `-t`. The binary parses it, and `xtask` renders its man page and shell
//! completions from the same definition.

use agentkit::{AgentArgs, AgentDefaults};
use clap::Parser;

use crate::config;

/// The BootAgent's name, default configuration file and log.
#[derive(Debug)]
pub struct BootAgent;

impl AgentDefaults for BootAgent {
    const NAME: &'static str = "bootagent";
    const DEFAULT_CONFIG: &'static str = config::DEFAULT_CONFIG;
}

/// bootagent: reports this host to Polaris and installs, upgrades and runs its agents.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub agent: AgentArgs<BootAgent>,
    /// Enroll this host with the configured token (or renew its certificate when due), then
    /// exit: the key and certificate land in `identity_dir` for the host's agents.
    #[arg(long)]
    pub enroll: bool,
    /// Test the configuration and exit: prints `Success` (exit 0) or `Failed!!!` (exit 1), the
    /// reasons on stderr (as `nodus -t`; systemd's unit runs it before every start).
    #[arg(short = 't', conflicts_with = "enroll")]
    pub test_config: bool,
}
