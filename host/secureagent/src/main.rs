//! `secureagent`: file and directory integrity like AIDE (see the crate's `lib.rs` for its
//! layout). `main` parses the flags, runs `-t` (check the configuration and the rules), one
//! of `--init`, `--check`, `--update` (exiting with AIDE's exit code), or with no verb the
//! daemon (`-f`: in the foreground), which checks on the configured schedule (and with
//! `--init-if-missing` first writes the baseline when there is none).

use std::process::ExitCode;

use clap::Parser;
use secureagent::cli::Cli;
use secureagent::config::Config;
use secureagent::rules::Rules;
use secureagent::run::{self, Verb};
use secureagent::{daemon, gentle};

fn main() -> ExitCode {
    agentkit::share_one_malloc_arena();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print to stdout and succeed; wrong usage exits with AIDE's 15.
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(secureagent::cli::EXIT_BAD_ARGUMENTS)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let loaded = Config::load(&cli.agent.config).and_then(|c| {
        let (rules, warnings) = c.load_rules()?;
        Ok((c, rules, warnings))
    });
    if cli.test_config {
        let _ = agentkit::init_logging(cli.agent.log.as_deref(), "info", "SECUREAGENT_LOG");
        let checked = loaded.map(|(c, rules, warnings)| {
            for w in &warnings {
                eprintln!(
                    "secureagent: {}: line {}: warning: {}",
                    c.rules.display(),
                    w.line,
                    w.message
                );
            }
            for rule in rules.all() {
                println!(
                    "line {}: {:?} {} {}",
                    rule.line,
                    rule.kind,
                    rule.pattern,
                    rule.attrs.expression()
                );
            }
        });
        return agentkit::check_verdict("secureagent", checked.map_err(anyhow::Error::from));
    }
    let (config, rules, warnings) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("secureagent: {e}");
            return ExitCode::from(run::EXIT_CONFIG_ERROR);
        }
    };
    let verb = match (cli.init, cli.check, cli.update) {
        (true, _, _) => Verb::Init,
        (_, _, true) => Verb::Update,
        (_, true, _) => Verb::Check,
        _ => return daemon_main(&cli, &config, &rules, &warnings),
    };
    // One-shot verbs print to the terminal: the log goes to stderr unless -L says otherwise.
    if let Err(e) = agentkit::init_logging(
        cli.agent.log.as_deref(),
        &config.log_level,
        "SECUREAGENT_LOG",
    ) {
        eprintln!("secureagent: {e:#}");
        return ExitCode::from(run::EXIT_CONFIG_ERROR);
    }
    for w in &warnings {
        eprintln!(
            "secureagent: {}: line {}: warning: {}",
            config.rules.display(),
            w.line,
            w.message
        );
    }
    // The log (-L, and the daemon's default) and the PID file are the agent's own.
    let mut own: Vec<_> = cli
        .agent
        .log
        .iter()
        .chain(cli.agent.pid.iter())
        .cloned()
        .collect();
    own.push(default_log());
    if let Err(e) = gentle::lower_priority(config.nice, config.io_class) {
        tracing::warn!("Cannot lower the run's priority: {e}.");
    }
    let mut out = std::io::stdout().lock();
    match run::run(&config, &rules, verb, cli.json, &own, &mut out) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("secureagent: {e}");
            ExitCode::from(e.code)
        }
    }
}

/// The daemon: logs (to `-L`, stderr with `-f`, else the default log file), detaches
/// unless `-f`, writes the PID file, lowers its priority, says READY to systemd and checks on
/// the schedule until SIGTERM; exits 0 then.
fn daemon_main(
    cli: &Cli,
    config: &Config,
    rules: &Rules,
    warnings: &[secureagent::rules::RuleWarning],
) -> ExitCode {
    if let Err(e) = cli.agent.init_logging(&config.log_level) {
        eprintln!("secureagent: {e:#}");
        return ExitCode::from(run::EXIT_CONFIG_ERROR);
    }
    for w in warnings {
        tracing::warn!("{}: line {}: {}", config.rules.display(), w.line, w.message);
    }
    let when = match config.when() {
        Ok(when) => when,
        Err(e) => {
            eprintln!("secureagent: {}: {e}", cli.agent.config.display());
            return ExitCode::from(run::EXIT_CONFIG_ERROR);
        }
    };
    let mut own: Vec<_> = cli
        .agent
        .log_file()
        .into_iter()
        .chain(cli.agent.pid.iter().cloned())
        .collect();
    own.push(default_log());
    let _pid = match cli.agent.detach() {
        Ok(pid) => pid,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("secureagent: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    // Before any thread starts: every thread of every run inherits it.
    if let Err(e) = gentle::lower_priority(config.nice, config.io_class) {
        tracing::warn!("Cannot lower the daemon's priority: {e}.");
    }
    tracing::info!(
        schedule = %config.schedule,
        nice = config.nice,
        io_class = ?config.io_class,
        max_read_mib_s = config.max_read_mib_s,
        "secureagent daemon started."
    );
    agentkit::systemd::notify_ready();
    if cli.init_if_missing {
        init_if_missing(config, rules, &own);
    }
    match daemon::serve(config, rules, &when, &own) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("Cannot run the daemon: {e}.");
            ExitCode::FAILURE
        }
    }
}

/// `--init-if-missing`: with no baseline yet, the daemon writes one (reported to Polaris as an
/// `init`) before its first check; its report goes to the log. Failing is logged: the checks
/// then fail as they would have.
fn init_if_missing(config: &Config, rules: &Rules, own: &[std::path::PathBuf]) {
    let paths = secureagent::db::DbPaths::new(&config.database);
    if paths.db.exists() {
        return;
    }
    tracing::info!(
        "No baseline at {}: writing the first one (--init-if-missing).",
        paths.db.display()
    );
    let mut out = Vec::new();
    match run::run(config, rules, Verb::Init, false, own, &mut out) {
        Ok(code) => tracing::info!(
            "First baseline written (exit {code}).\n{}",
            String::from_utf8_lossy(&out)
        ),
        Err(e) => tracing::error!("Cannot write the first baseline: {e} (exit {}).", e.code),
    }
}

/// The log file of the agent as a daemon (`/var/log/cargo/secureagent.log`).
fn default_log() -> std::path::PathBuf {
    use agentkit::AgentDefaults as _;
    format!("/var/log/cargo/{}.log", secureagent::cli::SecureAgent::NAME).into()
}
