//! Fuzzes the `types.db` parser (plugin-api; nodus loads the files named in its config):
//! parsing never panics, every defined type can be looked up, written back in collectd's
//! syntax it parses to the same data sets (with sources separated by `, ` and, as in Debian's
//! stock file, by spaces alone), and value lists are checked against it safely.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugin_api::types_db::{DataSource, TypesDb};
use plugin_api::values::{DsType, Value, ValueList};

/// The names the text defines (the first word of each non-comment line), in order.
fn defined_names(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|raw| raw.split('#').next())
        .filter_map(|line| line.split_whitespace().next())
        .collect()
}

fn bound(value: Option<f64>) -> String {
    value.map_or_else(|| "U".to_string(), |v| v.to_string())
}

/// Equal, with NaN bounds equal to each other.
fn same(a: &[DataSource], b: &[DataSource]) -> bool {
    let same_bound = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => x == y || (x.is_nan() && y.is_nan()),
        (x, y) => x.is_none() && y.is_none(),
    };
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            a.name == b.name
                && a.ds_type == b.ds_type
                && same_bound(a.min, b.min)
                && same_bound(a.max, b.max)
        })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(db) = TypesDb::parse(text) else {
        return;
    };
    let mut written = String::new();
    let mut spaced = String::new();
    for name in defined_names(text) {
        let sources = db.get(name).expect("every defined type can be looked up");
        assert!(!sources.is_empty());
        let line: Vec<String> = sources
            .iter()
            .map(|s| {
                assert!(!s.name.is_empty(), "a data source has a name");
                format!(
                    "{}:{}:{}:{}",
                    s.name,
                    s.ds_type.name(),
                    bound(s.min),
                    bound(s.max)
                )
            })
            .collect();
        written.push_str(&format!("{name} {}\n", line.join(", ")));
        spaced.push_str(&format!("{name} {}\n", line.join(" ")));

        let values = sources
            .iter()
            .map(|s| match s.ds_type {
                DsType::Gauge => Value::Gauge(f64::NAN),
                DsType::Derive => Value::Derive(0),
                DsType::Counter => Value::Counter(0),
                DsType::Absolute => Value::Absolute(0),
            })
            .collect();
        let vl = ValueList::new("fuzz", name, values);
        let _ = db.check(&vl);
        let _ = db.check_all(&[vl]);
    }
    for form in [written, spaced] {
        let again = TypesDb::parse(&form).expect("written-back types.db parses");
        assert_eq!(again.len(), db.len(), "{form}");
        for name in defined_names(text) {
            let (a, b) = (db.get(name), again.get(name));
            assert!(same(a.unwrap_or_default(), b.unwrap_or_default()), "{name}");
        }
    }
});
