//! `xtask`: the workspace's own tasks, run as `cargo xtask <command>` (alias of
//! `cargo run -p xtask --`).
//!
//! Layout: `main.rs` parses the command and hands it to one module per command:
//! - `man`: `xtask man <out-dir>`, the section-1 pages of the shipped binaries, generated from
//!   their clap definitions, plus the hand-written pages of `docs/man/`.
//! - `completions`: `xtask completions <out-dir>`, bash and zsh completions from the same
//!   definitions.
//! - `dist`: `xtask dist`, the release command (portable build, Debian packages, tarballs,
//!   sums and signatures).
//! - `binaries`: the shipped binaries and what their pages add to clap's help; used by both.

mod binaries;
mod completions;
mod dist;
mod man;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The workspace's own tasks.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write the man pages into OUT_DIR: `<binary>.1` (and `<binary>-<subcommand>.1`) generated
    /// from each shipped binary's flags, and the hand-written pages of docs/man/ copied as
    /// they are (roff, uncompressed: the packager compresses them).
    Man {
        /// Output folder (created if needed).
        out_dir: PathBuf,
    },
    /// Write shell completions into OUT_DIR: `bash/<binary>` and `zsh/_<binary>`, the names
    /// bash-completion and zsh look for.
    Completions {
        /// Output folder (created if needed).
        out_dir: PathBuf,
    },
    /// Make a release: the portable build (glibc 2.17), the Debian packages, the BootAgent
    /// tarballs, SHA256SUMS and (with --sign) minisign signatures.
    Dist(dist::DistArgs),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Man { out_dir } => man::write_all(&out_dir),
        Command::Completions { out_dir } => completions::write_all(&out_dir),
        Command::Dist(args) => dist::run(&workspace_root(), &args).map(|()| Vec::new()),
    };
    match result {
        Ok(written) => {
            for path in written {
                println!("{}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (this crate's parent folder).
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
