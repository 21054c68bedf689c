//! What /proc says: a process's identity (pid + start time, field 22 of `/proc/<pid>/stat`),
//! whether it is alive, its cgroups, and the RSS and CPU time of a whole process tree (the
//! limits sampler's measure where cgroups are not available).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::PathBuf;

use procparse::stat::Stat;

/// `/proc/<pid>/stat`, parsed (procparse), if the process exists. Read as bytes: a command
/// name need not be UTF-8.
fn read_stat(pid: u32) -> Option<Stat> {
    let bytes = fs::read(format!("/proc/{pid}/stat")).ok()?;
    procparse::stat::parse(&bytes).ok()
}

/// The start time of `pid` in clock ticks since boot (field 22), if it exists.
pub fn start_time(pid: u32) -> Option<u64> {
    Some(read_stat(pid)?.starttime)
}

/// Whether `pid` is alive (not a zombie) and still the process that started at `start`.
pub fn is_alive(pid: u32, start: u64) -> bool {
    read_stat(pid).is_some_and(|s| s.is_live() && s.starttime == start)
}

/// The process group of `pid` (field 5), if it exists.
pub fn pgid(pid: u32) -> Option<u32> {
    Some(read_stat(pid)?.pgrp)
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 { n as u64 } else { 100 }
}

/// Seconds the process started at `start` (ticks since boot) has been running.
pub fn uptime_secs(start: u64) -> u64 {
    let Some(up) = fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
    else {
        return 0;
    };
    let started = start as f64 / ticks_per_second() as f64;
    (up - started).max(0.0) as u64
}

/// The cgroup paths of `pid`, one per hierarchy line of `/proc/<pid>/cgroup`:
/// (controllers, path), e.g. `("memory", "/a/b")` or `("", "/a")` for cgroup v2.
pub fn cgroups_of(pid: u32) -> Vec<(String, PathBuf)> {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
        return vec![];
    };
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?.to_string();
            let path = PathBuf::from(parts.next()?);
            Some((controllers, path))
        })
        .collect()
}

/// One measurement of a process tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeUsage {
    /// Sum of the resident set sizes, in bytes.
    pub rss_bytes: u64,
    /// Sum of user + system CPU time of the live processes and of their reaped children, in
    /// clock ticks.
    pub cpu_ticks: u64,
    /// How many processes were counted.
    pub processes: usize,
}

/// The pids of `root`'s tree: its descendants and every member of its session (a program
/// started by the supervisor leads its own session, so `sid == root`).
pub fn tree_pids(root: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return vec![];
    };
    let mut parent: HashMap<u32, u32> = HashMap::new();
    let mut members = HashSet::new();
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Some(stat) = read_stat(pid) else {
            continue;
        };
        parent.insert(pid, stat.ppid);
        if pid == root || stat.session == root {
            members.insert(pid);
        }
    }
    // Descendants: walk each pid's ancestry until a member or the top.
    let pids: Vec<u32> = parent.keys().copied().collect();
    for pid in pids {
        let mut chain = vec![];
        let mut cur = pid;
        let mut found = false;
        while let Some(&p) = parent.get(&cur) {
            if members.contains(&cur) {
                found = true;
                break;
            }
            chain.push(cur);
            if p == 0 || chain.len() > 4096 {
                break;
            }
            cur = p;
        }
        if found {
            members.extend(chain);
        }
    }
    let mut out: Vec<u32> = members.into_iter().collect();
    out.sort_unstable();
    out
}

/// Measures `root`'s tree (see [`tree_pids`]).
pub fn tree_usage(root: u32) -> TreeUsage {
    // SAFETY: sysconf has no memory effects.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as u64,
        _ => 4096,
    };
    let mut usage = TreeUsage::default();
    for pid in tree_pids(root) {
        let Some(stat) = read_stat(pid) else {
            continue;
        };
        if !stat.is_live() {
            continue;
        }
        let children = |ticks: i64| u64::try_from(ticks).unwrap_or(0);
        let ticks = [stat.stime, children(stat.cutime), children(stat.cstime)]
            .into_iter()
            .fold(stat.utime, u64::saturating_add);
        let rss = u64::try_from(stat.rss).unwrap_or(0);
        usage.cpu_ticks = usage.cpu_ticks.saturating_add(ticks);
        usage.rss_bytes = usage.rss_bytes.saturating_add(rss.saturating_mul(page));
        usage.processes += 1;
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_with_its_own_start_time_only() {
        let me = std::process::id();
        let start = start_time(me).unwrap();
        assert!(is_alive(me, start));
        assert!(!is_alive(me, start + 1));
        assert!(!is_alive(u32::MAX - 1, start));
    }

    #[test]
    fn a_command_name_that_is_not_utf8_is_alive() {
        // The kernel takes the name from the file: `sl\xe9ep` (Latin-1). Read as text, its
        // stat file failed, so the process looked dead from its first check on.
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join(std::ffi::OsStr::from_bytes(b"sl\xe9ep"));
        std::fs::copy("/bin/sleep", &program).unwrap();
        let mut child = std::process::Command::new(&program)
            .arg("5")
            .spawn()
            .unwrap();
        let pid = child.id();
        let start = start_time(pid).expect("a start time");
        assert!(is_alive(pid, start));
        assert_eq!(pgid(pid), pgid(std::process::id()));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!is_alive(pid, start));
    }

    #[test]
    fn a_tree_includes_children() {
        let me = std::process::id();
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pids = tree_pids(me);
        assert!(pids.contains(&me) && pids.contains(&child.id()));
        let usage = tree_usage(me);
        assert!(usage.rss_bytes > 0 && usage.processes >= 2);
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
