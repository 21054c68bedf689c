//! The runner's waiting and probing helpers: the child's exit (awaited, or polled for an
//! adopted pid), timers, the check job, the pidfile, and signals to the watched process.

use std::future::pending;
use std::process::ExitStatus;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::{Job, JobDone, Watched};
use crate::spawn::{self, Credentials};
use crate::{ProgramSpec, procfs};

/// Sends `signal` to the watched process's group when it leads one, else to the process.
pub(super) fn signal_watched(w: &Watched, signal: i32) {
    match procfs::pgid(w.pid) {
        Some(pgid) if pgid == w.pid => spawn::kill_group(pgid, signal),
        _ => spawn::kill_pid(w.pid, signal),
    }
}

/// Kills (SIGKILL) whatever is left of the session the program `leader` (started at `start`)
/// led: what a one-shot program leaves behind when it ends. Nothing is sent when another
/// process now holds the leader's pid. Returns how many were killed.
pub(super) fn kill_leftovers(leader: u32, start: u64) -> usize {
    if procfs::start_time(leader).is_some_and(|now| now != start) {
        return 0;
    }
    let me = std::process::id();
    let mut killed = 0;
    for pid in procfs::tree_pids(leader) {
        if pid != me
            && pid != leader
            && procfs::start_time(pid).is_some_and(|s| procfs::is_alive(pid, s))
        {
            spawn::kill_pid(pid, libc::SIGKILL);
            killed += 1;
        }
    }
    killed
}

pub(super) fn check_job(spec: &ProgramSpec, creds: &Option<Credentials>, pid: Option<u32>) -> Job {
    let (spec, creds) = (spec.clone(), creds.clone());
    Box::pin(async move {
        let timeout = spec
            .check_interval
            .clamp(Duration::from_secs(5), Duration::from_secs(60));
        let result = match &spec.check {
            crate::CheckSpec::Process => match &spec.pidfile {
                Some(path) => pidfile_pid(path),
                None => Ok(None),
            },
            crate::CheckSpec::Socket(path) => {
                match tokio::time::timeout(timeout, tokio::net::UnixStream::connect(path)).await {
                    Ok(Ok(_)) => Ok(None),
                    Ok(Err(e)) => Err(format!("socket {}: {e}", path.display())),
                    Err(_) => Err(format!("socket {}: no answer", path.display())),
                }
            }
            crate::CheckSpec::Command(cmd) => spawn::run_command(cmd, &spec, &creds, timeout, pid)
                .await
                .map(|()| None),
        };
        JobDone::Check(result)
    })
}

/// The live pid named by a pidfile, with its start time.
pub(super) fn pidfile_pid(path: &std::path::Path) -> Result<Option<(u32, u64)>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("pidfile {}: {e}", path.display()))?;
    let pid: u32 = text
        .trim()
        .parse()
        .map_err(|_| format!("pidfile {}: no pid in it", path.display()))?;
    match procfs::start_time(pid) {
        Some(start) if procfs::is_alive(pid, start) => Ok(Some((pid, start))),
        _ => Err(format!("pid {pid} of {} is not running", path.display())),
    }
}

pub(super) async fn wait_exit(w: &mut Option<Watched>, poll: Duration) -> Option<ExitStatus> {
    let Some(w) = w else {
        return pending().await;
    };
    match &mut w.child {
        Some(child) => child.wait().await.ok(),
        None => loop {
            tokio::time::sleep(poll).await;
            if !procfs::is_alive(w.pid, w.start) {
                return None;
            }
        },
    }
}

/// After a stopped program's leader exited: waits (at most `limit`) until no other live
/// process of its session is left. SIGKILL reaches the whole group at once, but the kernel
/// ends each member in its own time; a stop is not done while any of them still runs.
pub(super) async fn session_gone(leader: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline
        && procfs::tree_pids(leader)
            .into_iter()
            .any(|pid| procfs::start_time(pid).is_some_and(|start| procfs::is_alive(pid, start)))
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub(super) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => pending().await,
    }
}

pub(super) async fn poll_job(job: &mut Option<Job>) -> JobDone {
    match job {
        Some(job) => job.await,
        None => pending().await,
    }
}

pub(super) fn system_to_unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(super) fn unix_to_system(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}
