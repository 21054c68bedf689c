//! The flags every agent takes (`-C <config> -L <log> -P <pid file> -f`, as the seed gives them)
//! and what they mean at start: where the log goes, daemonising, the PID file.

use std::marker::PhantomData;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::PidFile;

/// What sets one agent's flags apart from another's.
pub trait AgentDefaults {
    /// The agent's name: `/var/log/cargo/<name>.log`, `<NAME>_LOG`.
    const NAME: &'static str;
    /// The configuration file read without `-C`.
    const DEFAULT_CONFIG: &'static str;
}

/// `-C`, `-L`, `-P` and `-f`, flattened into each agent's own clap parser.
#[derive(clap::Args, Debug)]
pub struct AgentArgs<A: AgentDefaults + Send + Sync + 'static> {
    /// Configuration file.
    #[arg(short = 'C', value_name = "FILE", default_value = A::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Log file (default: stderr in the foreground, /var/log/cargo/<program>.log as a daemon).
    #[arg(short = 'L', value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// PID file.
    #[arg(short = 'P', value_name = "FILE")]
    pub pid: Option<PathBuf>,
    /// Stay in the foreground (do not daemonise).
    #[arg(short = 'f')]
    pub foreground: bool,
    #[arg(skip)]
    agent: PhantomData<A>,
}

impl<A: AgentDefaults + Send + Sync + 'static> AgentArgs<A> {
    /// Where logs go: `-L`, else stderr in the foreground, else `/var/log/cargo/<name>.log`.
    pub fn log_file(&self) -> Option<PathBuf> {
        match (&self.log, self.foreground) {
            (Some(log), _) => Some(log.clone()),
            (None, true) => None,
            (None, false) => Some(format!("/var/log/cargo/{}.log", A::NAME).into()),
        }
    }

    /// Starts logging to [`log_file`](Self::log_file) at `level`, unless the environment
    /// variable `<NAME>_LOG` names another level.
    pub fn init_logging(&self, level: &str) -> anyhow::Result<()> {
        let env = format!("{}_LOG", A::NAME.to_uppercase());
        crate::init_logging(self.log_file().as_deref(), level, &env)
    }

    /// Daemonises unless `-f` was given, then writes the PID file if `-P` named one.
    pub fn detach(&self) -> anyhow::Result<Option<PidFile>> {
        if !self.foreground {
            nix::unistd::daemon(false, false).context("daemonise")?;
        }
        self.pid.as_deref().map(PidFile::write).transpose()
    }
}

/// The verdict of an agent's `-t` (configuration check), as collectd and nodus print it:
/// `Success` and exit 0, or the reason on stderr (prefixed with the agent's name), `Failed!!!`
/// and exit 1.
pub fn check_verdict(agent: &str, checked: anyhow::Result<()>) -> std::process::ExitCode {
    match checked {
        Ok(()) => {
            println!("Success");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{agent}: {e:#}");
            println!("Failed!!!");
            std::process::ExitCode::FAILURE
        }
    }
}
