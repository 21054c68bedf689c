//! The agents this BootAgent manages: runs one job at a time against the supervisor, the
//! on-disk [`Layout`] and the [`StateFile`]; resumes (adopts or starts) the agents after a
//! BootAgent restart; says what each one is doing for the status report. Install and upgrade,
//! with their watch and rollback, are in [`crate::install`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fetch::Fetcher;
use supervise::Supervisor;
use wire::boot::{AgentState, AgentStatus, BootAction, BootJob, JobResult};
use wire::retcode;

use crate::config::parse_svrlist;
use crate::layout::Layout;
use crate::package::{MANIFEST, Manifest, check_name};
use crate::programs::{self, observe};
use crate::state::{AgentRecord, StateFile};

/// Everything a job needs.
pub struct Manager {
    /// The process lifecycle engine (shared with gearman's daemon code).
    pub supervisor: Supervisor,
    /// Where versions live.
    pub layout: Layout,
    /// Persisted state (agents, config overrides, acknowledged jobs).
    pub state: StateFile,
    /// Package downloads (blocking; used from blocking threads).
    pub fetcher: Arc<Fetcher>,
    /// `<state_dir>/downloads`, for partial downloads.
    pub download_dir: PathBuf,
    /// `<state_dir>/logs`, the agents' stdout and stderr.
    pub log_dir: PathBuf,
    /// How long a new version must keep running.
    pub watch: Duration,
    /// The key packages must be signed with (`release_key`); `None`: not checked.
    pub release_key: Option<Arc<crate::signature::ReleaseKey>>,
}

/// A finished job's outcome before it becomes a [`JobResult`].
pub type Outcome = Result<String, String>;

impl Manager {
    /// Runs `job` and says how it went (errcode 0 = done).
    pub async fn run(&mut self, job: &BootJob) -> JobResult {
        tracing::info!(id = %job.id, action = job.action.as_str(), name = ?job.name, "Running job.");
        // The name becomes `<state_dir>/agents/<name>`: checked before anything is touched,
        // for every action (`/`, `..`, `a/../../b` are refused here).
        let bad_name = job
            .name
            .as_deref()
            .and_then(|name| check_name("agent name", name).err());
        let outcome = match (job.action, job.name.as_deref()) {
            (BootAction::Config, _) => self.config(job),
            (_, None) => Err(format!("`{}` needs the agent's name", job.action.as_str())),
            (action, Some(_)) if bad_name.is_some() => Err(format!(
                "{} refused, nothing done: {}",
                action.as_str(),
                bad_name.unwrap_or_default()
            )),
            (BootAction::Install | BootAction::Upgrade, Some(name)) => {
                crate::install::install(self, job, name).await
            }
            (BootAction::Uninstall, Some(name)) => self.uninstall(name).await,
            (BootAction::Restart, Some(name)) => self.restart(name).await,
            (BootAction::Stop, Some(name)) => self.stop(name).await,
        };
        let (errcode, message) = match outcome {
            Ok(message) => (0, message),
            Err(message) => (retcode::FAILED, message),
        };
        if errcode == 0 {
            tracing::info!(id = %job.id, "{message}");
        } else {
            tracing::warn!(id = %job.id, "Job failed: {message}");
        }
        JobResult {
            id: job.id.clone(),
            errcode,
            message,
            hostname: None,
        }
    }

    fn config(&mut self, job: &BootJob) -> Outcome {
        if let Some(list) = &job.svrlist {
            // Only https servers: they must show a certificate of the pinned CA.
            parse_svrlist(list, false)?;
        }
        if job.step == Some(0) {
            return Err("step must be at least 1 second".into());
        }
        if job.svrlist.is_none() && job.step.is_none() {
            return Err("config needs svrlist or step".into());
        }
        if let Some(list) = &job.svrlist {
            self.state.state.svrlist = Some(list.clone());
        }
        if let Some(step) = job.step {
            self.state.state.step = Some(step);
        }
        self.save()?;
        Ok(format!(
            "config: svrlist={} step={}",
            job.svrlist.as_deref().unwrap_or("(unchanged)"),
            job.step.map_or("(unchanged)".into(), |s| s.to_string())
        ))
    }

    async fn uninstall(&mut self, name: &str) -> Outcome {
        if self.supervisor.status(name).is_some() {
            self.supervisor
                .remove(name)
                .await
                .map_err(|e| format!("stop {name}: {e}"))?;
        }
        // An OS package is purged before the agent is forgotten: when that fails, the job
        // says why and the record stays for another `uninstall`.
        if let Some(os) = self
            .state
            .state
            .agents
            .get(name)
            .and_then(|r| r.os_package.clone())
        {
            crate::os_package::purge(&os)
                .await
                .map_err(|e| format!("uninstall of {name} stopped it, but {e}"))?;
        }
        let had = self.state.state.agents.remove(name).is_some();
        self.save()?;
        self.layout
            .remove_agent(name)
            .map_err(|e| format!("remove {}: {e}", self.layout.agent_dir(name).display()))?;
        Ok(if had {
            format!("uninstalled {name}")
        } else {
            format!("{name} was not installed")
        })
    }

    async fn stop(&mut self, name: &str) -> Outcome {
        let record = self.record(name)?;
        if self.supervisor.status(name).is_some() {
            self.supervisor
                .stop(name)
                .await
                .map_err(|e| format!("stop {name}: {e}"))?;
        }
        let record = AgentRecord {
            wanted: false,
            pid: None,
            start_time: None,
            ..record
        };
        self.state.state.agents.insert(name.to_string(), record);
        self.save()?;
        Ok(format!("stopped {name}"))
    }

    async fn restart(&mut self, name: &str) -> Outcome {
        let record = self.record(name)?;
        let spec = self.spec(name, &record)?;
        if self.supervisor.status(name).is_some() {
            let _ = self.supervisor.remove(name).await;
        }
        self.supervisor
            .start(spec)
            .await
            .map_err(|e| format!("start {name}: {e}"))?;
        let watched = crate::install::watch(self, name, Duration::ZERO).await;
        self.remember_running(name, &record.version, &record, true)?;
        watched.map_err(|why| format!("restarted {name} {} but {why}", record.version))?;
        Ok(format!("restarted {name} {}", record.version))
    }

    /// The record of an installed agent, or the job's error.
    fn record(&self, name: &str) -> Result<AgentRecord, String> {
        self.state
            .state
            .agents
            .get(name)
            .cloned()
            .ok_or_else(|| format!("{name} is not installed"))
    }

    /// The supervisor spec of the installed version of `name`.
    pub fn spec(&self, name: &str, record: &AgentRecord) -> Result<supervise::ProgramSpec, String> {
        let dir = self.layout.version_dir(name, &record.version);
        let text = std::fs::read_to_string(dir.join(MANIFEST))
            .map_err(|e| format!("{name} {}: {MANIFEST}: {e}", record.version))?;
        let manifest = Manifest::parse(&text)?;
        programs::spec_for(
            name,
            &dir,
            &manifest,
            &record.env,
            &record.limits,
            &self.log_dir,
        )
    }

    /// Stores `record` for `name` at `version` with the supervisor's pid and start time.
    pub fn remember_running(
        &mut self,
        name: &str,
        version: &str,
        record: &AgentRecord,
        wanted: bool,
    ) -> Result<(), String> {
        let seen = observe(&self.supervisor, name);
        let record = AgentRecord {
            version: version.to_string(),
            wanted,
            pid: seen.as_ref().and_then(|s| s.pid),
            start_time: seen.as_ref().and_then(|s| s.start_time),
            ..record.clone()
        };
        self.state.state.agents.insert(name.to_string(), record);
        self.save()
    }

    /// Writes the state file, as a job error when it fails.
    pub fn save(&self) -> Result<(), String> {
        self.state.save().map_err(|e| format!("{e:#}"))
    }

    /// After a BootAgent restart: adopts every wanted agent still running (same pid and
    /// start time), starts the wanted ones that are not.
    pub async fn resume(&mut self) {
        let agents: Vec<(String, AgentRecord)> = self
            .state
            .state
            .agents
            .iter()
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect();
        for (name, record) in agents {
            if !record.wanted || self.supervisor.status(&name).is_some() {
                continue;
            }
            let spec = match self.spec(&name, &record) {
                Ok(spec) => spec,
                Err(e) => {
                    tracing::error!(agent = %name, "Cannot resume: {e}");
                    continue;
                }
            };
            if let (Some(pid), Some(start)) = (record.pid, record.start_time) {
                // The supervisor checks pid + start time; a process that is gone (or a pid
                // reused by another program) is not touched and the agent is started afresh.
                let status = self.supervisor.adopt(spec, pid, start);
                tracing::info!(agent = %name, pid, state = status.state.as_str(), "Resumed.");
                continue;
            }
            match self.supervisor.start(spec).await {
                Ok(status) => {
                    tracing::info!(agent = %name, version = %record.version, state = status.state.as_str(), "Started.")
                }
                Err(e) => tracing::error!(agent = %name, "Cannot start: {e}"),
            }
        }
        self.refresh_pids();
    }

    /// Keeps the recorded pids current (the supervisor restarts crashed agents), so an
    /// adoption after a BootAgent restart finds the right process.
    pub fn refresh_pids(&mut self) {
        let mut changed = false;
        for (name, record) in self.state.state.agents.iter_mut() {
            let Some(seen) = observe(&self.supervisor, name) else {
                continue;
            };
            if (seen.pid, seen.start_time) != (record.pid, record.start_time) {
                record.pid = seen.pid;
                record.start_time = seen.start_time;
                changed = true;
            }
        }
        if changed && let Err(e) = self.state.save() {
            tracing::error!("{e:#}");
        }
    }

    /// The agents for the status report.
    pub fn report(&self) -> Vec<AgentStatus> {
        self.state
            .state
            .agents
            .iter()
            .map(|(name, record)| {
                let seen = observe(&self.supervisor, name);
                AgentStatus {
                    name: name.clone(),
                    version: record.version.clone(),
                    status: seen
                        .as_ref()
                        .map_or(AgentState::Stoped, |s| s.state.seed_status()),
                    uptime: seen.map_or(0, |s| s.uptime),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manager(state_dir: &std::path::Path) -> Manager {
        let timeout = Duration::from_secs(5);
        let agent = fetch::http_agent("bootagent-test", None, timeout, 0).unwrap();
        Manager {
            supervisor: Supervisor::new(&state_dir.join("supervise")),
            layout: Layout::new(state_dir),
            state: StateFile::open(state_dir).unwrap(),
            fetcher: Arc::new(Fetcher::new(agent, None, timeout)),
            download_dir: state_dir.join("downloads"),
            log_dir: state_dir.join("logs"),
            watch: Duration::ZERO,
            release_key: None,
        }
    }

    fn job(action: &str, name: &str) -> BootJob {
        serde_json::from_value(json!({
            "id": format!("{action}-{name}"), "action": action, "name": name,
            "url": "http://127.0.0.1:9/p.tar.gz", "checksum": format!("SHA256:{}", "0".repeat(64)),
        }))
        .unwrap()
    }

    /// What an attacker answering the status report would send: jobs naming `/`, `..` and
    /// `a/../../b`. Each is refused with a message saying why, and nothing is removed.
    #[tokio::test]
    async fn names_that_are_paths_are_refused_and_nothing_is_removed() {
        let root = tempfile::tempdir().unwrap();
        let outside = root.path().join("b");
        std::fs::create_dir_all(&outside).unwrap();
        let state_dir = root.path().join("state");
        let mut m = manager(&state_dir);
        std::fs::create_dir_all(m.layout.version_dir("a", "1.0")).unwrap();
        m.state.state.agents.insert(
            "a".into(),
            AgentRecord {
                version: "1.0".into(),
                wanted: true,
                ..Default::default()
            },
        );
        m.save().unwrap();
        let bad = [
            "/",
            "..",
            "a/../../b",
            "",
            ".",
            "/etc",
            "a\0b",
            &"x".repeat(65),
        ];
        for action in ["uninstall", "restart", "stop", "install", "upgrade"] {
            for name in bad {
                let result = m.run(&job(action, name)).await;
                assert_eq!(result.errcode, retcode::FAILED, "{action} {name:?}");
                assert!(
                    result
                        .message
                        .starts_with(&format!("{action} refused, nothing done: agent name `")),
                    "{action} {name:?}: {}",
                    result.message
                );
            }
        }
        assert!(outside.is_dir(), "a/../../b is still there");
        assert!(m.layout.version_dir("a", "1.0").is_dir());
        assert!(state_dir.join("state.json").is_file());
        assert!(
            StateFile::open(&state_dir)
                .unwrap()
                .state
                .agents
                .contains_key("a")
        );

        // The agent's own name still works.
        let result = m.run(&job("uninstall", "a")).await;
        assert_eq!(
            (result.errcode, result.message.as_str()),
            (0, "uninstalled a")
        );
        assert!(!m.layout.agent_dir("a").exists());
        assert!(outside.is_dir() && state_dir.is_dir());
    }
}
