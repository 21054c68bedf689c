//! The agents `polaris dev` runs: where they are, their configurations (each uses the host
//! identity the BootAgent enrolls into `polaris-dev/identity/`), and how the BootAgent is
//! started (in the foreground, stopped with the dev server).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The name in the dev server certificate that agents check.
pub const DEV_TLS_NAME: &str = "config.cargo.com";

/// The folder of this executable, where the agents and plugins of the same build are.
pub fn exe_dir() -> anyhow::Result<PathBuf> {
    Ok(std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default())
}

/// Starts agent `name` from beside this executable with `config` written to
/// `dir/<name>.conf` and its log in `dir/<name>.log`; `None` if it is not built.
pub fn start_agent(
    dir: &Path,
    name: &str,
    config: String,
) -> anyhow::Result<Option<tokio::process::Child>> {
    let program = exe_dir()?.join(name);
    if !program.exists() {
        return Ok(None);
    }
    let config_path = dir.join(format!("{name}.conf"));
    std::fs::write(
        &config_path,
        format!("# Written by `polaris dev`.\n{config}"),
    )?;
    let mut command = tokio::process::Command::new(&program);
    command
        .arg("-f")
        .arg("-C")
        .arg(&config_path)
        .arg("-L")
        .arg(dir.join(format!("{name}.log")))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to signal the agent when
    // `polaris dev` dies, so a killed dev server never leaves agents running.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                .map_err(std::io::Error::from)
        });
    }
    let child = command
        .spawn()
        .with_context(|| format!("start {}", program.display()))?;
    Ok(Some(child))
}

/// nodus's configuration: a few read plugins, the `http` writer posting here over mutual TLS
/// with the host's identity; plugins where the agent looks by itself (beside its binary).
pub fn nodus_config(dir: &Path, listen: SocketAddr) -> String {
    // The plugin choice is data (a template beside this file), not code.
    include_str!("nodus.conf")
        .replace("@PLUGIN_DIR@", "")
        .replace("@SOCKET@", &dir.join("nodus.sock").display().to_string())
        .replace("@STATE@", &dir.join("nodus").display().to_string())
        .replace("@LISTEN@", &listen.to_string())
        .replace("@CA@", &dir.join("pki/ca.pem").display().to_string())
        .replace("@IDENTITY@", &dir.join("identity").display().to_string())
}

/// logagent's configuration: this server's own log, the BootAgent's and the installed agents'
/// logs, posted here over mutual TLS with the host's identity; state and socket in the dev
/// folder.
pub fn logagent_config(dir: &Path, listen: SocketAddr) -> String {
    // The sources are data (a template beside this file), not code.
    include_str!("logagent.conf")
        .replace("@LISTEN@", &listen.to_string())
        .replace("@CA@", &dir.join("pki/ca.pem").display().to_string())
        .replace("@IDENTITY@", &dir.join("identity").display().to_string())
        .replace("@STATE@", &dir.join("logagent").display().to_string())
        .replace("@SOCKET@", &dir.join("logagent.sock").display().to_string())
        .replace("@DIR@", &dir.display().to_string())
}

/// secureagent's rules (written to `dir/secureagent.rules`, beside its configuration, where
/// `mkpkg` finds them): the dev folder's package root.
pub const SECUREAGENT_RULES: &str = include_str!("secureagent.rules");

/// secureagent's configuration: the rules beside it, the dev folder as its root prefix, its
/// baseline in `dir/secureagent/`, a check every 30 s at the lowest priority, each run's report
/// posted here over mutual TLS with the host's identity.
pub fn secureagent_config(dir: &Path, listen: SocketAddr) -> String {
    // The rules and the schedule are data (templates beside this file), not code.
    include_str!("secureagent.conf")
        .replace("@LISTEN@", &listen.to_string())
        .replace("@CA@", &dir.join("pki/ca.pem").display().to_string())
        .replace("@IDENTITY@", &dir.join("identity").display().to_string())
        .replace("@STATE@", &dir.join("secureagent").display().to_string())
        .replace("@DIR@", &dir.display().to_string())
}

/// gearman's configuration: this server over mutual TLS with the host's identity, state and
/// socket in the dev folder, and the dev nodus's socket (its plugins are in the inventory).
pub fn gearman_config(dir: &Path, agents: SocketAddr) -> String {
    format!(
        "hostname = {host:?}\nserver = \"{agents}\"\ntls_name = \"{DEV_TLS_NAME}\"\n\
         ca = {ca:?}\ncert = {cert:?}\nkey = {key:?}\nstate_dir = {state:?}\nsocket = {socket:?}\n\
         nodus_socket = {nodus:?}\n",
        host = nix_hostname(),
        ca = dir.join("pki/ca.pem"),
        cert = dir.join("identity/host.pem"),
        key = dir.join("identity/host.key"),
        state = dir.join("gearman"),
        socket = dir.join("gearman.sock"),
        nodus = dir.join("nodus.sock"),
    )
}

/// This machine's host name, as nodus stamps it on values.
pub fn nix_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
