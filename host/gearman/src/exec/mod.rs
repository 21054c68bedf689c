//! Runs one shell command the way the seed asks: `bash -c <cmd>` as a user, in its own process
//! group, stdout and stderr through one pipe capped at 64 KiB, stopped after its timeout.
//!
//! How a run ends, as [`wire::CommandResult`] (see the README's retcode table):
//! - it exited by itself: retcode 2 "Normal termination", `exit_status` set, `resp` "success"
//!   only for status 0;
//! - a signal we did not send ended it: 3027 with `signal`;
//! - its timeout passed: SIGTERM to the whole group, SIGKILL to the group `kill_grace` later
//!   (so `trap '' INT TERM` does not save it): 3026 "Timed out after N s", partial output in
//!   `data`;
//! - it was stopped on request ([`run_with`]'s `stop`): the same TERM/KILL sequence, 3027
//!   "Stopped on request";
//! - it could not be started (user switch, fork, exec): 3028 with the OS error.
//!
//! `data` is the output as a string (lossy UTF-8); past [`OUTPUT_CAP`] bytes the rest is read
//! and counted in `dropped_bytes`, never left in the pipe, so the child never blocks. When the
//! command exits but a background child still holds the pipe (`sleep 100 &`), the rest is
//! read for at most 200 ms; the background child is left running.
//!
//! The command gets a small environment: `PATH` (the agent's, else a standard one), `LANG`,
//! `LC_ALL` and `TZ` when the agent has them, `HOME`, `USER`, `LOGNAME` and `SHELL` of the user,
//! then the spec's `env`; stdin is `/dev/null` and the working directory the user's home (or
//! `/`). A child whose `exec` fails exits at once through std's spawn (the parent gets the
//! error); the only code run between fork and exec is `setgroups`, `setgid`, `setuid`.

mod user;

use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::time::{Instant, sleep_until};
use wire::params::Exec;
use wire::{CommandError, CommandResult, ExecStatus, Resp, retcode};

pub(crate) use user::{Credentials, ResolveError, resolve};

/// Output kept per run; the rest is counted in `dropped_bytes`.
pub const OUTPUT_CAP: usize = 64 * 1024;
/// Seconds before a command is stopped when the request names no `timeout`.
pub const DEFAULT_TIMEOUT_SECS: u64 = wire::params::DEFAULT_TIMEOUT_SECS;
/// How long output is still read after the command exited (background children may hold the
/// pipe open forever).
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);
/// `PATH` when the agent has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Variables passed on from the agent's own environment.
const PASSED_ENV: [&str; 3] = ["LANG", "LC_ALL", "TZ"];

/// One shell command to run: what, for how long, as whom.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RunSpec {
    /// The command line, run as `bash -c <cmd>`.
    pub cmd: String,
    /// Time allowed before TERM (then KILL) goes to the command's process group.
    pub timeout: Duration,
    /// The user to run as.
    pub user: String,
    /// The group to run as; `None` is the user's primary group.
    pub group: Option<String>,
    /// Extra environment variables, set after the standard ones.
    pub env: Vec<(String, String)>,
}

impl RunSpec {
    /// From a command's typed parameters (`cmd` non-blank and `timeout` at least 1 were
    /// checked when it was parsed): `timeout` default 120 s, `user` default root, `group`
    /// default the user's primary group. An unknown user or group is 3021 ("Invalid params:
    /// no such user `x`"), a failing lookup 3028.
    pub fn from_exec(exec: &Exec) -> Result<RunSpec, CommandError> {
        if exec.cmd.trim().is_empty() {
            return Err(CommandError::InvalidParams(
                "`cmd` is required and must not be empty".into(),
            ));
        }
        let timeout = match exec.timeout {
            Some(0) => {
                return Err(CommandError::InvalidParams(
                    "`timeout` must be at least 1 s".into(),
                ));
            }
            _ => exec.timeout_secs(),
        };
        let user = exec.user.clone().unwrap_or_else(|| "root".into());
        let group = exec.group.clone().filter(|g| !g.is_empty());
        match resolve(&user, group.as_deref()) {
            Ok(_) => {}
            Err(ResolveError::Unknown(msg)) => return Err(CommandError::InvalidParams(msg)),
            Err(ResolveError::System(msg)) => return Err(CommandError::NotStarted(msg)),
        }
        Ok(RunSpec {
            cmd: exec.cmd.clone(),
            timeout: Duration::from_secs(timeout),
            user,
            group,
            env: Vec::new(),
        })
    }
}

/// Runs `spec` to its end (see the module documentation); never panics.
pub async fn run(spec: &RunSpec, kill_grace: Duration) -> CommandResult {
    run_with(spec, kill_grace, std::future::pending(), |_| {}).await
}

/// [`run`], plus: `stop` resolving stops the command like a timeout (3027 "Stopped on
/// request"), and `on_spawn` gets the command's pid, which is also its process group id.
pub async fn run_with(
    spec: &RunSpec,
    kill_grace: Duration,
    stop: impl Future<Output = ()>,
    on_spawn: impl FnOnce(u32),
) -> CommandResult {
    let started = Instant::now();
    let spawned = match resolve(&spec.user, spec.group.as_deref()) {
        Ok(creds) => spawn(spec, &creds),
        Err(ResolveError::Unknown(msg) | ResolveError::System(msg)) => {
            Err(io::Error::new(io::ErrorKind::NotFound, msg))
        }
    };
    let (child, reader) = match spawned {
        Ok(pair) => pair,
        Err(e) => {
            let mut result = CommandResult::failed(
                retcode::NOT_STARTED,
                format!("Could not start `{}`: {e}", spec.cmd),
            );
            result.exec.duration_ms = Some(millis(started.elapsed()));
            return result;
        }
    };
    let pgid = child.id().map(|p| p as i32);
    if let Some(pid) = child.id() {
        on_spawn(pid);
    }
    let mut guard = KillOnDrop(pgid);
    let run = supervise(child, reader, pgid, spec.timeout, kill_grace, stop).await;
    guard.0 = None;
    let mut result = run.into_result(spec);
    result.exec.duration_ms = Some(millis(started.elapsed()));
    result
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn spawn(
    spec: &RunSpec,
    creds: &Credentials,
) -> io::Result<(tokio::process::Child, pipe::Receiver)> {
    let (reader, writer) = io::pipe()?;
    let writer_err = writer.try_clone()?;
    let bash = if std::path::Path::new("/bin/bash").exists() {
        "/bin/bash"
    } else {
        "bash"
    };
    let mut cmd = tokio::process::Command::new(bash);
    cmd.arg("-c").arg(&spec.cmd).env_clear().env(
        "PATH",
        std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.into()),
    );
    for name in PASSED_ENV {
        if let Ok(value) = std::env::var(name) {
            cmd.env(name, value);
        }
    }
    cmd.env("HOME", &creds.home)
        .env("USER", &creds.name)
        .env("LOGNAME", &creds.name)
        .env("SHELL", &creds.shell)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(if creds.home.is_dir() {
            creds.home.as_path()
        } else {
            std::path::Path::new("/")
        })
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer_err)
        .process_group(0);
    // SAFETY: clean_signal_slate only calls async-signal-safe functions (sigaction,
    // sigprocmask): the command starts with default signal dispositions and an empty mask,
    // whatever gearman inherited (a `nohup`, a shell's background job).
    unsafe {
        cmd.pre_exec(supervise::clean_signal_slate);
    }
    let euid = nix::unistd::geteuid().as_raw();
    if euid == 0 {
        let groups = creds.groups.clone();
        let (uid, gid) = (creds.uid, creds.gid);
        // SAFETY: the closure only calls async-signal-safe functions (setgroups, setgid,
        // setuid) on values resolved before the fork, and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setgroups(groups.len() as _, groups.as_ptr()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    } else if creds.uid != euid {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "gearman is not root and cannot run commands as `{}`",
                creds.name
            ),
        ));
    }
    let child = cmd.spawn()?;
    // The Command holds the pipe's write ends; the parent must not keep them open.
    drop(cmd);
    let reader = pipe::Receiver::from_owned_fd(OwnedFd::from(reader))?;
    Ok((child, reader))
}

/// Why the agent stopped a command.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stopped {
    Timeout,
    Requested,
}

/// What [`supervise`] saw.
struct Finished {
    output: Output,
    exit: Option<io::Result<ExitStatus>>,
    stopped: Option<Stopped>,
    /// Reading the output failed; the command was killed.
    read_error: Option<String>,
}

async fn supervise(
    mut child: tokio::process::Child,
    mut reader: pipe::Receiver,
    pgid: Option<i32>,
    timeout: Duration,
    kill_grace: Duration,
    stop: impl Future<Output = ()>,
) -> Finished {
    let deadline = Instant::now() + timeout;
    let far = Instant::now() + Duration::from_secs(100 * 365 * 86_400);
    let mut output = Output::default();
    let mut buf = vec![0u8; 16 * 1024];
    let mut eof = false;
    let mut exit: Option<io::Result<ExitStatus>> = None;
    let mut stopped: Option<Stopped> = None;
    let mut kill_at: Option<Instant> = None;
    let mut killed = false;
    let mut drain_until: Option<Instant> = None;
    let mut read_error: Option<String> = None;
    tokio::pin!(stop);
    while !(eof && exit.is_some()) {
        tokio::select! {
            read = reader.read(&mut buf), if !eof => match read {
                Ok(0) => eof = true,
                Ok(n) => output.push(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Seed: a failed read force-kills the child rather than leave it blocked
                    // on a full pipe.
                    tracing::error!(error = %e, "Reading a command's output failed; killing it.");
                    signal_group(pgid, libc::SIGKILL);
                    read_error = Some(e.to_string());
                    eof = true;
                }
            },
            status = child.wait(), if exit.is_none() => {
                exit = Some(status);
                drain_until = Some(Instant::now() + DRAIN_AFTER_EXIT);
            }
            () = sleep_until(deadline), if stopped.is_none() && exit.is_none() => {
                stopped = Some(Stopped::Timeout);
                signal_group(pgid, libc::SIGTERM);
                kill_at = Some(Instant::now() + kill_grace);
            }
            () = &mut stop, if stopped.is_none() && exit.is_none() => {
                stopped = Some(Stopped::Requested);
                signal_group(pgid, libc::SIGTERM);
                kill_at = Some(Instant::now() + kill_grace);
            }
            () = sleep_until(kill_at.unwrap_or(far)), if kill_at.is_some() && !killed => {
                killed = true;
                signal_group(pgid, libc::SIGKILL);
            }
            () = sleep_until(drain_until.unwrap_or(far)), if drain_until.is_some() => break,
        }
    }
    // A stopped command's group gets its KILL even when the leader died of the TERM: other
    // members may ignore TERM. Return as soon as the group is empty.
    if let (Some(at), false) = (kill_at, killed) {
        while group_alive(pgid) && Instant::now() < at {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        signal_group(pgid, libc::SIGKILL);
    }
    Finished {
        output,
        exit,
        stopped,
        read_error,
    }
}

impl Finished {
    fn into_result(self, spec: &RunSpec) -> CommandResult {
        let mut exec = ExecStatus {
            truncated: self.output.dropped > 0,
            dropped_bytes: self.output.dropped,
            ..ExecStatus::default()
        };
        let status = match self.exit {
            Some(Ok(status)) => status,
            Some(Err(e)) => {
                let mut result = CommandResult::failed(
                    retcode::FAILED,
                    format!("Failed: cannot wait for the command: {e}"),
                );
                result.data = Some(self.output.text());
                result.exec = exec;
                return result;
            }
            None => {
                let mut result =
                    CommandResult::failed(retcode::FAILED, "Failed: the command did not end");
                result.data = Some(self.output.text());
                result.exec = exec;
                return result;
            }
        };
        exec.exit_status = status.code();
        exec.signal = status.signal();
        if let Some(e) = self.read_error {
            let mut result = CommandResult::failed(
                retcode::FAILED,
                format!(
                    "Failed: reading the command's output failed ({e}); the command was killed"
                ),
            );
            result.data = Some(self.output.text());
            result.exec = exec;
            return result;
        }
        let (resp, code, message) = match (self.stopped, status.code(), status.signal()) {
            (Some(Stopped::Timeout), _, _) => (
                Resp::Failed,
                retcode::TIMED_OUT,
                format!("Timed out after {} s", seconds(spec.timeout)),
            ),
            (Some(Stopped::Requested), _, _) => (
                Resp::Failed,
                retcode::KILLED_BY_SIGNAL,
                "Stopped on request".to_string(),
            ),
            (None, Some(code), _) => (
                if code == 0 {
                    Resp::Success
                } else {
                    Resp::Failed
                },
                retcode::NORMAL_TERMINATION,
                "Normal termination".to_string(),
            ),
            (None, None, signal) => (
                Resp::Failed,
                retcode::KILLED_BY_SIGNAL,
                format!("Killed by signal {}", signal_name(signal.unwrap_or(0))),
            ),
        };
        CommandResult {
            id: None,
            host: None,
            resp,
            retcode: code,
            message,
            data: Some(self.output.text()),
            exec,
        }
    }
}

fn seconds(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{:.1}", d.as_secs_f64())
    }
}

/// `9 (SIGKILL)`.
pub(crate) fn signal_name(signal: i32) -> String {
    match nix::sys::signal::Signal::try_from(signal) {
        Ok(sig) => format!("{signal} ({})", sig.as_str()),
        Err(_) => signal.to_string(),
    }
}

/// Sends `signal` to the process group `pgid` (errors such as "no such group" are ignored).
pub(crate) fn signal_group(pgid: Option<i32>, signal: i32) {
    if let Some(pgid) = pgid.filter(|p| *p > 1) {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

/// Whether the process group `pgid` still has a member.
pub(crate) fn group_alive(pgid: Option<i32>) -> bool {
    match pgid.filter(|p| *p > 1) {
        // SAFETY: signal 0 only checks that the group exists.
        Some(pgid) => unsafe { libc::kill(-pgid, 0) == 0 },
        None => false,
    }
}

/// Kills the command's group if the run is abandoned (its future dropped) before the end.
struct KillOnDrop(Option<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        signal_group(self.0, libc::SIGKILL);
    }
}

/// The kept output and the count of bytes dropped past the cap.
#[derive(Default)]
struct Output {
    kept: Vec<u8>,
    dropped: u64,
}

impl Output {
    fn push(&mut self, bytes: &[u8]) {
        let take = bytes.len().min(OUTPUT_CAP - self.kept.len());
        self.kept.extend_from_slice(&bytes[..take]);
        self.dropped += (bytes.len() - take) as u64;
    }

    fn text(&self) -> serde_json::Value {
        serde_json::Value::String(String::from_utf8_lossy(&self.kept).into_owned())
    }
}

#[cfg(test)]
mod tests;
