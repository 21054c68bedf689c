//! `logagent`'s command line (clap): the agents' common flags (`agentkit::AgentArgs`), `-t`
//! and `-T`.

use agentkit::{AgentArgs, AgentDefaults};
use clap::Parser;

use crate::config;

/// logagent's name, default configuration file and log.
#[derive(Debug)]
pub struct LogAgent;

impl AgentDefaults for LogAgent {
    const NAME: &'static str = "logagent";
    const DEFAULT_CONFIG: &'static str = config::DEFAULT_CONFIG;
}

/// logagent: tails log files and ships their records to Polaris, no line lost and none twice.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub agent: AgentArgs<LogAgent>,
    /// Test the configuration and exit: prints `Success` (exit 0) or `Failed!!!` (exit 1).
    #[arg(short = 't', conflicts_with = "test_read")]
    pub test_config: bool,
    /// Read every source once from its saved offsets, print the parsed records as JSON lines,
    /// commit nothing, and exit.
    #[arg(short = 'T')]
    pub test_read: bool,
}
