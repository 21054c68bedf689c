//! `secureagent`: file and directory integrity like AIDE (see the crate's `lib.rs` for its
//! layout). `main` parses the flags, runs `-t` (check the configuration and the rules) or one
//! of `--init`, `--check`, `--update`, and exits with AIDE's exit code.

use std::process::ExitCode;

use clap::Parser;
use secureagent::cli::Cli;
use secureagent::config::Config;
use secureagent::run::{self, Verb};

fn main() -> ExitCode {
    agentkit::share_one_malloc_arena();
    let cli = Cli::parse();
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
    let verb = match (cli.init, cli.check, cli.update) {
        (true, _, _) => Verb::Init,
        (_, _, true) => Verb::Update,
        (_, true, _) => Verb::Check,
        _ => {
            eprintln!(
                "secureagent: one of --init, --check, --update or -t is needed (the daemon mode is not there yet)"
            );
            return ExitCode::from(15);
        }
    };
    // The log (-L, and the daemon's default) and the PID file are the agent's own.
    let mut own: Vec<_> = cli
        .agent
        .log
        .iter()
        .chain(cli.agent.pid.iter())
        .cloned()
        .collect();
    own.push(default_log());
    let mut out = std::io::stdout().lock();
    match run::run(&config, &rules, verb, cli.json, &own, &mut out) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("secureagent: {e}");
            ExitCode::from(e.code)
        }
    }
}

/// The log file of the agent as a daemon (`/var/log/cargo/secureagent.log`).
fn default_log() -> std::path::PathBuf {
    use agentkit::AgentDefaults as _;
    format!("/var/log/cargo/{}.log", secureagent::cli::SecureAgent::NAME).into()
}
