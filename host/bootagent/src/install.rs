//! `install` and `upgrade`: download and verify (nothing is unpacked before the checksum
//! matches and, with a release key, the signature does), unpack beside the installed version, stop the old one, switch `current`, start
//! the new one and watch it for `upgrade_watch`; if it does not keep running, switch back and
//! start the old version again (or, for a first install, remove it). The job's message says
//! which: `installed X`, `upgraded to X (from Y)` or `rolled back to Y: <why>`.
//!
//! A `.deb` or `.rpm` URL takes the same path with [`crate::os_package`]'s steps: the package
//! is read and kept in its version folder instead of unpacked, installed by the package
//! manager while the old version still runs (a failure there puts the host back and leaves the
//! old version running), and a rollback installs the previous version's kept package again.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use supervise::State;
use wire::boot::BootJob;

use crate::manager::{Manager, Outcome};
use crate::os_package::{self, Format, OnHost, OsPackage, Previous};
use crate::package::{self, Manifest, check_name};
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
    let format = Format::from_url(&url);
    let old = m.state.state.agents.get(name).cloned();
    os_package::check_same_format(old.as_ref(), format, name)?;
    if let Some(format) = format {
        format.check_tools()?;
    }

    let fetcher = m.fetcher.clone();
    let dir = m.download_dir.clone();
    let key = m.release_key.clone();
    let download = tokio::task::spawn_blocking(move || {
        crate::signature::download(
            &fetcher,
            key.as_deref(),
            &url,
            &checksum,
            &dir,
            fetch::MAX_BYTES,
        )
    })
    .await
    .map_err(|e| format!("download task failed: {e}"))??;

    let old_version = old.as_ref().map(|r| r.version.clone());
    let (manifest, version_dir, os) = match format {
        None => {
            let agent_dir = m.layout.agent_dir(name);
            let (owned_name, keep) = (name.to_string(), old_version.clone());
            let (manifest, dir) = tokio::task::spawn_blocking(move || {
                let unpacked =
                    package::unpack(download.path(), &owned_name, &agent_dir, keep.as_deref());
                drop(download);
                agentkit::release_free_memory();
                unpacked
            })
            .await
            .map_err(|e| format!("unpack task failed: {e}"))??;
            (manifest, dir, None)
        }
        Some(format) => {
            let (manifest, dir, os) = prepare_os(m, format, download, name, old.as_ref()).await?;
            (manifest, dir, Some(os))
        }
    };
    let version = manifest.version.clone();

    if old_version.as_deref() == Some(version.as_str()) {
        if let Some(os) = &os {
            ensure_on_host(os, &version_dir, &version).await?;
        }
        return already_installed(m, name, &version).await;
    }
    let record = AgentRecord {
        version: version.clone(),
        env: job.env.clone(),
        limits: job.limits.clone(),
        wanted: true,
        pid: None,
        start_time: None,
        os_package: os,
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
    if let Some(os) = &record.os_package {
        // Installed while the old version still runs: when the package manager fails, the
        // host is put back and the old version never stopped.
        let previous = old.as_ref().and_then(|r| previous(m, name, r));
        let file = version_dir.join(os.format.kept_file());
        if let Err(e) = os_package::install(os, &file, previous.as_ref()).await {
            let _ = m.layout.remove_version(name, &version);
            if old.is_none() {
                let _ = m.layout.remove_agent(name);
            }
            return Err(format!("{version} was not installed: {e}"));
        }
    }
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
            let tail = log_tail(m, name);
            let _ = m.supervisor.remove(name).await;
            let purged = match &record.os_package {
                Some(os) => match os_package::purge(os).await {
                    Ok(_) => String::new(),
                    Err(e) => format!(" ({e})"),
                },
                None => String::new(),
            };
            let _ = m.layout.remove_agent(name);
            Err(format!(
                "install of {name} failed, removed it: {why}{tail}{purged}"
            ))
        }
    }
}

/// Reads a downloaded OS package, checks it may be installed for `name`, and keeps it with
/// its manifest in its version folder (unless that version is the installed one).
async fn prepare_os(
    m: &Manager,
    format: Format,
    download: fetch::Download,
    name: &str,
    old: Option<&AgentRecord>,
) -> Result<(Manifest, PathBuf, OsPackage), String> {
    let inspected = format.inspect(download.path(), name).await?;
    os_package::check_takeover(format, &inspected, old, name).await?;
    let dir = m.layout.version_dir(name, &inspected.manifest.version);
    if old.map(|r| r.version.as_str()) != Some(inspected.manifest.version.as_str()) {
        os_package::keep(format, download, &inspected.manifest, &dir)?;
    }
    let os = OsPackage {
        format,
        name: inspected.package,
    };
    Ok((inspected.manifest, dir, os))
}

/// The installed version asked for again: installs its kept package when the database no
/// longer has it at that version (removed or changed by hand).
async fn ensure_on_host(os: &OsPackage, dir: &Path, version: &str) -> Result<(), String> {
    if os.format.on_host(&os.name).await == OnHost::Installed(version.to_string()) {
        return Ok(());
    }
    os_package::run(
        &os.format
            .downgrade_command(&dir.join(os.format.kept_file())),
    )
    .await
    .map(drop)
}

/// The version to put back if an upgrade of an OS-packaged agent fails.
fn previous<'a>(m: &Manager, name: &str, record: &'a AgentRecord) -> Option<Previous<'a>> {
    let package = record.os_package.as_ref()?;
    Some(Previous {
        package,
        version: &record.version,
        file: m
            .layout
            .version_dir(name, &record.version)
            .join(package.format.kept_file()),
    })
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
    if let Some(previous) = previous(m, name, &old)
        && let Err(e) = os_package::put_back(&previous).await
    {
        problems.push(e);
    }
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
