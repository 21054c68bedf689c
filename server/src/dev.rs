//! `polaris dev`: the whole platform on one machine with no setup. It keeps its state in a
//! folder of the working directory (SQLite database, admin token, package root, htpasswd, agent
//! configs and logs), starts the server, prints the URLs and an example `curl`, and runs the
//! agents built beside the `polaris` binary against it (nodus with its `http` writer pointing
//! here). Ctrl-C stops everything.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::app;
use crate::config::{Config, PackagesConfig};

/// Options of `polaris dev`.
#[derive(Debug, Clone, clap::Args)]
pub struct DevOptions {
    /// Folder for the dev state, created if missing.
    #[arg(long, default_value = "polaris-dev")]
    pub dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Do not start the agents.
    #[arg(long)]
    pub no_agents: bool,
}

/// A secret kept in `dir/name`, created on first use.
fn secret(dir: &Path, name: &str) -> anyhow::Result<String> {
    let path = dir.join(name);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok(text.trim().to_string());
    }
    let value = uuid::Uuid::new_v4().simple().to_string();
    std::fs::write(&path, format!("{value}\n"))
        .with_context(|| format!("write {}", path.display()))?;
    Ok(value)
}

/// Writes the dev configuration (and htpasswd) and returns it, with the package password.
fn prepare(opts: &DevOptions) -> anyhow::Result<(Config, String)> {
    let dir = std::path::absolute(&opts.dir)?;
    std::fs::create_dir_all(dir.join("packages"))
        .with_context(|| format!("create {}", dir.display()))?;
    let token = secret(&dir, "admin_token")?;
    let password = secret(&dir, "package_password")?;
    let hash = bcrypt::hash(&password, 10).context("hash the package password")?;
    std::fs::write(dir.join("htpasswd"), format!("dev:{hash}\n"))?;
    let text = format!(
        "# Written by `polaris dev`; `polaris serve -c {0}/polaris.toml` serves the same state.\n\
         listen = \"{1}\"\ndatabase = \"sqlite://{0}/polaris.db\"\nadmin_token = \"{token}\"\n\
         [packages]\nroot = \"{0}/packages\"\nhtpasswd = \"{0}/htpasswd\"\n",
        dir.display(),
        opts.listen
    );
    std::fs::write(dir.join("polaris.toml"), &text)?;
    let config = Config::load(&dir.join("polaris.toml"))?;
    debug_assert!(matches!(config.packages, Some(PackagesConfig { .. })));
    Ok((config, password))
}

/// Starts nodus from beside this executable, posting to this server; `None` if not built.
fn start_nodus(dir: &Path, listen: SocketAddr) -> anyhow::Result<Option<tokio::process::Child>> {
    let exe_dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let nodus = exe_dir.join("nodus");
    if !nodus.exists() {
        return Ok(None);
    }
    let config = dir.join("nodus.conf");
    std::fs::write(
        &config,
        format!(
            "# Written by `polaris dev`.\ninterval = 10\nplugin_dir = {plugins:?}\nsocket = {socket:?}\n\
             [plugin.cpu]\n[plugin.load]\n[plugin.memory]\n[plugin.interface]\n[plugin.uptime]\n\
             [plugin.http.options]\nURL = \"http://{listen}/api/v1/metrics\"\n",
            plugins = exe_dir,
            socket = dir.join("nodus.sock"),
        ),
    )?;
    let mut command = tokio::process::Command::new(&nodus);
    command
        .arg("-f")
        .arg("-C")
        .arg(&config)
        .arg("-L")
        .arg(dir.join("nodus.log"))
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
        .with_context(|| format!("start {}", nodus.display()))?;
    Ok(Some(child))
}

/// This machine's host name, as nodus stamps it on values.
fn nix_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Runs `polaris dev` until Ctrl-C.
pub async fn run(opts: DevOptions) -> anyhow::Result<()> {
    let (config, password) = prepare(&opts)?;
    let dir = std::path::absolute(&opts.dir)?;
    let token = config.admin_token.clone();
    let state = app::state(config).await?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("listen on {}", opts.listen))?;
    let base = format!("http://{}", opts.listen);
    println!("Polaris dev server on {base} (state in {})", dir.display());
    println!("  API document:  {base}/api/openapi.json");
    println!("  own metrics:   {base}/metrics");
    println!("  packages:      {base}/packages/   (user dev, password {password})");
    println!("  example:       curl -H 'Authorization: Bearer {token}' {base}/api/v1/hosts");
    let mut agents = Vec::new();
    if !opts.no_agents {
        match start_nodus(&dir, opts.listen)? {
            Some(child) => {
                println!(
                    "  agent nodus:   running, log {}/nodus.log, metrics posted here",
                    dir.display()
                );
                let host = nix_hostname();
                println!(
                    "  example:       curl -H 'Authorization: Bearer {token}' '{base}/api/v1/metrics/query?host={host}&plugin=load&type=load'"
                );
                agents.push(child);
            }
            None => println!("  agent nodus:   not built beside polaris (cargo build --workspace)"),
        }
    }
    app::run(listener, state, app::shutdown_signal()).await?;
    for mut agent in agents {
        let _ = agent.kill().await;
    }
    Ok(())
}
