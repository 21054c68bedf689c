//! `logagent`: the platform's log agent (see the crate's `lib.rs` for its layout). `main`
//! parses the flags, runs `-t` (check the configuration) or `-T` (read once, print, commit
//! nothing), or starts the agent: control socket bound, daemonised, readiness told to systemd,
//! then the reading loop until SIGTERM/SIGINT.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context as _;
use clap::Parser;
use logagent::agent::Agent;
use logagent::cli::Cli;
use logagent::config::Config;
use logagent::state::State;
use logagent::{control, sink};

fn main() -> ExitCode {
    agentkit::share_one_malloc_arena();
    // Batch bodies and reads of long records are mapped and unmapped, not kept in the heap:
    // the agent's RSS into Polaris (P5) was 9.7-10.1 MB with glibc's moving threshold, 8.7 MB
    // with this.
    agentkit::map_large_allocations(64 * 1024);
    let cli = Cli::parse();
    if cli.test_config {
        let _ = agentkit::init_logging(cli.agent.log.as_deref(), "info", "LOGAGENT_LOG");
        let checked = Config::load(&cli.agent.config)
            .map_err(anyhow::Error::from)
            .and_then(|config| check_more(&config));
        return agentkit::check_verdict("logagent", checked);
    }
    let config = match Config::load(&cli.agent.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("logagent: {e}");
            return ExitCode::FAILURE;
        }
    };
    // -T prints to the terminal: its log goes to stderr unless -L says otherwise.
    let logging = if cli.test_read {
        agentkit::init_logging(cli.agent.log.as_deref(), &config.log_level, "LOGAGENT_LOG")
    } else {
        cli.agent.init_logging(&config.log_level)
    };
    if let Err(e) = logging {
        eprintln!("logagent: {e:#}");
        return ExitCode::FAILURE;
    }
    let result = if cli.test_read {
        test_read(config)
    } else {
        run(&cli, config)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("logagent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What `-t` checks beyond the file itself: the writers can be built (Polaris's and the
/// syslog server's CA, certificates and keys readable).
fn check_more(config: &Config) -> anyhow::Result<()> {
    sink::writers(config)?;
    Ok(())
}

/// `-T`: every source read once from its saved offsets, records printed as JSON lines.
fn test_read(config: Config) -> anyhow::Result<()> {
    let db = config.db_path();
    let state = if db.exists() {
        Some(State::open(&config.state_dir)?)
    } else {
        None
    };
    let mut agent = Agent::new(config, state, false)?;
    let mut out = std::io::stdout().lock();
    agent.read_once(&mut |record| {
        use std::io::Write as _;
        if let Ok(line) = serde_json::to_string(record) {
            let _ = writeln!(out, "{line}");
        }
    })
}

fn run(cli: &Cli, config: Config) -> anyhow::Result<()> {
    let mut writers = sink::writers(&config)?;
    let state = State::open(&config.state_dir)?;
    let access = agentkit::socket::SocketAccess::new(config.socket_group.as_deref())?;
    let listener = control::bind(&config.socket, &access)?;
    let _socket = control::SocketFile(config.socket.clone());
    let _pid = cli.agent.detach()?;
    tracing::info!("logagent {} starting.", env!("CARGO_PKG_VERSION"));
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone()).context("install signal handlers")?;
    }
    let mut agent = Agent::new(config, Some(state), true)?;
    let snapshot = agent.snapshot.clone();
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || control::serve(listener, access, snapshot))?;
    agentkit::systemd::notify_ready();
    agent.run(&mut writers, &stop)?;
    tracing::info!("logagent stopped.");
    Ok(())
}
