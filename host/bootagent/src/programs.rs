//! The seam to `supervise`, the platform's one process lifecycle and limits engine (gearman's
//! daemons use the same): an installed version plus the job's `env` and `limits` become a
//! [`ProgramSpec`], and a supervisor [`Status`](supervise::Status) becomes what the BootAgent
//! looks at ([`Observed`]). Nothing here starts or stops a process itself.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use supervise::{CheckSpec, Limits, ProgramSpec, State, StopSpec, Supervisor};

use crate::package::Manifest;

/// The supervisor's view of one agent, as the BootAgent uses it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// Lifecycle state.
    pub state: State,
    /// The main process, when one runs.
    pub pid: Option<u32>,
    /// Its start time (clock ticks since boot), for adoption.
    pub start_time: Option<u64>,
    /// Seconds running.
    pub uptime: u64,
    /// Why it is not running, when the supervisor knows.
    pub reason: Option<String>,
}

/// Parses the job's limits (`{"CPU": "10%", "memory": "20M"}`, seed spelling; `hits` too)
/// with the supervisor's own parser, so both agents read them alike.
pub fn parse_limits(limits: &BTreeMap<String, String>) -> Result<Limits, String> {
    let mut map = serde_json::Map::new();
    for (key, value) in limits {
        let json = if key == "hits" {
            value
                .trim()
                .parse::<u32>()
                .map(serde_json::Value::from)
                .map_err(|_| format!("limit hits `{value}` is not a count"))?
        } else {
            serde_json::Value::from(value.clone())
        };
        map.insert(key.clone(), json);
    }
    let parsed: Limits = serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| format!("limits: {e}"))?;
    // The supervisor's reader skips keys it does not know; a job must not lose a limit so.
    let given = limits.keys().filter(|k| *k != "hits").count();
    let understood =
        usize::from(parsed.cpu_percent.is_some()) + usize::from(parsed.memory_bytes.is_some());
    if given != understood {
        let keys: Vec<&str> = limits.keys().map(String::as_str).collect();
        return Err(format!(
            "limits {keys:?}: only CPU (e.g. 10%), memory (e.g. 20M) and hits are known"
        ));
    }
    Ok(parsed)
}

/// The supervisor's spec for agent `name` installed in `dir` from `manifest`: started by
/// `/bin/sh -c <start>` in `dir`, its output appended to `<log_dir>/<name>.log`.
pub fn spec_for(
    name: &str,
    dir: &Path,
    manifest: &Manifest,
    env: &BTreeMap<String, String>,
    limits: &BTreeMap<String, String>,
    log_dir: &Path,
) -> Result<ProgramSpec, String> {
    let stop = StopSpec::parse(&manifest.stop).map_err(|e| format!("manifest stop: {e}"))?;
    let check = match manifest.check.as_deref() {
        Some(text) => CheckSpec::parse(text, None).map_err(|e| format!("manifest check: {e}"))?,
        None => CheckSpec::Process,
    };
    let mut all_env = manifest.env.clone();
    all_env.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut spec = ProgramSpec::new(name, manifest.start.clone());
    spec.stop = stop;
    spec.check = check;
    if let Some(delay) = manifest.start_delay {
        spec.start_delay = Duration::from_secs(delay);
    }
    if let Some(timeout) = manifest.stop_timeout {
        spec.stop_timeout = Duration::from_secs(timeout);
    }
    spec.env = all_env;
    spec.limits = parse_limits(limits)?;
    spec.workdir = Some(dir.to_path_buf());
    spec.log = Some(log_dir.join(format!("{name}.log")));
    spec.validate().map_err(|e| e.to_string())?;
    Ok(spec)
}

/// What the supervisor knows about `name`.
pub fn observe(supervisor: &Supervisor, name: &str) -> Option<Observed> {
    let status = supervisor.status(name)?;
    Some(Observed {
        state: status.state,
        pid: status.pid,
        start_time: status.start_time,
        uptime: status.uptime,
        reason: status.last_error.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_limits_use_the_seed_spelling() {
        let limits: BTreeMap<String, String> = [("CPU", "10%"), ("memory", "20M")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let parsed = parse_limits(&limits).unwrap();
        assert_eq!(parsed.cpu_percent, Some(10.0));
        assert_eq!(parsed.memory_bytes, Some(20 << 20));
        let bad: BTreeMap<String, String> = [("disk".to_string(), "1G".to_string())].into();
        assert!(
            parse_limits(&bad).unwrap_err().contains("disk"),
            "unknown keys are refused"
        );
    }
}
