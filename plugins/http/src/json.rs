//! Value lists as collectd write_http's JSON (`wire::metrics`), and the Basic auth header.

use plugin_api::ValueList;
use plugin_api::types_db::DataSource;
use wire::metrics::ValueListJson;

/// One value list in the shared schema: values (`null` for NaN and infinities, which JSON
/// cannot carry, as collectd writes them), lower-case dstypes, and dsnames from types.db.
pub fn value_list(vl: &ValueList, set: &[DataSource]) -> ValueListJson {
    ValueListJson {
        values: vl
            .values
            .iter()
            .map(|v| Some(v.as_f64()).filter(|f| f.is_finite()))
            .collect(),
        dstypes: vl
            .values
            .iter()
            .map(|v| v.ds_type().name().to_ascii_lowercase())
            .collect(),
        dsnames: set.iter().map(|ds| ds.name.clone()).collect(),
        time: vl.time,
        interval: vl.interval,
        host: vl.host.to_string(),
        plugin: vl.plugin.to_string(),
        plugin_instance: vl.plugin_instance.to_string(),
        type_: vl.type_.to_string(),
        type_instance: vl.type_instance.to_string(),
    }
}

/// Standard base64 (RFC 4648, with padding), for `Authorization: Basic`.
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::{DsType, Value};

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn nan_gauges_become_null_and_types_are_lower_case() {
        let ds = |name: &str, t| DataSource {
            name: name.into(),
            ds_type: t,
            min: None,
            max: None,
        };
        let vl = ValueList {
            host: "web1".into(),
            time: 1.5,
            interval: 10.0,
            ..ValueList::new("x", "t", vec![Value::Gauge(f64::NAN), Value::Counter(7)])
        };
        let json = value_list(&vl, &[ds("a", DsType::Gauge), ds("b", DsType::Counter)]);
        assert_eq!(json.values, [None, Some(7.0)]);
        assert_eq!(json.dstypes, ["gauge", "counter"]);
        assert_eq!(json.dsnames, ["a", "b"]);
        let text = serde_json::to_string(&json).unwrap();
        assert!(
            text.starts_with(r#"{"values":[null,7.0],"dstypes":["gauge","counter"]"#),
            "{text}"
        );
    }
}
