//! `disk` read plugin: operations, bytes, merges and I/O time of each block device, as collectd 5.12's disk plugin on Linux.
//! Files read: `/proc/diskstats`.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

use plugin_api::{
    InitContext, OptionSpec, Plugin, PluginError, ReadPlugin, Selection, Value, ValueList,
};

/// The plugin instance: where `/proc` is, which disks to report, and what it remembers of
/// each disk between reads.
pub struct Disk {
    proc_root: PathBuf,
    select: Selection,
    /// The plugin's interval in seconds; collectd scales `disk_time` with it.
    interval: f64,
    disks: HashMap<String, DiskState>,
}

/// What collectd keeps per disk (`diskstats_t`).
#[derive(Debug, Default)]
struct DiskState {
    read_ops: u64,
    write_ops: u64,
    read_time: u64,
    write_time: u64,
    /// Accumulated average time per operation, scaled by the interval (`disk_time`).
    avg_read_time: i64,
    avg_write_time: i64,
    has_merged: bool,
    has_in_progress: bool,
    has_io_time: bool,
}

/// One line of `/proc/diskstats`.
#[derive(Debug, Default, PartialEq)]
struct Line {
    name: String,
    /// False for the 7-field partition lines of old 2.6 kernels, which lack the fields below
    /// `write_sectors`.
    is_disk: bool,
    read_ops: u64,
    read_merged: u64,
    read_sectors: u64,
    read_time: u64,
    write_ops: u64,
    write_merged: u64,
    write_sectors: u64,
    write_time: u64,
    in_progress: u64,
    io_time: u64,
    weighted_time: u64,
}

impl Plugin for Disk {
    const NAME: &'static str = "disk";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "block device I/O counters (/proc/diskstats)";
    const OPTIONS: &'static [OptionSpec] = &[
        OptionSpec::string(
            "Disk",
            "a device name to report, as in /proc/diskstats (sda)",
        )
        .repeated(),
        OptionSpec::boolean(
            "IgnoreSelected",
            "report every device except the listed ones",
        )
        .default("false"),
    ];

    fn init(ctx: &InitContext) -> Result<Self, PluginError> {
        Ok(Disk {
            proc_root: ctx.proc_root(),
            select: Selection::from_options(ctx, "Disk", "device name such as sda")?,
            interval: ctx.interval(),
            disks: HashMap::new(),
        })
    }
}

impl ReadPlugin for Disk {
    /// Per device `disk-<dev>/disk_octets`, `disk_ops`, `disk_time`, `disk_merged`,
    /// `pending_operations`, `disk_io_time`, from the first read on.
    fn read(&mut self) -> Result<Vec<ValueList>, PluginError> {
        let path = self.proc_root.join("diskstats");
        let text = fs::read_to_string(&path)
            .map_err(|e| PluginError::failed(format!("cannot read {}: {e}", path.display())))?;
        let lines = parse_diskstats(&text);
        // Forget disks that went away, so a disk that comes back starts afresh.
        self.disks
            .retain(|name, _| lines.iter().any(|l| &l.name == name));
        let mut out = Vec::new();
        for line in &lines {
            let ds = self.disks.entry(line.name.clone()).or_default();
            update(ds, line, self.interval);
            if (line.read_ops == 0 && line.write_ops == 0) || self.select.ignores(&line.name) {
                continue;
            }
            out.extend(lists(ds, line));
        }
        Ok(out)
    }
}

/// Folds one line into the disk's state. On a disk's first read the increments of `disk_time`
/// are measured from boot, which is where collectd's sum starts too.
fn update(ds: &mut DiskState, line: &Line, interval: f64) {
    if line.is_disk {
        let read_ops = counter_diff(ds.read_ops, line.read_ops);
        let write_ops = counter_diff(ds.write_ops, line.write_ops);
        let read_time = counter_diff(ds.read_time, line.read_time);
        let write_time = counter_diff(ds.write_time, line.write_time);
        if read_ops != 0 {
            ds.avg_read_time = ds
                .avg_read_time
                .saturating_add(time_incr(read_time, read_ops, interval));
        }
        if write_ops != 0 {
            ds.avg_write_time = ds
                .avg_write_time
                .saturating_add(time_incr(write_time, write_ops, interval));
        }
        ds.read_ops = line.read_ops;
        ds.write_ops = line.write_ops;
        ds.read_time = line.read_time;
        ds.write_time = line.write_time;
        ds.has_merged |= line.read_merged != 0 || line.write_merged != 0;
        ds.has_in_progress |= line.in_progress != 0;
        ds.has_io_time |= line.io_time != 0;
    }
}

/// The value lists of one disk, in collectd's order and under its conditions.
fn lists(ds: &DiskState, line: &Line) -> Vec<ValueList> {
    let pair = |type_: &str, a: u64, b: u64| {
        ValueList::new(
            "disk",
            type_,
            vec![Value::Derive(derive(a)), Value::Derive(derive(b))],
        )
        .plugin_instance(&line.name)
    };
    let mut out = Vec::new();
    let (read_bytes, write_bytes) = (
        line.read_sectors.saturating_mul(512),
        line.write_sectors.saturating_mul(512),
    );
    if read_bytes != 0 || write_bytes != 0 {
        out.push(pair("disk_octets", read_bytes, write_bytes));
    }
    out.push(pair("disk_ops", line.read_ops, line.write_ops));
    if ds.avg_read_time != 0 || ds.avg_write_time != 0 {
        out.push(
            ValueList::new(
                "disk",
                "disk_time",
                vec![
                    Value::Derive(ds.avg_read_time),
                    Value::Derive(ds.avg_write_time),
                ],
            )
            .plugin_instance(&line.name),
        );
    }
    if line.is_disk {
        if ds.has_merged {
            out.push(pair("disk_merged", line.read_merged, line.write_merged));
        }
        if ds.has_in_progress {
            out.push(
                ValueList::new(
                    "disk",
                    "pending_operations",
                    vec![Value::Gauge(line.in_progress as f64)],
                )
                .plugin_instance(&line.name),
            );
        }
        if ds.has_io_time {
            out.push(pair("disk_io_time", line.io_time, line.weighted_time));
        }
    }
    out
}

/// The increase of a kernel counter: collectd assumes a 32-bit wrap when it went down; a
/// 64-bit counter that went down was reset, so its new value is the increase.
fn counter_diff(old: u64, new: u64) -> u64 {
    if new >= old {
        new - old
    } else if old <= u64::from(u32::MAX) {
        1 + new + (u64::from(u32::MAX) - old)
    } else {
        new
    }
}

/// collectd's `disk_calc_time_incr`: the average time per operation (ms) times the interval,
/// rounded.
fn time_incr(delta_time: u64, delta_ops: u64, interval: f64) -> i64 {
    (interval * (delta_time as f64 / delta_ops as f64) + 0.5) as i64
}

fn derive(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Parses `/proc/diskstats`: `major minor name` then 4 fields (old partition lines) or 11 and
/// more (disks, and partitions since 2.6.25). Other lines are skipped.
fn parse_diskstats(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    for raw in text.lines() {
        let fields: Vec<&str> = raw.split_whitespace().collect();
        if fields.len() != 7 && fields.len() < 14 {
            continue;
        }
        let Some(numbers) = fields[3..]
            .iter()
            .map(|f| f.parse::<u64>().ok())
            .collect::<Option<Vec<u64>>>()
        else {
            continue;
        };
        let name = fields[2].to_string();
        let line = if let [read_ops, read_sectors, write_ops, write_sectors] = numbers[..] {
            Line {
                name,
                read_ops,
                read_sectors,
                write_ops,
                write_sectors,
                ..Line::default()
            }
        } else {
            let n = |i: usize| numbers[i - 3];
            Line {
                name,
                is_disk: true,
                read_ops: n(3),
                read_merged: n(4),
                read_sectors: n(5),
                read_time: n(6),
                write_ops: n(7),
                write_merged: n(8),
                write_sectors: n(9),
                write_time: n(10),
                in_progress: n(11),
                io_time: n(12),
                weighted_time: n(13),
            }
        };
        out.push(line);
    }
    out
}

plugin_api::export_plugin!(Disk, roles: [read]);

#[cfg(test)]
mod tests;
