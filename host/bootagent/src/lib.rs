//! The BootAgent: installed with the OS, it reports the host and its agents to Polaris every
//! `step` seconds (`POST /agent/status`), runs the jobs in the answer (install, upgrade,
//! uninstall, restart, stop, config) and posts their results (`POST /agent/job/result`) until
//! the server stores them. Processes are run by `supervise`, the engine gearman's daemons use.
//!
//! Layout:
//! - [`config`]: the TOML file; read by `main`.
//! - [`daemon`]: the report / jobs / results loop; run by `main`.
//! - [`client`]: the two HTTP requests, servers tried in list order; used by `daemon`.
//! - [`manager`]: one job at a time against the supervisor, resume after a restart, the
//!   agents' part of the report; used by `daemon`.
//! - [`install`]: install and upgrade with watch and rollback; used by `manager`.
//! - [`programs`]: package + job → the supervisor's `ProgramSpec`, and its status back.
//! - [`package`]: the `.tar.gz` + `manifest.toml` format, unpack and pack (`mkpkg`).
//! - [`layout`]: version folders and the atomic `current` symlink.
//! - [`state`] and [`spool`]: what survives a restart (state.json, results/).
//! - [`signature`]: the release key and the check of a package's `.minisig` before unpacking;
//!   used by `install`. [`signing`]: key pairs and signatures for `mkpkg`.
//!
//! Downloads (http, https, ftp, with SHA-256 verification) and the tar/gzip unpacking are the
//! `fetch` crate's, shared with gearman; `main` makes the [`fetch::Fetcher`] `install` uses.

pub mod client;
pub mod config;
pub mod daemon;
pub mod install;
pub mod layout;
pub mod manager;
pub mod package;
pub mod programs;
pub mod signature;
pub mod signing;
pub mod spool;
pub mod state;
