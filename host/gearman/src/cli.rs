//! `gearman`'s command line (clap): the agents' common flags (`agentkit::AgentArgs`) and `-t`.
//! The binary parses it, and `xtask` renders its man page and shell completions from the same
//! definition. (`gearman __run-task <dir>` is internal and not part of it.)

use agentkit::{AgentArgs, AgentDefaults};
use clap::Parser;

use crate::config;

/// gearman's name, default configuration file and log.
#[derive(Debug)]
pub struct Gearman;

impl AgentDefaults for Gearman {
    const NAME: &'static str = "gearman";
    const DEFAULT_CONFIG: &'static str = config::DEFAULT_CONFIG;
}

/// gearman: runs commands, tasks and cron entries sent by Polaris.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub agent: AgentArgs<Gearman>,
    /// Test the configuration and exit: prints `Success` (exit 0) or `Failed!!!` (exit 1), the
    /// reasons on stderr (as `nodus -t`; systemd's unit runs it before every start).
    #[arg(short = 't')]
    pub test_config: bool,
}
