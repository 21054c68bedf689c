//! `getinfo.memory`: every `/proc/meminfo` line in bytes plus `free`'s summary; read role: collectd's memory plugin.
//! Files read: `/proc/meminfo` (under the context's proc root).

use std::fs;
use std::path::PathBuf;

use plugin_api::args;
use plugin_api::{InfoPlugin, InitContext, OptionSpec, Plugin, PluginError};
use procparse::meminfo::{self, Meminfo};
use serde_json::{Map, Value};

mod read;

/// The plugin instance: where to read `/proc` from, and the read role's options.
pub struct Memory {
    proc_root: PathBuf,
    read: read::MemoryRead,
}

impl Plugin for Memory {
    const NAME: &'static str = "memory";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "/proc/meminfo in bytes and a free-style summary";
    const OPTIONS: &'static [OptionSpec] = &[
        OptionSpec::boolean("ValuesAbsolute", "report type memory in bytes").default("true"),
        OptionSpec::boolean(
            "ValuesPercentage",
            "report type percent, each part's share of MemTotal",
        )
        .default("false"),
    ];

    fn init(ctx: &InitContext) -> Result<Self, PluginError> {
        Ok(Memory {
            proc_root: ctx.proc_root(),
            read: read::MemoryRead::from_options(ctx)?,
        })
    }
}

impl InfoPlugin for Memory {
    /// Takes no arguments; anything given is an invalid parameter.
    fn info(&mut self, args: &str) -> Result<Value, PluginError> {
        let mut parser = args::parser(args)?;
        if let Some(arg) = parser.next().map_err(args::invalid)? {
            return Err(args::unexpected(arg));
        }
        let path = self.proc_root.join("meminfo");
        let text = fs::read_to_string(&path)
            .map_err(|e| PluginError::failed(format!("cannot read {}: {e}", path.display())))?;
        let failed =
            |e: String| PluginError::failed(format!("cannot parse {}: {e}", path.display()));
        let meminfo = procparse::meminfo::parse(&text).map_err(|e| failed(e.to_string()))?;
        let mut doc = summary(&meminfo).map_err(failed)?;
        let lines: Map<String, Value> = meminfo
            .lines
            .iter()
            .map(|l| (output_key(l), Value::from(l.value)))
            .collect();
        doc.insert("meminfo".into(), Value::Object(lines));
        Ok(Value::Object(doc))
    }
}

/// The output key of a line: the snake_cased kernel key, with `_bytes` when the line had a
/// unit (`MemTotal` -> `mem_total_bytes`, `HugePages_Total` -> `huge_pages_total`).
fn output_key(line: &meminfo::Line) -> String {
    let mut key = snake_case(line.key);
    if line.unit == meminfo::Unit::Bytes {
        key.push_str("_bytes");
    }
    key
}

/// `MemTotal` -> `mem_total`, `SReclaimable` -> `s_reclaimable`, `Active(anon)` -> `active_anon`,
/// `NFS_Unstable` -> `nfs_unstable`, `DirectMap4k` -> `direct_map4k`.
fn snake_case(key: &str) -> String {
    let chars: Vec<char> = key.trim().chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        if c.is_ascii_uppercase() && i > 0 && !out.ends_with('_') {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase() || (prev.is_ascii_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// The `free`-style summary: `used = total - free - buffers - cached - SReclaimable`.
fn summary(meminfo: &Meminfo) -> Result<Map<String, Value>, String> {
    let get = |key: &str| meminfo.get(key);
    let total = get("MemTotal").ok_or("no MemTotal line")?;
    let free = get("MemFree").ok_or("no MemFree line")?;
    let buffers = get("Buffers").unwrap_or(0);
    let cached = get("Cached").unwrap_or(0);
    let reclaimable = get("SReclaimable").unwrap_or(0);
    // Saturating: values near 2^64 bytes must not overflow into a panic.
    let buff_cache = buffers.saturating_add(cached).saturating_add(reclaimable);
    let used = total.saturating_sub(free.saturating_add(buff_cache));
    let swap_total = get("SwapTotal");
    let swap_free = get("SwapFree");
    let swap_used = swap_total.zip(swap_free).map(|(t, f)| t.saturating_sub(f));
    let used_percent = if total == 0 {
        0.0
    } else {
        (used as f64 * 10_000.0 / total as f64).round() / 100.0
    };

    let mut doc = Map::new();
    doc.insert("total_bytes".into(), total.into());
    doc.insert("free_bytes".into(), free.into());
    // MemAvailable exists since Linux 3.14.
    doc.insert("available_bytes".into(), get("MemAvailable").into());
    doc.insert("used_bytes".into(), used.into());
    doc.insert("buffers_bytes".into(), buffers.into());
    doc.insert("cached_bytes".into(), cached.into());
    doc.insert("buff_cache_bytes".into(), buff_cache.into());
    doc.insert("shared_bytes".into(), get("Shmem").into());
    doc.insert("swap_total_bytes".into(), swap_total.into());
    doc.insert("swap_free_bytes".into(), swap_free.into());
    doc.insert("swap_used_bytes".into(), swap_used.into());
    doc.insert("used_percent".into(), used_percent.into());
    Ok(doc)
}

plugin_api::export_plugin!(Memory, roles: [info, read]);

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(case: &str) -> Memory {
        let base = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(case);
        Memory::init(&InitContext::rooted_at(&base)).unwrap()
    }

    #[test]
    fn snake_cases_kernel_keys() {
        for (raw, want) in [
            ("MemTotal", "mem_total"),
            ("SReclaimable", "s_reclaimable"),
            ("Active(anon)", "active_anon"),
            ("Inactive(file)", "inactive_file"),
            ("NFS_Unstable", "nfs_unstable"),
            ("Committed_AS", "committed_as"),
            ("HugePages_Total", "huge_pages_total"),
            ("Hugepagesize", "hugepagesize"),
            ("DirectMap4k", "direct_map4k"),
            ("DirectMap1G", "direct_map1g"),
            ("ShmemPmdMapped", "shmem_pmd_mapped"),
        ] {
            assert_eq!(snake_case(raw), want, "{raw}");
        }
    }

    #[test]
    fn converts_every_line() {
        let doc = fixture("debian12").info("").unwrap();
        let m = doc["meminfo"].as_object().unwrap();
        assert_eq!(m.len(), 54);
        assert_eq!(m["mem_total_bytes"], 24_684_092u64 * 1024);
        assert_eq!(m["active_anon_bytes"], 27_820u64 * 1024);
        assert_eq!(m["huge_pages_total"], 0);
        assert_eq!(m["hugepagesize_bytes"], 2048 * 1024);
        assert_eq!(m["vmalloc_total_bytes"], 34_359_738_367u64 * 1024);
    }

    #[test]
    fn summary_matches_free() {
        // `free -b` (procps-ng 3.3) on the machine the fixture came from: total 25276510208,
        // free 23704535040; used and buff/cache from the same lines by hand.
        let doc = fixture("debian12").info("").unwrap();
        assert_eq!(doc["total_bytes"], 25_276_510_208u64);
        assert_eq!(doc["free_bytes"], 23_704_535_040u64);
        assert_eq!(doc["used_bytes"], 259_354_624u64);
        assert_eq!(doc["buff_cache_bytes"], 1_312_620_544u64);
        assert_eq!(doc["available_bytes"], 24_671_076_352u64);
        assert_eq!(doc["shared_bytes"], 69_508u64 * 1024);
        assert_eq!(doc["swap_total_bytes"], 0);
        assert_eq!(doc["swap_used_bytes"], 0);
        assert_eq!(doc["used_percent"], 1.03);
    }

    #[test]
    fn old_kernel_and_swap() {
        let doc = fixture("old_kernel").info("").unwrap();
        assert_eq!(doc["available_bytes"], Value::Null);
        assert_eq!(doc["swap_total_bytes"], 2_097_148u64 * 1024);
        assert_eq!(doc["swap_used_bytes"], (2_097_148u64 - 1_048_576) * 1024);
        assert_eq!(
            doc["used_bytes"],
            (1_000_000u64 - 200_000 - 50_000 - 300_000) * 1024
        );
        assert_eq!(doc["used_percent"], 45.0);
    }

    #[test]
    fn huge_values_saturate() {
        let huge = u64::MAX / 1024;
        let text =
            format!("MemTotal: {huge} kB\nMemFree: {huge} kB\nBuffers: {huge} kB\nCached: 1 kB\n");
        let doc = summary(&procparse::meminfo::parse(&text).unwrap()).unwrap();
        assert_eq!(doc["used_bytes"], 0);
        assert_eq!(doc["buff_cache_bytes"], u64::MAX);
    }

    #[test]
    fn errors() {
        assert_eq!(fixture("debian12").info("-h").unwrap_err().code, 3021);
        assert_eq!(fixture("debian12").info("all").unwrap_err().code, 3021);
        let err = fixture("broken").info("").unwrap_err();
        assert_eq!(err.code, plugin_api::codes::FAILED);
        assert!(
            err.message.contains("meminfo") && err.message.contains("Cached"),
            "{}",
            err.message
        );
        assert!(
            fixture("nowhere")
                .info("")
                .unwrap_err()
                .message
                .contains("meminfo")
        );
    }
}
