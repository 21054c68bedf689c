//! What to run and how: [`ProgramSpec`] and its parts, with the seed's spellings
//! (`kill:TERM`, `process:<cmd>`, `process`/`socket`/a command, `5%`, `100M`).
//!
//! Parsing only; the runner (`runner`) gives the fields their meaning.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// How a program is run.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Kept up: checked, restarted with back-off, `Fatal` after `max_retries` (a daemon, an
    /// agent).
    #[default]
    Service,
    /// Runs once (a task, a cron run): started, watched, its end recorded (state
    /// [`crate::State::Finished`], with its exit status when the supervisor saw it), never
    /// started again. Unless it exited with status 0, what it left behind in its session is
    /// killed when it ends. Start delay, checks, retries and cool-down do not apply.
    Once,
}

/// Everything the supervisor needs to run one program. Serialised as JSON (durations in
/// seconds) in the run-state files, so an adopting supervisor knows what it adopts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default)]
pub struct ProgramSpec {
    /// Unique name: 1–64 of `A-Z a-z 0-9 . _ + -`, not starting with `.` or `-` ([`check_name`]).
    pub name: String,
    /// A service (the default) or a program that runs once.
    pub kind: Kind,
    /// Shell command (`/bin/sh -c`) that runs the program in the foreground.
    pub start: String,
    /// How to stop it (default `kill:TERM`).
    pub stop: StopSpec,
    /// After this long in a stop, the whole process group gets SIGKILL (default 10 s).
    #[serde(with = "secs")]
    pub stop_timeout: Duration,
    /// Shell command that must succeed before each start.
    pub precheck: Option<String>,
    /// How many times a failing precheck is run again (1 s apart) before the start fails.
    pub precheck_retries: u32,
    /// How long after the start the first [`CheckSpec`] decides whether it started (default 1 s).
    #[serde(with = "secs")]
    pub start_delay: Duration,
    /// How to tell it is healthy (default: the process is alive).
    pub check: CheckSpec,
    /// Time between checks while running; zero turns periodic checks off (default 10 s).
    #[serde(with = "secs")]
    pub check_interval: Duration,
    /// The program writes its main pid here (it may then fork away from its start command).
    pub pidfile: Option<PathBuf>,
    /// Run as this user (with its supplementary groups); default: the supervisor's user.
    pub user: Option<String>,
    /// Run with this group; default: the user's primary group.
    pub group: Option<String>,
    /// The program's environment, over a clean one (`PATH` of [`crate::CLEAN_PATH`], `LANG`,
    /// `LC_ALL`, `TZ` from the supervisor; `USER`, `LOGNAME`, `HOME` of `user`): nothing else
    /// of the supervisor's environment reaches the program.
    pub env: BTreeMap<String, String>,
    /// CPU and memory limits.
    pub limits: Limits,
    /// Working directory (default: the supervisor's).
    pub workdir: Option<PathBuf>,
    /// stdout and stderr are appended here (default: /dev/null).
    pub log: Option<PathBuf>,
    /// Failed starts or crashes retried (1, 2, 4 … s apart, at most 60 s) before `Fatal`.
    pub max_retries: u32,
    /// How long `Fatal` and `Killed` wait before starting again (default 10 min).
    #[serde(with = "secs")]
    pub fatal_cooldown: Duration,
}

impl Default for ProgramSpec {
    fn default() -> Self {
        ProgramSpec {
            name: String::new(),
            kind: Kind::Service,
            start: String::new(),
            stop: StopSpec::Kill(libc::SIGTERM),
            stop_timeout: Duration::from_secs(10),
            precheck: None,
            precheck_retries: 0,
            start_delay: Duration::from_secs(1),
            check: CheckSpec::Process,
            check_interval: Duration::from_secs(10),
            pidfile: None,
            user: None,
            group: None,
            env: BTreeMap::new(),
            limits: Limits::default(),
            workdir: None,
            log: None,
            max_retries: 3,
            fatal_cooldown: Duration::from_secs(600),
        }
    }
}

impl ProgramSpec {
    /// A spec with defaults for everything but the name and the start command.
    pub fn new(name: impl Into<String>, start: impl Into<String>) -> ProgramSpec {
        ProgramSpec {
            name: name.into(),
            start: start.into(),
            ..ProgramSpec::default()
        }
    }

    /// Refuses names that cannot be a file or cgroup name and an empty start command.
    pub fn validate(&self) -> Result<(), Error> {
        validate_name(&self.name)?;
        if self.start.trim().is_empty() {
            return Err(Error::InvalidSpec(format!(
                "`{}`: the start command is empty",
                self.name
            )));
        }
        Ok(())
    }
}

/// Checks a program name; see [`check_name`] for the rule.
pub fn validate_name(name: &str) -> Result<(), Error> {
    check_name("program name", name).map_err(Error::InvalidSpec)
}

/// Longest name [`check_name`] accepts.
pub const MAX_NAME: usize = 64;

/// The one check of every name the agents turn into a path (agent and daemon names, package
/// versions): 1 to 64 of `A-Z a-z 0-9 . _ + -`, not starting with `.` or `-`. So no `/`, no
/// `..`, no NUL, nothing absolute, nothing empty, nothing a shell or `getopt` reads as an option.
/// The error names `what` and the value (shown escaped, cut at 80 characters).
pub fn check_name(what: &str, value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= MAX_NAME
        && !value.starts_with(['.', '-'])
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    if ok {
        return Ok(());
    }
    let mut shown: String = value.escape_debug().take(80).collect();
    if shown.len() < value.escape_debug().count() {
        shown.push('…');
    }
    Err(format!(
        "{what} `{shown}` must be 1 to {MAX_NAME} of letters, digits and . _ + - (not starting with . or -)"
    ))
}

/// How a program is stopped. Text form: `kill:<signal>` (name with or without `SIG`, or
/// number), `process:<command>`, or any other text as a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopSpec {
    /// Send this signal (a number) to the program's process group.
    Kill(i32),
    /// Run this shell command (with `SUPERVISE_PID` set to the program's pid).
    Command(String),
}

impl StopSpec {
    /// Parses the seed's text form.
    pub fn parse(text: &str) -> Result<StopSpec, Error> {
        let text = text.trim();
        if let Some(sig) = text.strip_prefix("kill:") {
            return parse_signal(sig).map(StopSpec::Kill);
        }
        if text == "kill" {
            return Ok(StopSpec::Kill(libc::SIGTERM));
        }
        let cmd = text.strip_prefix("process:").unwrap_or(text).trim();
        if cmd.is_empty() {
            return Err(Error::InvalidSpec("empty stop command".into()));
        }
        Ok(StopSpec::Command(cmd.to_string()))
    }
}

impl fmt::Display for StopSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopSpec::Kill(sig) => match signal_name(*sig) {
                Some(name) => write!(f, "kill:{name}"),
                None => write!(f, "kill:{sig}"),
            },
            StopSpec::Command(cmd) => write!(f, "process:{cmd}"),
        }
    }
}

const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("TERM", libc::SIGTERM),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("WINCH", libc::SIGWINCH),
];

fn signal_name(sig: i32) -> Option<&'static str> {
    SIGNALS
        .iter()
        .find(|(_, n)| *n == sig)
        .map(|(name, _)| *name)
}

/// Parses `TERM`, `SIGTERM`, `term` or `15`.
pub fn parse_signal(text: &str) -> Result<i32, Error> {
    let upper = text.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((_, n)) = SIGNALS.iter().find(|(s, _)| *s == name) {
        return Ok(*n);
    }
    match name.parse::<i32>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => Err(Error::InvalidSpec(format!("unknown signal `{text}`"))),
    }
}

/// How the supervisor tells the program is healthy. Text form: `process`, `socket:<path>`,
/// or a shell command (exit 0 = healthy).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum CheckSpec {
    /// The process (from the pidfile when there is one) is alive.
    #[default]
    Process,
    /// This unix socket accepts a connection.
    Socket(PathBuf),
    /// This shell command exits 0.
    Command(String),
}

impl CheckSpec {
    /// Parses the seed's `check` field; `socket` alone takes the seed's separate `socket` field.
    pub fn parse(text: &str, socket: Option<&str>) -> Result<CheckSpec, Error> {
        let text = text.trim();
        match text {
            "" | "process" => Ok(CheckSpec::Process),
            "socket" => match socket.map(str::trim).filter(|s| !s.is_empty()) {
                Some(path) => Ok(CheckSpec::Socket(PathBuf::from(path))),
                None => Err(Error::InvalidSpec(
                    "check `socket` needs the `socket` path".into(),
                )),
            },
            _ => match text.strip_prefix("socket:") {
                Some(path) if !path.trim().is_empty() => {
                    Ok(CheckSpec::Socket(PathBuf::from(path.trim())))
                }
                Some(_) => Err(Error::InvalidSpec("empty socket path".into())),
                None => Ok(CheckSpec::Command(text.to_string())),
            },
        }
    }
}

impl fmt::Display for CheckSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckSpec::Process => f.write_str("process"),
            CheckSpec::Socket(path) => write!(f, "socket:{}", path.display()),
            CheckSpec::Command(cmd) => f.write_str(cmd),
        }
    }
}

macro_rules! text_serde {
    ($ty:ty, $parse:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                $parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}
text_serde!(StopSpec, StopSpec::parse);
text_serde!(CheckSpec, |t: &str| CheckSpec::parse(t, None));

/// Resource limits. JSON form is the seed's: `{"hits": 5, "cpu": "5%", "memory": "100M"}`
/// (`CPU` accepted too, as in BootAgent jobs).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Limits {
    /// CPU time as a percentage of one core (`150` = one and a half cores).
    pub cpu_percent: Option<f64>,
    /// Resident memory of the whole program (all its processes) in bytes.
    pub memory_bytes: Option<u64>,
    /// Consecutive over-limit samples tolerated by the sampler before the kill (0 counts as 1).
    pub hits: u32,
}

impl Limits {
    /// Whether any limit is set.
    pub fn is_empty(&self) -> bool {
        self.cpu_percent.is_none() && self.memory_bytes.is_none()
    }
}

#[derive(Serialize, Deserialize, Default)]
struct LimitsText {
    #[serde(default, skip_serializing_if = "is_zero")]
    hits: u32,
    #[serde(default, alias = "CPU", skip_serializing_if = "Option::is_none")]
    cpu: Option<String>,
    #[serde(
        default,
        alias = "MEMORY",
        alias = "mem",
        skip_serializing_if = "Option::is_none"
    )]
    memory: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Serialize for Limits {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        LimitsText {
            hits: self.hits,
            cpu: self.cpu_percent.map(|p| format!("{p}%")),
            memory: self.memory_bytes.map(|b| b.to_string()),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Limits {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = LimitsText::deserialize(d)?;
        let parse = || -> Result<Limits, Error> {
            Ok(Limits {
                cpu_percent: text.cpu.as_deref().map(parse_percent).transpose()?,
                memory_bytes: text.memory.as_deref().map(parse_bytes).transpose()?,
                hits: text.hits,
            })
        };
        parse().map_err(serde::de::Error::custom)
    }
}

/// Parses `5%`, `5` or `0.5%` (of one core); must be above zero.
pub fn parse_percent(text: &str) -> Result<f64, Error> {
    let t = text.trim();
    let n = t.strip_suffix('%').unwrap_or(t).trim();
    match n.parse::<f64>() {
        Ok(p) if p.is_finite() && p > 0.0 => Ok(p),
        _ => Err(Error::InvalidSpec(format!("bad CPU limit `{text}`"))),
    }
}

/// Parses `100M`, `20M`, `1G`, `512K`, `100MB`, `1GiB` or plain bytes (binary units).
pub fn parse_bytes(text: &str) -> Result<u64, Error> {
    let t = text.trim().to_ascii_uppercase();
    let t = t
        .strip_suffix("IB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(&t);
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'K')) => (&t[..i], 1u64 << 10),
        Some((i, 'M')) => (&t[..i], 1 << 20),
        Some((i, 'G')) => (&t[..i], 1 << 30),
        Some((i, 'T')) => (&t[..i], 1 << 40),
        _ => (t, 1),
    };
    match num.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok((n * mult as f64) as u64),
        _ => Err(Error::InvalidSpec(format!("bad memory limit `{text}`"))),
    }
}

/// Durations as (fractional) seconds in JSON.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_forms_of_the_seed_parse() {
        assert_eq!(
            StopSpec::parse("kill:TERM").unwrap(),
            StopSpec::Kill(libc::SIGTERM)
        );
        assert_eq!(
            StopSpec::parse("kill:SIGKILL").unwrap(),
            StopSpec::Kill(libc::SIGKILL)
        );
        assert_eq!(StopSpec::parse("kill:9").unwrap(), StopSpec::Kill(9));
        assert_eq!(
            StopSpec::parse("process:/path/stop -q").unwrap(),
            StopSpec::Command("/path/stop -q".into())
        );
        assert_eq!(
            StopSpec::parse("/path/stop").unwrap(),
            StopSpec::Command("/path/stop".into())
        );
        assert!(StopSpec::parse("kill:NOPE").is_err());
        assert!(StopSpec::parse("process:").is_err());
        assert_eq!(StopSpec::Kill(libc::SIGTERM).to_string(), "kill:TERM");
    }

    #[test]
    fn check_forms_parse() {
        assert_eq!(
            CheckSpec::parse("process", None).unwrap(),
            CheckSpec::Process
        );
        assert_eq!(
            CheckSpec::parse("socket", Some("/run/p.sock")).unwrap(),
            CheckSpec::Socket("/run/p.sock".into())
        );
        assert!(CheckSpec::parse("socket", None).is_err());
        assert_eq!(
            CheckSpec::parse("/bin/check --ok", None).unwrap(),
            CheckSpec::Command("/bin/check --ok".into())
        );
    }

    #[test]
    fn limits_take_the_seed_and_bootagent_spellings() {
        let l: Limits = serde_json::from_str(r#"{"hits":5,"cpu":"5%","memory":"100M"}"#).unwrap();
        assert_eq!(
            l,
            Limits {
                cpu_percent: Some(5.0),
                memory_bytes: Some(100 << 20),
                hits: 5
            }
        );
        let l: Limits = serde_json::from_str(r#"{"CPU":"10%","memory":"20M"}"#).unwrap();
        assert_eq!(
            (l.cpu_percent, l.memory_bytes),
            (Some(10.0), Some(20 << 20))
        );
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512k").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_percent("-5%").is_err());
        let back: Limits = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
        assert_eq!(back, l);
    }

    #[test]
    fn spec_round_trips_through_json() {
        let mut spec = ProgramSpec::new("web", "exec sleep 100");
        spec.stop = StopSpec::Command("kill $SUPERVISE_PID".into());
        spec.start_delay = Duration::from_millis(250);
        spec.limits.memory_bytes = Some(1 << 20);
        let text = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<ProgramSpec>(&text).unwrap(), spec);
    }

    #[test]
    fn names_must_be_file_names() {
        assert!(validate_name("nodus-1.2_x").is_ok());
        for bad in ["", ".hidden", "a/b", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert!(check_name("agent name", "gearman+1.0").is_ok());
        for bad in [
            "/",
            "..",
            "a/../../b",
            "/etc",
            "a\0b",
            "-rf",
            "a b",
            &"y".repeat(300),
        ] {
            let err = check_name("agent name", bad).unwrap_err();
            assert!(err.starts_with("agent name `"), "{err}");
            assert!(err.chars().count() < 200, "{err}");
        }
    }
}
