//! collectd-shaped value lists: what read plugins emit and write plugins receive.
//!
//! A [`ValueList`] is collectd's `value_list_t`: an identifier
//! (`host/plugin-plugin_instance/type-type_instance`), a time, an interval and the values of
//! one `types.db` data set, in order.

use abi_stable::{
    StableAbi,
    std_types::{RString, RVec},
};

/// collectd's data-source types, as written in `types.db`.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DsType {
    /// A value that may go up and down (temperature, memory used).
    Gauge,
    /// A counter whose rate is wanted; may be reset or go down.
    Derive,
    /// A monotonic counter that wraps around.
    Counter,
    /// A count that is reset on every read.
    Absolute,
}

impl DsType {
    /// The one-letter form used by `nodus -T`: G, D, C or A.
    pub fn letter(self) -> char {
        match self {
            DsType::Gauge => 'G',
            DsType::Derive => 'D',
            DsType::Counter => 'C',
            DsType::Absolute => 'A',
        }
    }

    /// The `types.db` spelling: GAUGE, DERIVE, COUNTER or ABSOLUTE.
    pub fn name(self) -> &'static str {
        match self {
            DsType::Gauge => "GAUGE",
            DsType::Derive => "DERIVE",
            DsType::Counter => "COUNTER",
            DsType::Absolute => "ABSOLUTE",
        }
    }

    /// Parses the `types.db` spelling (case-insensitive).
    pub fn parse(s: &str) -> Option<DsType> {
        match s.to_ascii_uppercase().as_str() {
            "GAUGE" => Some(DsType::Gauge),
            "DERIVE" => Some(DsType::Derive),
            "COUNTER" => Some(DsType::Counter),
            "ABSOLUTE" => Some(DsType::Absolute),
            _ => None,
        }
    }
}

/// One value of a data set, tagged with its data-source type.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// A GAUGE value.
    Gauge(f64),
    /// A DERIVE value.
    Derive(i64),
    /// A COUNTER value.
    Counter(u64),
    /// An ABSOLUTE value.
    Absolute(u64),
}

impl Value {
    /// The data-source type of this value.
    pub fn ds_type(self) -> DsType {
        match self {
            Value::Gauge(_) => DsType::Gauge,
            Value::Derive(_) => DsType::Derive,
            Value::Counter(_) => DsType::Counter,
            Value::Absolute(_) => DsType::Absolute,
        }
    }

    /// The value as a float, for printing and range checks.
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Gauge(v) => v,
            Value::Derive(v) => v as f64,
            Value::Counter(v) | Value::Absolute(v) => v as f64,
        }
    }
}

/// collectd's `value_list_t`.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct ValueList {
    /// Host name; empty means "the agent fills in its own".
    pub host: RString,
    /// Plugin name, e.g. `cpu`.
    pub plugin: RString,
    /// Plugin instance, e.g. `0` for the first CPU; may be empty.
    pub plugin_instance: RString,
    /// The `types.db` data set, e.g. `cpu`, `if_octets`.
    pub type_: RString,
    /// Type instance, e.g. `idle`; may be empty.
    pub type_instance: RString,
    /// Unix time in seconds; 0 means "the agent stamps it when dispatching".
    pub time: f64,
    /// Collection interval in seconds; 0 means "the plugin's configured interval".
    pub interval: f64,
    /// The values, in the order of the data set's sources.
    pub values: RVec<Value>,
}

impl ValueList {
    /// A value list for `plugin`/`type_` with no instances, time or interval set.
    pub fn new(plugin: &str, type_: &str, values: Vec<Value>) -> Self {
        ValueList {
            host: RString::new(),
            plugin: plugin.into(),
            plugin_instance: RString::new(),
            type_: type_.into(),
            type_instance: RString::new(),
            time: 0.0,
            interval: 0.0,
            values: values.into(),
        }
    }

    /// Sets the plugin instance.
    pub fn plugin_instance(mut self, instance: &str) -> Self {
        self.plugin_instance = instance.into();
        self
    }

    /// Sets the type instance.
    pub fn type_instance(mut self, instance: &str) -> Self {
        self.type_instance = instance.into();
        self
    }

    /// collectd's `plugin_dispatch_multivalue` for GAUGE values, as the memory and swap
    /// plugins call it for their `ValuesAbsolute` and `ValuesPercentage` options.
    ///
    /// With `absolute`: for each `(type_instance, value)`, a copy of this list with that type
    /// instance and that one value. Then with `percentage`: the same with type `percent` and
    /// each value as a percentage of the sum of all (NaN values are left out of the sum; with a
    /// sum of 0 every percentage is NaN).
    ///
    /// ```
    /// # use plugin_api::{Value, ValueList};
    /// let template = ValueList::new("memory", "memory", vec![]);
    /// let lists = template.multivalue(&[("used", 3.0), ("free", 1.0)], true, true);
    /// assert_eq!(lists[0].identifier(), "memory/memory-used");
    /// assert_eq!(lists[2].identifier(), "memory/percent-used");
    /// assert_eq!(lists[2].values.as_slice(), [Value::Gauge(75.0)]);
    /// ```
    pub fn multivalue(
        &self,
        values: &[(&str, f64)],
        absolute: bool,
        percentage: bool,
    ) -> Vec<ValueList> {
        let one = |type_: &RString, name: &str, value: f64| {
            ValueList {
                type_: type_.clone(),
                values: vec![Value::Gauge(value)].into(),
                ..self.clone()
            }
            .type_instance(name)
        };
        let mut out = Vec::new();
        if absolute {
            out.extend(values.iter().map(|&(name, v)| one(&self.type_, name, v)));
        }
        if percentage {
            let percent = RString::from("percent");
            let sum: f64 = values.iter().map(|(_, v)| *v).filter(|v| !v.is_nan()).sum();
            out.extend(values.iter().map(|&(name, v)| {
                let share = if sum == 0.0 {
                    f64::NAN
                } else {
                    v * 100.0 / sum
                };
                one(&percent, name, share)
            }));
        }
        out
    }

    /// collectd's identifier without the host: `plugin[-instance]/type[-instance]`.
    pub fn identifier(&self) -> String {
        let mut id = self.plugin.to_string();
        if !self.plugin_instance.is_empty() {
            id.push('-');
            id.push_str(&self.plugin_instance);
        }
        id.push('/');
        id.push_str(&self.type_);
        if !self.type_instance.is_empty() {
            id.push('-');
            id.push_str(&self.type_instance);
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(lists: &[ValueList]) -> Vec<(String, f64)> {
        lists
            .iter()
            .map(|vl| (vl.identifier(), vl.values[0].as_f64()))
            .collect()
    }

    #[test]
    fn multivalue_copies_the_template_per_value() {
        let template = ValueList {
            interval: 10.0,
            ..ValueList::new("swap", "swap", vec![Value::Derive(7)]).plugin_instance("dev_sda2")
        };
        let lists = template.multivalue(&[("used", 1024.0), ("free", 3072.0)], true, false);
        assert_eq!(
            flat(&lists),
            [
                ("swap-dev_sda2/swap-used".into(), 1024.0),
                ("swap-dev_sda2/swap-free".into(), 3072.0),
            ]
        );
        assert!(
            lists
                .iter()
                .all(|vl| vl.interval == 10.0 && vl.values.len() == 1)
        );
        assert_eq!(lists[1].values[0], Value::Gauge(3072.0));
    }

    #[test]
    fn multivalue_percentages_of_the_sum() {
        let template = ValueList::new("memory", "memory", vec![]);
        let lists = template.multivalue(
            &[("used", 1.0), ("x", f64::NAN), ("free", 3.0)],
            false,
            true,
        );
        let got = flat(&lists);
        assert_eq!(got[0], ("memory/percent-used".into(), 25.0));
        assert_eq!(got[1].0, "memory/percent-x");
        assert!(got[1].1.is_nan());
        assert_eq!(got[2], ("memory/percent-free".into(), 75.0));
        // Nothing to divide by: unknown, as collectd reports it.
        let zero = template.multivalue(&[("used", 0.0), ("free", 0.0)], false, true);
        assert!(zero.iter().all(|vl| vl.values[0].as_f64().is_nan()));
        assert!(template.multivalue(&[], true, true).is_empty());
        assert!(
            template
                .multivalue(&[("used", 1.0)], false, false)
                .is_empty()
        );
    }

    #[test]
    fn multivalue_absolute_values_come_first() {
        let template = ValueList::new("swap", "swap", vec![]);
        let ids: Vec<String> = template
            .multivalue(&[("used", 1.0), ("free", 3.0)], true, true)
            .iter()
            .map(ValueList::identifier)
            .collect();
        assert_eq!(
            ids,
            [
                "swap/swap-used",
                "swap/swap-free",
                "swap/percent-used",
                "swap/percent-free"
            ]
        );
    }
}
