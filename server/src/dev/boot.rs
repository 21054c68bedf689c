//! The seed's whole flow on one machine: gearman and nodus are packed (`mkpkg`) onto this
//! server's package root, `bootagent` is started against this server, and once it has
//! reported, it is given `install` jobs for both; it downloads them from `/packages/`, checks
//! their SHA256, unpacks and runs them. When `polaris dev` stops, it stops what the BootAgent
//! installed (they are detached from it by design, so they would outlive it).

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
    state_dir: PathBuf,
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
    let exe = exe_dir()?;
    if !exe.join("bootagent").exists() || !exe.join("mkpkg").exists() {
        return Ok(None);
    }
    let mut packages = Vec::new();
    for (name, config) in configs {
        let config_path = dir.join(format!("{name}.conf"));
        std::fs::write(
            &config_path,
            format!("# Written by `polaris dev`.\n{config}"),
        )?;
        packages.push(pack(&exe, name, &config_path, &dir.join("packages")).await?);
    }
    let hostname = nix_hostname();
    let state_dir = dir.join("boot");
    let config = format!(
        "svrlist = \"{listen}\"\nstep = 3\nhostname = {hostname:?}\nstate_dir = {state_dir:?}\n\
         package_user = \"dev\"\npackage_password = {password:?}\nupgrade_watch = 2\n"
    );
    let Some(child) = start_agent(dir, "bootagent", config)? else {
        return Ok(None);
    };
    tokio::spawn(hand_out_installs(db, hostname, listen, packages));
    Ok(Some(BootFlow { child, state_dir }))
}

/// `mkpkg agent <name>` into `out`; returns the package from its `<file> SHA256:<hex>` line.
async fn pack(
    exe: &Path,
    name: &'static str,
    config: &Path,
    out: &Path,
) -> anyhow::Result<Package> {
    let output = tokio::process::Command::new(exe.join("mkpkg"))
        .args(["agent", name, "--build-dir"])
        .arg(exe)
        .arg("--config")
        .arg(config)
        .arg("-o")
        .arg(out)
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
            url: Some(format!("http://{listen}/packages/{}", package.file)),
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
    /// Stops the BootAgent, then the agents it installed (their process groups, by the pids
    /// in its state file).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        let Ok(text) = std::fs::read_to_string(self.state_dir.join("state.json")) else {
            return;
        };
        let Ok(state) = serde_json::from_str::<serde_json::Value>(&text) else {
            return;
        };
        let agents = state
            .pointer("/state/agents")
            .or_else(|| state.get("agents"));
        for agent in agents.and_then(|a| a.as_object()).into_iter().flatten() {
            let pid = agent.1.get("pid").and_then(serde_json::Value::as_i64);
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 1) {
                let group = nix::unistd::Pid::from_raw(pid);
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGTERM);
            }
        }
    }
}
