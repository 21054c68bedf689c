//! `gearman`: the BasicAgent binary. Flags as the other agents: `-C <config>`, `-L <log>`,
//! `-P <pid file>`, `-f` (foreground; otherwise it daemonises).
//!
//! `gearman __run-task <dir>` is internal: the detached runner of one task (see `tasks`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use agentkit::signature::ReleaseKey;
use anyhow::Context as _;
use clap::Parser;
use gearman::agent::{Agent, AgentOptions};
use gearman::bridge::AgentLink;
use gearman::cli::Cli;
use gearman::config::Config;
use gearman::link::{self, LinkConfig};
use gearman::plugins::PluginOptions;

/// The environment variable that overrides the plugin directory.
const PLUGIN_DIR_ENV: &str = "GEARMAN_PLUGIN_DIR";

fn main() -> ExitCode {
    agentkit::share_one_malloc_arena();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__run-task") {
        return gearman::tasks::shim_main(&args[2..]);
    }
    let cli = Cli::parse();
    if cli.test_config {
        return test_config(&cli);
    }
    let config = match Config::load(&cli.agent.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("gearman: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = cli.agent.init_logging("info") {
        eprintln!("gearman: {e:#}");
        return ExitCode::FAILURE;
    }
    match start(&cli, config) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("gearman: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `-t`: everything `start` checks before it daemonises, without starting anything.
fn test_config(cli: &Cli) -> ExitCode {
    let checked = Config::load(&cli.agent.config).and_then(|config| {
        link::parse_list(&config.server, config.port).map_err(anyhow::Error::msg)?;
        link::client_config(&config.ca, &config.cert, &config.key)?;
        config.release_key().map_err(anyhow::Error::msg)?;
        Ok(())
    });
    agentkit::check_verdict("gearman", checked)
}

fn start(cli: &Cli, config: Config) -> anyhow::Result<ExitCode> {
    // Checked before daemonising, so a wrong CA, key or release key is reported on the terminal.
    let tls = link::client_config(&config.ca, &config.cert, &config.key)?;
    let release_key = config.release_key().map_err(anyhow::Error::msg)?;
    let _pid = cli.agent.detach()?;
    // One thread runs the agent: its work is waiting (sockets, children, timers); blocking work
    // (plugin calls, downloads, the task sweep) goes to tokio's blocking pool, whose threads
    // end after 2 s idle (tokio's default is 10 s). No idle workers, no per-thread heaps: most
    // of an idle agent's memory is then its code.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .thread_keep_alive(Duration::from_secs(2))
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(run(config, tls, release_key))
}

async fn run(
    config: Config,
    tls: Arc<rustls::ClientConfig>,
    release_key: Option<ReleaseKey>,
) -> anyhow::Result<ExitCode> {
    let servers = link::parse_list(&config.server, config.port).map_err(anyhow::Error::msg)?;
    let tls_name = config
        .tls_name
        .clone()
        .unwrap_or_else(|| servers[0].host.clone());
    let plugin_dir =
        plugin_host::dirs::plugin_dir(config.plugin_dir.as_deref(), PLUGIN_DIR_ENV, "gearman");
    // Bound first, while nothing else runs: the socket is created under a restrictive umask.
    let access = agentkit::socket::SocketAccess::new(config.socket_group.as_deref())?;
    let listener = gearman::local::bind(&config.socket, &access)?;
    let agent = Agent::open(AgentOptions {
        state_dir: config.state_dir.clone(),
        plugin_dir,
        // The running image, even after an upgrade replaced the file on disk.
        exe: PathBuf::from("/proc/self/exe"),
        kill_grace: Duration::from_secs(config.kill_grace),
        plugins: PluginOptions {
            nodus_socket: config.nodus_socket.clone(),
            nodus_plugin_dir: config.nodus_plugin_dir.clone(),
            release_key,
            downloads: gearman::plugins::Downloads {
                ca: Some(config.ca.clone()),
                credentials: config
                    .package_user
                    .clone()
                    .map(|user| (user, config.package_password.clone().unwrap_or_default())),
            },
        },
    })?;
    let hostname = config.hostname();
    tracing::info!(%hostname, "gearman {} starting.", env!("CARGO_PKG_VERSION"));
    let socket = config.socket.clone();
    let local_agent = agent.clone();
    tokio::spawn(async move {
        if let Err(e) = gearman::local::serve(listener, access, local_agent).await {
            tracing::error!("local socket {}: {e:#}", socket.display());
        }
    });
    agentkit::systemd::notify_ready();
    let link_config = LinkConfig {
        hostname,
        version: format!("gearman-{}", env!("CARGO_PKG_VERSION")),
        servers,
        default_port: config.port,
        tls_name,
        tls,
        hosts_file: config.hosts_file.clone(),
        heartbeat: Duration::from_secs(config.heartbeat),
        backoff_min: Duration::from_millis(500),
        backoff_max: Duration::from_secs(config.backoff_max),
        connect_timeout: Duration::from_secs(config.connect_timeout),
    };
    tokio::select! {
        () = link::run(link_config, Arc::new(AgentLink(agent))) => {}
        signal = shutdown_signal() => tracing::info!("{signal} received, shutting down."),
    }
    let _ = std::fs::remove_file(&config.socket);
    Ok(ExitCode::SUCCESS)
}

/// Waits for SIGTERM or SIGINT and names it.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
