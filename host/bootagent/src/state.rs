//! What the BootAgent remembers across restarts, in `<state_dir>/state.json` (written to a
//! temporary file and renamed, so a crash leaves the old or the new state, never half of one):
//! the server list and step from `config` jobs, the agents it installed (version, env, limits,
//! whether they should run, pid and start time for adoption) and the ids of jobs whose results
//! the server has taken.
//!
//! The file carries a `version` ([`STATE_VERSION`]). [`StateFile::open`] upgrades an older file
//! step by step on its JSON ([`UPGRADES`]; release 0.1 wrote no version, which reads as 0),
//! keeps the old file beside it as `state.json.v<old>` and writes the upgraded one; a file from
//! a newer BootAgent is refused with a message saying so, never misread.

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
    /// The OS package (`.deb`, `.rpm`) it was installed from; `None`: a `.tar.gz`. Older
    /// BootAgents never wrote it, so it needs no new state version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_package: Option<crate::os_package::OsPackage>,
}

/// The version of the state file this BootAgent writes.
pub const STATE_VERSION: u32 = 1;

/// One upgrade of the file's JSON: entry `i` takes version `i` to `i + 1`.
type Upgrade = fn(&mut serde_json::Map<String, serde_json::Value>);

/// Every upgrade, oldest first (`UPGRADES.len() == STATE_VERSION`).
const UPGRADES: [Upgrade; STATE_VERSION as usize] = [
    // 0 → 1: release 0.1's fields are kept as they are; only the version is new.
    |_| {},
];

/// The whole persisted state.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct State {
    /// The file's format version ([`STATE_VERSION`] when written by this BootAgent).
    #[serde(default)]
    pub version: u32,
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

impl Default for State {
    fn default() -> State {
        State {
            version: STATE_VERSION,
            svrlist: None,
            step: None,
            agents: BTreeMap::new(),
            done: VecDeque::new(),
        }
    }
}

/// Reads a state file's JSON, upgraded to [`STATE_VERSION`]; also returns the version found.
fn parse(bytes: &[u8], path: &Path) -> anyhow::Result<(State, u32)> {
    let not_state = || format!("{} is not a BootAgent state file", path.display());
    let value: serde_json::Value = serde_json::from_slice(bytes).with_context(not_state)?;
    let serde_json::Value::Object(mut fields) = value else {
        anyhow::bail!("{}: not a JSON object", not_state());
    };
    let found = match fields.get("version") {
        None => 0,
        Some(v) => v
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .with_context(|| format!("{}: `version` is not a number", not_state()))?,
    };
    if found > STATE_VERSION {
        anyhow::bail!(
            "{} is state version {found}, newer than the {STATE_VERSION} this BootAgent {} \
             knows: it was written by a newer BootAgent; refusing to read it rather than \
             misread it (run the newer BootAgent)",
            path.display(),
            env!("CARGO_PKG_VERSION")
        );
    }
    for upgrade in &UPGRADES[found as usize..] {
        upgrade(&mut fields);
    }
    fields.insert("version".into(), STATE_VERSION.into());
    let state =
        serde_json::from_value(serde_json::Value::Object(fields)).with_context(not_state)?;
    Ok((state, found))
}

/// The state and the file it lives in.
pub struct StateFile {
    path: PathBuf,
    /// The current contents; call [`StateFile::save`] after changing them.
    pub state: State,
}

impl StateFile {
    /// Reads `<dir>/state.json` (upgraded to [`STATE_VERSION`] and rewritten when older;
    /// refused when newer), or starts empty when there is none. The state folder is made
    /// private first (see [`make_private`]).
    pub fn open(dir: &Path) -> anyhow::Result<StateFile> {
        make_private(dir)?;
        let path = dir.join("state.json");
        let state = match std::fs::read(&path) {
            Ok(bytes) => {
                let (state, found) = parse(&bytes, &path)?;
                if found < STATE_VERSION {
                    // The old file stays beside the new one, for a downgrade or a look.
                    let kept = dir.join(format!("state.json.v{found}"));
                    write_atomic(&kept, &bytes)?;
                    write_atomic(&path, &serde_json::to_vec_pretty(&state)?)?;
                    tracing::info!(from = found, to = STATE_VERSION, kept = %kept.display(),
                        "BootAgent state file upgraded.");
                }
                state
            }
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

    fn release_fixture(release: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/fixtures/release-{release}/state.json"));
        std::fs::read(path).unwrap()
    }

    #[test]
    fn the_release_0_1_state_file_upgrades_with_everything_kept() {
        let dir = tempfile::tempdir().unwrap();
        let old = release_fixture("0.1");
        std::fs::write(dir.path().join("state.json"), &old).unwrap();
        let file = StateFile::open(dir.path()).unwrap();
        let state = &file.state;
        assert_eq!(state.version, STATE_VERSION);
        assert_eq!(
            state.svrlist.as_deref(),
            Some("polaris-a.example:443,polaris-b.example:443")
        );
        assert_eq!(state.step, Some(30));
        let gearman = &state.agents["gearman"];
        assert_eq!(gearman.version, "0.1.0");
        assert!(gearman.wanted);
        assert_eq!(
            (gearman.pid, gearman.start_time),
            (Some(4242), Some(123456))
        );
        assert_eq!(gearman.env["RUST_LOG"], "info");
        assert_eq!(gearman.limits["memory"], "200M");
        assert!(!state.agents["nodus"].wanted);
        assert!(file.is_done("job-0001") && file.is_done("job-0002"));
        // Written back upgraded, the old file kept beside it byte for byte.
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("state.json")).unwrap()).unwrap();
        assert_eq!(written["version"], STATE_VERSION);
        assert_eq!(
            std::fs::read(dir.path().join("state.json.v0")).unwrap(),
            old
        );
        let again = StateFile::open(dir.path()).unwrap();
        assert_eq!(again.state.agents, file.state.agents);
    }

    #[test]
    fn a_state_file_from_a_newer_bootagent_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let newer = format!(r#"{{"version": {}, "agents": {{}}}}"#, STATE_VERSION + 1);
        std::fs::write(dir.path().join("state.json"), &newer).unwrap();
        let error = match StateFile::open(dir.path()) {
            Ok(_) => panic!("a newer state file was read"),
            Err(e) => format!("{e:#}"),
        };
        assert!(
            error.contains(&format!("state version {}", STATE_VERSION + 1))
                && error.contains("newer BootAgent"),
            "{error}"
        );
        let left = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
        assert_eq!(left, newer, "not touched");
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
