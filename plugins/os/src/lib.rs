//! `getinfo.os`: which distribution this is, its hostname, how long it has been up, and its load.
//! Files read: `/etc/os-release` (else `/usr/lib/os-release`), `/proc/uptime`, `/proc/stat`, `/proc/loadavg`.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use plugin_api::args;
use plugin_api::{InfoPlugin, InitContext, Plugin, PluginError};
use serde_json::{Map, Value, json};

/// The plugin instance: where to read `/proc` and `/etc` from.
pub struct Os {
    proc_root: PathBuf,
    etc_root: PathBuf,
}

/// The fields of `/proc/loadavg`.
#[derive(Debug, PartialEq)]
struct LoadAvg {
    load_1: f64,
    load_5: f64,
    load_15: f64,
    runnable_tasks: u64,
    total_tasks: u64,
    last_pid: u64,
}

impl Plugin for Os {
    const NAME: &'static str = "os";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "distribution, hostname, uptime, boot time and load averages";

    fn init(ctx: &InitContext) -> Result<Self, PluginError> {
        Ok(Os {
            proc_root: ctx.proc_root(),
            etc_root: ctx.etc_root(),
        })
    }
}

impl InfoPlugin for Os {
    /// Takes no arguments; anything given is an invalid parameter.
    fn info(&mut self, args: &str) -> Result<Value, PluginError> {
        let mut parser = args::parser(args)?;
        if let Some(arg) = parser.next().map_err(args::invalid)? {
            return Err(args::unexpected(arg));
        }

        let mut doc = Map::new();
        let mut unavailable: Vec<String> = Vec::new();

        // Distribution, from os-release(5).
        let release = self.os_release(&mut unavailable)?;
        for key in ["ID", "NAME", "VERSION_ID", "PRETTY_NAME"] {
            let value = release
                .as_ref()
                .and_then(|r| r.get(key))
                .cloned()
                .unwrap_or(Value::Null);
            doc.insert(key.to_ascii_lowercase(), value);
        }
        doc.insert(
            "os_release".into(),
            release.map(Value::Object).unwrap_or(Value::Null),
        );

        // The hostname has no file form that is always right (/etc/hostname may be stale).
        let hostname = match nix::unistd::gethostname() {
            Ok(name) => Value::from(name.to_string_lossy().into_owned()),
            Err(_) => {
                unavailable.push("gethostname".into());
                Value::Null
            }
        };
        doc.insert("hostname".into(), hostname);

        // Uptime and idle time.
        let path = self.proc_root.join("uptime");
        let (uptime, idle) = match read_optional(&path, &mut unavailable)? {
            Some(text) => {
                let (up, idle) = parse_uptime(&text).map_err(|e| cannot_parse(&path, e))?;
                (Value::from(up), Value::from(idle))
            }
            None => (Value::Null, Value::Null),
        };
        doc.insert("uptime_seconds".into(), uptime);
        doc.insert("idle_seconds".into(), idle);

        // Boot time.
        let path = self.proc_root.join("stat");
        let (boot, boot_iso) = match read_optional(&path, &mut unavailable)? {
            Some(text) => {
                let btime = parse_btime(&text).map_err(|e| cannot_parse(&path, e))?;
                (Value::from(btime), Value::from(rfc3339_utc(btime)))
            }
            None => (Value::Null, Value::Null),
        };
        doc.insert("boot_time".into(), boot);
        doc.insert("boot_time_iso".into(), boot_iso);

        // Load averages.
        let path = self.proc_root.join("loadavg");
        let load = match read_optional(&path, &mut unavailable)? {
            Some(text) => Some(parse_loadavg(&text).map_err(|e| cannot_parse(&path, e))?),
            None => None,
        };
        let fields = [
            ("load_1", load.as_ref().map(|l| json!(l.load_1))),
            ("load_5", load.as_ref().map(|l| json!(l.load_5))),
            ("load_15", load.as_ref().map(|l| json!(l.load_15))),
            (
                "runnable_tasks",
                load.as_ref().map(|l| json!(l.runnable_tasks)),
            ),
            ("total_tasks", load.as_ref().map(|l| json!(l.total_tasks))),
            ("last_pid", load.as_ref().map(|l| json!(l.last_pid))),
        ];
        for (key, value) in fields {
            doc.insert(key.into(), value.unwrap_or(Value::Null));
        }

        doc.insert("unavailable".into(), unavailable.into());
        Ok(Value::Object(doc))
    }
}

impl Os {
    /// Reads `<etc>/os-release`, falling back to `<etc>/../usr/lib/os-release` as os-release(5) says.
    fn os_release(
        &self,
        unavailable: &mut Vec<String>,
    ) -> Result<Option<Map<String, Value>>, PluginError> {
        let mut candidates = vec![self.etc_root.join("os-release")];
        if let Some(root) = self.etc_root.parent() {
            candidates.push(root.join("usr/lib/os-release"));
        }
        let mut missing = Vec::new();
        for path in candidates {
            if let Some(text) = read_optional(&path, &mut missing)? {
                return Ok(Some(parse_os_release(&text)));
            }
        }
        unavailable.extend(missing);
        Ok(None)
    }
}

/// Reads a file; a missing one is recorded in `unavailable` and gives `None`.
fn read_optional(
    path: &Path,
    unavailable: &mut Vec<String>,
) -> Result<Option<String>, PluginError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            unavailable.push(path.display().to_string());
            Ok(None)
        }
        Err(e) => Err(PluginError::failed(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

fn cannot_parse(path: &Path, reason: String) -> PluginError {
    PluginError::failed(format!("cannot parse {}: {reason}", path.display()))
}

/// Parses os-release(5): `KEY=value` lines, values optionally quoted, `#` comments.
fn parse_os_release(text: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() {
            continue;
        }
        out.insert(key.to_string(), Value::from(unquote(value.trim())));
    }
    out
}

/// Removes shell quoting from an os-release value: `"..."` (with `\` escapes), `'...'`, or bare.
fn unquote(value: &str) -> String {
    if value.len() >= 2 && value.starts_with('\'') && value.ends_with('\'') {
        return value[1..value.len() - 1].to_string();
    }
    let inner = if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
        &value[1..value.len() - 1]
    } else {
        value
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next) => out.push(next),
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// Parses `/proc/uptime`: seconds since boot, and seconds all CPUs together spent idle.
fn parse_uptime(text: &str) -> Result<(f64, f64), String> {
    let mut fields = text.split_whitespace();
    let mut next = |what: &str| -> Result<f64, String> {
        let field = fields.next().ok_or_else(|| format!("no {what} field"))?;
        field
            .parse()
            .map_err(|e| format!("bad {what} `{field}`: {e}"))
    };
    Ok((next("uptime")?, next("idle")?))
}

/// Finds the `btime` line of `/proc/stat` (boot time, seconds since the epoch).
fn parse_btime(text: &str) -> Result<i64, String> {
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("btime "))
        .ok_or_else(|| "no `btime` line".to_string())?;
    line.trim()
        .parse()
        .map_err(|e| format!("bad btime `{}`: {e}", line.trim()))
}

/// Parses `/proc/loadavg`: `0.17 0.20 0.10 1/141 9570`.
fn parse_loadavg(text: &str) -> Result<LoadAvg, String> {
    let f: Vec<&str> = text.split_whitespace().collect();
    if f.len() < 5 {
        return Err(format!("expected 5 fields, found {}", f.len()));
    }
    let float = |s: &str| s.parse::<f64>().map_err(|e| format!("bad load `{s}`: {e}"));
    let int = |s: &str| {
        s.parse::<u64>()
            .map_err(|e| format!("bad number `{s}`: {e}"))
    };
    let (runnable, total) = f[3]
        .split_once('/')
        .ok_or_else(|| format!("bad tasks `{}`", f[3]))?;
    Ok(LoadAvg {
        load_1: float(f[0])?,
        load_5: float(f[1])?,
        load_15: float(f[2])?,
        runnable_tasks: int(runnable)?,
        total_tasks: int(total)?,
        last_pid: int(f[4])?,
    })
}

/// Formats seconds since the epoch as UTC RFC 3339 (`2026-11-25T10:18:09Z`).
fn rfc3339_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); H. Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

plugin_api::export_plugin!(Os, roles: [info]);

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(case: &str) -> Os {
        let base = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(case);
        Os::init(&InitContext::rooted_at(&base)).unwrap()
    }

    #[test]
    fn parses_os_release_quoting() {
        let text = "# comment\nNAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID='12'\n\
                    PRETTY_NAME=\"Say \\\"hi\\\" \\$HOME\"\n\nbroken line\n";
        let r = parse_os_release(text);
        assert_eq!(r["NAME"], "Debian GNU/Linux");
        assert_eq!(r["ID"], "debian");
        assert_eq!(r["VERSION_ID"], "12");
        assert_eq!(r["PRETTY_NAME"], "Say \"hi\" $HOME");
        assert_eq!(r.len(), 4);
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_utc(1_795_565_889), "2026-11-25T00:18:09Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn parses_proc_files() {
        assert_eq!(parse_uptime("431.54 735.10\n").unwrap(), (431.54, 735.10));
        assert!(parse_uptime("431.54\n").is_err());
        assert_eq!(
            parse_btime("cpu  1 2 3\nintr 5\nbtime 1795565889\nprocesses 9\n").unwrap(),
            1_795_565_889
        );
        assert!(parse_btime("cpu 1 2\n").is_err());
        let l = parse_loadavg("0.17 0.20 0.10 1/141 9570\n").unwrap();
        assert_eq!(
            l,
            LoadAvg {
                load_1: 0.17,
                load_5: 0.20,
                load_15: 0.10,
                runnable_tasks: 1,
                total_tasks: 141,
                last_pid: 9570
            }
        );
        assert!(parse_loadavg("0.17 x 0.10 1/141 9570").is_err());
    }

    #[test]
    fn answers_from_fixture_tree() {
        let doc = fixture("debian12").info("").unwrap();
        assert_eq!(doc["id"], "debian");
        assert_eq!(doc["version_id"], "12");
        assert_eq!(doc["pretty_name"], "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(doc["os_release"]["VERSION_CODENAME"], "bookworm");
        assert_eq!(doc["uptime_seconds"], 431.54);
        assert_eq!(doc["idle_seconds"], 735.1);
        assert_eq!(doc["boot_time"], 1_795_565_889);
        assert_eq!(doc["boot_time_iso"], "2026-11-25T00:18:09Z");
        assert_eq!(doc["load_15"], 0.10);
        assert_eq!(doc["total_tasks"], 141);
        assert!(doc["hostname"].is_string());
        assert_eq!(doc["unavailable"], json!([]));
    }

    #[test]
    fn missing_files_degrade_and_bad_files_fail() {
        let doc = fixture("minimal").info("").unwrap();
        assert_eq!(doc["id"], "alpine");
        assert!(doc["uptime_seconds"].is_null());
        assert!(doc["boot_time_iso"].is_null());
        let missing = doc["unavailable"].as_array().unwrap();
        assert_eq!(missing.len(), 2, "{missing:?}");
        let err = fixture("broken").info("").unwrap_err();
        assert_eq!(err.code, plugin_api::codes::FAILED);
        assert!(err.message.contains("loadavg"), "{}", err.message);
    }

    #[test]
    fn rejects_arguments() {
        assert_eq!(fixture("debian12").info("-x").unwrap_err().code, 3021);
        assert_eq!(fixture("debian12").info("extra").unwrap_err().code, 3021);
    }
}
