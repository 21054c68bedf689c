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
