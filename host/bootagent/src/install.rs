//! `install` and `upgrade`: download and verify (nothing is unpacked before the checksum
//! matches and, with a release key, the signature does), unpack beside the installed version, stop the old one, switch `current`, start
//! the new one and watch it for `upgrade_watch`; if it does not keep running, switch back and
//! start the old version again (or, for a first install, remove it). The job's message says
//! which: `installed X`, `upgraded to X (from Y)` or `rolled back to Y: <why>`.

use std::time::{Duration, Instant};

use supervise::State;
use wire::boot::BootJob;

use crate::manager::{Manager, Outcome};
use crate::package::{self, check_name};
use crate::programs::{self, observe};
use crate::state::AgentRecord;

/// Longest wait for a started agent to leave `starting`, beyond its own start delay.
const START_GRACE: Duration = Duration::from_secs(60);

/// Runs an install or upgrade job for agent `name`.
pub async fn install(m: &mut Manager, job: &BootJob, name: &str) -> Outcome {
    check_name("agent name", name)?;
    let url = job.url.clone().ok_or("install and upgrade need a `url`")?;
    let checksum = job
        .checksum
        .clone()
        .ok_or("install and upgrade need a `checksum` (SHA256:<hex>)")?;
    programs::parse_limits(&job.limits)?;

    let fetcher = m.fetcher.clone();
    let dir = m.download_dir.clone();
    let key = m.release_key.clone();
    let download = tokio::task::spawn_blocking(move || {
        crate::signature::download(&fetcher, key.as_deref(), &url, &checksum, &dir)
    })
    .await
    .map_err(|e| format!("download task failed: {e}"))??;

    let old = m.state.state.agents.get(name).cloned();
    let old_version = old.as_ref().map(|r| r.version.clone());
    let agent_dir = m.layout.agent_dir(name);
    let (owned_name, keep) = (name.to_string(), old_version.clone());
    let (manifest, version_dir) = tokio::task::spawn_blocking(move || {
        let unpacked = package::unpack(download.path(), &owned_name, &agent_dir, keep.as_deref());
        drop(download);
        agentkit::release_free_memory();
        unpacked
    })
    .await
    .map_err(|e| format!("unpack task failed: {e}"))??;
    let version = manifest.version.clone();

    if old_version.as_deref() == Some(version.as_str()) {
        return already_installed(m, name, &version).await;
    }
    let record = AgentRecord {
        version: version.clone(),
        env: job.env.clone(),
        limits: job.limits.clone(),
        wanted: true,
        pid: None,
        start_time: None,
    };
    let spec = match programs::spec_for(
        name,
        &version_dir,
        &manifest,
        &record.env,
        &record.limits,
        &m.log_dir,
    ) {
        Ok(spec) => spec,
        Err(e) => {
            let _ = m.layout.remove_version(name, &version);
            return Err(e);
        }
    };
    if m.supervisor.status(name).is_some() {
        m.supervisor
            .remove(name)
            .await
            .map_err(|e| format!("stop the running {name}: {e}"))?;
    }
    let switched = m
        .layout
        .switch(name, &version)
        .map_err(|e| format!("switch {name} to {version}: {e}"));
    let started = match switched {
        Ok(()) => m
            .supervisor
            .start(spec)
            .await
            .map(|_| ())
            .map_err(|e| format!("{version} did not start: {e}")),
        Err(e) => Err(e),
    };
    let watch_for = m.watch;
    let result = match started {
        Ok(()) => watch(m, name, watch_for)
            .await
            .map_err(|why| format!("{version} {why}")),
        Err(e) => Err(e),
    };
    match (result, old) {
        (Ok(()), old) => {
            m.remember_running(name, &version, &record, true)?;
            prune(m, name, &version, old_version.as_deref());
            Ok(match old {
                Some(old) => format!("upgraded to {version} (from {})", old.version),
                None => format!("installed {name} {version}"),
            })
        }
        (Err(why), Some(old)) => rollback(m, name, &version, old, why).await,
        (Err(why), None) => {
            let _ = m.supervisor.remove(name).await;
            let _ = m.layout.remove_agent(name);
            Err(format!(
                "install of {name} failed, removed it: {why}{}",
                log_tail(m, name)
            ))
        }
    }
}

/// The version asked for is the installed one: make sure it runs if it should.
async fn already_installed(m: &mut Manager, name: &str, version: &str) -> Outcome {
    let record = m.state.state.agents.get(name).cloned().unwrap_or_default();
    let active = m
        .supervisor
        .status(name)
        .is_some_and(|s| matches!(s.state, State::Starting | State::Running | State::Backoff));
    if !active {
        let spec = m.spec(name, &record)?;
        m.supervisor
            .start(spec)
            .await
            .map_err(|e| format!("start {name}: {e}"))?;
    }
    m.remember_running(name, version, &record, true)?;
    Ok(format!("{name} {version} is already installed"))
}

/// Puts the old version back after a failed upgrade; always the job's error.
async fn rollback(
    m: &mut Manager,
    name: &str,
    version: &str,
    old: AgentRecord,
    why: String,
) -> Outcome {
    let tail = log_tail(m, name);
    let _ = m.supervisor.remove(name).await;
    let mut problems = Vec::new();
    if let Err(e) = m.layout.switch(name, &old.version) {
        problems.push(format!("switch back failed: {e}"));
    }
    match m.spec(name, &old) {
        Ok(spec) => {
            if let Err(e) = m.supervisor.start(spec).await {
                problems.push(format!("the old version did not start: {e}"));
            }
        }
        Err(e) => problems.push(e),
    }
    let _ = m.remember_running(name, &old.version, &old, old.wanted);
    let _ = m.layout.remove_version(name, version);
    let extra = if problems.is_empty() {
        String::new()
    } else {
        format!(" ({})", problems.join("; "))
    };
    Err(format!(
        "rolled back to {}: {why}{tail}{extra}",
        old.version
    ))
}

/// Keeps only the current and the previous version of `name`.
fn prune(m: &Manager, name: &str, current: &str, previous: Option<&str>) {
    for version in m.layout.versions(name) {
        if version != current
            && Some(version.as_str()) != previous
            && let Err(e) = m.layout.remove_version(name, &version)
        {
            tracing::warn!(agent = %name, %version, error = %e, "Cannot remove an old version.");
        }
    }
}

/// The last lines of the agent's output, for a failure message.
fn log_tail(m: &Manager, name: &str) -> String {
    let text = std::fs::read_to_string(m.log_dir.join(format!("{name}.log"))).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail: Vec<&str> = lines.into_iter().rev().collect();
    let mut joined = tail.join(" | ");
    if joined.len() > 400 {
        let mut cut = joined.len() - 400;
        while !joined.is_char_boundary(cut) {
            cut += 1;
        }
        joined = joined[cut..].to_string();
    }
    format!(" (last output: {joined})")
}

/// Waits until the supervisor has `name` running, then until it has kept running (same
/// process, no restart) for `watch_for`. The error says what went wrong.
pub async fn watch(m: &Manager, name: &str, watch_for: Duration) -> Result<(), String> {
    let begun = Instant::now();
    let mut running: Option<(Option<u32>, Instant)> = None;
    loop {
        let seen = observe(&m.supervisor, name).ok_or("is not supervised")?;
        let reason = seen
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        match (seen.state, running) {
            (State::Running, None) => running = Some((seen.pid, Instant::now())),
            (State::Running, Some((pid, _))) if pid != seen.pid => {
                return Err(format!(
                    "restarted while watched (pid {} then {})",
                    pid.unwrap_or(0),
                    seen.pid.unwrap_or(0)
                ));
            }
            (State::Running, Some(_)) => {}
            (State::Starting, None) => {}
            (State::Starting, Some(_)) => return Err("restarted while watched".into()),
            (state, _) => return Err(format!("failed to run ({}{reason})", state.as_str())),
        }
        match running {
            Some((_, since)) if since.elapsed() >= watch_for => return Ok(()),
            None if begun.elapsed() > START_GRACE + watch_for => {
                return Err(format!(
                    "did not start within {}s",
                    begun.elapsed().as_secs()
                ));
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
