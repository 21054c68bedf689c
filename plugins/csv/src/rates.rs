//! `StoreRates`: per-second rates of DERIVE, COUNTER and ABSOLUTE values, computed from the
//! previous value list of the same identifier the way collectd's value cache does.

use std::collections::HashMap;

use plugin_api::{Value, ValueList};

/// The last value list seen for one identifier.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    time: f64,
    values: Vec<Value>,
}

impl Sample {
    /// The sample a value list leaves behind.
    pub fn of(vl: &ValueList) -> Sample {
        Sample {
            time: vl.time,
            values: vl.values.to_vec(),
        }
    }
}

/// What to write for a value list under `StoreRates`.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// First list of a series (or its shape changed): remember it, write nothing.
    First,
    /// Not newer than the previous list: ignore it (collectd: "value too old").
    TooOld,
    /// The values to print, gauges as they are and the others as rates per second.
    Rates(Vec<f64>),
}

/// collectd's `counter_diff`: a COUNTER that went down wrapped at 32 or 64 bits.
fn counter_diff(old: u64, new: u64) -> u64 {
    if new >= old {
        new - old
    } else if old <= u64::from(u32::MAX) {
        (u64::from(u32::MAX) - old) + new + 1
    } else {
        (u64::MAX - old).wrapping_add(new).wrapping_add(1)
    }
}

/// Rates of `vl` against `prev`.
pub fn compute(prev: Option<&Sample>, vl: &ValueList) -> Outcome {
    let Some(prev) = prev else {
        return Outcome::First;
    };
    let same_shape = prev.values.len() == vl.values.len()
        && prev
            .values
            .iter()
            .zip(vl.values.iter())
            .all(|(a, b)| a.ds_type() == b.ds_type());
    if !same_shape {
        return Outcome::First;
    }
    if vl.time.partial_cmp(&prev.time) != Some(std::cmp::Ordering::Greater) {
        return Outcome::TooOld;
    }
    let seconds = vl.time - prev.time;
    let rates = prev
        .values
        .iter()
        .zip(vl.values.iter())
        .map(|(old, new)| match (*old, *new) {
            (_, Value::Gauge(g)) => g,
            (Value::Derive(o), Value::Derive(n)) => n.wrapping_sub(o) as f64 / seconds,
            (Value::Counter(o), Value::Counter(n)) => counter_diff(o, n) as f64 / seconds,
            (_, Value::Absolute(n)) => n as f64 / seconds,
            // Unreachable: same_shape checked that the types agree.
            (_, other) => other.as_f64(),
        })
        .collect();
    Outcome::Rates(rates)
}

/// Whether a value list has a value whose rate `StoreRates` writes instead.
pub fn needs_rate(vl: &ValueList) -> bool {
    vl.values.iter().any(|v| !matches!(v, Value::Gauge(_)))
}

/// The last sample per identifier, updated only for batches that were fully written.
#[derive(Default)]
pub struct RateCache {
    last: HashMap<String, Sample>,
}

impl RateCache {
    /// The committed sample of `id`.
    pub fn get(&self, id: &str) -> Option<&Sample> {
        self.last.get(id)
    }

    /// Keeps the samples of a batch that was written.
    pub fn commit(&mut self, pending: HashMap<String, Sample>) {
        self.last.extend(pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn octets(time: f64, rx: i64, tx: i64) -> ValueList {
        ValueList {
            time,
            ..ValueList::new(
                "interface",
                "if_octets",
                vec![Value::Derive(rx), Value::Derive(tx)],
            )
        }
    }

    #[test]
    fn derive_rates_use_the_time_between_lists() {
        let first = octets(100.0, 1000, 50);
        assert_eq!(compute(None, &first), Outcome::First);
        let prev = Sample::of(&first);
        assert_eq!(
            compute(Some(&prev), &octets(110.0, 2000, 40)),
            Outcome::Rates(vec![100.0, -1.0])
        );
        assert_eq!(
            compute(Some(&prev), &octets(100.0, 2000, 40)),
            Outcome::TooOld
        );
        assert_eq!(
            compute(Some(&prev), &octets(90.0, 2000, 40)),
            Outcome::TooOld
        );
    }

    #[test]
    fn counters_wrap_like_collectd() {
        assert_eq!(counter_diff(10, 25), 15);
        assert_eq!(counter_diff(u64::from(u32::MAX) - 5, 10), 16);
        assert_eq!(counter_diff(u64::MAX - 5, 10), 16);
        let c = |t, v| ValueList {
            time: t,
            ..ValueList::new("x", "counter", vec![Value::Counter(v)])
        };
        let prev = Sample::of(&c(0.0, u64::from(u32::MAX) - 5));
        assert_eq!(
            compute(Some(&prev), &c(10.0, 10)),
            Outcome::Rates(vec![1.6])
        );
    }

    #[test]
    fn absolute_is_divided_by_the_elapsed_time_and_shape_changes_restart() {
        let a = |t, v| ValueList {
            time: t,
            ..ValueList::new("x", "absolute", vec![Value::Absolute(v)])
        };
        let prev = Sample::of(&a(0.0, 1));
        assert_eq!(compute(Some(&prev), &a(4.0, 10)), Outcome::Rates(vec![2.5]));
        let g = ValueList {
            time: 5.0,
            ..ValueList::new("x", "absolute", vec![Value::Gauge(1.0)])
        };
        assert_eq!(compute(Some(&prev), &g), Outcome::First);
        assert!(!needs_rate(&g));
        assert!(needs_rate(&a(1.0, 1)));
    }
}
