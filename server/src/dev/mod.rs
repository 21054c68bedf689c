//! `polaris dev`: the whole platform on one machine with no setup, on the secure path. It keeps
//! its state in a 0700 folder of the working directory (SQLite database, admin token, the CA
//! and server certificate in `pki/`, package root, htpasswd, agent configs and logs), serves
//! HTTPS, prints the URLs and an example `curl`, and runs the seed's flow with the agents built
//! beside the `polaris` binary ([`boot`]): the BootAgent enrolls with a token, reports here
//! with its client certificate and installs gearman (wss), nodus (its `http` writer posting
//! here), logagent (shipping this server's own log, `polaris.log`, and the agents' logs
//! here) and secureagent (checking the dev folder's package root on a schedule, its reports
//! posted here), which use the same identity. Ctrl-C or SIGTERM, at any moment, stops
//! everything.

mod agents;
mod boot;

/// The dev server's log file in the dev folder.
pub const LOG_FILE: &str = "polaris.log";

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use self::agents::{
    DEV_TLS_NAME, SECUREAGENT_RULES, gearman_config, logagent_config, nix_hostname, nodus_config,
    secureagent_config,
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

/// A secret kept in `dir/name` (0600), created on first use.
fn secret(dir: &Path, name: &str) -> anyhow::Result<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    if let Ok(text) = std::fs::read_to_string(&path) {
        // Folders of older versions had it world-readable.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        return Ok(text.trim().to_string());
    }
    let value = uuid::Uuid::new_v4().simple().to_string();
    crate::pki::write_private(&path, &format!("{value}\n"), 0o600)?;
    Ok(value)
}

/// Size past which `polaris dev` starts a new log, keeping the last one as `polaris.log.1`.
const LOG_ROTATE_BYTES: u64 = 16 * 1024 * 1024;

/// The dev server's own log, `dir/polaris.log` (0600, appended to; the folder made 0700), which
/// the dev logagent ships back to it. One over [`LOG_ROTATE_BYTES`] is renamed to
/// `polaris.log.1` at start (replacing the one before), so a dev folder does not grow without
/// end; the logagent reads a renamed log to its end, as after logrotate.
pub fn open_log(opts: &DevOptions) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = std::path::absolute(&opts.dir)?;
    crate::pki::private_dir(&dir)?;
    let path = dir.join(LOG_FILE);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
        let old = dir.join(format!("{LOG_FILE}.1"));
        std::fs::rename(&path, &old)
            .with_context(|| format!("rename {} to {}", path.display(), old.display()))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("open {}", path.display()))
}

/// Writes the dev configuration (and htpasswd) and returns it, with the package password.
fn prepare(opts: &DevOptions) -> anyhow::Result<(Config, String)> {
    let dir = std::path::absolute(&opts.dir)?;
    crate::pki::private_dir(&dir)?;
    std::fs::create_dir_all(dir.join("packages"))
        .with_context(|| format!("create {}", dir.display()))?;
    let token = secret(&dir, "admin_token")?;
    let password = secret(&dir, "package_password")?;
    let hash = bcrypt::hash(&password, 10).context("hash the package password")?;
    crate::pki::write_private(&dir.join("htpasswd"), &format!("dev:{hash}\n"), 0o600)?;
    let text = format!(
        "# Written by `polaris dev`; `polaris serve -c {0}/polaris.toml` serves the same state.\n\
         listen = \"{1}\"\ndatabase = \"sqlite://{0}/polaris.db\"\nadmin_token = \"{token}\"\n\
         [tls]\nca_dir = \"{0}/pki\"\nnames = [\"{DEV_TLS_NAME}\", \"localhost\", \"127.0.0.1\"]\n\
         [packages]\nroot = \"{0}/packages\"\nhtpasswd = \"{0}/htpasswd\"\n\
         [agents]\nlisten = \"{2}\"\n",
        dir.display(),
        opts.listen,
        opts.agents_listen,
    );
    crate::pki::write_private(&dir.join("polaris.toml"), &text, 0o600)?;
    let config = Config::load(&dir.join("polaris.toml"))?;
    debug_assert!(matches!(config.packages, Some(PackagesConfig { .. })));
    Ok((config, password))
}

/// Runs `polaris dev` until Ctrl-C or SIGTERM; whenever that comes (during start-up too), the
/// BootAgent and every program running from the dev folder are stopped before it returns.
pub async fn run(opts: DevOptions) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    // Signals are watched before anything starts, so none can end the process half-way.
    let (mut term, mut int) = (
        signal(SignalKind::terminate())?,
        signal(SignalKind::interrupt())?,
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("Shutting down.");
        let _ = stop.send(true);
    });
    let dir = std::path::absolute(&opts.dir)?;
    let wait = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let result = tokio::select! {
        result = serve(opts, &dir, wait(stopped.clone())) => result,
        () = wait(stopped) => Ok(()),
    };
    boot::stop_programs_under(&dir).await;
    result
}

/// The dev server and its flow, until `shutdown` resolves.
async fn serve(
    opts: DevOptions,
    dir: &Path,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (config, password) = prepare(&opts)?;
    let token = config.admin_token.clone();
    let state = app::state(config).await?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("listen on {}", opts.listen))?;
    let base = format!("https://{}", opts.listen);
    let ca = dir.join("pki/ca.pem");
    let curl = format!("curl --cacert {}", ca.display());
    println!("Polaris dev server on {base} (state in {})", dir.display());
    println!("  CA to trust:   {}", ca.display());
    println!("  API document:  {curl} {base}/api/openapi.json");
    println!("  own metrics:   {base}/metrics");
    println!("  packages:      {base}/packages/   (user dev, password {password})");
    println!("  example:       {curl} -H 'Authorization: Bearer {token}' {base}/api/v1/hosts");
    let mut boot = None;
    if !opts.no_agents {
        let host = nix_hostname();
        let configs = [
            ("gearman", gearman_config(dir, opts.agents_listen)),
            ("nodus", nodus_config(dir, opts.listen)),
            ("logagent", logagent_config(dir, opts.listen)),
            ("secureagent", secureagent_config(dir, opts.listen)),
        ];
        // Beside secureagent.conf, where mkpkg finds them and packs them with it.
        std::fs::write(dir.join("secureagent.rules"), SECUREAGENT_RULES)
            .with_context(|| format!("write {}/secureagent.rules", dir.display()))?;
        boot = boot::start(state.db.clone(), dir, opts.listen, &password, &configs).await?;
        if boot.is_some() {
            println!(
                "  bootagent:     enrolled with a token, reporting here over mutual TLS; installs \
                 gearman, nodus, logagent and secureagent from {base}/packages/ (log \
                 {}/bootagent.log, agents' logs in {}/boot/logs/, host identity in {}/identity/)",
                dir.display(),
                dir.display(),
                dir.display()
            );
            println!(
                "  logs:          logagent ships {0}/{LOG_FILE} and the agents' logs here: \
                 {curl} -H 'Authorization: Bearer {token}' '{base}/api/v1/logs?host={host}&source=polaris'",
                dir.display()
            );
            println!(
                "  integrity:     secureagent checks {0}/packages/ every 30 s (rules in \
                 {0}/secureagent.rules): {curl} -H 'Authorization: Bearer {token}' \
                 '{base}/api/v1/integrity/hosts'",
                dir.display()
            );
        } else {
            println!("  bootagent:     not built (cargo build --workspace): no agents");
        }
        println!(
            "  example:       {curl} -H 'Authorization: Bearer {token}' '{base}/api/v1/metrics/query?host={host}&plugin=load&type=load'"
        );
        println!(
            "  example:       {curl} -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' -d '{{\"hosts\":[\"{host}\"],\"method\":\"sync.bash\",\"cmd\":\"uptime\"}}' {base}/api/v1/commands"
        );
    }
    let served = app::run(listener, state, shutdown).await;
    if let Some(boot) = boot {
        boot.stop().await;
    }
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_log_is_kept_as_log_1_and_a_new_one_started() {
        let work = tempfile::tempdir().unwrap();
        let opts = DevOptions {
            dir: work.path().join("dev"),
            listen: "127.0.0.1:0".parse().unwrap(),
            agents_listen: "127.0.0.1:0".parse().unwrap(),
            no_agents: true,
        };
        drop(open_log(&opts).unwrap());
        let log = opts.dir.join(LOG_FILE);
        std::fs::write(&log, "small\n").unwrap();
        drop(open_log(&opts).unwrap());
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "small\n");
        assert!(!opts.dir.join("polaris.log.1").exists());

        std::fs::write(&log, vec![b'x'; LOG_ROTATE_BYTES as usize + 1]).unwrap();
        drop(open_log(&opts).unwrap());
        assert_eq!(std::fs::metadata(&log).unwrap().len(), 0);
        assert_eq!(
            std::fs::metadata(opts.dir.join("polaris.log.1"))
                .unwrap()
                .len(),
            LOG_ROTATE_BYTES + 1
        );
    }
}
