//! Caps on how much one request may carry or create: the `[limits]` section of the
//! configuration, and the checks handlers run against it. Every cap has a key, a default, and
//! a refusal naming the key: HTTP 400, errcode 3021 ("Invalid params"), nothing stored.

use serde::Deserialize;
use wire::boot::{JobResult, StatusReport};
use wire::metrics::ValueListJson;

use crate::error::ApiError;

/// Longest excerpt of a client's text that an error message quotes back.
pub const ECHO_MAX: usize = 64;

/// The `[limits]` section; every key is optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Most agents in one BootAgent status report (`POST /agent/status`).
    pub agents_per_report: usize,
    /// Most hosts one command (`POST /api/v1/commands`) or boot job (`POST /api/v1/jobs`)
    /// names.
    pub hosts_per_request: usize,
    /// Most results in one `POST /agent/job/result`.
    pub results_per_request: usize,
    /// Most values in one metrics batch (`POST /api/v1/metrics`), over all its value lists.
    pub values_per_ingest: usize,
    /// Most distinct metric series one host may have; a batch that would create more is
    /// refused whole.
    pub series_per_host: u64,
    /// Most series ids a replica keeps in memory (each ~150 bytes); when full, it starts again
    /// empty (known series then cost one lookup each until they are remembered again).
    pub series_cache: usize,
    /// How far, in seconds, a metric's `time` may lie ahead of the current UTC day (clocks
    /// run wrong); times before 1970 are refused too.
    pub metric_time_ahead: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            agents_per_report: 256,
            hosts_per_request: 10_000,
            results_per_request: 1_000,
            values_per_ingest: 100_000,
            series_per_host: 10_000,
            series_cache: 250_000,
            metric_time_ahead: 86_400,
        }
    }
}

/// What the series cache and the per-host cap of an ingest need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesLimits {
    /// [`Limits::series_per_host`].
    pub per_host: u64,
    /// [`Limits::series_cache`].
    pub cache: usize,
}

impl Default for SeriesLimits {
    fn default() -> Self {
        Limits::default().series()
    }
}

/// The refusal of a list over its cap.
fn over(what: &str, n: usize, key: &str, cap: usize) -> ApiError {
    ApiError::invalid(format!("{n} {what}, over limits.{key} = {cap}"))
}

impl Limits {
    /// Checks values that parse but make no sense (each cap at least 1).
    pub fn check(&self) -> Result<(), String> {
        let caps = [
            ("agents_per_report", self.agents_per_report as u64),
            ("hosts_per_request", self.hosts_per_request as u64),
            ("results_per_request", self.results_per_request as u64),
            ("values_per_ingest", self.values_per_ingest as u64),
            ("series_per_host", self.series_per_host),
            ("series_cache", self.series_cache as u64),
            ("metric_time_ahead", self.metric_time_ahead),
        ];
        match caps.iter().find(|(_, value)| *value == 0) {
            Some((key, _)) => Err(format!("limits.{key} must be at least 1")),
            None => Ok(()),
        }
    }

    /// The caps the metrics store applies.
    pub fn series(&self) -> SeriesLimits {
        SeriesLimits {
            per_host: self.series_per_host,
            cache: self.series_cache,
        }
    }

    /// `POST /agent/status`: at most `agents_per_report` agents.
    pub fn check_report(&self, report: &StatusReport) -> Result<(), ApiError> {
        let n = report.agents.len();
        if n > self.agents_per_report {
            return Err(over(
                "agents in the report",
                n,
                "agents_per_report",
                self.agents_per_report,
            ));
        }
        Ok(())
    }

    /// `POST /api/v1/commands` and `POST /api/v1/jobs`: at most `hosts_per_request` hosts.
    pub fn check_hosts(&self, hosts: &[String]) -> Result<(), ApiError> {
        if hosts.len() > self.hosts_per_request {
            return Err(over(
                "hosts",
                hosts.len(),
                "hosts_per_request",
                self.hosts_per_request,
            ));
        }
        Ok(())
    }

    /// `POST /agent/job/result`: at most `results_per_request` results, each with an id of 1
    /// to 64 characters and a message of at most 4096; a bad id is quoted back cut short.
    pub fn check_results(&self, results: &[JobResult]) -> Result<(), ApiError> {
        if results.len() > self.results_per_request {
            return Err(over(
                "results",
                results.len(),
                "results_per_request",
                self.results_per_request,
            ));
        }
        if let Some(bad) = results
            .iter()
            .find(|r| r.id.is_empty() || too_long(&r.id, 64) || too_long(&r.message, 4096))
        {
            return Err(ApiError::invalid(format!(
                "result `{}`: id must be 1 to 64 characters, message at most 4096",
                excerpt(&bad.id)
            )));
        }
        Ok(())
    }

    /// The metric times accepted at `now` (Unix seconds): from 1970 to `metric_time_ahead`
    /// past the end of the current UTC day. The range moves once a day, so that the range the
    /// OpenAPI document states holds until midnight UTC.
    pub fn metric_times(&self, now: f64) -> (f64, f64) {
        let day = (now / 86_400.0).floor() * 86_400.0;
        (0.0, day + 86_400.0 + self.metric_time_ahead as f64)
    }

    /// `POST /api/v1/metrics`: at most `values_per_ingest` values; each list's `time` within
    /// [`Limits::metric_times`], its `interval` finite and positive.
    pub fn check_batch(&self, batch: &[ValueListJson], now: f64) -> Result<(), ApiError> {
        let n: usize = batch.iter().map(|list| list.values.len()).sum();
        if n > self.values_per_ingest {
            return Err(over(
                "values in the batch",
                n,
                "values_per_ingest",
                self.values_per_ingest,
            ));
        }
        let (from, to) = self.metric_times(now);
        for (i, list) in batch.iter().enumerate() {
            if !(list.time.is_finite() && from <= list.time && list.time <= to) {
                return Err(ApiError::invalid(format!(
                    "value list {i}: `time` must be Unix seconds from 0 to limits.metric_time_ahead \
                     = {} s past the server's current UTC day",
                    self.metric_time_ahead
                )));
            }
            if !(list.interval.is_finite() && list.interval > 0.0) {
                return Err(ApiError::invalid(format!(
                    "value list {i}: `interval` must be a positive number of seconds"
                )));
            }
        }
        Ok(())
    }
}

/// Whether `text` has more than `max` characters (what JSON Schema's `maxLength` counts).
pub fn too_long(text: &str, max: usize) -> bool {
    // A string has no more characters than bytes: count them only for long ones.
    text.len() > max && text.chars().count() > max
}

/// At most [`ECHO_MAX`] characters of `text`, with `…` when cut: what an error may quote of a
/// client's input.
pub fn excerpt(text: &str) -> String {
    match text.char_indices().nth(ECHO_MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(time: f64, interval: f64, values: usize) -> ValueListJson {
        ValueListJson {
            values: vec![Some(1.0); values],
            dstypes: vec!["gauge".into(); values],
            dsnames: vec!["value".into(); values],
            time,
            interval,
            host: "h".into(),
            plugin: "p".into(),
            plugin_instance: String::new(),
            type_: "t".into(),
            type_instance: String::new(),
        }
    }

    #[test]
    fn defaults_parse_and_zero_is_refused() {
        let limits: Limits = toml::from_str("").unwrap();
        assert_eq!(limits, Limits::default());
        limits.check().unwrap();
        let limits: Limits = toml::from_str("series_per_host = 0").unwrap();
        assert_eq!(
            limits.check().unwrap_err(),
            "limits.series_per_host must be at least 1"
        );
        assert!(toml::from_str::<Limits>("agents = 3").is_err());
    }

    #[test]
    fn lists_over_their_cap_name_the_key() {
        let limits = Limits {
            hosts_per_request: 2,
            results_per_request: 1,
            values_per_ingest: 3,
            ..Limits::default()
        };
        let hosts = vec!["a".to_string(), "b".into(), "c".into()];
        let e = limits.check_hosts(&hosts).unwrap_err();
        assert_eq!((e.status.as_u16(), e.errcode), (400, 3021));
        assert!(
            e.message.contains("limits.hosts_per_request = 2"),
            "{}",
            e.message
        );
        assert!(limits.check_hosts(&hosts[..2]).is_ok());

        let result = |id: &str| JobResult {
            id: id.into(),
            errcode: 0,
            message: String::new(),
            hostname: None,
        };
        let e = limits
            .check_results(&[result("a"), result("b")])
            .unwrap_err();
        assert!(e.message.contains("results_per_request"), "{}", e.message);
        let e = limits
            .check_results(&[result(&"x".repeat(1 << 20))])
            .unwrap_err();
        assert!(
            e.message.len() < 200,
            "the id is not echoed whole: {}",
            e.message
        );

        let now = 1.8e9;
        let e = limits
            .check_batch(&[list(now, 10.0, 2), list(now, 10.0, 2)], now)
            .unwrap_err();
        assert!(e.message.contains("values_per_ingest"), "{}", e.message);
        assert!(limits.check_batch(&[list(now, 10.0, 3)], now).is_ok());
    }

    #[test]
    fn metric_times_and_intervals_must_make_sense() {
        let limits = Limits::default();
        let now = 1.8e9;
        for (time, interval) in [
            (1e308, 10.0),
            (-1.0, 10.0),
            (f64::NAN, 10.0),
            (now + 3.0 * 86400.0, 10.0),
            (now, -5.0),
            (now, 0.0),
            (now, f64::INFINITY),
        ] {
            let e = limits
                .check_batch(&[list(time, interval, 1)], now)
                .unwrap_err();
            assert_eq!(e.errcode, 3021, "{time} {interval}");
        }
        assert!(
            limits
                .check_batch(&[list(now - 86400.0, 0.5, 1)], now)
                .is_ok()
        );
    }

    #[test]
    fn excerpts_are_short_and_cut_on_characters() {
        assert_eq!(excerpt("abc"), "abc");
        let long = "é".repeat(100);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), ECHO_MAX + 1);
        assert!(cut.ends_with('…'));
    }
}
