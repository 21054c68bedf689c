//! nodus, the platform's metrics agent, modelled on collectd: read plugins collect values on
//! their own schedule, every value list is checked against types.db, and each write plugin
//! drains its own bounded queue.
//!
//! Layout:
//! - `cli`, `config` and `managed` are the library part (`lib.rs`), which `xtask` reads for
//!   the man pages; the rest is the binary's.
//! - `cli`: the flags.
//! - `config`: the TOML configuration and its defaults.
//! - `plugins`: finding the configured `.so` files, checking each instance's options against
//!   the plugin's schema, and building its init context.
//! - `managed`: what the control socket changed (plugins installed, instance options set),
//!   kept in `managed.json` and laid over the configuration.
//! - `agent`: the running agent: workers, threads, control requests; `install` and
//!   `configure` carry out `plugin_install` and `instance_configure`, each instance checked by
//!   `trial` before it replaces another; `paths`: which files the socket may name; `skipped`:
//!   what did not load or start, and why.
//! - `worker`: one plugin instance's shared state (run state, counters, options, write queue).
//! - `reader` / `writer`: the thread of a read / write plugin.
//! - `schedule`: pure interval rules (penalty doubling); `queue`: the watermark queue.
//! - `dispatch`: stamp, check against types.db, fan out to writers.
//! - `control`: the unix socket `nodusctl` talks to.
//! - `check` (`-t`) and `once` (`-T`): the same code paths, run once.

mod agent;
mod check;
mod configure;
mod control;
mod dispatch;
mod install;
mod once;
mod paths;
mod plugins;
mod queue;
mod reader;
mod schedule;
mod skipped;
mod trial;
mod worker;
mod writer;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use nodus::cli::Cli;
use nodus::{config, managed};
use plugin_api::types_db::TypesDb;

use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::managed::Managed;

/// The environment variable that overrides the plugin directory.
const PLUGIN_DIR_ENV: &str = "NODUS_PLUGIN_DIR";

fn main() -> ExitCode {
    agentkit::share_one_malloc_arena();
    let cli = Cli::parse();
    if cli.test_config {
        return test_config(&cli);
    }
    let mut config = match Config::load(&cli.agent.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("nodus: {e}");
            return ExitCode::FAILURE;
        }
    };
    let managed = match Managed::load(&managed::file(&config)) {
        Ok(managed) => managed,
        Err(e) => {
            eprintln!("nodus: {e}");
            return ExitCode::FAILURE;
        }
    };
    let notes = config.apply(&managed);
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
    for note in notes {
        tracing::warn!("{note}.");
    }
    let result = if cli.test_read {
        test_read(&config)
    } else {
        run(&cli, config, managed)
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
    let loaded = plugins::load_configured(&plugin_dir(config), &config.plugin_names());
    Ok(if once::run(config, &dispatcher, &loaded) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run(cli: &Cli, config: Config, managed: Managed) -> anyhow::Result<ExitCode> {
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
    let agent = Agent::start(config, managed, dispatcher.clone(), &dir);
    let control_agent = agent.clone();
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || control::serve(listener, access, control_agent))?;
    agentkit::systemd::notify_ready();
    if let Some(signal) = signals.forever().next() {
        tracing::info!("signal {signal} received, shutting down.");
    }
    agent.shutdown();
    tracing::info!(rejected = dispatcher.rejected(), "nodus stopped.");
    Ok(ExitCode::SUCCESS)
}

use crate::agent::Agent;
