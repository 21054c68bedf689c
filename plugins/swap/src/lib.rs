//! `swap` read plugin: swap space used/free/cached and pages swapped in/out, as collectd's swap plugin.
//! Files read: `/proc/meminfo`, `/proc/vmstat`; with `ReportByDevice` `/proc/swaps` instead of `/proc/meminfo`.

use std::fs;
use std::path::{Path, PathBuf};

use plugin_api::{InitContext, OptionSpec, Plugin, PluginError, ReadPlugin, Value, ValueList};

/// The plugin instance: where `/proc` is, and collectd's options.
pub struct Swap {
    proc_root: PathBuf,
    by_device: bool,
    report_io: bool,
    /// Page size in bytes when `ReportBytes` is on, else `None` (swap_io in pages).
    bytes_per_page: Option<i64>,
    absolute: bool,
    percentage: bool,
}

impl Plugin for Swap {
    const NAME: &'static str = "swap";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "swap space and swap I/O (/proc/meminfo, /proc/vmstat)";
    const OPTIONS: &'static [OptionSpec] = &[
        OptionSpec::boolean(
            "ReportByDevice",
            "used and free per device of /proc/swaps instead of the totals",
        )
        .default("false"),
        OptionSpec::boolean("ReportBytes", "swap_io in bytes instead of pages").default("false"),
        OptionSpec::boolean("ReportIO", "report swap_io").default("true"),
        OptionSpec::boolean("ValuesAbsolute", "report type swap in bytes").default("true"),
        OptionSpec::boolean("ValuesPercentage", "report type percent of the swap total")
            .default("false"),
    ];

    fn init(ctx: &InitContext) -> Result<Self, PluginError> {
        let bytes_per_page = if ctx.option_bool("ReportBytes", false)? {
            Some(page_size()?)
        } else {
            None
        };
        Ok(Swap {
            proc_root: ctx.proc_root(),
            by_device: ctx.option_bool("ReportByDevice", false)?,
            report_io: ctx.option_bool("ReportIO", true)?,
            bytes_per_page,
            absolute: ctx.option_bool("ValuesAbsolute", true)?,
            percentage: ctx.option_bool("ValuesPercentage", false)?,
        })
    }
}

impl ReadPlugin for Swap {
    /// `swap/swap-{used,free,cached}` (bytes) and/or `swap/percent-*`, then `swap/swap_io-{in,out}`.
    fn read(&mut self) -> Result<Vec<ValueList>, PluginError> {
        let mut out = Vec::new();
        if self.by_device {
            let path = self.proc_root.join("swaps");
            for (device, used, free) in parse_swaps(&read(&path)?) {
                let values = [("used", used), ("free", free)];
                out.extend(self.usage(&device, &values));
            }
        } else {
            let path = self.proc_root.join("meminfo");
            let usage = parse_meminfo(&read(&path)?)
                .map_err(|e| PluginError::failed(format!("cannot use {}: {e}", path.display())))?;
            out.extend(self.usage("", &usage));
        }
        if self.report_io {
            let path = self.proc_root.join("vmstat");
            // Kernels without swap accounting (OpenVZ) lack the lines: report no swap_io then.
            if let Some((swap_in, swap_out)) = parse_vmstat(&read(&path)?) {
                let scale = self.bytes_per_page.unwrap_or(1);
                for (name, pages) in [("in", swap_in), ("out", swap_out)] {
                    let value = Value::Derive(pages.saturating_mul(scale));
                    out.push(ValueList::new("swap", "swap_io", vec![value]).type_instance(name));
                }
            }
        }
        Ok(out)
    }
}

impl Swap {
    /// collectd's `plugin_dispatch_multivalue`: the values as type `swap` (ValuesAbsolute)
    /// and/or as type `percent` of their sum (ValuesPercentage).
    fn usage(&self, instance: &str, values: &[(&str, f64)]) -> Vec<ValueList> {
        ValueList::new("swap", "swap", vec![])
            .plugin_instance(instance)
            .multivalue(values, self.absolute, self.percentage)
    }
}

fn read(path: &Path) -> Result<String, PluginError> {
    fs::read_to_string(path)
        .map_err(|e| PluginError::failed(format!("cannot read {}: {e}", path.display())))
}

fn page_size() -> Result<i64, PluginError> {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE) {
        Ok(Some(size)) if size > 0 => Ok(size),
        other => Err(PluginError::failed(format!(
            "ReportBytes: cannot get the page size: {other:?}"
        ))),
    }
}

/// `used`, `free` and (when the kernel has it) `cached` swap in bytes, from `/proc/meminfo`:
/// used = SwapTotal - SwapFree - SwapCached, as collectd computes it.
fn parse_meminfo(text: &str) -> Result<Vec<(&'static str, f64)>, String> {
    let meminfo = procparse::meminfo::parse(text).map_err(|e| e.to_string())?;
    let (total, free) = (meminfo.get("SwapTotal"), meminfo.get("SwapFree"));
    let cached = meminfo.get("SwapCached");
    let (total, free) = total.zip(free).ok_or("no SwapTotal or SwapFree line")?;
    let used = free
        .checked_add(cached.unwrap_or(0))
        .and_then(|not_used| total.checked_sub(not_used))
        .ok_or("SwapFree + SwapCached exceed SwapTotal")?;
    let mut out = vec![("used", used as f64), ("free", free as f64)];
    // Some systems (OpenVZ) have no SwapCached line; collectd then reports used and free only.
    if let Some(cached) = cached {
        out.push(("cached", cached as f64));
    }
    Ok(out)
}

/// Each swap device of `/proc/swaps` as (plugin instance, used bytes, free bytes). The
/// instance is the path the way collectd escapes it: `/dev/dm-1` becomes `dev_dm-1`.
fn parse_swaps(text: &str) -> Vec<(String, f64, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [path, _kind, size, used, _priority] = fields[..] else {
            continue;
        };
        let (Ok(size), Ok(used)) = (size.parse::<u64>(), used.parse::<u64>()) else {
            continue; // the header line
        };
        if size < used {
            continue;
        }
        let kib = |v: u64| v as f64 * 1024.0;
        out.push((escape_slashes(path), kib(used), kib(size - used)));
    }
    out
}

/// collectd's `escape_slashes`: `/` alone becomes `root`, a leading `/` goes, others become `_`.
fn escape_slashes(path: &str) -> String {
    if path == "/" {
        return "root".into();
    }
    path.strip_prefix('/').unwrap_or(path).replace('/', "_")
}

/// `pswpin` and `pswpout` (pages) from `/proc/vmstat`, if both are there.
fn parse_vmstat(text: &str) -> Option<(i64, i64)> {
    let (mut swap_in, mut swap_out) = (None, None);
    for line in text.lines() {
        match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["pswpin", v] => swap_in = v.parse().ok(),
            ["pswpout", v] => swap_out = v.parse().ok(),
            _ => {}
        }
    }
    swap_in.zip(swap_out)
}

plugin_api::export_plugin!(Swap, roles: [read]);

#[cfg(test)]
mod tests;
