//! Role *read*: physical memory by use from `/proc/meminfo`, as collectd 5.12's memory plugin
//! computes it on Linux (`memory/memory-<use>` bytes, `memory/percent-<use>` with
//! `ValuesPercentage`).

use std::fs;

use plugin_api::{InitContext, PluginError, ReadPlugin, ValueList};

use crate::Memory;

/// The read role's options.
#[derive(Debug)]
pub(crate) struct MemoryRead {
    absolute: bool,
    percentage: bool,
}

impl MemoryRead {
    /// Reads the options; collectd's defaults (absolute values only).
    pub(crate) fn from_options(ctx: &InitContext) -> Result<MemoryRead, PluginError> {
        Ok(MemoryRead {
            absolute: ctx.option_bool("ValuesAbsolute", true)?,
            percentage: ctx.option_bool("ValuesPercentage", false)?,
        })
    }
}

/// collectd's split of `MemTotal`, in bytes and in its order:
/// used = MemTotal - (MemFree + Buffers + Cached + Slab); the slab as `slab_unrecl` and
/// `slab_recl` (SUnreclaim, SReclaimable) when the kernel has them (2.6.19), else `slab`.
fn split(text: &str) -> Result<Vec<(&'static str, f64)>, String> {
    let meminfo = procparse::meminfo::parse(text).map_err(|e| e.to_string())?;
    let get = |key: &str| meminfo.get(key).map(|bytes| bytes as f64);
    let (total, free) = (get("MemTotal"), get("MemFree"));
    let (buffered, cached, slab) = (
        get("Buffers").unwrap_or(0.0),
        get("Cached").unwrap_or(0.0),
        get("Slab").unwrap_or(0.0),
    );
    let (recl, unrecl) = (get("SReclaimable"), get("SUnreclaim"));
    let total = total.ok_or("no MemTotal line")?;
    let free = free.ok_or("no MemFree line")?;
    let not_used = free + buffered + cached + slab;
    if total < not_used {
        return Err("MemFree + Buffers + Cached + Slab exceed MemTotal".into());
    }
    let mut out = vec![
        ("used", total - not_used),
        ("buffered", buffered),
        ("cached", cached),
        ("free", free),
    ];
    match (unrecl, recl) {
        (None, None) => out.push(("slab", slab)),
        (unrecl, recl) => {
            out.push(("slab_unrecl", unrecl.unwrap_or(0.0)));
            out.push(("slab_recl", recl.unwrap_or(0.0)));
        }
    }
    Ok(out)
}

impl MemoryRead {
    /// collectd's `plugin_dispatch_multivalue`: type `memory` and/or `percent` of the sum.
    fn lists(&self, values: &[(&str, f64)]) -> Vec<ValueList> {
        ValueList::new("memory", "memory", vec![]).multivalue(
            values,
            self.absolute,
            self.percentage,
        )
    }
}

impl ReadPlugin for Memory {
    /// `memory/memory-{used,buffered,cached,free,slab_unrecl,slab_recl}` in bytes, and/or
    /// `memory/percent-*`.
    fn read(&mut self) -> Result<Vec<ValueList>, PluginError> {
        let path = self.proc_root.join("meminfo");
        let text = fs::read_to_string(&path)
            .map_err(|e| PluginError::failed(format!("cannot read {}: {e}", path.display())))?;
        let values = split(&text)
            .map_err(|e| PluginError::failed(format!("cannot use {}: {e}", path.display())))?;
        Ok(self.read.lists(&values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::Plugin;
    use plugin_api::types_db::TypesDb;
    use std::path::Path;

    fn fixture(case: &str, options: &[(&str, &str)]) -> Result<Memory, PluginError> {
        let base = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(case);
        Memory::init(&InitContext::rooted_at(&base).with_options(options))
    }

    fn read(case: &str, options: &[(&str, &str)]) -> Vec<(String, f64)> {
        let db = TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap();
        let lists = fixture(case, options).unwrap().read().unwrap();
        db.check_all(&lists).unwrap();
        lists
            .iter()
            .map(|vl| (vl.identifier(), vl.values[0].as_f64()))
            .collect()
    }

    fn kib(v: u64) -> f64 {
        (v * 1024) as f64
    }

    #[test]
    fn collectd_split_with_detailed_slab() {
        let got = read("debian12", &[]);
        let want = [
            (
                "memory/memory-used",
                kib(24_684_092 - 23_148_960 - 5104 - 1_159_296 - 144_360),
            ),
            ("memory/memory-buffered", kib(5104)),
            ("memory/memory-cached", kib(1_159_296)),
            ("memory/memory-free", kib(23_148_960)),
            ("memory/memory-slab_unrecl", kib(26_904)),
            ("memory/memory-slab_recl", kib(117_456)),
        ];
        let want: Vec<(String, f64)> = want.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        assert_eq!(got, want);
        // The parts add up to MemTotal.
        assert_eq!(got.iter().map(|(_, v)| v).sum::<f64>(), kib(24_684_092));
    }

    #[test]
    fn old_kernel_reports_slab() {
        let got = read("old_kernel", &[]);
        assert_eq!(got.len(), 5);
        assert_eq!(
            got[0],
            (
                "memory/memory-used".into(),
                kib(1_000_000 - 200_000 - 50_000 - 300_000 - 40_000)
            )
        );
        assert_eq!(got[4], ("memory/memory-slab".into(), kib(40_000)));
    }

    #[test]
    fn percentages() {
        let got = read(
            "old_kernel",
            &[("ValuesAbsolute", "false"), ("ValuesPercentage", "true")],
        );
        let want = [
            ("memory/percent-used", 41.0),
            ("memory/percent-buffered", 5.0),
            ("memory/percent-cached", 30.0),
            ("memory/percent-free", 20.0),
            ("memory/percent-slab", 4.0),
        ];
        assert_eq!(got.len(), want.len());
        for ((id, v), (want_id, want_v)) in got.iter().zip(want) {
            assert_eq!(id, want_id);
            assert!((v - want_v).abs() < 1e-9, "{id}: {v}");
        }
        assert_eq!(read("debian12", &[("ValuesPercentage", "on")]).len(), 12);
    }

    #[test]
    fn errors() {
        let err = fixture("debian12", &[("ValuesAbsolute", "nah")])
            .err()
            .unwrap();
        assert_eq!(err.code, plugin_api::codes::INVALID_PARAMS);
        let err = fixture("broken", &[]).unwrap().read().unwrap_err();
        assert_eq!(err.code, plugin_api::codes::FAILED);
        assert!(err.message.contains("Cached"), "{}", err.message);
        let err = fixture("nowhere", &[]).unwrap().read().unwrap_err();
        assert!(
            err.message.contains("nowhere/proc/meminfo"),
            "{}",
            err.message
        );
        assert!(split("MemTotal: 10 kB\nMemFree: 20 kB\n").is_err());
        assert!(split("MemFree: 20 kB\n").is_err());
    }

    #[test]
    fn the_real_system_passes_types_db() {
        let ctx = InitContext::rooted_at(Path::new("/"));
        let mut plugin = Memory::init(&ctx).unwrap();
        let db = TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap();
        for _ in 0..2 {
            let lists = plugin.read().unwrap();
            db.check_all(&lists).unwrap();
            assert_eq!(lists.len(), 6);
        }
    }
}
