//! The seed's whole flow on one machine, on the secure path: gearman and nodus are packed
//! (`mkpkg`) onto this server's package root, `bootagent` is started against this server over
//! HTTPS with the dev CA pinned and an enrollment token; it enrolls (its key stays in
//! `polaris-dev/identity/`), reports with its client certificate, and once it has reported, it
//! is given `install` jobs for both; it downloads them from `/packages/`, checks their SHA256
//! and their signature by the dev release key (`polaris-dev/release/`, `mkpkg --sign`),
//! unpacks and runs them, and they use the same identity. When `polaris dev` stops, it stops
//! the BootAgent and then every process running a program from its folder (the installed
//! agents are detached from it by design, and may have started a moment ago).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use wire::boot::{BootAction, BootJob};

use super::agents::{exe_dir, nix_hostname, start_agent};
use crate::db::{Db, Target};

/// A package on the package server: agent name, file name, `SHA256:<hex>`.
struct Package {
    name: &'static str,
    file: String,
    checksum: String,
}

/// The running BootAgent of the dev flow.
pub struct BootFlow {
    /// The BootAgent process (stopped with the dev server).
    pub child: tokio::process::Child,
    /// The dev folder: programs running from it are the flow's.
    dir: PathBuf,
}

/// Packs the agents and starts the BootAgent; `None` when `bootagent` or `mkpkg` is not built
/// beside `polaris` (the caller then runs the agents directly).
pub async fn start(
    db: Db,
    dir: &Path,
    listen: SocketAddr,
    password: &str,
    configs: &[(&'static str, String)],
) -> anyhow::Result<Option<BootFlow>> {
    let token = crate::api::enroll::new_token(
        &db,
        &crate::api::enroll::TokenRequest {
            uses: 1,
            expires_in: 3600,
            region: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("enrollment token: {}", e.message))?
    .token;
    let exe = exe_dir()?;
    if !exe.join("bootagent").exists() || !exe.join("mkpkg").exists() {
        return Ok(None);
    }
    // The release key: packages are signed and the BootAgent checks them (kept outside the
    // package root, which anyone with the download password can read).
    let release = dir.join("release");
    if !release.join("minisign.key").exists() {
        let output = tokio::process::Command::new(exe.join("mkpkg"))
            .args(["keygen", "-o"])
            .arg(&release)
            .output()
            .await
            .context("run mkpkg keygen")?;
        if !output.status.success() {
            anyhow::bail!(
                "mkpkg keygen failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
    }
    let mut packages = Vec::new();
    for (name, config) in configs {
        let config_path = dir.join(format!("{name}.conf"));
        std::fs::write(
            &config_path,
            format!("# Written by `polaris dev`.\n{config}"),
        )?;
        let key = release.join("minisign.key");
        packages.push(pack(&exe, name, &config_path, &dir.join("packages"), &key).await?);
    }
    let hostname = nix_hostname();
    let state_dir = dir.join("boot");
    let identity = dir.join("identity");
    // Enrolled before (the same host name holds a valid certificate): keep that identity.
    let enroll = if identity.join("host.pem").exists() {
        String::new()
    } else {
        format!("enroll_token = {token:?}\n")
    };
    let config = format!(
        "svrlist = \"https://{listen}\"\nca = {ca:?}\n{enroll}identity_dir = {identity:?}\n\
         step = 3\nhostname = {hostname:?}\nstate_dir = {state_dir:?}\n\
         package_user = \"dev\"\npackage_password = {password:?}\nupgrade_watch = 2\n\
         release_key_file = {release:?}\n",
        ca = dir.join("pki/ca.pem"),
        release = release.join("minisign.pub"),
    );
    let Some(child) = start_agent(dir, "bootagent", config)? else {
        return Ok(None);
    };
    tokio::spawn(hand_out_installs(db, hostname, listen, packages));
    Ok(Some(BootFlow {
        child,
        dir: dir.to_path_buf(),
    }))
}

/// `mkpkg agent <name>` into `out`; returns the package from its `<file> SHA256:<hex>` line.
async fn pack(
    exe: &Path,
    name: &'static str,
    config: &Path,
    out: &Path,
    key: &Path,
) -> anyhow::Result<Package> {
    let output = tokio::process::Command::new(exe.join("mkpkg"))
        .args(["agent", name, "--build-dir"])
        .arg(exe)
        .arg("--config")
        .arg(config)
        .arg("-o")
        .arg(out)
        .arg("--sign")
        .arg(key)
        .output()
        .await
        .with_context(|| format!("run mkpkg for {name}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().unwrap_or_default();
    match (output.status.success(), line.split_once(" SHA256:")) {
        (true, Some((file, hex))) => Ok(Package {
            name,
            file: Path::new(file)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            checksum: format!("SHA256:{}", hex.trim()),
        }),
        _ => anyhow::bail!(
            "mkpkg agent {name} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    }
}

/// Waits for the BootAgent's first report, then creates an install job per package the host
/// does not already run.
async fn hand_out_installs(db: Db, hostname: String, listen: SocketAddr, packages: Vec<Package>) {
    let mut host = None;
    for _ in 0..600 {
        if let Ok(Some(view)) = db.host(&hostname).await {
            host = Some(view);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let Some(host) = host else {
        tracing::warn!(%hostname, "The BootAgent never reported; no install jobs.");
        return;
    };
    let version = env!("CARGO_PKG_VERSION");
    for package in packages {
        let running = host.agents.iter().any(|a| {
            a.name == package.name
                && a.version == version
                && a.status == wire::boot::AgentState::Running
        });
        if running {
            continue;
        }
        let job = BootJob {
            id: uuid::Uuid::new_v4().to_string(),
            action: BootAction::Install,
            name: Some(package.name.into()),
            url: Some(format!("https://{listen}/packages/{}", package.file)),
            checksum: Some(package.checksum),
            env: BTreeMap::new(),
            limits: BTreeMap::new(),
            svrlist: None,
            step: None,
        };
        if let Err(e) = db
            .create_job(&job, &Target::Hosts(vec![hostname.clone()]))
            .await
        {
            tracing::warn!(agent = package.name, error = %e, "Cannot create the install job.");
        }
    }
}

impl BootFlow {
    /// Stops the BootAgent, then every process whose program lies in the dev folder (the
    /// agents it installed, whatever its state file says yet): SIGTERM to their process
    /// groups, SIGKILL after 5 s.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        stop_programs_under(&self.dir).await;
    }
}

/// SIGTERM, then SIGKILL after 5 s, to the process group of every process running a program
/// from below `dir`.
pub async fn stop_programs_under(dir: &Path) {
    use nix::sys::signal::{Signal, killpg};
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return;
    };
    let running = || -> Vec<nix::unistd::Pid> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| {
                let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
                let exe = std::fs::read_link(entry.path().join("exe")).ok()?;
                (pid > 1 && pid != std::process::id() as i32 && exe.starts_with(&dir))
                    .then(|| nix::unistd::Pid::from_raw(pid))
            })
            .collect()
    };
    for pid in running() {
        let group = nix::unistd::getpgid(Some(pid)).unwrap_or(pid);
        if group != nix::unistd::getpgrp() {
            let _ = killpg(group, Signal::SIGTERM);
        }
        let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
    }
    for _ in 0..50 {
        if running().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for pid in running() {
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
    }
}
