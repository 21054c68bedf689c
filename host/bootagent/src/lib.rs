//! The BootAgent: installed with the OS, it reports the host and its agents to Polaris every
//! `step` seconds (`POST /agent/status`), runs the jobs in the answer (install, upgrade,
//! uninstall, restart, stop, config) and posts their results (`POST /agent/job/result`) until
//! the server stores them. Processes are run by `supervise`, the engine gearman's daemons use.
//!
//! Layout:
//! - [`cli`] and [`mkpkg_cli`]: the command lines of `bootagent` and `mkpkg` (also rendered
//!   as their man pages by `xtask`).
//! - [`config`]: the TOML file; read by `main`.
//! - [`daemon`]: the report / jobs / results loop; run by `main`.
//! - [`client`]: the HTTP requests (status, results, enroll, renew), servers tried in list
//!   order, with the host's client certificate; used by `daemon`.
//! - [`identity`]: the host's key, certificate and CA on disk, CSRs, when to renew.
//! - [`manager`]: one job at a time against the supervisor, resume after a restart, the
//!   agents' part of the report; used by `daemon`.
//! - [`install`]: install and upgrade with watch and rollback; used by `manager`.
//! - [`programs`]: package + job → the supervisor's `ProgramSpec`, and its status back.
//! - [`package`]: the `.tar.gz` + `manifest.toml` format, unpack and pack (`mkpkg`).
//! - [`os_package`]: agents shipped as `.deb` (dpkg) or `.rpm` (rpm): their start command,
//!   the kept package file for rollback, the package manager's failures undone; used by
//!   `install` and `manager` (uninstall purges).
//! - [`layout`]: version folders and the atomic `current` symlink.
//! - [`state`] and [`spool`]: what survives a restart (state.json, results/).
//! - [`signature`]: the release key and the check of a package's `.minisig` before unpacking
//!   (the code is `agentkit::signature`, shared with gearman);
//!   used by `install`. [`signing`]: key pairs and signatures for `mkpkg`.
//!
//! Downloads (http, https, ftp, with SHA-256 verification) and the tar/gzip unpacking are the
//! `fetch` crate's, shared with gearman; `main` makes the [`fetch::Fetcher`] `install` uses.

pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod identity;
pub mod install;
pub mod layout;
pub mod manager;
pub mod mkpkg_cli;
pub mod os_package;
pub mod package;
pub mod programs;
pub mod signature;
pub mod signing;
pub mod spool;
pub mod state;

/// The HTTP agent for Polaris and its packages: the pinned CA, no redirects, and the host's
/// client certificate once enrolled.
pub fn http_agent(
    config: &config::Config,
    identity: Option<&identity::Identity>,
) -> anyhow::Result<ureq::Agent> {
    let user_agent = concat!("bootagent/", env!("CARGO_PKG_VERSION"));
    let (cert, key) = match identity {
        Some(identity) if identity.held().is_some() => (identity.cert_path(), identity.key_path()),
        _ => Default::default(),
    };
    let pair = (!cert.as_os_str().is_empty()).then_some((cert.as_path(), key.as_path()));
    Ok(fetch::http_agent_with_identity(
        user_agent,
        config.ca.as_deref(),
        std::time::Duration::from_secs(config.timeout),
        0,
        pair,
    )?)
}
