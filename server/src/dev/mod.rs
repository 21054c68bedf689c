//! `polaris dev`: the whole platform on one machine with no setup. It keeps its state in a
//! folder of the working directory (SQLite database, admin token, package root, htpasswd, agent
//! configs and logs), starts the server, prints the URLs and an example `curl`, and runs the
//! seed's flow with the agents built beside the `polaris` binary: the BootAgent reports here and
//! installs gearman (over TLS, certificates from a throw-away CA in the same folder) and nodus
//! (its `http` writer posting here) from packages on this server ([`boot`]). Without a built
//! `bootagent`, the agents are started directly ([`agents`]). Ctrl-C stops everything.

mod agents;
mod boot;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use self::agents::{
    DEV_TLS_NAME, exe_dir, gearman_config, nix_hostname, nodus_config, start_agent,
};
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
    let mut children = Vec::new();
    let mut boot = None;
    if !opts.no_agents {
        let host = nix_hostname();
        let configs = [
            ("gearman", gearman_config(&dir, opts.agents_listen, None)),
            ("nodus", nodus_config(&dir, opts.listen, None)),
        ];
        boot = boot::start(state.db.clone(), &dir, opts.listen, &password, &configs).await?;
        if boot.is_some() {
            println!(
                "  bootagent:     reporting here; installs gearman and nodus from {base}/packages/ \
                 (log {}/bootagent.log, agents' logs in {}/boot/logs/)",
                dir.display(),
                dir.display()
            );
        } else {
            let plugins = exe_dir()?;
            for (name, config) in [
                (
                    "gearman",
                    gearman_config(&dir, opts.agents_listen, Some(&plugins)),
                ),
                ("nodus", nodus_config(&dir, opts.listen, Some(&plugins))),
            ] {
                match start_agent(&dir, name, config)? {
                    Some(child) => {
                        println!("  agent {name}: running, log {}/{name}.log", dir.display());
                        children.push(child);
                    }
                    None => println!("  agent {name}: not built (cargo build --workspace)"),
                }
            }
        }
        println!(
            "  example:       curl -H 'Authorization: Bearer {token}' '{base}/api/v1/metrics/query?host={host}&plugin=load&type=load'"
        );
        println!(
            "  example:       curl -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' -d '{{\"hosts\":[\"{host}\"],\"method\":\"sync.bash\",\"cmd\":\"uptime\"}}' {base}/api/v1/commands"
        );
    }
    app::run(listener, state, app::shutdown_signal()).await?;
    for mut child in children {
        let _ = child.kill().await;
    }
    if let Some(boot) = boot {
        boot.stop().await;
    }
    Ok(())
}
