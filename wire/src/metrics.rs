//! The metrics schema between nodus's `http` writer and Polaris's ingest endpoint.
//!
//! It is collectd's `write_http` JSON format (`Format "JSON"`), so Polaris also accepts batches
//! from a stock collectd: a JSON array of value lists, each with parallel `values`, `dstypes`
//! and `dsnames` arrays.

use serde::{Deserialize, Serialize};

/// One value list, as collectd's write_http sends it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValueListJson {
    /// The values, in data-set order (`null` stands for NaN, collectd's "unknown").
    pub values: Vec<Option<f64>>,
    /// `gauge`, `derive`, `counter` or `absolute`, one per value.
    pub dstypes: Vec<String>,
    /// The data sources' names from types.db, one per value.
    pub dsnames: Vec<String>,
    /// Unix time in seconds.
    pub time: f64,
    /// Collection interval in seconds.
    pub interval: f64,
    /// The host that collected the values.
    pub host: String,
    /// Plugin name, e.g. `cpu`.
    pub plugin: String,
    /// Plugin instance; may be empty.
    #[serde(default)]
    pub plugin_instance: String,
    /// The types.db data set.
    #[serde(rename = "type")]
    pub type_: String,
    /// Type instance; may be empty.
    #[serde(default)]
    pub type_instance: String,
}

/// A batch: what one POST carries.
pub type MetricsBatch = Vec<ValueListJson>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_collectd_write_http_json() {
        // From collectd's write_http documentation.
        let text = r#"[{"values":[1901474177],"dstypes":["counter"],"dsnames":["value"],
            "time":1280959128,"interval":10,"host":"leeloo.octo.it","plugin":"cpu",
            "plugin_instance":"0","type":"cpu","type_instance":"idle"}]"#;
        let batch: MetricsBatch = serde_json::from_str(text).unwrap();
        assert_eq!(batch[0].values, [Some(1901474177.0)]);
        assert_eq!(batch[0].type_, "cpu");
        let back = serde_json::to_value(&batch).unwrap();
        assert_eq!(back[0]["type_instance"], "idle");
    }
}
