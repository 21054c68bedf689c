//! `mkpkg`'s command line (clap): the binary parses it, and `xtask` renders its man page and
//! shell completions from the same definition. What each command does is in `src/bin/mkpkg.rs`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use crate::signing;

/// mkpkg: writes BootAgent packages, and signs them for BootAgents with a `release_key`.
#[derive(Parser, Debug)]
#[command(
    name = "mkpkg",
    version,
    after_help = "Signing: `mkpkg keygen -o keys` makes a key pair and prints the BootAgent's \
                  `release_key = \"RWQ...\"` line; `--sign keys/minisign.key` then writes \
                  <package>.minisig beside each package (publish both). Keys made by \
                  `minisign -G -W` (unencrypted) work as they are; for one made by \
                  `minisign -G` (encrypted) add `--password-file FILE`. Check a signature \
                  with `minisign -Vm <package> -p keys/minisign.pub`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Pack one of the platform's agents from a build folder.
    Agent {
        /// Which agent.
        agent: Agent,
        /// Folder with the built binary and plugin `.so` files.
        #[arg(long, default_value = "target/release")]
        build_dir: PathBuf,
        /// Configuration file to ship (default: the agent's example configuration).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Package version (default: this workspace's version).
        #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
        version: String,
        /// Output folder; the file is `<agent>-<version>.tar.gz`.
        #[arg(short = 'o', long, default_value = ".")]
        out: PathBuf,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Pack any program.
    Pack {
        /// Agent name.
        #[arg(long)]
        name: String,
        /// Version.
        #[arg(long)]
        version: String,
        /// Start command, run by /bin/sh -c in the package folder.
        #[arg(long)]
        start: String,
        /// kill:<SIGNAL> or process:<command>.
        #[arg(long, default_value = "kill:TERM")]
        stop: String,
        /// process, socket:<path> or a command.
        #[arg(long)]
        check: Option<String>,
        /// Seconds before the first check.
        #[arg(long)]
        start_delay: Option<u64>,
        /// Environment, K=V.
        #[arg(long)]
        env: Vec<String>,
        /// File to add, SRC or SRC=PATH-IN-PACKAGE.
        #[arg(long)]
        file: Vec<String>,
        /// Output file.
        #[arg(short = 'o', long)]
        out: PathBuf,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Make a signing key pair: DIR/minisign.key (secret, not encrypted, mode 0600) and
    /// DIR/minisign.pub; prints the BootAgent's `release_key` line. Never overwrites a key.
    Keygen {
        /// Folder for the two files (created if needed).
        #[arg(short = 'o', long)]
        out: PathBuf,
    },
    /// Sign a file that is not a package (a plugin `.so` for gearman's `plugin.install`):
    /// writes FILE.minisig beside it and prints `FILE SHA256:<hex>`.
    Sign {
        /// The file.
        file: PathBuf,
        #[command(flatten)]
        sign: SignArgs,
    },
}

/// Signing a package.
#[derive(clap::Args, Debug)]
pub struct SignArgs {
    /// Also write <package>.minisig, signed with this minisign secret key (from `mkpkg
    /// keygen`, `minisign -G -W`, or `minisign -G` with --password-file).
    #[arg(long, value_name = "SECRET_KEY")]
    pub sign: Option<PathBuf>,
    /// File whose first line is the password of an encrypted secret key.
    #[arg(long, requires = "sign")]
    pub password_file: Option<PathBuf>,
}

impl SignArgs {
    /// Loads the key before anything is packed, so a wrong key or password costs no packing.
    pub fn key(&self) -> anyhow::Result<Option<minisign::SecretKey>> {
        let Some(path) = &self.sign else {
            return Ok(None);
        };
        let password = match &self.password_file {
            Some(file) => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("read the password file {}", file.display()))?;
                Some(text.lines().next().unwrap_or_default().to_string())
            }
            None => None,
        };
        signing::load_secret_key(path, password).map(Some)
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Agent {
    /// The metrics agent (read and write plugins).
    Nodus,
    /// The BasicAgent (info plugins).
    Gearman,
    /// The log agent (no plugins).
    Logagent,
    /// The integrity agent (no plugins; its rules file comes along).
    Secureagent,
}
