//! `bootagent`: the BootAgent binary. Flags as the seed's `./boot -L /tmp/booter.log -P
//! /tmp/booter.pid -f`, plus `-C <config>`; without `-f` it daemonises.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bootagent::cli::Cli;
use bootagent::client::Client;
use bootagent::config::Config;
use bootagent::daemon::Daemon;
use bootagent::identity::Identity;
use bootagent::layout::Layout;
use bootagent::manager::Manager;
use bootagent::spool::Spool;
use bootagent::state::StateFile;
use clap::Parser;
use fetch::Fetcher;

fn main() -> ExitCode {
    agentkit::share_one_malloc_arena();
    let cli = Cli::parse();
    if cli.test_config {
        return test_config(&cli);
    }
    let config = match Config::load(&cli.agent.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("bootagent: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = cli.agent.init_logging("info") {
        eprintln!("bootagent: {e:#}");
        return ExitCode::FAILURE;
    }
    match start(&cli, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("bootagent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `-t`: the configuration, its CA and its release key, as `start` reads them, without
/// starting, enrolling or writing anything.
fn test_config(cli: &Cli) -> ExitCode {
    let checked = Config::load(&cli.agent.config).and_then(|config| {
        bootagent::http_agent(&config, None)?;
        config.release_key().map_err(anyhow::Error::msg)?;
        Ok(())
    });
    agentkit::check_verdict("bootagent", checked)
}

fn start(cli: &Cli, config: Config) -> anyhow::Result<()> {
    let dir = &config.state_dir.clone();
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let timeout = Duration::from_secs(config.timeout);
    if config.insecure {
        tracing::warn!(
            "INSECURE: insecure = true allows plain http:// servers and unpinned https; \
             for labs only, never on a fleet."
        );
    }
    let identity = Identity::new(&config.identity_dir, config.identity_group.as_deref())?;
    // Checked before daemonising, so a wrong CA file is reported on the terminal. Polaris and
    // its package server answer directly: a redirect is an error to report.
    let agent = bootagent::http_agent(&config, Some(&identity))?;
    let release_key = config.release_key().map_err(anyhow::Error::msg)?;
    let state = StateFile::open(dir)?;
    let spool = Spool::open(dir)?;
    let enroll_only = cli.enroll;
    let _pid = if enroll_only {
        None
    } else {
        Some(cli.agent.detach()?)
    };
    // One thread: the BootAgent waits on timers, HTTP and its children; downloads, unpacking
    // and status posts run on tokio's blocking pool.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(async move {
        let supervisor = supervise::Supervisor::new(&dir.join("supervise"));
        let credentials = config
            .package_user
            .clone()
            .map(|user| (user, config.package_password.clone().unwrap_or_default()));
        let log_dir = dir.join("logs");
        std::fs::create_dir_all(&log_dir)
            .with_context(|| format!("create {}", log_dir.display()))?;
        let manager = Manager {
            supervisor,
            layout: Layout::new(dir),
            state,
            fetcher: Arc::new(Fetcher::new(agent.clone(), credentials, timeout)),
            download_dir: dir.join("downloads"),
            log_dir,
            watch: Duration::from_secs_f64(config.upgrade_watch),
            release_key: release_key.map(Arc::new),
        };
        tracing::info!(hostname = %config.hostname(), "{} starting.", bootagent::daemon::version());
        match &manager.release_key {
            Some(key) => {
                tracing::info!(key = %key.id(), "Packages must be signed by the release key.")
            }
            None => tracing::warn!("No release_key: packages are not signature-checked."),
        }
        let daemon = Daemon {
            config: config.clone(),
            manager,
            spool,
            client: Arc::new(Client::new(agent)),
            identity,
            started: Instant::now(),
        };
        if enroll_only {
            return daemon.enroll_once().await;
        }
        agentkit::systemd::notify_ready();
        daemon.run(shutdown_signal()).await;
        anyhow::Ok(())
    })
}

/// Waits for SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!("{name} received, shutting down.");
}
