//! nodus, the platform's metrics agent, modelled on collectd: read plugins collect values on
//! their own schedule, every value list is checked against types.db, and each write plugin
//! drains its own bounded queue.
//!
//! Layout:
//! - `config`: the TOML configuration and its defaults.
//! - `plugins`: finding the configured `.so` files and building each plugin's init context.
//! - `agent`: the running agent: workers, threads, control requests.
//! - `worker`: one plugin's shared state (run state, counters, write queue).
//! - `reader` / `writer`: the thread of a read / write plugin.
//! - `schedule`: pure interval rules (penalty doubling); `queue`: the watermark queue.
//! - `dispatch`: stamp, check against types.db, fan out to writers.
//! - `control`: the unix socket `nodusctl` talks to.
//! - `check` (`-t`) and `once` (`-T`): the same code paths, run once.

mod agent;
mod check;
mod config;
mod control;
mod dispatch;
mod once;
mod plugins;
mod queue;
mod reader;
mod schedule;
mod worker;
mod writer;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use agentkit::{AgentArgs, AgentDefaults};
use anyhow::Context as _;
use clap::Parser;
use plugin_api::types_db::TypesDb;

use crate::config::Config;
use crate::dispatch::Dispatcher;

/// The environment variable that overrides the plugin directory.
const PLUGIN_DIR_ENV: &str = "NODUS_PLUGIN_DIR";
/// nodus's name, default configuration file and log.
#[derive(Debug)]
struct Nodus;

impl AgentDefaults for Nodus {
    const NAME: &'static str = "nodus";
    const DEFAULT_CONFIG: &'static str = config::DEFAULT_CONFIG;
}

/// nodus: collects metrics through read plugins and hands them to write plugins.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    agent: AgentArgs<Nodus>,
    /// Test the configuration and exit: prints `Success` (exit 0) or `Failed!!!` (exit 1).
    #[arg(short = 't', conflicts_with = "test_read")]
    test_config: bool,
    /// Run every read plugin once, print the values, and exit (1 if any read failed).
    #[arg(short = 'T')]
    test_read: bool,
}

fn main() -> ExitCode {
    agentkit::share_one_malloc_arena();
    let cli = Cli::parse();
    if cli.test_config {
        return test_config(&cli);
    }
    let config = match Config::load(&cli.agent.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("nodus: {e}");
            return ExitCode::FAILURE;
        }
    };
    // -T prints to the terminal: its log goes to stderr unless -L says otherwise.
    let logging = if cli.test_read {
        agentkit::init_logging(cli.agent.log.as_deref(), &config.log_level, "NODUS_LOG")
    } else {
        cli.agent.init_logging(&config.log_level)
    };
    if let Err(e) = logging {
        eprintln!("nodus: {e:#}");
        return ExitCode::FAILURE;
    }
    let result = if cli.test_read {
        test_read(&config)
    } else {
        run(&cli, config)
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("nodus: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn plugin_dir(config: &Config) -> PathBuf {
    plugin_host::dirs::plugin_dir(config.plugin_dir.as_deref(), PLUGIN_DIR_ENV, "nodus")
}

fn hostname(config: &Config) -> String {
    config.hostname.clone().unwrap_or_else(|| {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "localhost".into())
    })
}

fn test_config(cli: &Cli) -> ExitCode {
    let _ = agentkit::init_logging(cli.agent.log.as_deref(), "info", "NODUS_LOG");
    let problems = check::problems(&cli.agent.config, plugin_dir);
    if problems.is_empty() {
        println!("Success");
        return ExitCode::SUCCESS;
    }
    for problem in &problems {
        tracing::error!("{problem}");
        if cli.agent.log.is_some() {
            eprintln!("{problem}");
        }
    }
    println!("Failed!!!");
    ExitCode::FAILURE
}

fn test_read(config: &Config) -> anyhow::Result<ExitCode> {
    let types_db = TypesDb::load(&config.types_db_paths()).context("types.db")?;
    let dispatcher = Dispatcher::new(hostname(config), types_db);
    let names: Vec<String> = config.plugin.keys().cloned().collect();
    let loaded = plugins::load_configured(&plugin_dir(config), &names);
    Ok(if once::run(config, &dispatcher, &loaded) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run(cli: &Cli, config: Config) -> anyhow::Result<ExitCode> {
    let types_db = TypesDb::load(&config.types_db_paths()).context("types.db")?;
    // Bound while nothing else runs: the socket is created under a restrictive umask.
    let access = agentkit::socket::SocketAccess::new(config.socket_group.as_deref())?;
    let listener = control::bind(&config.socket, &access)?;
    let _socket = control::SocketFile(config.socket.clone());
    let _pid = cli.agent.detach()?;
    let dir = plugin_dir(&config);
    tracing::info!(dir = %dir.display(), "nodus {} starting.", env!("CARGO_PKG_VERSION"));
    let dispatcher = Arc::new(Dispatcher::new(hostname(&config), types_db));
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .context("install signal handlers")?;
    let agent = Agent::start(config, dispatcher.clone(), &dir);
    let control_agent = agent.clone();
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || control::serve(listener, access, control_agent))?;
    if let Some(signal) = signals.forever().next() {
        tracing::info!("signal {signal} received, shutting down.");
    }
    agent.shutdown();
    tracing::info!(rejected = dispatcher.rejected(), "nodus stopped.");
    Ok(ExitCode::SUCCESS)
}

use crate::agent::Agent;
