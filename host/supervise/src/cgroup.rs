//! Limits through the kernel: one cgroup per program, cgroup v2 where it is the unified
//! hierarchy, v1 (`memory`, `cpu` controllers) where it is not (the hybrid layout). Detected
//! once per supervisor; `None` means the runner measures the process tree instead (`procfs`).
//!
//! Cgroups are created under the supervisor's own cgroup, in `<tag>/<program>`, so two
//! supervisors on one machine (gearman, the BootAgent) never share one.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::spec::Limits;

/// The cgroup layout of this machine.
#[derive(Clone, Debug)]
pub struct Cgroups {
    flavor: Flavor,
    tag: String,
}

#[derive(Clone, Debug)]
enum Flavor {
    /// Unified hierarchy: the program's cgroup is `<mount>/<own path>/<tag>/<name>`.
    V2 { mount: PathBuf, own: PathBuf },
    /// v1 controllers: (mount, own path) of the memory and cpu hierarchies.
    V1 {
        memory: Option<(PathBuf, PathBuf)>,
        cpu: Option<(PathBuf, PathBuf)>,
    },
}

/// One program's cgroup(s) (one directory on v2, one per controller on v1).
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// Every directory of the group; each has a `cgroup.procs`.
    pub dirs: Vec<PathBuf>,
    /// The directory with the memory controller's files, when memory is limited.
    memory: Option<PathBuf>,
    v2: bool,
    /// The OOM-kill count when the group was made (a reused directory keeps its counters).
    oom_base: u64,
}

impl Cgroups {
    /// Detects the layout from `/proc/self/mountinfo` and `/proc/self/cgroup`. v1 is chosen when
    /// a v1 memory hierarchy is mounted (hybrid layouts mount an empty unified tree beside it).
    pub fn detect(tag: &str) -> Option<Cgroups> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
        let own = crate::procfs::cgroups_of(std::process::id());
        let own_path = |controller: &str| -> Option<PathBuf> {
            own.iter()
                .find(|(c, _)| c.split(',').any(|c| c == controller))
                .map(|(_, p)| p.clone())
        };
        let mut v1_memory = None;
        let mut v1_cpu = None;
        let mut v2 = None;
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let Some(mount) = left.split_whitespace().nth(4) else {
                continue;
            };
            let mut r = right.split_whitespace();
            let fstype = r.next().unwrap_or("");
            let _source = r.next();
            let options = r.next().unwrap_or("");
            match fstype {
                "cgroup" => {
                    let has = |c: &str| options.split(',').any(|o| o == c);
                    if has("memory") {
                        v1_memory = own_path("memory").map(|p| (PathBuf::from(mount), p));
                    }
                    if has("cpu") {
                        v1_cpu = own_path("cpu").map(|p| (PathBuf::from(mount), p));
                    }
                }
                "cgroup2" => v2 = Some(PathBuf::from(mount)),
                _ => {}
            }
        }
        let flavor = if v1_memory.is_some() || v1_cpu.is_some() {
            Flavor::V1 {
                memory: v1_memory,
                cpu: v1_cpu,
            }
        } else {
            let mount = v2?;
            let controllers = fs::read_to_string(mount.join("cgroup.controllers")).ok()?;
            if !controllers.split_whitespace().any(|c| c == "memory") {
                return None;
            }
            let own = own
                .iter()
                .find(|(c, _)| c.is_empty())
                .map(|(_, p)| p.clone())?;
            Flavor::V2 { mount, own }
        };
        Some(Cgroups {
            flavor,
            tag: tag.to_string(),
        })
    }

    /// `"v1"` or `"v2"`.
    pub fn version(&self) -> &'static str {
        match self.flavor {
            Flavor::V1 { .. } => "v1",
            Flavor::V2 { .. } => "v2",
        }
    }

    /// Makes (or empties and reuses) the cgroup of `name` and writes `limits` into it.
    pub fn create(&self, name: &str, limits: &Limits) -> io::Result<Group> {
        match &self.flavor {
            Flavor::V2 { mount, own } => {
                let parent = under(mount, own);
                let base = parent.join(&self.tag);
                // Controllers must be enabled on the way down; the supervisor's own cgroup
                // refuses this when it holds processes and is not the root (then: sampler).
                fs::write(parent.join("cgroup.subtree_control"), "+memory +cpu")?;
                ensure_dir(&base)?;
                fs::write(base.join("cgroup.subtree_control"), "+memory +cpu")?;
                let dir = fresh_dir(&base.join(name))?;
                if let Some(bytes) = limits.memory_bytes {
                    fs::write(dir.join("memory.max"), bytes.to_string())?;
                    let _ = fs::write(dir.join("memory.swap.max"), "0");
                }
                if let Some(pct) = limits.cpu_percent {
                    let period = 100_000u64;
                    let quota = ((pct / 100.0) * period as f64).max(1000.0) as u64;
                    fs::write(dir.join("cpu.max"), format!("{quota} {period}"))?;
                }
                let memory = limits.memory_bytes.map(|_| dir.clone());
                Ok(Group::new(vec![dir], memory, true))
            }
            Flavor::V1 { memory, cpu } => {
                let mut dirs = vec![];
                let mut mem_dir = None;
                if let (Some(bytes), Some((mount, own))) = (limits.memory_bytes, memory) {
                    let dir = fresh_dir(&under(mount, own).join(&self.tag).join(name))?;
                    fs::write(dir.join("memory.limit_in_bytes"), bytes.to_string())?;
                    // Only where swap accounting is on; must not be below the limit above.
                    let _ = fs::write(dir.join("memory.memsw.limit_in_bytes"), bytes.to_string());
                    dirs.push(dir.clone());
                    mem_dir = Some(dir);
                }
                if let (Some(pct), Some((mount, own))) = (limits.cpu_percent, cpu) {
                    let dir = fresh_dir(&under(mount, own).join(&self.tag).join(name))?;
                    let period = fs::read_to_string(dir.join("cpu.cfs_period_us"))
                        .ok()
                        .and_then(|s| s.trim().parse::<u64>().ok())
                        .unwrap_or(100_000);
                    let quota = ((pct / 100.0) * period as f64).max(1000.0) as u64;
                    fs::write(dir.join("cpu.cfs_quota_us"), quota.to_string())?;
                    dirs.push(dir);
                }
                if limits.memory_bytes.is_some() && mem_dir.is_none()
                    || limits.cpu_percent.is_some() && cpu.is_none()
                {
                    return Err(io::Error::other("a limited controller is not mounted"));
                }
                Ok(Group::new(dirs, mem_dir, false))
            }
        }
    }

    /// The group `name` that process `pid` is in, if it is in one of ours (adoption).
    pub fn group_of(&self, pid: u32, name: &str) -> Option<Group> {
        let suffix = Path::new(&self.tag).join(name);
        let mut dirs = vec![];
        let mut memory = None;
        for (controllers, path) in crate::procfs::cgroups_of(pid) {
            if !path.ends_with(&suffix) {
                continue;
            }
            let has = |c: &str| controllers.split(',').any(|x| x == c);
            match &self.flavor {
                Flavor::V2 { mount, .. } if controllers.is_empty() => {
                    let dir = under(mount, &path);
                    memory = Some(dir.clone());
                    dirs.push(dir);
                }
                Flavor::V1 {
                    memory: Some((mount, _)),
                    ..
                } if has("memory") => {
                    let dir = under(mount, &path);
                    memory = Some(dir.clone());
                    dirs.push(dir);
                }
                Flavor::V1 {
                    cpu: Some((mount, _)),
                    ..
                } if has("cpu") => dirs.push(under(mount, &path)),
                _ => {}
            }
        }
        if dirs.is_empty() {
            return None;
        }
        let v2 = matches!(self.flavor, Flavor::V2 { .. });
        let mut group = Group::new(dirs, memory, v2);
        // Adopted: whatever the counter says happened while we watched nothing.
        group.oom_base = group.oom_count();
        Some(group)
    }
}

impl Group {
    fn new(dirs: Vec<PathBuf>, memory: Option<PathBuf>, v2: bool) -> Group {
        let mut group = Group {
            dirs,
            memory,
            v2,
            oom_base: 0,
        };
        group.oom_base = group.oom_count();
        group
    }

    /// The `cgroup.procs` paths, ready for the child's `pre_exec` (which writes `0` = itself).
    pub fn procs_files(&self) -> Vec<CString> {
        self.dirs
            .iter()
            .filter_map(|d| CString::new(d.join("cgroup.procs").as_os_str().as_bytes()).ok())
            .collect()
    }

    fn oom_count(&self) -> u64 {
        let Some(dir) = &self.memory else {
            return 0;
        };
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        let text = fs::read_to_string(dir.join(file)).unwrap_or_default();
        let count = text.lines().find_map(|l| {
            l.strip_prefix("oom_kill ")
                .and_then(|n| n.trim().parse::<u64>().ok())
        });
        match count {
            Some(n) => n,
            // Kernels before 4.13 have no v1 oom_kill counter: the limit was hit at least.
            None => fs::read_to_string(dir.join("memory.failcnt"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0),
        }
    }

    /// Whether the kernel OOM-killed something in the group since it was made.
    pub fn oom_killed(&self) -> bool {
        self.oom_count() > self.oom_base
    }

    /// SIGKILL to every process left in the group. Returns how many were signalled.
    pub fn kill_all(&self) -> usize {
        let mut sent = 0;
        for dir in &self.dirs {
            let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                if pid > 1 && pid != std::process::id() as i32 {
                    // SAFETY: kill(2) on a pid read from the cgroup; no memory is involved.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    sent += 1;
                }
            }
        }
        sent
    }

    /// Removes the group's directories (only empty cgroups can go; errors are ignored).
    pub fn remove(&self) {
        for dir in &self.dirs {
            let _ = fs::remove_dir(dir);
            // The supervisor's tag folder goes too once its last program's group is gone.
            if let Some(tag) = dir.parent() {
                let _ = fs::remove_dir(tag);
            }
        }
    }
}

/// `mount` joined with an absolute cgroup path.
fn under(mount: &Path, path: &Path) -> PathBuf {
    mount.join(path.strip_prefix("/").unwrap_or(path))
}

fn ensure_dir(dir: &Path) -> io::Result<()> {
    match fs::create_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes `dir`, first removing an old one (killing what is left in it) so counters restart;
/// an old one that cannot go yet is reused.
fn fresh_dir(dir: &Path) -> io::Result<PathBuf> {
    if dir.exists() {
        let old = Group {
            dirs: vec![dir.to_path_buf()],
            memory: None,
            v2: false,
            oom_base: 0,
        };
        old.kill_all();
        for _ in 0..20 {
            if fs::remove_dir(dir).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    ensure_dir(dir)?;
    Ok(dir.to_path_buf())
}
