//! `load` read plugin: the 1, 5 and 15 minute load averages, as collectd's load plugin reports them.
//! Files read: `/proc/loadavg`; with `ReportRelative` also `/sys/devices/system/cpu/online` (or `/proc/stat`).

use std::fs;
use std::path::{Path, PathBuf};

use plugin_api::{InitContext, OptionSpec, Plugin, PluginError, ReadPlugin, Value, ValueList};

/// The plugin instance: where `/proc` and `/sys` are, and whether to divide by the CPU count.
pub struct Load {
    proc_root: PathBuf,
    sys_root: PathBuf,
    relative: bool,
}

impl Plugin for Load {
    const NAME: &'static str = "load";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "system load averages (/proc/loadavg)";
    const OPTIONS: &'static [OptionSpec] = &[OptionSpec::boolean(
        "ReportRelative",
        "divide the averages by the number of online CPUs",
    )
    .default("false")];

    fn init(ctx: &InitContext) -> Result<Self, PluginError> {
        Ok(Load {
            proc_root: ctx.proc_root(),
            sys_root: ctx.sys_root(),
            relative: ctx.option_bool("ReportRelative", false)?,
        })
    }
}

impl ReadPlugin for Load {
    /// One list `load/load` (or `load/load-relative`): shortterm, midterm, longterm.
    fn read(&mut self) -> Result<Vec<ValueList>, PluginError> {
        let path = self.proc_root.join("loadavg");
        let text = read(&path)?;
        let [short, mid, long] = parse_loadavg(&text)
            .ok_or_else(|| PluginError::failed(format!("cannot parse {}", path.display())))?;
        if !self.relative {
            return Ok(vec![load_list(short, mid, long, "")]);
        }
        let cpus = self.online_cpus()? as f64;
        Ok(vec![load_list(
            short / cpus,
            mid / cpus,
            long / cpus,
            "relative",
        )])
    }
}

impl Load {
    /// Online CPUs the way glibc's `sysconf(_SC_NPROCESSORS_ONLN)` counts them: the list in
    /// `/sys/devices/system/cpu/online`, else the `cpuN` lines of `/proc/stat`.
    fn online_cpus(&self) -> Result<usize, PluginError> {
        let online = self.sys_root.join("devices/system/cpu/online");
        if let Some(n) = fs::read_to_string(&online)
            .ok()
            .and_then(|t| count_cpu_list(&t))
            .filter(|n| *n > 0)
        {
            return Ok(n);
        }
        let stat = self.proc_root.join("stat");
        let text = read(&stat).map_err(|e| {
            PluginError::failed(format!(
                "ReportRelative: cannot count online CPUs from {}: {}",
                online.display(),
                e.message
            ))
        })?;
        let n = text
            .lines()
            .filter(|l| {
                l.strip_prefix("cpu")
                    .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
            })
            .count();
        if n == 0 {
            return Err(PluginError::failed(format!(
                "ReportRelative: no online CPU in {} or {}",
                online.display(),
                stat.display()
            )));
        }
        Ok(n)
    }
}

fn read(path: &Path) -> Result<String, PluginError> {
    fs::read_to_string(path)
        .map_err(|e| PluginError::failed(format!("cannot read {}: {e}", path.display())))
}

fn load_list(short: f64, mid: f64, long: f64, type_instance: &str) -> ValueList {
    ValueList::new(
        "load",
        "load",
        vec![Value::Gauge(short), Value::Gauge(mid), Value::Gauge(long)],
    )
    .type_instance(type_instance)
}

/// The first three fields of `/proc/loadavg`.
fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    let mut next = || {
        fields
            .next()
            .flatten()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    Some([next()?, next()?, next()?])
}

/// Counts the CPUs of a kernel CPU list such as `0-3,5,7-8`.
fn count_cpu_list(text: &str) -> Option<usize> {
    let mut n = 0;
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                b.checked_sub(a)? + 1
            }
            None => {
                part.parse::<usize>().ok()?;
                1
            }
        };
    }
    Some(n)
}

plugin_api::export_plugin!(Load, roles: [read]);

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::types_db::TypesDb;

    fn fixture(case: &str, options: &[(&str, &str)]) -> Result<Load, PluginError> {
        let base = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(case);
        Load::init(&InitContext::rooted_at(&base).with_options(options))
    }

    fn types_db() -> TypesDb {
        TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap()
    }

    fn gauges(vl: &ValueList) -> Vec<f64> {
        vl.values.iter().map(|v| v.as_f64()).collect()
    }

    #[test]
    fn reports_the_three_averages() {
        let lists = fixture("basic", &[]).unwrap().read().unwrap();
        assert_eq!(lists.len(), 1);
        assert_eq!(lists[0].identifier(), "load/load");
        assert_eq!(gauges(&lists[0]), [0.52, 0.58, 1.25]);
        types_db().check(&lists[0]).unwrap();
    }

    #[test]
    fn relative_divides_by_online_cpus() {
        let lists = fixture("basic", &[("reportrelative", "true")])
            .unwrap()
            .read()
            .unwrap();
        assert_eq!(lists[0].identifier(), "load/load-relative");
        assert_eq!(gauges(&lists[0]), [0.52 / 4.0, 0.58 / 4.0, 1.25 / 4.0]);
        types_db().check(&lists[0]).unwrap();
        // No /sys: the cpuN lines of /proc/stat (cpu0 and cpu2 are online).
        let lists = fixture("nosys", &[("ReportRelative", "yes")])
            .unwrap()
            .read()
            .unwrap();
        assert_eq!(gauges(&lists[0]), [1.0, 0.5, 0.25]);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(count_cpu_list("0\n"), Some(1));
        assert_eq!(count_cpu_list("0-3,5,7-8\n"), Some(7));
        assert_eq!(count_cpu_list(""), Some(0));
        assert_eq!(count_cpu_list("3-1"), None);
        assert_eq!(count_cpu_list("x"), None);
    }

    #[test]
    fn errors() {
        let err = fixture("basic", &[("ReportRelative", "maybe")])
            .err()
            .unwrap();
        assert_eq!(err.code, plugin_api::codes::INVALID_PARAMS);
        let err = fixture("garbage", &[]).unwrap().read().unwrap_err();
        assert_eq!(err.code, plugin_api::codes::FAILED);
        assert!(err.message.contains("loadavg"), "{}", err.message);
        let err = fixture("nowhere", &[]).unwrap().read().unwrap_err();
        assert!(
            err.message.contains("nowhere/proc/loadavg"),
            "{}",
            err.message
        );
        let err = fixture("nocpus", &[("ReportRelative", "on")])
            .unwrap()
            .read()
            .unwrap_err();
        assert_eq!(err.code, plugin_api::codes::FAILED);
        assert!(err.message.contains("online"), "{}", err.message);
    }

    #[test]
    fn the_real_system_passes_types_db() {
        let Ok(mut plugin) = Load::init(&InitContext::rooted_at(Path::new("/"))) else {
            panic!("init with no options failed");
        };
        let db = TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap();
        for _ in 0..2 {
            let lists = plugin.read().unwrap();
            db.check_all(&lists).unwrap();
            assert_eq!(lists.len(), 1);
        }
    }
}
