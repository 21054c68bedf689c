//! `polaris dev`: the whole platform on one machine with no setup. It keeps its state in a
//! folder of the working directory (SQLite database, admin token, package root, htpasswd, agent
//! configs and logs), starts the server, prints the URLs and an example `curl`, and runs the
//! agents built beside the `polaris` binary against it (nodus with its `http` writer pointing
//! here, gearman over TLS with certificates from a throw-away CA in the same folder). Ctrl-C
//! stops everything.

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
    /// Address of the TLS listener for gearman agents.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub agents_listen: SocketAddr,
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
    if !dir.join("pki/server.pem").exists() {
        devpki::Pki::create(&dir.join("pki"), &[DEV_TLS_NAME, "localhost", "127.0.0.1"])?;
    }
    let text = format!(
        "# Written by `polaris dev`; `polaris serve -c {0}/polaris.toml` serves the same state.\n\
         listen = \"{1}\"\ndatabase = \"sqlite://{0}/polaris.db\"\nadmin_token = \"{token}\"\n\
         [packages]\nroot = \"{0}/packages\"\nhtpasswd = \"{0}/htpasswd\"\n\
         [agents]\nlisten = \"{2}\"\ncert = \"{0}/pki/server.pem\"\nkey = \"{0}/pki/server.key\"\n",
        dir.display(),
        opts.listen,
        opts.agents_listen,
    );
    std::fs::write(dir.join("polaris.toml"), &text)?;
    let config = Config::load(&dir.join("polaris.toml"))?;
    debug_assert!(matches!(config.packages, Some(PackagesConfig { .. })));
    Ok((config, password))
}

/// The name in the dev server certificate that agents check.
const DEV_TLS_NAME: &str = "config.cargo.com";

/// The folder of this executable, where the agents and plugins of the same build are.
fn exe_dir() -> anyhow::Result<PathBuf> {
    Ok(std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default())
}

/// Starts agent `name` from beside this executable with `config` written to
/// `dir/<name>.conf` and its log in `dir/<name>.log`; `None` if it is not built.
fn start_agent(
    dir: &Path,
    name: &str,
    config: String,
) -> anyhow::Result<Option<tokio::process::Child>> {
    let program = exe_dir()?.join(name);
    if !program.exists() {
        return Ok(None);
    }
    let config_path = dir.join(format!("{name}.conf"));
    std::fs::write(&config_path, format!("# Written by `polaris dev`.\n{config}"))?;
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

/// nodus's configuration: a few read plugins, the `http` writer posting here.
fn nodus_config(dir: &Path, listen: SocketAddr) -> anyhow::Result<String> {
    Ok(format!(
        "interval = 10\nplugin_dir = {plugins:?}\nsocket = {socket:?}\n\
         [plugin.cpu]\n[plugin.load]\n[plugin.memory]\n[plugin.interface]\n[plugin.uptime]\n\
         [plugin.http.options]\nURL = \"http://{listen}/api/v1/metrics\"\n",
        plugins = exe_dir()?,
        socket = dir.join("nodus.sock"),
    ))
}

/// gearman's configuration: this server over TLS, state and socket in the dev folder.
fn gearman_config(dir: &Path, agents: SocketAddr) -> anyhow::Result<String> {
    Ok(format!(
        "hostname = {host:?}\nserver = \"{agents}\"\ntls_name = \"{DEV_TLS_NAME}\"\n\
         ca = {ca:?}\nstate_dir = {state:?}\nsocket = {socket:?}\nplugin_dir = {plugins:?}\n",
        host = nix_hostname(),
        ca = dir.join("pki/ca.pem"),
        state = dir.join("gearman"),
        socket = dir.join("gearman.sock"),
        plugins = exe_dir()?,
    ))
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
        match start_agent(&dir, "nodus", nodus_config(&dir, opts.listen)?)? {
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
        match start_agent(&dir, "gearman", gearman_config(&dir, opts.agents_listen)?)? {
            Some(child) => {
                println!(
                    "  agent gearman: connecting over TLS to {}, log {}/gearman.log",
                    opts.agents_listen,
                    dir.display()
                );
                let host = nix_hostname();
                println!(
                    "  example:       curl -H 'Authorization: Bearer {token}' -d '{{\"hosts\":[\"{host}\"],\"method\":\"sync.bash\",\"cmd\":\"uptime\"}}' -H 'Content-Type: application/json' {base}/api/v1/commands"
                );
                agents.push(child);
            }
            None => println!("  agent gearman: not built beside polaris (cargo build --workspace)"),
        }
    }
    app::run(listener, state, app::shutdown_signal()).await?;
    for mut agent in agents {
        let _ = agent.kill().await;
    }
    Ok(())
}
