//! Role *read*: CPU time per CPU and state from `/proc/stat`, as collectd 5.12's cpu plugin
//! reports it (`cpu-<n>/cpu-<state>` jiffies, or `percent` with `ValuesPercentage`).

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use plugin_api::{InitContext, PluginError, ReadPlugin, Value, ValueList};

use crate::Cpu;

/// collectd's CPU states, in its order (`cpu_state_names`); `active` is the sum of all but idle.
const STATES: [&str; 12] = [
    "user",
    "system",
    "wait",
    "nice",
    "swap",
    "interrupt",
    "softirq",
    "steal",
    "guest",
    "guest_nice",
    "idle",
    "active",
];
const USER: usize = 0;
const SYSTEM: usize = 1;
const WAIT: usize = 2;
const NICE: usize = 3;
const INTERRUPT: usize = 5;
const SOFTIRQ: usize = 6;
const STEAL: usize = 7;
const GUEST: usize = 8;
const GUEST_NICE: usize = 9;
const IDLE: usize = 10;
const ACTIVE: usize = 11;

/// One CPU's jiffies per state, `None` for states its `/proc/stat` line does not give.
type Staged = [Option<i64>; ACTIVE];

/// Options and the previous read (for percentages).
#[derive(Debug)]
pub(crate) struct CpuRead {
    by_cpu: bool,
    by_state: bool,
    num_cpu: bool,
    percent: bool,
    guest: bool,
    subtract_guest: bool,
    /// The staged values of the previous read, by CPU number.
    previous: HashMap<usize, Staged>,
}

impl CpuRead {
    /// Reads the options; collectd's defaults.
    pub(crate) fn from_options(ctx: &InitContext) -> Result<CpuRead, PluginError> {
        Ok(CpuRead {
            by_cpu: ctx.option_bool("ReportByCpu", true)?,
            by_state: ctx.option_bool("ReportByState", true)?,
            num_cpu: ctx.option_bool("ReportNumCpu", false)?,
            percent: ctx.option_bool("ValuesPercentage", false)?,
            guest: ctx.option_bool("ReportGuestState", false)?,
            subtract_guest: ctx.option_bool("SubtractGuestState", true)?,
            previous: HashMap::new(),
        })
    }

    /// collectd's `cpu_stage` for one `/proc/stat` line (fields after the `cpuN` label).
    fn stage(&self, fields: &[i64]) -> Option<Staged> {
        // collectd needs the label and four values (user, nice, system, idle).
        if fields.len() < 4 {
            return None;
        }
        let mut s: Staged = [None; ACTIVE];
        let (mut user, mut nice) = (fields[0], fields[1]);
        s[SYSTEM] = Some(fields[2]);
        s[IDLE] = Some(fields[3]);
        if fields.len() >= 7 {
            s[WAIT] = Some(fields[4]);
            s[INTERRUPT] = Some(fields[5]);
            s[SOFTIRQ] = Some(fields[6]);
        }
        if fields.len() >= 8 {
            s[STEAL] = Some(fields[7]);
        }
        // Guest time is included in user time, guest_nice in nice (Linux 2.6.24, 2.6.33).
        if self.guest && fields.len() >= 9 {
            s[GUEST] = Some(fields[8]);
            if self.subtract_guest {
                user = (user - fields[8]).max(0);
            }
        }
        if self.guest && fields.len() >= 10 {
            s[GUEST_NICE] = Some(fields[9]);
            if self.subtract_guest {
                nice = (nice - fields[9]).max(0);
            }
        }
        s[USER] = Some(user);
        s[NICE] = Some(nice);
        Some(s)
    }

    /// One read: stage every CPU, then commit like collectd's `cpu_commit`.
    fn collect(&mut self, stat: &str) -> Vec<ValueList> {
        let mut staged: Vec<(usize, Staged)> = parse_stat(stat)
            .into_iter()
            .filter_map(|(cpu, fields)| Some((cpu, self.stage(&fields)?)))
            .collect();
        staged.sort_by_key(|(cpu, _)| *cpu);
        // collectd counts CPUs as the highest number seen plus one.
        let cpu_count = staged.last().map_or(0, |(cpu, _)| cpu + 1);
        let mut out = Vec::new();
        if self.num_cpu {
            out.push(ValueList::new(
                "cpu",
                "count",
                vec![Value::Gauge(cpu_count as f64)],
            ));
        }
        if self.by_state && self.by_cpu && !self.percent {
            for state in 0..ACTIVE {
                for (cpu, s) in &staged {
                    if let Some(v) = s[state] {
                        out.push(
                            ValueList::new("cpu", "cpu", vec![Value::Derive(v)])
                                .plugin_instance(&cpu.to_string())
                                .type_instance(STATES[state]),
                        );
                    }
                }
            }
        } else {
            out.extend(self.percentages(&staged));
        }
        self.previous = staged.into_iter().collect();
        out
    }

    /// collectd's `aggregate` and `cpu_commit_one`: the share of each state in the time that
    /// passed since the previous read. Nothing on the first read of a CPU.
    fn percentages(&self, staged: &[(usize, Staged)]) -> Vec<ValueList> {
        let mut global = [f64::NAN; ACTIVE + 1];
        let mut per_cpu = Vec::new();
        for (cpu, now) in staged {
            let mut rates = [f64::NAN; ACTIVE + 1];
            if let Some(before) = self.previous.get(cpu) {
                for state in 0..ACTIVE {
                    if let (Some(a), Some(b)) = (before[state], now[state]) {
                        // A counter that went down (CPU re-plugged) gives no rate this time.
                        if b >= a {
                            rates[state] = (b - a) as f64;
                        }
                    }
                }
            }
            for state in 0..ACTIVE {
                rate_add(&mut global[state], rates[state]);
                if state != IDLE {
                    let rate = rates[state];
                    rate_add(&mut rates[ACTIVE], rate);
                }
            }
            rate_add(&mut global[ACTIVE], rates[ACTIVE]);
            per_cpu.push((Some(*cpu), rates));
        }
        let commits = if self.by_cpu {
            per_cpu
        } else {
            vec![(None, global)]
        };
        let mut out = Vec::new();
        for (cpu, rates) in commits {
            let mut sum = rates[ACTIVE];
            rate_add(&mut sum, rates[IDLE]);
            let states = if self.by_state {
                0..ACTIVE
            } else {
                ACTIVE..ACTIVE + 1
            };
            for state in states {
                let percent = 100.0 * rates[state] / sum;
                if percent.is_nan() {
                    continue;
                }
                let vl = ValueList::new("cpu", "percent", vec![Value::Gauge(percent)])
                    .type_instance(STATES[state]);
                out.push(match cpu {
                    Some(cpu) => vl.plugin_instance(&cpu.to_string()),
                    None => vl,
                });
            }
        }
        out
    }
}

/// collectd's `RATE_ADD`: NaN plus a value is the value; a NaN value adds nothing.
fn rate_add(sum: &mut f64, value: f64) {
    if sum.is_nan() {
        *sum = value;
    } else if !value.is_nan() {
        *sum += value;
    }
}

/// The `cpuN` lines of `/proc/stat` (not the `cpu` total): CPU number and its values, up to
/// the first one that is not a number.
fn parse_stat(text: &str) -> Vec<(usize, Vec<i64>)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let cpu = fields.next()?.strip_prefix("cpu")?.parse().ok()?;
            let values = fields
                .map_while(|f| f.parse::<u64>().ok())
                .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
                .collect();
            Some((cpu, values))
        })
        .collect()
}

impl ReadPlugin for Cpu {
    /// `cpu-<n>/cpu-<state>` (DERIVE jiffies), or `cpu-<n>/percent-<state>`, `cpu/percent-*`,
    /// `*/percent-active` with the options; `cpu/count` with ReportNumCpu.
    fn read(&mut self) -> Result<Vec<ValueList>, PluginError> {
        let path = self.proc_root.join("stat");
        let text = read_file(&path)?;
        Ok(self.read.collect(&text))
    }
}

fn read_file(path: &Path) -> Result<String, PluginError> {
    fs::read_to_string(path)
        .map_err(|e| PluginError::failed(format!("cannot read {}: {e}", path.display())))
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
