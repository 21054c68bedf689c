//! `nodus`'s command line (clap): the agents' common flags (`agentkit::AgentArgs`), `-t` and
//! `-T`. The binary parses it, and `xtask` renders its man page and shell completions from the
//! same definition.

use agentkit::{AgentArgs, AgentDefaults};
use clap::Parser;

use crate::config;

/// nodus's name, default configuration file and log.
#[derive(Debug)]
pub struct Nodus;

impl AgentDefaults for Nodus {
    const NAME: &'static str = "nodus";
    const DEFAULT_CONFIG: &'static str = config::DEFAULT_CONFIG;
}

/// nodus: collects metrics through read plugins and hands them to write plugins.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub agent: AgentArgs<Nodus>,
    /// Test the configuration and exit: prints `Success` (exit 0) or `Failed!!!` (exit 1).
    #[arg(short = 't', conflicts_with = "test_read")]
    pub test_config: bool,
    /// Run every read plugin once, print the values, and exit (1 if any read failed).
    #[arg(short = 'T')]
    pub test_read: bool,
}
