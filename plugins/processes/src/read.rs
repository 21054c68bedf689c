//! Role *read*: process states, forks and the `Process` groups from `/proc`, as collectd 5.12's
//! processes plugin reports them on Linux.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use plugin_api::{InitContext, PluginError, ReadPlugin, Value, ValueList};

use crate::{Processes, procfs};

/// The options of the read role (collectd's processes plugin options, without regexes).
pub(crate) const CONFIG_KEYS: &[&str] = &["Process"];

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

impl Default for ProcessesRead {
    /// No groups, Linux's usual units (100 ticks per second, 4 KiB pages).
    fn default() -> Self {
        ProcessesRead {
            groups: Vec::new(),
            first: true,
            ticks_per_second: 100,
            page_size: 4096,
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
            first: true,
            ticks_per_second: sysconf(nix::unistd::SysconfVar::CLK_TCK, 100),
            page_size: sysconf(nix::unistd::SysconfVar::PAGE_SIZE, 4096) as u64,
        })
    }

    fn collect(&mut self, proc_root: &Path) -> Result<Vec<ValueList>, PluginError> {
        let pids = procfs::list_pids(proc_root).map_err(|e| {
            PluginError::failed(format!("cannot list {}: {e}", proc_root.display()))
        })?;
        let stat_path = proc_root.join("stat");
        let forks = fs::read_to_string(&stat_path)
            .map_err(|e| PluginError::failed(format!("cannot read {}: {e}", stat_path.display())))
            .and_then(|text| {
                parse_forks(&text).ok_or_else(|| {
                    PluginError::failed(format!("no `processes` line in {}", stat_path.display()))
                })
            })?;

        // running, sleeping, zombies, stopped, paging, blocked
        let mut states = [0u32; 6];
        let mut sums: Vec<(u64, Sample)> =
            self.groups.iter().map(|_| (0, Sample::default())).collect();
        let mut seen: Vec<Vec<(u32, Counters)>> = self.groups.iter().map(|_| Vec::new()).collect();
        for pid in pids {
            let dir = proc_root.join(pid.to_string());
            // A process that exits while we read it is simply not counted.
            let Some((comm, state, stat)) = fs::read_to_string(dir.join("stat"))
                .ok()
                .and_then(|t| parse_stat(&t))
            else {
                continue;
            };
            let index = match state {
                'R' => Some(0),
                'S' => Some(1),
                'Z' => Some(2),
                'T' => Some(3),
                'W' => Some(4),
                'D' => Some(5),
                _ => None,
            };
            if let Some(i) = index {
                states[i] += 1;
            }
            // Zombies have no memory or threads; collectd counts them in no group.
            if state == 'Z' {
                continue;
            }
            let Some(g) = self.groups.iter().position(|g| g.name == comm) else {
                continue;
            };
            let sample = self.sample(&dir, &stat);
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

        let mut out = Vec::new();
        for (name, count) in [
            "running", "sleeping", "zombies", "stopped", "paging", "blocked",
        ]
        .iter()
        .zip(states)
        {
            out.push(
                ValueList::new(
                    "processes",
                    "ps_state",
                    vec![Value::Gauge(f64::from(count))],
                )
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

    /// Reads what collectd reads of one process: `stat`, `status` and (when permitted) `io`.
    fn sample(&self, dir: &Path, stat: &StatFields) -> Sample {
        let status = fs::read_to_string(dir.join("status")).unwrap_or_default();
        let kib = |key: &str| status_value(&status, key).unwrap_or(0).saturating_mul(1024);
        let threads = status_value(&status, "Threads")
            .filter(|t| *t > 0)
            .unwrap_or(stat.threads)
            .max(1);
        let micros = |ticks: u64| {
            i64::try_from(ticks)
                .unwrap_or(i64::MAX)
                .saturating_mul(1_000_000)
                / self.ticks_per_second
        };
        let mut counters: Counters = [None; 10];
        counters[0] = Some(micros(stat.utime));
        counters[1] = Some(micros(stat.stime));
        counters[2] = Some(derive(stat.minflt));
        counters[3] = Some(derive(stat.majflt));
        // /proc/<pid>/io is readable for our own processes only (or with CAP_SYS_PTRACE).
        if let Ok(io) = fs::read_to_string(dir.join("io")) {
            for (i, key) in IO_KEYS.iter().enumerate() {
                counters[4 + i] = status_value(&io, key).map(derive);
            }
        }
        Sample {
            threads,
            vsize: stat.vsize,
            rss: stat.rss_pages.saturating_mul(self.page_size),
            data: kib("VmData"),
            code: kib("VmExe").saturating_add(kib("VmLib")),
            stack: kib("VmStk"),
            counters,
        }
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
fn parse_stat(text: &str) -> Option<(String, char, StatFields)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    // Field N (1-based, as in proc(5)) is rest[N - 3].
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let num = |field: usize| -> Option<u64> { rest.get(field - 3)?.parse().ok() };
    let state = rest.first()?.chars().next()?;
    let fields = StatFields {
        minflt: num(10)?,
        majflt: num(12)?,
        utime: num(14)?,
        stime: num(15)?,
        threads: num(20)?,
        vsize: num(23)?,
        rss_pages: num(24)?,
    };
    Some((comm, state, fields))
}

/// A `Key: number ...` line of `/proc/<pid>/status` or `/proc/<pid>/io`.
fn status_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, rest) = line.split_once(':')?;
        if k != key {
            return None;
        }
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The `processes` line of `/proc/stat`: forks since boot.
fn parse_forks(text: &str) -> Option<i64> {
    text.lines().find_map(
        |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["processes", n] => n.parse().ok(),
            _ => None,
        },
    )
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
