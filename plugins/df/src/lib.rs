//! `df` read plugin: used, reserved and free space (and inodes) of each mounted file system, as collectd's df plugin.
//! Files read: `/proc/self/mounts` (or `/proc/mounts`); `statvfs(3)` of each mount point.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use plugin_api::{
    InitContext, OptionSpec, Plugin, PluginError, ReadPlugin, Selection, Value, ValueList,
};
use procparse::mounts::MountEntry;

mod mounts;

/// What `statvfs(3)` says about one file system (counts in `frsize` blocks).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FsStats {
    /// `f_blocks`: size of the file system.
    pub blocks: u64,
    /// `f_bfree`: free blocks, including the reserved ones.
    pub bfree: u64,
    /// `f_bavail`: blocks free for unprivileged users.
    pub bavail: u64,
    /// `f_frsize`: the block size the counts are in.
    pub frsize: u64,
    /// `f_files`: inodes.
    pub files: u64,
    /// `f_ffree`: free inodes, including reserved ones.
    pub ffree: u64,
    /// `f_favail`: inodes free for unprivileged users.
    pub favail: u64,
}

/// How the plugin asks for a file system's sizes: `statvfs(3)`, replaced in tests.
type StatFn = Box<dyn Fn(&Path) -> io::Result<FsStats> + Send>;

/// The plugin instance: where `/proc` is, collectd's options, and the `statvfs` to use.
pub struct Df {
    proc_root: PathBuf,
    devices: Selection,
    mount_points: Selection,
    fs_types: Selection,
    by_device: bool,
    report_inodes: bool,
    absolute: bool,
    percentage: bool,
    stat: StatFn,
    mounts: MountTable,
}

/// The mount table file, kept open, and what was parsed of it last time.
#[derive(Debug, Default)]
struct MountTable {
    /// The table file that could be read, open: reading it again from offset 0 gives the
    /// current table.
    file: Option<File>,
    /// The table as read last time, and the buffer for the next read.
    text: Vec<u8>,
    next: Vec<u8>,
    /// `text`, parsed.
    list: Vec<MountEntry>,
}

impl Plugin for Df {
    const NAME: &'static str = "df";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "file system space and inodes (mounts, statvfs)";
    const OPTIONS: &'static [OptionSpec] = &[
        OptionSpec::string(
            "MountPoint",
            "a mount point to report, exactly as in the mount table",
        )
        .repeated(),
        OptionSpec::string(
            "FSType",
            "a file system type to report (ext4, xfs, tmpfs, ...)",
        )
        .repeated(),
        OptionSpec::string("Device", "a device to report (/dev/sda1, tmpfs, ...)").repeated(),
        OptionSpec::boolean(
            "IgnoreSelected",
            "report everything but what MountPoint, FSType and Device select",
        )
        .default("false"),
        OptionSpec::boolean(
            "ReportByDevice",
            "name file systems by device instead of mount point",
        )
        .default("false"),
        OptionSpec::boolean("ReportInodes", "also report inodes").default("false"),
        OptionSpec::boolean(
            "ValuesAbsolute",
            "report df_complex in bytes (and df_inodes)",
        )
        .default("true"),
        OptionSpec::boolean(
            "ValuesPercentage",
            "report percent_bytes (and percent_inodes)",
        )
        .default("false"),
    ];

    fn init(ctx: &InitContext) -> Result<Self, PluginError> {
        // One IgnoreSelected inverts all three lists.
        let ignore_selected = ctx.option_bool("IgnoreSelected", false)?;
        let list = |key| Selection::from_options_with(ctx, key, "value", ignore_selected);
        Ok(Df {
            proc_root: ctx.proc_root(),
            devices: list("Device")?,
            mount_points: list("MountPoint")?,
            fs_types: list("FSType")?,
            by_device: ctx.option_bool("ReportByDevice", false)?,
            report_inodes: ctx.option_bool("ReportInodes", false)?,
            absolute: ctx.option_bool("ValuesAbsolute", true)?,
            percentage: ctx.option_bool("ValuesPercentage", false)?,
            stat: Box::new(statvfs),
            mounts: MountTable::default(),
        })
    }
}

impl ReadPlugin for Df {
    /// Per file system `df-<name>/df_complex-{free,reserved,used}` (bytes), with the options
    /// also `percent_bytes-*`, `df_inodes-*` and `percent_inodes-*`.
    fn read(&mut self) -> Result<Vec<ValueList>, PluginError> {
        self.refresh_mounts()?;
        let list = &self.mounts.list;
        let mut out = Vec::new();
        for (index, m) in list.iter().enumerate() {
            if self.devices.ignores(&m.device)
                || self.mount_points.ignores(&m.mount_point)
                || self.fs_types.ignores(&m.fs_type)
            {
                continue;
            }
            // The first mount of a point (or, by device, of a device) counts, as in collectd.
            let duplicate = list[..index].iter().any(|earlier| {
                if self.by_device {
                    earlier.device == m.device
                } else {
                    earlier.mount_point == m.mount_point
                }
            });
            if duplicate {
                continue;
            }
            // A mount we may not look at (or that went away) is left out, as collectd does.
            let Ok(st) = (self.stat)(Path::new(&m.mount_point)) else {
                continue;
            };
            // Pseudo file systems (proc, sysfs, cgroup, ...) have no blocks.
            if st.blocks == 0 {
                continue;
            }
            let name = if self.by_device {
                m.device
                    .strip_prefix("/dev/")
                    .unwrap_or(&m.device)
                    .to_string()
            } else {
                mounts::instance_name(&m.mount_point)
            };
            if name.is_empty() {
                continue;
            }
            out.extend(self.lists(&name, st));
        }
        Ok(out)
    }
}

impl Df {
    /// Reads the mount table (`<proc>/self/mounts`, else `<proc>/mounts`) into
    /// `self.mounts.list`, parsing it only when it changed since the last read.
    fn refresh_mounts(&mut self) -> Result<(), PluginError> {
        let table = &mut self.mounts;
        let held = table.file.as_ref().map(|f| read_text(f, &mut table.next));
        let len = match held {
            Some(Ok(len)) => len,
            _ => {
                table.file = None;
                let own = self.proc_root.join("self/mounts");
                let all = self.proc_root.join("mounts");
                let mut result = Err(io::Error::from(io::ErrorKind::NotFound));
                for path in [&own, &all] {
                    result = File::open(path).and_then(|file| {
                        let len = read_text(&file, &mut table.next)?;
                        table.file = Some(file);
                        Ok(len)
                    });
                    if result.is_ok() {
                        break;
                    }
                }
                result.map_err(|e| {
                    PluginError::failed(format!(
                        "cannot read {} or {}: {e}",
                        own.display(),
                        all.display()
                    ))
                })?
            }
        };
        table.next.truncate(len);
        if table.next != table.text {
            std::mem::swap(&mut table.next, &mut table.text);
            table.list = procparse::mounts::parse(&table.text);
        }
        Ok(())
    }

    /// collectd's sanity fixes and arithmetic, then the lists in its order.
    fn lists(&self, name: &str, mut st: FsStats) -> Vec<ValueList> {
        let mut out = Vec::new();
        let one = |type_: &str, instance: &str, v: f64| {
            ValueList::new("df", type_, vec![Value::Gauge(v)])
                .plugin_instance(name)
                .type_instance(instance)
        };
        // Make sure that blocks >= bfree >= bavail (some file systems report otherwise).
        if (st.bavail as i64) < 0 {
            st.bavail = 0;
        }
        st.bfree = st.bfree.max(st.bavail);
        st.blocks = st.blocks.max(st.bfree);
        let blk = [
            ("free", st.bavail),
            ("reserved", st.bfree - st.bavail),
            ("used", st.blocks - st.bfree),
        ];
        if self.absolute {
            for (instance, count) in blk {
                let bytes = count as f64 * st.frsize as f64;
                out.push(one("df_complex", instance, bytes));
            }
        }
        if self.percentage {
            for (instance, count) in blk {
                let percent = count as f64 / st.blocks as f64 * 100.0;
                out.push(one("percent_bytes", instance, percent));
            }
        }
        if self.report_inodes && st.files != 0 && st.ffree != 0 {
            st.ffree = st.ffree.max(st.favail);
            st.files = st.files.max(st.ffree);
            let inodes = [
                ("free", st.favail),
                ("reserved", st.ffree - st.favail),
                ("used", st.files - st.ffree),
            ];
            if self.percentage {
                for (instance, count) in inodes {
                    let percent = count as f64 / st.files as f64 * 100.0;
                    out.push(one("percent_inodes", instance, percent));
                }
            }
            if self.absolute {
                for (instance, count) in inodes {
                    out.push(one("df_inodes", instance, count as f64));
                }
            }
        }
        out
    }
}

/// Reads `file` from offset 0 into `buf` (grown as needed), returning the length (bytes: a
/// mount point need not be UTF-8). A read that leaves room in the buffer got the whole file: the kernel
/// generates the mount table in one go, and regular files only read short at their end.
fn read_text(file: &File, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut size = buf.capacity().max(4096);
    loop {
        buf.resize(size, 0);
        let len = file.read_at(buf, 0)?;
        if len < size {
            return Ok(len);
        }
        size *= 2;
    }
}

/// `statvfs(3)` of `path`.
fn statvfs(path: &Path) -> io::Result<FsStats> {
    let st = nix::sys::statvfs::statvfs(path).map_err(io::Error::from)?;
    Ok(FsStats {
        blocks: st.blocks(),
        bfree: st.blocks_free(),
        bavail: st.blocks_available(),
        frsize: st.fragment_size(),
        files: st.files(),
        ffree: st.files_free(),
        favail: st.files_available(),
    })
}

plugin_api::export_plugin!(Df, roles: [read]);

#[cfg(test)]
mod tests;
