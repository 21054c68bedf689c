//! Debian's own collectd `types.db` (package `collectd-core`) loads whole, with the data sources
//! collectd itself reads from it, including its lines whose sources are separated by spaces.
//!
//! The file is `$POLARIS_TEST_COLLECTD_TYPES_DB` (`.ci/run` extracts it from the package without
//! installing collectd) or `/usr/share/collectd/types.db`; the test is skipped loudly otherwise.

use std::path::PathBuf;

use plugin_api::DsType;
use plugin_api::types_db::{DataSource, TypesDb};

/// The stock file, or `None` after a loud SKIPPED line.
fn stock_types_db() -> Option<PathBuf> {
    let candidates = std::env::var_os("POLARIS_TEST_COLLECTD_TYPES_DB")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/usr/share/collectd/types.db")]);
    for path in candidates {
        if path.is_file() {
            return Some(path);
        }
    }
    eprintln!(
        "\n*** SKIPPED: collectd-core not installed (apt-get install collectd-core, or \
         `apt-get download collectd-core && dpkg-deb -x collectd-core_*.deb DIR` and \
         POLARIS_TEST_COLLECTD_TYPES_DB=DIR/usr/share/collectd/types.db) ***\n"
    );
    None
}

/// `(name, type, min, max)` of each source.
fn shape(sources: &[DataSource]) -> Vec<(&str, DsType, Option<f64>, Option<f64>)> {
    sources
        .iter()
        .map(|s| (s.name.as_str(), s.ds_type, s.min, s.max))
        .collect()
}

#[test]
fn debian_stock_types_db_loads_with_its_data_sources() {
    let Some(path) = stock_types_db() else {
        return;
    };
    let db = TypesDb::load(&[&path]).unwrap_or_else(|e| panic!("{e}"));
    // Every non-comment line of the file is a data set.
    let text = std::fs::read_to_string(&path).unwrap();
    let defined = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .count();
    assert_eq!(db.len(), defined);
    assert!(defined > 300, "{} has only {defined} types", path.display());

    use DsType::{Derive, Gauge};
    let load = db.get("load").expect("load");
    assert_eq!(
        shape(load),
        [
            ("shortterm", Gauge, Some(0.0), Some(5000.0)),
            ("midterm", Gauge, Some(0.0), Some(5000.0)),
            ("longterm", Gauge, Some(0.0), Some(5000.0)),
        ]
    );
    let if_octets = db.get("if_octets").expect("if_octets");
    assert_eq!(
        shape(if_octets),
        [
            ("rx", Derive, Some(0.0), None),
            ("tx", Derive, Some(0.0), None)
        ]
    );
    let df_complex = db.get("df_complex").expect("df_complex");
    assert_eq!(shape(df_complex), [("value", Gauge, Some(0.0), None)]);
    // The lines with space-separated sources, as collectd reads them.
    for name in ["ib_octets", "ib_packets"] {
        let set = db.get(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(
            shape(set),
            [
                ("rx", Derive, Some(0.0), None),
                ("tx", Derive, Some(0.0), None)
            ],
            "{name}"
        );
    }
}
