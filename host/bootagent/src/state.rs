//! What the BootAgent remembers across restarts, in `<state_dir>/state.json` (written to a
//! temporary file and renamed, so a crash leaves the old or the new state, never half of one):
//! the server list and step from `config` jobs, the agents it installed (version, env, limits,
//! whether they should run, pid and start time for adoption) and the ids of jobs whose results
//! the server has taken.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// How many acknowledged job ids are remembered (a job is handed out until its result is
/// stored, so a late duplicate must still be recognised).
const DONE_KEPT: usize = 4096;

/// One installed agent.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct AgentRecord {
    /// The version `current` points to.
    pub version: String,
    /// Environment from the job.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Limits from the job, as sent (`{"CPU": "10%", "memory": "20M"}`).
    #[serde(default)]
    pub limits: BTreeMap<String, String>,
    /// False after a `stop` job: not started again when the BootAgent restarts.
    pub wanted: bool,
    /// Process id of the running agent, for adoption after a BootAgent restart.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Its start time (clock ticks since boot, `/proc/<pid>/stat` field 22).
    #[serde(default)]
    pub start_time: Option<u64>,
}

/// The whole persisted state.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct State {
    /// Servers from the last `config` job (wins over the file).
    #[serde(default)]
    pub svrlist: Option<String>,
    /// Step from the last `config` job (wins over the file).
    #[serde(default)]
    pub step: Option<u64>,
    /// Installed agents by name.
    #[serde(default)]
    pub agents: BTreeMap<String, AgentRecord>,
    /// Ids of jobs whose results the server stored, newest last.
    #[serde(default)]
    pub done: VecDeque<String>,
}

/// The state and the file it lives in.
pub struct StateFile {
    path: PathBuf,
    /// The current contents; call [`StateFile::save`] after changing them.
    pub state: State,
}

impl StateFile {
    /// Reads `<dir>/state.json`, or starts empty when there is none. The state folder is
    /// made private first (see [`make_private`]).
    pub fn open(dir: &Path) -> anyhow::Result<StateFile> {
        make_private(dir)?;
        let path = dir.join("state.json");
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a BootAgent state file", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
        };
        Ok(StateFile { path, state })
    }

    /// Writes the state atomically (temporary file, fsync, rename).
    pub fn save(&self) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.state)?;
        write_atomic(&self.path, &bytes)
    }

    /// Remembers that the server stored the result of job `id`.
    pub fn mark_done(&mut self, id: &str) {
        if !self.state.done.iter().any(|d| d == id) {
            self.state.done.push_back(id.to_string());
        }
        while self.state.done.len() > DONE_KEPT {
            self.state.done.pop_front();
        }
    }

    /// Whether the server already stored the result of job `id`.
    pub fn is_done(&self, id: &str) -> bool {
        self.state.done.iter().any(|d| d == id)
    }
}

/// Folders of the state folder that hold what only the BootAgent may read: job results
/// (`results/`), partial downloads, the agents' output and the supervisor's run state.
const PRIVATE_FOLDERS: [&str; 4] = ["results", "downloads", "logs", "supervise"];

/// Makes the state folder private: created (or narrowed to) `0700`, `state.json` narrowed to
/// `0600`, and the folders of [`PRIVATE_FOLDERS`] that exist narrowed to `0700` (state written
/// by an older BootAgent was world-readable; its environment and job results can hold secrets).
pub fn make_private(dir: &Path) -> anyhow::Result<()> {
    use agentkit::private::{DIR_MODE, FILE_MODE, narrow, private_dir};
    private_dir(dir).with_context(|| format!("create {} (mode 0700)", dir.display()))?;
    let state = dir.join("state.json");
    narrow(&state, FILE_MODE).with_context(|| format!("chmod 0600 {}", state.display()))?;
    for name in PRIVATE_FOLDERS {
        let folder = dir.join(name);
        narrow(&folder, DIR_MODE).with_context(|| format!("chmod 0700 {}", folder.display()))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file (mode `0600` from its creation) in the
/// same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let result = (|| {
        let mut file = agentkit::private::create_private(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = StateFile::open(dir.path()).unwrap();
        file.state.step = Some(5);
        file.state.agents.insert(
            "nodus".into(),
            AgentRecord {
                version: "1.0".into(),
                wanted: true,
                pid: Some(42),
                ..Default::default()
            },
        );
        file.mark_done("job-1");
        file.save().unwrap();
        let again = StateFile::open(dir.path()).unwrap();
        assert_eq!(again.state.step, Some(5));
        assert_eq!(again.state.agents["nodus"].pid, Some(42));
        assert!(again.is_done("job-1"));
        assert!(!again.is_done("job-2"));
    }

    #[test]
    fn the_state_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("boot");
        let file = StateFile::open(&dir).unwrap();
        file.save().unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("state.json")), 0o600);

        // State left world-readable by an older BootAgent is narrowed at the next start.
        let open = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(&dir, open.clone()).unwrap();
        std::fs::create_dir_all(dir.join("downloads")).unwrap();
        std::fs::set_permissions(dir.join("downloads"), open).unwrap();
        std::fs::set_permissions(
            dir.join("state.json"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        StateFile::open(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("downloads")), 0o700);
        assert_eq!(mode(&dir.join("state.json")), 0o600);
    }
}
