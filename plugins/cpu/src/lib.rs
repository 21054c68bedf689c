//! `getinfo.cpu`: processor model, topology, flags and frequencies; read role: collectd's cpu plugin.
//! Files read: `/proc/cpuinfo`, `/proc/stat` (read role), `/sys/devices/system/cpu/online`, `/sys/devices/system/cpu/cpu*/cpufreq/*`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use plugin_api::args::{self, lexopt::Arg};
use plugin_api::{InfoPlugin, InitContext, OptionSpec, Plugin, PluginError};
use serde_json::{Map, Value};

mod read;

/// The plugin instance: where to read `/proc` and `/sys` from, and the read role's state.
pub struct Cpu {
    proc_root: PathBuf,
    sys_root: PathBuf,
    read: read::CpuRead,
}

/// One `processor` block of `/proc/cpuinfo`: its `key : value` lines.
type Block = BTreeMap<String, String>;

/// What `/proc/cpuinfo` says, summarised.
#[derive(Debug, PartialEq)]
struct Summary {
    model_name: Option<String>,
    vendor_id: Option<String>,
    sockets: u64,
    cores: u64,
    threads: u64,
    flags: Vec<String>,
    mhz: Vec<f64>,
    cache_size_bytes: Option<u64>,
    bogomips: Option<f64>,
}

impl Plugin for Cpu {
    const NAME: &'static str = "cpu";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "processor model, topology, flags and frequencies";
    const OPTIONS: &'static [OptionSpec] = &[
        OptionSpec::boolean(
            "ReportByCpu",
            "per CPU; false: the sum over all CPUs, as percentages",
        )
        .default("true"),
        OptionSpec::boolean(
            "ReportByState",
            "per state; false: only active (all but idle), as percentages",
        )
        .default("true"),
        OptionSpec::boolean("ReportNumCpu", "also cpu/count, the number of CPUs").default("false"),
        OptionSpec::boolean("ValuesPercentage", "percentages instead of jiffies").default("false"),
        OptionSpec::boolean("ReportGuestState", "also the guest and guest_nice states")
            .default("false"),
        OptionSpec::boolean(
            "SubtractGuestState",
            "with ReportGuestState, take guest time out of user and nice",
        )
        .default("true"),
    ];

    fn init(ctx: &InitContext) -> Result<Self, PluginError> {
        Ok(Cpu {
            proc_root: ctx.proc_root(),
            sys_root: ctx.sys_root(),
            read: read::CpuRead::from_options(ctx)?,
        })
    }
}

impl InfoPlugin for Cpu {
    /// Arguments: `-f` (`--no-flags`) leaves out the (long) `flags` array.
    fn info(&mut self, args: &str) -> Result<Value, PluginError> {
        let mut with_flags = true;
        let mut parser = args::parser(args)?;
        while let Some(arg) = parser.next().map_err(args::invalid)? {
            match arg {
                Arg::Short('f') | Arg::Long("no-flags") => with_flags = false,
                other => return Err(args::unexpected(other)),
            }
        }

        let path = self.proc_root.join("cpuinfo");
        let text = fs::read_to_string(&path)
            .map_err(|e| PluginError::failed(format!("cannot read {}: {e}", path.display())))?;
        let s = summarise(&parse_cpuinfo(&text))
            .map_err(|e| PluginError::failed(format!("cannot parse {}: {e}", path.display())))?;

        let mut doc = Map::new();
        let mut unavailable: Vec<String> = Vec::new();
        doc.insert("model_name".into(), s.model_name.into());
        doc.insert("vendor_id".into(), s.vendor_id.into());
        doc.insert("sockets".into(), s.sockets.into());
        doc.insert("cores".into(), s.cores.into());
        doc.insert("threads".into(), s.threads.into());
        doc.insert(
            "cores_per_socket".into(),
            (s.cores / s.sockets.max(1)).into(),
        );
        doc.insert(
            "threads_per_core".into(),
            (s.threads / s.cores.max(1)).into(),
        );
        if with_flags {
            doc.insert("flags".into(), s.flags.into());
        }
        let average = (!s.mhz.is_empty()).then(|| s.mhz.iter().sum::<f64>() / s.mhz.len() as f64);
        doc.insert("mhz_average".into(), average.map(round3).into());
        doc.insert("mhz_per_processor".into(), s.mhz.into());
        doc.insert("cache_size_bytes".into(), s.cache_size_bytes.into());
        doc.insert("bogomips".into(), s.bogomips.into());

        let freq = self.cpufreq()?;
        let pick = |key: &'static str| freq.iter().filter_map(move |f| f[key].as_f64());
        doc.insert("max_mhz".into(), pick("max_mhz").reduce(f64::max).into());
        doc.insert("min_mhz".into(), pick("min_mhz").reduce(f64::min).into());
        // Virtual machines and containers often have no cpufreq at all: say so with one null.
        let any = freq.iter().any(|f| {
            ["cur_mhz", "max_mhz", "min_mhz"]
                .iter()
                .any(|k| !f[*k].is_null())
        });
        doc.insert(
            "cpufreq".into(),
            if any { freq.into() } else { Value::Null },
        );

        let path = self.cpu_dir().join("online");
        match fs::read_to_string(&path) {
            Ok(text) => {
                let online = parse_cpu_list(&text).map_err(|e| {
                    PluginError::failed(format!("cannot parse {}: {e}", path.display()))
                })?;
                doc.insert("online".into(), text.trim().into());
                doc.insert("online_count".into(), online.len().into());
                doc.insert("online_cpus".into(), online.into());
            }
            Err(_) => {
                unavailable.push(path.display().to_string());
                for key in ["online", "online_count", "online_cpus"] {
                    doc.insert(key.into(), Value::Null);
                }
            }
        }
        doc.insert("unavailable".into(), unavailable.into());
        Ok(Value::Object(doc))
    }
}

impl Cpu {
    fn cpu_dir(&self) -> PathBuf {
        self.sys_root.join("devices/system/cpu")
    }

    /// Per-CPU frequencies (MHz) from `cpu<N>/cpufreq`, one entry per `cpu<N>` directory; a value
    /// the kernel does not offer is null.
    fn cpufreq(&self) -> Result<Vec<Value>, PluginError> {
        let mut cpus: Vec<(u32, PathBuf)> = match fs::read_dir(self.cpu_dir()) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let n = name.strip_prefix("cpu")?.parse().ok()?;
                    Some((n, e.path()))
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        cpus.sort();
        let mut out = Vec::new();
        for (n, dir) in cpus {
            let mut entry = Map::new();
            entry.insert("cpu".into(), n.into());
            for (file, key) in [
                ("scaling_cur_freq", "cur_mhz"),
                ("cpuinfo_max_freq", "max_mhz"),
                ("cpuinfo_min_freq", "min_mhz"),
            ] {
                entry.insert(
                    key.into(),
                    read_khz_as_mhz(&dir.join("cpufreq").join(file))?.into(),
                );
            }
            out.push(Value::Object(entry));
        }
        Ok(out)
    }
}

/// Reads a cpufreq file (kHz) as MHz; `None` when it is absent or unreadable.
fn read_khz_as_mhz(path: &Path) -> Result<Option<f64>, PluginError> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let khz: u64 = text.trim().parse().map_err(|e| {
                PluginError::failed(format!("cannot parse {}: {e}", path.display()))
            })?;
            Ok(Some(khz as f64 / 1000.0))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        // cpufreq files can be root-only or refuse reads on some hypervisors.
        Err(_) => Ok(None),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Splits `/proc/cpuinfo` into its `processor` blocks (others, such as ARM's trailing
/// `Hardware` block, are dropped).
fn parse_cpuinfo(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current = Block::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if current.contains_key("processor") {
                blocks.push(std::mem::take(&mut current));
            } else {
                current.clear();
            }
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            current.insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    blocks
}

/// The first of `keys` (case-insensitive) that a block has.
fn field<'a>(block: &'a Block, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| {
        block
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    })
}

/// Counts sockets, cores and threads and picks the descriptive fields from the first processor.
fn summarise(blocks: &[Block]) -> Result<Summary, String> {
    let first = blocks.first().ok_or("no `processor` entries")?;
    let threads = blocks.len() as u64;
    let physical: BTreeSet<&str> = blocks
        .iter()
        .filter_map(|b| field(b, &["physical id"]))
        .collect();
    let cores: BTreeSet<(&str, &str)> = blocks
        .iter()
        .filter_map(|b| {
            Some((
                field(b, &["physical id"]).unwrap_or("0"),
                field(b, &["core id"])?,
            ))
        })
        .collect();
    let mut mhz = Vec::new();
    for b in blocks {
        if let Some(v) = field(b, &["cpu MHz"]) {
            mhz.push(
                v.parse::<f64>()
                    .map_err(|e| format!("bad cpu MHz `{v}`: {e}"))?,
            );
        }
    }
    let bogomips = match field(first, &["bogomips"]) {
        Some(v) => Some(
            v.parse::<f64>()
                .map_err(|e| format!("bad bogomips `{v}`: {e}"))?,
        ),
        None => None,
    };
    let cache_size_bytes = field(first, &["cache size"]).map(parse_size).transpose()?;
    Ok(Summary {
        model_name: field(first, &["model name", "cpu model"]).map(str::to_string),
        vendor_id: field(first, &["vendor_id"]).map(str::to_string),
        sockets: if physical.is_empty() {
            1
        } else {
            physical.len() as u64
        },
        cores: if cores.is_empty() {
            threads
        } else {
            cores.len() as u64
        },
        threads,
        flags: field(first, &["flags", "Features"])
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        mhz,
        cache_size_bytes,
        bogomips,
    })
}

/// Parses a size such as `1024 KB` or `8 MiB` into bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("bad cache size `{text}`");
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..split].parse().map_err(|_| bad())?;
    let factor = match text[split..].trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(bad()),
    };
    number.checked_mul(factor).ok_or_else(bad)
}

/// Parses a kernel CPU list such as `0-3,5,7-8`.
fn parse_cpu_list(text: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let num = |s: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|e| format!("bad CPU `{s}`: {e}"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("bad range `{part}`"));
                }
                out.extend(a..=b);
            }
            None => out.push(num(part)?),
        }
    }
    Ok(out)
}

plugin_api::export_plugin!(Cpu, roles: [info, read]);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(case: &str) -> Cpu {
        let base = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(case);
        Cpu::init(&InitContext::rooted_at(&base)).unwrap()
    }

    #[test]
    fn parses_sizes_and_lists() {
        assert_eq!(parse_size("1024 KB").unwrap(), 1 << 20);
        assert_eq!(parse_size("8 MiB").unwrap(), 8 << 20);
        assert!(parse_size("lots").is_err());
        assert_eq!(
            parse_cpu_list("0-3,5,7-8\n").unwrap(),
            [0, 1, 2, 3, 5, 7, 8]
        );
        assert_eq!(parse_cpu_list("0\n").unwrap(), [0]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("a-b").is_err());
    }

    #[test]
    fn two_sockets_with_hyperthreading() {
        let doc = fixture("x86_2s").info("").unwrap();
        assert_eq!(
            doc["model_name"],
            "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz"
        );
        assert_eq!(doc["vendor_id"], "GenuineIntel");
        assert_eq!(doc["sockets"], 2);
        assert_eq!(doc["cores"], 4);
        assert_eq!(doc["threads"], 8);
        assert_eq!(doc["threads_per_core"], 2);
        assert_eq!(doc["cores_per_socket"], 2);
        assert_eq!(doc["flags"], json!(["fpu", "vme", "sse2", "ht", "avx2"]));
        assert_eq!(doc["mhz_per_processor"].as_array().unwrap().len(), 8);
        assert_eq!(doc["mhz_average"], 2150.0);
        assert_eq!(doc["cache_size_bytes"], 28160 * 1024);
        assert_eq!(doc["bogomips"], 4200.0);
        assert_eq!(doc["online"], "0-7");
        assert_eq!(doc["online_count"], 8);
        // cpu0 and cpu1 have cpufreq; cpu2 has only its topology.
        assert_eq!(
            doc["cpufreq"][0],
            json!({"cpu": 0, "cur_mhz": 2100.0, "max_mhz": 3900.0, "min_mhz": 1000.0})
        );
        assert_eq!(doc["cpufreq"][2]["cur_mhz"], Value::Null);
        assert_eq!(doc["max_mhz"], 3900.0);
        assert_eq!(doc["min_mhz"], 800.0);
        assert_eq!(doc["unavailable"], json!([]));
        assert!(fixture("x86_2s").info("-f").unwrap().get("flags").is_none());
    }

    #[test]
    fn arm_without_topology_fields() {
        let doc = fixture("arm64").info("--no-flags").unwrap();
        assert_eq!(doc["sockets"], 1);
        assert_eq!(doc["cores"], 4);
        assert_eq!(doc["threads"], 4);
        assert_eq!(doc["threads_per_core"], 1);
        assert_eq!(doc["model_name"], Value::Null);
        assert_eq!(doc["bogomips"], 50.0);
        assert_eq!(doc["mhz_average"], Value::Null);
        assert_eq!(doc["max_mhz"], Value::Null);
        assert_eq!(doc["cpufreq"], Value::Null);
        assert_eq!(doc["online"], Value::Null);
        assert_eq!(doc["unavailable"].as_array().unwrap().len(), 1);
        let flags = fixture("arm64").info("").unwrap()["flags"].clone();
        assert_eq!(flags, json!(["fp", "asimd", "evtstrm", "aes", "crc32"]));
    }

    #[test]
    fn errors() {
        assert_eq!(fixture("x86_2s").info("-z").unwrap_err().code, 3021);
        assert_eq!(fixture("x86_2s").info("--flags=no").unwrap_err().code, 3021);
        let err = fixture("missing").info("").unwrap_err();
        assert_eq!(err.code, plugin_api::codes::FAILED);
        assert!(err.message.contains("cpuinfo"), "{}", err.message);
    }
}
