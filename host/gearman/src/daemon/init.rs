//! `daemon.init`: the seed's fields (typed in [`wire::params::DaemonInit`], from the top
//! level of the request; `gearctl -c daemon.init -a '{…}'` builds the same), checked (required fields, lengths, names that become folders, forms of `stop`, `check`
//! and `limits`, a `checksum` for every remote `url`) into a [`DaemonRow`]; and a row turned
//! into the engine's [`ProgramSpec`].

use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};
use supervise::{CheckSpec, Limits, ProgramSpec, StopSpec};
use wire::params::DaemonInit;

use super::db::DaemonRow;

/// The init fields of a `daemon.init` command, as the JSON object [`parse`] checks.
pub fn fields(req: &DaemonInit) -> Map<String, Value> {
    match serde_json::to_value(req) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn text(
    f: &Map<String, Value>,
    key: &str,
    max: usize,
    required: bool,
) -> Result<Option<String>, String> {
    match f.get(key) {
        None | Some(Value::Null) if required => Err(format!("`{key}` is required")),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if required && s.trim().is_empty() => {
            Err(format!("`{key}` is required"))
        }
        Some(Value::String(s)) if s.chars().count() > max => {
            Err(format!("`{key}` is longer than {max}"))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

fn number(f: &Map<String, Value>, key: &str) -> Result<Option<i64>, String> {
    match f.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        {
            Some(n) if (0..=86_400 * 365).contains(&n) => Ok(Some(n)),
            _ => Err(format!("`{key}` must be a whole number of at least 0")),
        },
    }
}

fn object(f: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match f.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(Value::Object(map.clone()).to_string())),
        Some(_) => Err(format!("`{key}` must be an object")),
    }
}

/// Validates the init fields into a row; the error is the 3021 message.
pub fn parse(f: &Map<String, Value>) -> Result<DaemonRow, String> {
    let name = text(f, "name", 64, true)?.unwrap_or_default();
    supervise::check_name("daemon name", &name)?;
    let row = DaemonRow {
        name,
        version: text(f, "version", 64, true)?.unwrap_or_default(),
        url: text(f, "url", 512, true)?.unwrap_or_default(),
        precheck: text(f, "precheck", 512, false)?,
        precheck_retries: number(f, "precheck_retries")?,
        start: text(f, "start", 512, true)?.unwrap_or_default(),
        start_delay: number(f, "start_delay")?,
        stop: text(f, "stop", 512, true)?.unwrap_or_default(),
        stop_timeout: number(f, "stop_timeout")?,
        check: text(f, "check", 64, false)?,
        check_interval: number(f, "check_interval")?,
        user: text(f, "user", 64, false)?,
        group: text(f, "group", 64, false)?,
        pidfile: text(f, "pidfile", 512, false)?,
        socket: text(f, "socket", 512, false)?,
        env: object(f, "env")?,
        limits: object(f, "limits")?,
        checksum: text(f, "checksum", 80, false)?.filter(|c| !c.trim().is_empty()),
        ..DaemonRow::default()
    };
    supervise::check_name("version", &row.version)?;
    check_source(&row.url, row.checksum.as_deref())?;
    // Everything the start will need must parse now, not at the start.
    spec(&row, Path::new("/"))?;
    Ok(row)
}

/// Whether `url` names a file on this host (`file://` or an absolute path) rather than a
/// download.
pub fn is_local(url: &str) -> bool {
    url.starts_with("file://") || url.starts_with('/')
}

/// A download (http, https, ftp: anything not [local](is_local)) needs a `checksum` of the
/// `SHA256:<hex>` form, so that whoever answers for the URL's server (or sits on the way)
/// cannot choose what runs as root; a given checksum must have that form for local files too.
pub fn check_source(url: &str, checksum: Option<&str>) -> Result<(), String> {
    match checksum {
        Some(sum) => fetch::parse_checksum(sum)
            .map(|_| ())
            .map_err(|e| format!("`checksum`: {e}")),
        None if is_local(url) => Ok(()),
        None => Err(format!(
            "`checksum` (SHA256:<64 hex digits>) is required for the remote url `{}`",
            fetch::url::without_userinfo(url)
        )),
    }
}

/// The engine's spec for a daemon installed in `dir`.
pub fn spec(row: &DaemonRow, dir: &Path) -> Result<ProgramSpec, String> {
    let secs =
        |n: Option<i64>, default: u64| Duration::from_secs(n.map_or(default, |n| n.max(0) as u64));
    let mut spec = ProgramSpec::new(&row.name, &row.start);
    spec.stop = StopSpec::parse(&row.stop).map_err(|e| format!("`stop`: {e}"))?;
    spec.stop_timeout = secs(row.stop_timeout, 10);
    spec.precheck = row.precheck.clone().filter(|p| !p.trim().is_empty());
    spec.precheck_retries = row.precheck_retries.unwrap_or(0).clamp(0, 1000) as u32;
    spec.start_delay = secs(row.start_delay, 1);
    spec.check = CheckSpec::parse(
        row.check.as_deref().unwrap_or("process"),
        row.socket.as_deref(),
    )
    .map_err(|e| format!("`check`: {e}"))?;
    spec.check_interval = secs(row.check_interval, 10);
    spec.pidfile = row.pidfile.as_ref().map(Into::into);
    spec.user = row.user.clone();
    spec.group = row.group.clone();
    if let Some(env) = &row.env {
        let map: serde_json::Map<String, Value> =
            serde_json::from_str(env).map_err(|e| format!("`env`: {e}"))?;
        for (k, v) in map {
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            spec.env.insert(k, v);
        }
    }
    if let Some(limits) = &row.limits {
        spec.limits =
            serde_json::from_str::<Limits>(limits).map_err(|e| format!("`limits`: {e}"))?;
    }
    spec.workdir = Some(dir.to_path_buf());
    spec.log = dir.parent().map(|d| d.join("daemon.log"));
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SUM: &str = "SHA256:4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a";

    /// The seed's example, plus the checksum its remote `url` needs.
    fn seed_example() -> Map<String, Value> {
        let Value::Object(map) = json!({
            "name": "plugin_name", "version": "1.0.1", "url": "http://your/monitor.rpm",
            "checksum": SUM,
            "precheck": "/path/check", "precheck_retries": 3, "start": "/path/start",
            "start_delay": 10, "stop": "/path/stop", "stop_timeout": 10, "check": "process",
            "check_interval": 10, "user": "root", "group": "root",
            "pidfile": "/var/run/program.pid", "socket": "/var/run/program.sock",
            "env": { "PATH": "/usr/bin:/usr/sbin" }, "limits": { "hits": 5, "cpu": "5%", "memory": "100M" }
        }) else {
            unreachable!()
        };
        map
    }

    #[test]
    fn the_seed_example_is_accepted_whole() {
        let row = parse(&seed_example()).unwrap();
        assert_eq!(
            (row.name.as_str(), row.version.as_str()),
            ("plugin_name", "1.0.1")
        );
        assert_eq!(
            row.limits.as_deref(),
            Some(r#"{"cpu":"5%","hits":5,"memory":"100M"}"#)
        );
        let spec = spec(&row, Path::new("/x/1.0.1")).unwrap();
        assert_eq!(spec.limits.memory_bytes, Some(100 << 20));
        assert_eq!(spec.stop, StopSpec::Command("/path/stop".into()));
        assert_eq!(spec.start_delay, Duration::from_secs(10));
    }

    #[test]
    fn required_fields_lengths_and_forms_are_checked() {
        for key in ["name", "version", "url", "start", "stop"] {
            let mut f = seed_example();
            f.remove(key);
            assert_eq!(parse(&f).unwrap_err(), format!("`{key}` is required"));
        }
        let cases = [
            ("name", json!("x".repeat(65)), "longer than 64"),
            ("url", json!("x".repeat(513)), "longer than 512"),
            ("stop", json!("kill:NOSUCH"), "unknown signal"),
            ("limits", json!({"memory": "lots"}), "bad memory limit"),
            ("check", json!("socket"), "process"),
            ("start_delay", json!(-1), "whole number"),
            ("env", json!("PATH=/bin"), "object"),
            ("name", json!("../etc"), "daemon name `../etc`"),
            ("name", json!("a/../../b"), "daemon name"),
            ("version", json!(".."), "version `..`"),
            ("checksum", json!("MD5:abc"), "SHA256:<hex>"),
        ];
        for (key, value, want) in cases {
            let mut f = seed_example();
            f.insert(key.into(), value);
            if key == "check" {
                f.remove("socket");
            }
            let err = parse(&f).unwrap_err();
            assert!(
                err.contains(want) || (key == "check" && err.contains("socket")),
                "{key}: {err}"
            );
        }
    }

    #[test]
    fn remote_urls_need_a_checksum_local_files_do_not() {
        for url in [
            "http://u:secret@your/monitor.rpm",
            "https://your/m.tgz",
            "ftp://your/m.tgz",
            "HTTP://your/m.tgz",
        ] {
            let mut f = seed_example();
            f.remove("checksum");
            f.insert("url".into(), json!(url));
            let err = parse(&f).unwrap_err();
            assert!(
                err.contains("`checksum` (SHA256:<64 hex digits>) is required"),
                "{err}"
            );
            assert!(!err.contains("secret"), "{err}");
        }
        for url in ["file:///srv/m.tgz", "/srv/m.tgz"] {
            let mut f = seed_example();
            f.remove("checksum");
            f.insert("url".into(), json!(url));
            assert_eq!(parse(&f).unwrap().checksum, None, "{url}");
        }
        assert_eq!(
            parse(&seed_example()).unwrap().checksum.as_deref(),
            Some(SUM)
        );
    }
}
