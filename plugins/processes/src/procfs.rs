//! Reading one process from `<proc>/<pid>/{stat,status,cmdline}` (`stat` through the shared
//! `procparse`), and the parsers for the other files.

use std::fs;
use std::io;
use std::path::Path;

use serde::Serialize;

use crate::passwd::Users;

/// Clock and memory units, and the boot time, needed to turn `stat` fields into seconds and
/// bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Units {
    /// `sysconf(_SC_CLK_TCK)`.
    pub ticks_per_second: u64,
    /// `sysconf(_SC_PAGESIZE)`.
    pub page_size: u64,
    /// `btime` of `/proc/stat`: boot time, Unix seconds.
    pub boot_time: Option<u64>,
}

/// One process in the answer.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// Parent process id (0 for init and kthreadd).
    pub ppid: u32,
    /// Effective uid (the one `ps -o user` shows).
    pub uid: Option<u32>,
    /// Name of `uid` in `/etc/passwd`, or the uid in decimal when it has no entry.
    pub user: Option<String>,
    /// State letter, e.g. `S`.
    pub state: String,
    /// State in words, e.g. `sleeping`.
    pub state_name: &'static str,
    /// Command name (`comm`).
    pub command: String,
    /// Arguments (`argv`); empty for kernel threads and zombies.
    pub cmdline: Vec<String>,
    /// Resident memory (`VmRSS`, or `rss` pages when `status` lacks it).
    pub rss_bytes: u64,
    /// Virtual memory size.
    pub vsize_bytes: u64,
    /// Number of threads.
    pub threads: u64,
    /// User plus system CPU time, seconds.
    pub cpu_time_seconds: f64,
    /// Start time, Unix seconds (boot time plus start ticks); `None` without `btime`.
    pub start_time: Option<u64>,
}

/// The fields of `/proc/<pid>/status` this plugin uses: the effective uid and `VmRSS` in bytes.
pub fn parse_status(text: &str) -> (Option<u32>, Option<u64>) {
    let mut uid = None;
    let mut rss = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("Uid:") {
            // Real, effective, saved, filesystem.
            uid = v.split_whitespace().nth(1).and_then(|u| u.parse().ok());
        } else if let Some(v) = line.strip_prefix("VmRSS:") {
            rss = v
                .split_whitespace()
                .next()
                .and_then(|kb| kb.parse::<u64>().ok())
                .map(|kb| kb * 1024);
        }
    }
    (uid, rss)
}

/// Splits `/proc/<pid>/cmdline` (NUL-separated, NUL-terminated) into arguments.
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|b| *b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

/// The `btime` line of `/proc/stat`: boot time in Unix seconds.
pub fn parse_btime(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime")?.trim().parse().ok())
}

/// The word `ps` and `proc(5)` use for a state letter.
pub fn state_name(state: char) -> &'static str {
    match state {
        'R' => "running",
        'S' => "sleeping",
        'D' => "disk sleep",
        'Z' => "zombie",
        'T' => "stopped",
        't' => "tracing stop",
        'X' | 'x' => "dead",
        'K' => "wakekill",
        'W' => "waking",
        'P' => "parked",
        'I' => "idle",
        _ => "unknown",
    }
}

/// The process ids under `proc_root` (its all-digit entries), ascending.
pub fn list_pids(proc_root: &Path) -> io::Result<Vec<u32>> {
    let mut pids = Vec::new();
    list_pids_into(proc_root, &mut pids)?;
    Ok(pids)
}

/// [`list_pids`] into `pids` (cleared first), reusing its allocation.
pub fn list_pids_into(proc_root: &Path, pids: &mut Vec<u32>) -> io::Result<()> {
    pids.clear();
    for entry in fs::read_dir(proc_root)? {
        let Ok(entry) = entry else { continue };
        if let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    Ok(())
}

/// Reads one process; `None` when it does not exist (any more) or its files are unreadable.
pub fn read_process(proc_root: &Path, pid: u32, units: &Units, users: &Users) -> Option<Process> {
    let dir = proc_root.join(pid.to_string());
    // Read as bytes: a command name need not be UTF-8 (procparse keeps it, lossily).
    let stat = procparse::stat::parse(&fs::read(dir.join("stat")).ok()?).ok()?;
    let (uid, vm_rss) = parse_status(&String::from_utf8_lossy(
        &fs::read(dir.join("status")).ok()?,
    ));
    let cmdline = parse_cmdline(&fs::read(dir.join("cmdline")).ok()?);
    let ticks = units.ticks_per_second.max(1);
    Some(Process {
        pid: stat.pid,
        ppid: stat.ppid,
        uid,
        user: uid.map(|u| users.name(u).map_or_else(|| u.to_string(), str::to_string)),
        state: stat.state.to_string(),
        state_name: state_name(stat.state),
        command: stat.comm,
        cmdline,
        rss_bytes: vm_rss.unwrap_or(
            u64::try_from(stat.rss)
                .unwrap_or(0)
                .saturating_mul(units.page_size),
        ),
        vsize_bytes: stat.vsize,
        threads: u64::try_from(stat.num_threads).unwrap_or(0),
        cpu_time_seconds: (stat.utime + stat.stime) as f64 / ticks as f64,
        start_time: units.boot_time.map(|b| b + stat.starttime / ticks),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNITS: Units = Units {
        ticks_per_second: 100,
        page_size: 4096,
        boot_time: Some(1_700_000_000),
    };

    fn proc_root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/basic/proc")
    }

    fn users() -> Users {
        Users::parse(&fs::read_to_string(proc_root().join("../etc/passwd")).unwrap())
    }

    /// The command names `ps` shows in full: spaces, parentheses, and bytes that are not
    /// UTF-8 (the process used to be left out of `getinfo.processes`).
    #[test]
    fn a_process_with_an_odd_or_non_utf8_name_is_listed() {
        let listed = read_process(&proc_root(), 4242, &UNITS, &users()).unwrap();
        assert_eq!(listed.command, "tmux: server");
        assert_eq!((listed.pid, listed.ppid, listed.threads), (4242, 1, 1));

        let dir = tempfile::tempdir().unwrap();
        let pid_dir = dir.path().join("77");
        fs::create_dir(&pid_dir).unwrap();
        fs::write(
            pid_dir.join("stat"),
            b"77 (a) (\xffb)) R 1 77 77 0 -1 0 0 0 0 0 5 6 0 0 20 0 3 0 99 1000 10 0 0 0 0 0\n",
        )
        .unwrap();
        fs::write(
            pid_dir.join("status"),
            b"Name:\ta) (\xffb)\nUid:\t0\t0\t0\t0\n",
        )
        .unwrap();
        fs::write(pid_dir.join("cmdline"), b"odd\0").unwrap();
        let odd = read_process(dir.path(), 77, &UNITS, &users()).unwrap();
        assert_eq!(odd.command, "a) (\u{fffd}b)");
        assert_eq!(
            (odd.state.as_str(), odd.threads, odd.uid),
            ("R", 3, Some(0))
        );
        assert_eq!(odd.rss_bytes, 10 * 4096);

        fs::write(pid_dir.join("stat"), b"77 (truncated) S 1 2").unwrap();
        assert!(read_process(dir.path(), 77, &UNITS, &users()).is_none());
    }

    #[test]
    fn parses_status_cmdline_and_btime() {
        let (uid, rss) =
            parse_status("Name:\tbash\nUid:\t1000\t1001\t1000\t1000\nVmRSS:\t    5120 kB\n");
        assert_eq!(uid, Some(1001));
        assert_eq!(rss, Some(5120 * 1024));
        assert_eq!(
            parse_status("Name:\tkthreadd\nUid:\t0\t0\t0\t0\n"),
            (Some(0), None)
        );
        assert_eq!(parse_cmdline(b"sleep\x0030\x00"), ["sleep", "30"]);
        assert_eq!(
            parse_cmdline(b"nginx: master process\x00"),
            ["nginx: master process"]
        );
        assert_eq!(parse_cmdline(b"a\x00\x00b\x00"), ["a", "", "b"]);
        assert!(parse_cmdline(b"").is_empty());
        let stat = fs::read_to_string(proc_root().join("stat")).unwrap();
        assert_eq!(parse_btime(&stat), Some(1_700_000_000));
    }

    #[test]
    fn reads_a_process() {
        let p = read_process(&proc_root(), 4242, &UNITS, &users()).unwrap();
        assert_eq!(p.user.as_deref(), Some("alice"));
        assert_eq!(p.uid, Some(1000));
        assert_eq!(p.state_name, "sleeping");
        assert_eq!(p.cmdline, ["tmux", "new", "-s", "work session"]);
        assert_eq!(p.rss_bytes, 3_900 * 1024);
        assert_eq!(p.vsize_bytes, 12_345_678);
        assert!((p.cpu_time_seconds - 18.01).abs() < 1e-9);
        assert_eq!(p.start_time, Some(1_700_000_000 + 3000));

        let kthread = read_process(&proc_root(), 2, &UNITS, &users()).unwrap();
        assert!(kthread.cmdline.is_empty());
        assert_eq!(kthread.rss_bytes, 0);
        assert_eq!(kthread.user.as_deref(), Some("root"));
        assert_eq!(kthread.state_name, "sleeping");

        // uid 4321 has no passwd entry.
        let orphan = read_process(&proc_root(), 31337, &UNITS, &users()).unwrap();
        assert_eq!(orphan.user.as_deref(), Some("4321"));
        assert_eq!(orphan.state, "Z");
        assert_eq!(orphan.rss_bytes, 0);

        assert_eq!(read_process(&proc_root(), 999_999, &UNITS, &users()), None);
    }

    #[test]
    fn lists_only_numeric_entries() {
        assert_eq!(list_pids(&proc_root()).unwrap(), [1, 2, 4242, 31337]);
    }
}
