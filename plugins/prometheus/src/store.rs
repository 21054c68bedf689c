//! The latest value of every metric, named and labelled like collectd 5.12's write_prometheus,
//! and its rendering in the Prometheus text exposition format 0.0.4.

use std::collections::BTreeMap;
use std::fmt::Write;

use plugin_api::types_db::DataSource;
use plugin_api::{DsType, Value, ValueList};

/// One metric of a family: its labels and latest value.
#[derive(Clone, Debug)]
struct Metric {
    labels: Vec<(String, String)>,
    value: f64,
    time: f64,
    interval: f64,
}

/// A metric family: `# HELP`, `# TYPE` and its metrics, ordered like collectd orders them
/// (by label count, then label values).
#[derive(Debug)]
struct Family {
    help: String,
    counter: bool,
    metrics: BTreeMap<(usize, Vec<String>), Metric>,
}

/// All families, by name (collectd keeps them in a tree sorted by name, and so do we).
#[derive(Debug)]
pub struct Store {
    families: BTreeMap<String, Family>,
    staleness: f64,
    footer: String,
}

/// collectd's family name: `collectd_[<plugin>_]<type>[_<dsname>][_total]`; the plugin is
/// left out when it equals the type, the dsname when it is `value`, and `_total` is added for
/// every source served as a counter: DERIVE and COUNTER as collectd does, and ABSOLUTE too
/// (collectd 5.12 serves it as a counter without `_total`, which `promtool check metrics`
/// refuses: a Prometheus counter's name ends in `_total`).
pub fn family_name(vl: &ValueList, ds: &DataSource) -> String {
    let mut fields = vec!["collectd"];
    if vl.plugin != vl.type_ {
        fields.push(&vl.plugin);
    }
    fields.push(&vl.type_);
    if ds.name != "value" {
        fields.push(&ds.name);
    }
    if ds.ds_type != DsType::Gauge {
        fields.push("total");
    }
    sanitize(&fields.join("_"), true)
}

/// collectd's labels: `<plugin>="<plugin_instance>"`, then the type instance as `type` (or as
/// `<plugin>` when there is no plugin instance), then `instance="<host>"`.
fn labels(vl: &ValueList) -> Vec<(String, String)> {
    let mut labels = Vec::with_capacity(3);
    let plugin_label = sanitize(&vl.plugin, false);
    if !vl.plugin_instance.is_empty() {
        labels.push((plugin_label.clone(), vl.plugin_instance.to_string()));
    }
    if !vl.type_instance.is_empty() {
        let name = if vl.plugin_instance.is_empty() {
            plugin_label
        } else {
            "type".into()
        };
        labels.push((name, vl.type_instance.to_string()));
    }
    labels.push(("instance".into(), vl.host.to_string()));
    labels
}

/// Replaces characters Prometheus does not allow in names with `_` (`:` only in metric names)
/// and puts `_` before a leading digit. collectd's own names never need this.
fn sanitize(name: &str, metric: bool) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || (metric && c == ':') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A label value with `\`, `"` and newline escaped.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// C's `printf("%.15g")` (collectd's GAUGE_FORMAT), with Prometheus's `NaN`, `+Inf`, `-Inf`.
pub fn g15(v: f64) -> String {
    const PRECISION: i32 = 15;
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    let sci = format!("{:.*e}", (PRECISION - 1) as usize, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..PRECISION).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        let decimals = (PRECISION - 1 - exp) as usize;
        trim(&format!("{v:.decimals$}"))
    }
}

impl Store {
    /// An empty store; `host` and `version` go into the closing comment.
    pub fn new(staleness: f64, host: &str, version: &str) -> Store {
        Store {
            families: BTreeMap::new(),
            staleness,
            footer: format!("\n# nodus/prometheus {version} at {host}\n"),
        }
    }

    /// Keeps the values of `vl` (whose data set is `set`) as the latest of their metrics,
    /// unless a newer value is already there.
    pub fn update(&mut self, vl: &ValueList, set: &[DataSource]) {
        let labels = labels(vl);
        let key = (
            labels.len(),
            labels.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
        );
        for (ds, value) in set.iter().zip(vl.values.iter()) {
            let family = self
                .families
                .entry(family_name(vl, ds))
                .or_insert_with(|| Family {
                    help: format!(
                        "write_prometheus plugin: '{}' Type: '{}', Dstype: '{}', Dsname: '{}'",
                        vl.plugin,
                        vl.type_,
                        ds.ds_type.name().to_ascii_lowercase(),
                        ds.name
                    ),
                    counter: ds.ds_type != DsType::Gauge,
                    metrics: BTreeMap::new(),
                });
            let value = match *value {
                Value::Gauge(g) => g,
                other => other.as_f64(),
            };
            let metric = Metric {
                labels: labels.clone(),
                value,
                time: vl.time,
                interval: vl.interval,
            };
            match family.metrics.get_mut(&key) {
                Some(old) if old.time > vl.time => {}
                Some(old) => *old = metric,
                None => {
                    family.metrics.insert(key.clone(), metric);
                }
            }
        }
    }

    /// Whether a metric is too old to serve at `now`: older than StalenessDelta, or, for a
    /// metric whose interval exceeds StalenessDelta (served without timestamp, as collectd
    /// does), older than two intervals (collectd's default `Timeout 2`).
    fn stale(&self, m: &Metric, now: f64) -> bool {
        let max_age = if m.interval > self.staleness {
            2.0 * m.interval
        } else {
            self.staleness
        };
        now - m.time > max_age
    }

    /// The exposition text at `now` (Unix seconds); stale metrics are dropped for good.
    pub fn render(&mut self, now: f64) -> String {
        let staleness = self.staleness;
        let expired: Vec<(String, (usize, Vec<String>))> = self
            .families
            .iter()
            .flat_map(|(name, f)| {
                f.metrics
                    .iter()
                    .filter(|(_, m)| self.stale(m, now))
                    .map(move |(k, _)| (name.clone(), k.clone()))
            })
            .collect();
        for (name, key) in expired {
            if let Some(family) = self.families.get_mut(&name) {
                family.metrics.remove(&key);
            }
        }
        self.families.retain(|_, f| !f.metrics.is_empty());

        let mut out = String::new();
        for (name, family) in &self.families {
            let kind = if family.counter { "counter" } else { "gauge" };
            let _ = write!(out, "# HELP {name} {}\n# TYPE {name} {kind}\n", family.help);
            for m in family.metrics.values() {
                let labels: Vec<String> = m
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                    .collect();
                let value = if family.counter {
                    format!("{:.0}", m.value)
                } else {
                    g15(m.value)
                };
                let _ = write!(out, "{name}{{{}}} {value}", labels.join(","));
                if m.interval <= staleness {
                    let _ = write!(out, " {}", (m.time * 1000.0).round() as i64);
                }
                out.push('\n');
            }
        }
        out.push_str(&self.footer);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_print_like_percent_15g() {
        assert_eq!(g15(0.1), "0.1");
        assert_eq!(g15(0.25), "0.25");
        assert_eq!(g15(100.0), "100");
        assert_eq!(g15(1234567.891), "1234567.891");
        assert_eq!(g15(1e15), "1e+15");
        assert_eq!(g15(123456789012345.0), "123456789012345");
        assert_eq!(g15(0.0001), "0.0001");
        assert_eq!(g15(0.00001), "1e-05");
        assert_eq!(g15(-2.5e-7), "-2.5e-07");
        assert_eq!(g15(1.0 / 3.0), "0.333333333333333");
        assert_eq!(g15(f64::NAN), "NaN");
        assert_eq!(g15(f64::NEG_INFINITY), "-Inf");
        assert_eq!(g15(0.0), "0");
    }

    #[test]
    fn names_and_labels_follow_write_prometheus() {
        let ds = |name: &str, t| DataSource {
            name: name.into(),
            ds_type: t,
            min: None,
            max: None,
        };
        let cpu = ValueList::new("cpu", "cpu", vec![])
            .plugin_instance("0")
            .type_instance("idle");
        assert_eq!(
            family_name(&cpu, &ds("value", DsType::Derive)),
            "collectd_cpu_total"
        );
        assert_eq!(
            labels(&cpu)[..2],
            [("cpu".into(), "0".into()), ("type".into(), "idle".into())]
        );
        let mem = ValueList::new("memory", "memory", vec![]).type_instance("used");
        assert_eq!(
            family_name(&mem, &ds("value", DsType::Gauge)),
            "collectd_memory"
        );
        assert_eq!(labels(&mem)[0], ("memory".into(), "used".into()));
        let df = ValueList::new("df", "df_complex", vec![]);
        assert_eq!(
            family_name(&df, &ds("value", DsType::Absolute)),
            "collectd_df_df_complex_total"
        );
        assert_eq!(
            family_name(&df, &ds("value", DsType::Gauge)),
            "collectd_df_df_complex"
        );
        assert_eq!(sanitize("nginx-vts", false), "nginx_vts");
        assert_eq!(sanitize("9p", false), "_9p");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
