//! `polaris`'s command line (clap): the binary parses it, and `xtask` renders its man page and
//! shell completions from the same definition.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::dev;

/// Polaris, the platform's central server.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the API, the BootAgent protocol and the package server.
    Serve {
        /// Configuration file.
        #[arg(short = 'c', long, default_value = "/etc/cargo/polaris.toml")]
        config: PathBuf,
    },
    /// Apply the database migrations and exit.
    Migrate {
        /// Configuration file.
        #[arg(short = 'c', long, default_value = "/etc/cargo/polaris.toml")]
        config: PathBuf,
    },
    /// Check the configuration and the database connection, then exit.
    CheckConfig {
        /// Configuration file.
        #[arg(short = 'c', long, default_value = "/etc/cargo/polaris.toml")]
        config: PathBuf,
    },
    /// Create an enrollment token (printed once) that lets new hosts' BootAgents enroll.
    Enroll {
        /// Configuration file.
        #[arg(short = 'c', long, default_value = "/etc/cargo/polaris.toml")]
        config: PathBuf,
        /// How many hosts may enroll with it.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// Seconds until it expires.
        #[arg(long, default_value_t = 86_400)]
        expires_in: u64,
        /// Region the enrolled hosts are put in.
        #[arg(long)]
        region: Option<String>,
    },
    /// Run Polaris on SQLite in ./polaris-dev with the agents built beside it.
    Dev(dev::DevOptions),
}
