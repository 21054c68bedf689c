//! What /proc says: a process's identity (pid + start time, field 22 of `/proc/<pid>/stat`),
//! whether it is alive, its cgroups, and the RSS and CPU time of a whole process tree (the
//! limits sampler's measure where cgroups are not available).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::PathBuf;

/// Fields of `/proc/<pid>/stat` after the command name: field N of proc(5) is index N - 3.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or parentheses.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

fn field<T: std::str::FromStr>(fields: &[String], n: usize) -> Option<T> {
    fields.get(n - 3)?.parse().ok()
}

/// The start time of `pid` in clock ticks since boot (field 22), if it exists.
pub fn start_time(pid: u32) -> Option<u64> {
    field(&stat_fields(pid)?, 22)
}

/// Whether `pid` is alive (not a zombie) and still the process that started at `start`.
pub fn is_alive(pid: u32, start: u64) -> bool {
    let Some(fields) = stat_fields(pid) else {
        return false;
    };
    let live = fields.first().is_some_and(|s| s != "Z" && s != "X");
    live && field::<u64>(&fields, 22) == Some(start)
}

/// The process group of `pid` (field 5), if it exists.
pub fn pgid(pid: u32) -> Option<u32> {
    field(&stat_fields(pid)?, 5)
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
        let Some(fields) = stat_fields(pid) else {
            continue;
        };
        if let Some(ppid) = field::<u32>(&fields, 4) {
            parent.insert(pid, ppid);
        }
        if pid == root || field::<u32>(&fields, 6) == Some(root) {
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
        let Some(fields) = stat_fields(pid) else {
            continue;
        };
        if fields.first().is_some_and(|s| s == "Z" || s == "X") {
            continue;
        }
        let ticks: u64 = [14, 15, 16, 17]
            .iter()
            .filter_map(|&n| field::<i64>(&fields, n))
            .map(|t| t.max(0) as u64)
            .sum();
        let rss = field::<i64>(&fields, 24).unwrap_or(0).max(0) as u64;
        usage.cpu_ticks += ticks;
        usage.rss_bytes += rss * page;
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
