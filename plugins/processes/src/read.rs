//! Role *read*: process states, forks and the `Process` groups from `/proc`, as collectd 5.12's
//! processes plugin reports them on Linux.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use plugin_api::{InitContext, PluginError, ReadPlugin, Value, ValueList};

use crate::{Processes, procfs};

/// Linux truncates command names (`/proc/<pid>/stat`'s second field) to 15 bytes.
const MAX_NAME: usize = 15;

/// `/proc/<pid>/io` fields collectd reads: rchar, wchar, syscr, syscw, read_bytes, write_bytes.
const IO_KEYS: [&str; 6] = [
    "rchar",
    "wchar",
    "syscr",
    "syscw",
    "read_bytes",
    "write_bytes",
];

/// The counters collectd accumulates per group (`ps_update_counter`): user and system CPU time
/// (µs), minor and major faults, then the six I/O counters.
type Counters = [Option<i64>; 10];

/// One `Process <name>` group.
#[derive(Debug)]
struct Group {
    name: String,
    /// Sums since the plugin started; an I/O counter stays `None` until some process gave it.
    totals: Counters,
    /// The last counters of each process of the group.
    last: HashMap<u32, Counters>,
}

/// Options, and the groups' counters between reads.
#[derive(Debug)]
pub(crate) struct ProcessesRead {
    groups: Vec<Group>,
    /// collectd's `want_init`: the first read only records the processes' counters.
    first: bool,
    ticks_per_second: i64,
    page_size: u64,
    /// The `stat` files of the processes, kept open between reads.
    files: StatFiles,
    /// Buffers reused from one read to the next.
    scratch: Scratch,
}

/// What one process contributes to its group.
#[derive(Debug, Default)]
struct Sample {
    threads: u64,
    vsize: u64,
    rss: u64,
    data: u64,
    code: u64,
    stack: u64,
    counters: Counters,
}

/// The most `/proc/<pid>/stat` files kept open between reads (a quarter of the open-file
/// limit when that is lower); the processes beyond it have theirs opened on every read.
const MAX_HELD_FILES: usize = 1024;

/// Open `/proc/<pid>/stat` files, ascending by pid. Reading a held file again from offset 0
/// gives the process's current state with one `pread` instead of open, read and close. A held
/// file belongs to its process, not to the number: once the process is gone (and its pid
/// perhaps reused) reading fails, and the pid's file is opened anew.
#[derive(Debug, Default)]
struct StatFiles {
    /// The proc root the files were opened under.
    root: PathBuf,
    /// `(pid, file)`, ascending by pid.
    open: Vec<(u32, File)>,
    /// The list of the previous read, kept for its allocation.
    spare: Vec<(u32, File)>,
    /// At most this many files stay open.
    cap: usize,
}

impl StatFiles {
    fn new() -> StatFiles {
        StatFiles {
            cap: held_files_cap(),
            ..StatFiles::default()
        }
    }
}

/// [`MAX_HELD_FILES`], or a quarter of the soft `RLIMIT_NOFILE` when that is lower, so that
/// the files held here leave most descriptors to the rest of the agent.
fn held_files_cap() -> usize {
    let mut limit = nix::libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given, which lives for the call.
    let ok = unsafe { nix::libc::getrlimit(nix::libc::RLIMIT_NOFILE, &mut limit) } == 0;
    if !ok {
        return 0;
    }
    usize::try_from(limit.rlim_cur / 4).map_or(MAX_HELD_FILES, |n| n.min(MAX_HELD_FILES))
}

/// Buffers reused from one read to the next.
#[derive(Debug, Default)]
struct Scratch {
    /// The contents of the file read last.
    buf: Vec<u8>,
    /// The pids of the current read.
    pids: Vec<u32>,
    /// A path under the proc root.
    path: PathBuf,
}

impl Scratch {
    /// Points `path` at `<root>/<pid>/<file>`.
    fn path_of(&mut self, root: &Path, pid: u32, file: &str) -> &Path {
        self.path.clear();
        self.path.push(root);
        self.path.push(pid.to_string());
        self.path.push(file);
        &self.path
    }

    /// Reads `<root>/<pid>/<file>` into `buf`, returning its length.
    fn read(&mut self, root: &Path, pid: u32, file: &str) -> io::Result<usize> {
        let file = File::open(self.path_of(root, pid, file))?;
        read_from_start(&file, &mut self.buf)
    }
}

/// Reads `file` from offset 0 into `buf` (grown as needed), returning the length. A read that
/// leaves room in the buffer got the whole file: `/proc/<pid>/*` files are generated in one go
/// and regular files only read short at their end.
fn read_from_start(file: &File, buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.len() < 1024 {
        buf.resize(1024, 0);
    }
    loop {
        let n = file.read_at(buf, 0)?;
        if n < buf.len() {
            return Ok(n);
        }
        let bigger = buf.len() * 2;
        buf.resize(bigger, 0);
    }
}

/// Reads `path` whole into `buf`, returning the length.
fn read_path(path: &Path, buf: &mut Vec<u8>) -> io::Result<usize> {
    read_from_start(&File::open(path)?, buf)
}

impl Default for ProcessesRead {
    /// No groups, Linux's usual units (100 ticks per second, 4 KiB pages).
    fn default() -> Self {
        ProcessesRead {
            groups: Vec::new(),
            first: true,
            ticks_per_second: 100,
            page_size: 4096,
            files: StatFiles::new(),
            scratch: Scratch::default(),
        }
    }
}

impl ProcessesRead {
    /// Reads the `Process` names (exact command names, as in collectd).
    pub(crate) fn from_options(ctx: &InitContext) -> Result<ProcessesRead, PluginError> {
        let mut groups: Vec<Group> = Vec::new();
        for name in ctx.options("Process") {
            if name.is_empty() || name.len() > MAX_NAME {
                return Err(PluginError::invalid_params(format!(
                    "option Process = `{name}`: give a command name of 1 to {MAX_NAME} bytes, as /proc/<pid>/stat shows it"
                )));
            }
            // collectd ignores all but the first of a repeated name.
            if !groups.iter().any(|g| g.name == name) {
                groups.push(Group {
                    name: name.to_string(),
                    totals: [
                        Some(0),
                        Some(0),
                        Some(0),
                        Some(0),
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                    ],
                    last: HashMap::new(),
                });
            }
        }
        let sysconf = |var, default: i64| match nix::unistd::sysconf(var) {
            Ok(Some(v)) if v > 0 => v,
            _ => default,
        };
        Ok(ProcessesRead {
            groups,
            ticks_per_second: sysconf(nix::unistd::SysconfVar::CLK_TCK, 100),
            page_size: sysconf(nix::unistd::SysconfVar::PAGE_SIZE, 4096) as u64,
            ..ProcessesRead::default()
        })
    }

    fn collect(&mut self, proc_root: &Path) -> Result<Vec<ValueList>, PluginError> {
        let scratch = &mut self.scratch;
        procfs::list_pids_into(proc_root, &mut scratch.pids).map_err(|e| {
            PluginError::failed(format!("cannot list {}: {e}", proc_root.display()))
        })?;
        let stat_path = proc_root.join("stat");
        let len = read_path(&stat_path, &mut scratch.buf).map_err(|e| {
            PluginError::failed(format!("cannot read {}: {e}", stat_path.display()))
        })?;
        let system = parse_proc_stat(&scratch.buf[..len]);
        let forks = system.forks.ok_or_else(|| {
            PluginError::failed(format!("no `processes` line in {}", stat_path.display()))
        })?;

        if self.files.root != proc_root {
            self.files.root = proc_root.to_path_buf();
            self.files.open.clear();
        }
        let mut previous = std::mem::take(&mut self.files.open);
        let mut kept = std::mem::take(&mut self.files.spare);
        kept.clear();
        let mut held = previous.drain(..).peekable();

        // running, sleeping, zombies, stopped, paging, blocked
        let mut states = [0u64; 6];
        let mut sums: Vec<(u64, Sample)> =
            self.groups.iter().map(|_| (0, Sample::default())).collect();
        let mut seen: Vec<Vec<(u32, Counters)>> = self.groups.iter().map(|_| Vec::new()).collect();
        let pids = std::mem::take(&mut scratch.pids);
        for &pid in &pids {
            // Files of pids below this one belong to processes that are gone: closed here.
            while held.next_if(|(p, _)| *p < pid).is_some() {}
            let file = held.next_if(|(p, _)| *p == pid).map(|(_, f)| f);
            // A process that exits while we read it is simply not counted.
            let Some((file, len)) = read_stat(file, proc_root, pid, scratch) else {
                continue;
            };
            if kept.len() < self.files.cap {
                kept.push((pid, file));
            }
            let Some((comm, state, stat)) = parse_stat_bytes(&scratch.buf[..len]) else {
                continue;
            };
            let index = match state {
                b'R' => Some(0),
                b'S' => Some(1),
                b'Z' => Some(2),
                b'T' => Some(3),
                b'W' => Some(4),
                b'D' => Some(5),
                _ => None,
            };
            if let Some(i) = index {
                states[i] += 1;
            }
            // Zombies have no memory or threads; collectd counts them in no group.
            if state == b'Z' {
                continue;
            }
            let Some(g) = self.groups.iter().position(|g| g.name.as_bytes() == comm) else {
                continue;
            };
            let sample = sample(
                scratch,
                proc_root,
                pid,
                &stat,
                self.ticks_per_second,
                self.page_size,
            );
            let (count, sum) = &mut sums[g];
            *count += 1;
            sum.threads += sample.threads;
            sum.vsize += sample.vsize;
            sum.rss += sample.rss;
            sum.data += sample.data;
            sum.code += sample.code;
            sum.stack += sample.stack;
            seen[g].push((pid, sample.counters));
        }
        scratch.pids = pids;
        // Closes the files of the processes that are gone; the emptied list's allocation
        // serves the next read.
        drop(held);
        self.files.open = kept;
        self.files.spare = previous;
        // Like collectd, running comes from /proc/stat's `procs_running`: a process seen in
        // state R while this plugin reads is rare, since the reader itself is the one running.
        if let Some(running) = system.running {
            states[0] = running;
        }

        let mut out = Vec::new();
        for (name, count) in [
            "running", "sleeping", "zombies", "stopped", "paging", "blocked",
        ]
        .iter()
        .zip(states)
        {
            out.push(
                ValueList::new("processes", "ps_state", vec![Value::Gauge(count as f64)])
                    .type_instance(name),
            );
        }
        for ((group, (count, sum)), seen) in self.groups.iter_mut().zip(sums).zip(seen) {
            group.update(seen, self.first);
            out.extend(group.lists(count, &sum));
        }
        out.push(ValueList::new(
            "processes",
            "fork_rate",
            vec![Value::Derive(forks)],
        ));
        self.first = false;
        Ok(out)
    }
}

/// Reads the `stat` file of `pid` into `scratch.buf` through the held `file` if there is one
/// and it still reads, else through a newly opened one; `None` when the process is gone.
fn read_stat(
    file: Option<File>,
    root: &Path,
    pid: u32,
    scratch: &mut Scratch,
) -> Option<(File, usize)> {
    if let Some(file) = file
        && let Ok(len) = read_from_start(&file, &mut scratch.buf)
    {
        return Some((file, len));
    }
    let file = File::open(scratch.path_of(root, pid, "stat")).ok()?;
    let len = read_from_start(&file, &mut scratch.buf).ok()?;
    Some((file, len))
}

/// Reads what collectd reads of one process besides `stat`: `status` and (when permitted)
/// `io`.
fn sample(
    scratch: &mut Scratch,
    root: &Path,
    pid: u32,
    stat: &StatFields,
    ticks_per_second: i64,
    page_size: u64,
) -> Sample {
    let len = scratch.read(root, pid, "status").unwrap_or(0);
    let status = &scratch.buf[..len];
    let kib = |key: &str| {
        status_value_bytes(status, key)
            .unwrap_or(0)
            .saturating_mul(1024)
    };
    let threads = status_value_bytes(status, "Threads")
        .filter(|t| *t > 0)
        .unwrap_or(stat.threads)
        .max(1);
    let data = kib("VmData");
    let code = kib("VmExe").saturating_add(kib("VmLib"));
    let stack = kib("VmStk");
    let micros = |ticks: u64| {
        i64::try_from(ticks)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000)
            / ticks_per_second
    };
    let mut counters: Counters = [None; 10];
    counters[0] = Some(micros(stat.utime));
    counters[1] = Some(micros(stat.stime));
    counters[2] = Some(derive(stat.minflt));
    counters[3] = Some(derive(stat.majflt));
    // /proc/<pid>/io is readable for our own processes only (or with CAP_SYS_PTRACE).
    if let Ok(len) = scratch.read(root, pid, "io") {
        let io = &scratch.buf[..len];
        for (i, key) in IO_KEYS.iter().enumerate() {
            counters[4 + i] = status_value_bytes(io, key).map(derive);
        }
    }
    Sample {
        threads,
        vsize: stat.vsize,
        rss: stat.rss_pages.saturating_mul(page_size),
        data,
        code,
        stack,
        counters,
    }
}

impl Group {
    /// collectd's `ps_update_counter` for every process seen now; processes not seen are
    /// forgotten. A counter that went down belongs to a new process with a reused pid.
    fn update(&mut self, seen: Vec<(u32, Counters)>, first: bool) {
        let mut last = HashMap::new();
        for (pid, now) in seen {
            let before = self.last.get(&pid).copied().unwrap_or([Some(0); 10]);
            for i in 0..now.len() {
                let Some(value) = now[i] else {
                    continue;
                };
                if first {
                    continue;
                }
                let old = before[i].unwrap_or(0);
                let delta = if value >= old { value - old } else { value };
                self.totals[i] = Some(self.totals[i].unwrap_or(0).saturating_add(delta));
            }
            last.insert(pid, now);
        }
        self.last = last;
    }

    /// The lists of `processes-<name>`, in collectd's order.
    fn lists(&self, count: u64, sum: &Sample) -> Vec<ValueList> {
        let list = |type_: &str, values: Vec<Value>| {
            ValueList::new("processes", type_, values).plugin_instance(&self.name)
        };
        let gauge = |v: u64| Value::Gauge(v as f64);
        let t = &self.totals;
        let mut out = vec![
            list("ps_vm", vec![gauge(sum.vsize)]),
            list("ps_rss", vec![gauge(sum.rss)]),
            list("ps_data", vec![gauge(sum.data)]),
            list("ps_code", vec![gauge(sum.code)]),
            list("ps_stacksize", vec![gauge(sum.stack)]),
        ];
        let pair = |type_: &str, a: usize, b: usize| match (t[a], t[b]) {
            (Some(x), Some(y)) => Some(list(type_, vec![Value::Derive(x), Value::Derive(y)])),
            _ => None,
        };
        out.extend(pair("ps_cputime", 0, 1));
        out.push(list("ps_count", vec![gauge(count), gauge(sum.threads)]));
        out.extend(pair("ps_pagefaults", 2, 3));
        // Only once some process of the group had a readable /proc/<pid>/io.
        out.extend(pair("io_octets", 4, 5));
        out.extend(pair("io_ops", 6, 7));
        out.extend(pair("disk_octets", 8, 9));
        out
    }
}

/// The fields of `/proc/<pid>/stat` the read role uses.
#[derive(Debug, Default, PartialEq)]
struct StatFields {
    minflt: u64,
    majflt: u64,
    utime: u64,
    stime: u64,
    threads: u64,
    vsize: u64,
    rss_pages: u64,
}

/// Parses `/proc/<pid>/stat` into the command name, the state and the fields above; the name
/// runs from the first `(` to the last `)`.
#[cfg(test)]
fn parse_stat(text: &str) -> Option<(String, char, StatFields)> {
    let (comm, state, fields) = parse_stat_bytes(text.as_bytes())?;
    Some((
        String::from_utf8_lossy(comm).into_owned(),
        char::from(state),
        fields,
    ))
}

/// [`parse_stat`] on the bytes of the file, without copying: the name is a slice of `text`.
fn parse_stat_bytes(text: &[u8]) -> Option<(&[u8], u8, StatFields)> {
    let open = text.iter().position(|b| *b == b'(')?;
    let close = text.iter().rposition(|b| *b == b')')?;
    let comm = text.get(open + 1..close)?;
    // Field N (1-based, as in proc(5)) is the (N - 3)th word after the name.
    let mut words = text
        .get(close + 1..)?
        .split(u8::is_ascii_whitespace)
        .filter(|w| !w.is_empty());
    let state = *words.next()?.first()?;
    // Fields 10, 12, 14, 15, 20, 23 and 24, as steps from the field before each.
    let mut num = |skip: usize| -> Option<u64> { number(words.nth(skip)?) };
    let minflt = num(6)?;
    let majflt = num(1)?;
    let utime = num(1)?;
    let stime = num(0)?;
    let threads = num(4)?;
    let vsize = num(2)?;
    let rss_pages = num(0)?;
    let fields = StatFields {
        minflt,
        majflt,
        utime,
        stime,
        threads,
        vsize,
        rss_pages,
    };
    Some((comm, state, fields))
}

/// A decimal number.
fn number<T: std::str::FromStr>(word: &[u8]) -> Option<T> {
    std::str::from_utf8(word).ok()?.parse().ok()
}

/// A `Key: number ...` line of `/proc/<pid>/status` or `/proc/<pid>/io`.
#[cfg(test)]
fn status_value(text: &str, key: &str) -> Option<u64> {
    status_value_bytes(text.as_bytes(), key)
}

/// [`status_value`] on the bytes of the file.
fn status_value_bytes(text: &[u8], key: &str) -> Option<u64> {
    text.split(|b| *b == b'\n').find_map(|line| {
        let colon = line.iter().position(|b| *b == b':')?;
        if &line[..colon] != key.as_bytes() {
            return None;
        }
        number(
            line[colon + 1..]
                .split(u8::is_ascii_whitespace)
                .find(|w| !w.is_empty())?,
        )
    })
}

/// What the read role takes from `/proc/stat`.
#[derive(Debug, Default, PartialEq)]
struct SystemStat {
    /// The `processes` line: forks since boot.
    forks: Option<i64>,
    /// The `procs_running` line: tasks runnable right now.
    running: Option<u64>,
}

/// The `processes` and `procs_running` lines of `/proc/stat`.
fn parse_proc_stat(text: &[u8]) -> SystemStat {
    let mut found = SystemStat::default();
    for line in text.split(|b| *b == b'\n') {
        let mut words = line
            .split(u8::is_ascii_whitespace)
            .filter(|w| !w.is_empty());
        let (Some(key), Some(value), None) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        match key {
            b"processes" if found.forks.is_none() => found.forks = number(value),
            b"procs_running" if found.running.is_none() => found.running = number(value),
            _ => {}
        }
    }
    found
}

/// The `processes` line of `/proc/stat`: forks since boot.
#[cfg(test)]
fn parse_forks(text: &str) -> Option<i64> {
    parse_proc_stat(text.as_bytes()).forks
}

fn derive(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl ReadPlugin for Processes {
    /// `processes/ps_state-*`, per `Process` group `processes-<name>/*`, then
    /// `processes/fork_rate`.
    fn read(&mut self) -> Result<Vec<ValueList>, PluginError> {
        let proc_root = self.proc_root.clone();
        self.read.collect(&proc_root)
    }
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
