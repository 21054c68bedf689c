//! Tests of the csv plugin against a temporary DataDir and the repository's types.db.

use std::fs;
use std::path::Path;

use plugin_api::types_db::TypesDb;
use plugin_api::{InitContext, Plugin, Value, ValueList, WritePlugin, codes};

use crate::{Csv, Target};

/// 2024-03-01 12:00:00 UTC; noon keeps the local date the same from UTC-11 to UTC+11.
const DAY1: f64 = 1709294400.0;
const DAY2: f64 = DAY1 + 86400.0;

fn ctx(options: &[(&str, &str)]) -> InitContext {
    let types_db = TypesDb::find(env!("CARGO_MANIFEST_DIR")).unwrap();
    InitContext::default()
        .with_options(options)
        .with_host_fact("types_db", &types_db.to_string_lossy())
        .with_host_fact("hostname", "web1")
}

fn csv(dir: &Path, store_rates: bool) -> Csv {
    let dir = dir.to_string_lossy().into_owned();
    let rates = if store_rates { "true" } else { "false" };
    Csv::init(&ctx(&[("DataDir", &dir), ("StoreRates", rates)])).unwrap()
}

/// A stamped value list, checked against types.db like nodus does before writing.
fn stamped(vl: ValueList, time: f64) -> ValueList {
    let vl = ValueList {
        host: "web1".into(),
        time,
        interval: 10.0,
        ..vl
    };
    let db = TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap();
    db.check(&vl).unwrap();
    vl
}

fn load(time: f64) -> ValueList {
    let g = Value::Gauge;
    stamped(
        ValueList::new("load", "load", vec![g(0.5), g(0.25), g(0.125)]),
        time,
    )
}

fn octets(time: f64, rx: i64, tx: i64) -> ValueList {
    let values = vec![Value::Derive(rx), Value::Derive(tx)];
    stamped(
        ValueList::new("interface", "if_octets", values).plugin_instance("eth0"),
        time,
    )
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn writes_collectd_file_names_headers_and_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = csv(tmp.path(), false);
    let cpu = stamped(
        ValueList::new("cpu", "cpu", vec![Value::Derive(12345)]),
        DAY1,
    )
    .plugin_instance("0")
    .type_instance("idle");
    let hits = stamped(
        ValueList::new("x", "counter", vec![Value::Counter(u64::MAX)]),
        DAY1,
    );
    p.write(&[load(DAY1), octets(DAY1, 1000, 2000), cpu, hits])
        .unwrap();
    p.write(&[load(DAY1 + 10.5), octets(DAY1 + 10.0, 3, 4)])
        .unwrap();

    let host = tmp.path().join("web1");
    assert_eq!(
        read(&host.join("load/load-2024-03-01")),
        "epoch,shortterm,midterm,longterm\n\
         1709294400.000,0.500000,0.250000,0.125000\n\
         1709294410.500,0.500000,0.250000,0.125000\n"
    );
    assert_eq!(
        read(&host.join("interface-eth0/if_octets-2024-03-01")),
        "epoch,rx,tx\n1709294400.000,1000,2000\n1709294410.000,3,4\n"
    );
    assert_eq!(
        read(&host.join("cpu-0/cpu-idle-2024-03-01")),
        "epoch,value\n1709294400.000,12345\n"
    );
    assert_eq!(
        read(&host.join("x/counter-2024-03-01")),
        "epoch,value\n1709294400.000,18446744073709551615\n"
    );
}

#[test]
fn a_new_day_starts_a_new_file_with_its_own_header() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = csv(tmp.path(), false);
    p.write(&[load(DAY1), load(DAY2)]).unwrap();
    let dir = tmp.path().join("web1/load");
    let header = "epoch,shortterm,midterm,longterm\n";
    assert_eq!(
        read(&dir.join("load-2024-03-01")),
        format!("{header}1709294400.000,0.500000,0.250000,0.125000\n")
    );
    assert_eq!(
        read(&dir.join("load-2024-03-02")),
        format!("{header}1709380800.000,0.500000,0.250000,0.125000\n")
    );
}

#[test]
fn store_rates_skips_the_first_list_and_writes_rates() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = csv(tmp.path(), true);
    let file = tmp.path().join("web1/interface-eth0/if_octets-2024-03-01");
    p.write(&[octets(DAY1, 1000, 500), load(DAY1)]).unwrap();
    assert!(!file.exists(), "the first list of a series has no rate");
    assert!(
        tmp.path().join("web1/load/load-2024-03-01").exists(),
        "gauges need no rate"
    );
    p.write(&[
        octets(DAY1 + 10.0, 2000, 400),
        octets(DAY1 + 20.0, 2500, 400),
    ])
    .unwrap();
    // Not newer than the last one: ignored, like collectd's "value too old".
    p.write(&[octets(DAY1 + 20.0, 9999, 9999)]).unwrap();
    assert_eq!(
        read(&file),
        "epoch,rx,tx\n1709294410.000,100.000000,-10.000000\n1709294420.000,50.000000,0.000000\n"
    );
}

#[test]
fn a_failed_batch_leaves_nothing_and_its_retry_writes_each_line_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = csv(tmp.path(), true);
    p.write(&[load(DAY1), octets(DAY1, 0, 0)]).unwrap();
    let load_file = tmp.path().join("web1/load/load-2024-03-01");
    let before = read(&load_file);
    // A directory where the uptime file should be: its append fails after load's succeeded.
    let blocker = tmp.path().join("web1/uptime/uptime-2024-03-01");
    fs::create_dir_all(&blocker).unwrap();
    let uptime = stamped(
        ValueList::new("uptime", "uptime", vec![Value::Gauge(42.0)]),
        DAY1,
    );
    let batch = [load(DAY1 + 10.0), octets(DAY1 + 10.0, 100, 100), uptime];
    let err = p.write(&batch).unwrap_err();
    assert_eq!(err.code, codes::FAILED);
    assert!(err.message.contains("uptime-2024-03-01"), "{}", err.message);
    assert!(
        err.message.contains("nothing of the batch was kept"),
        "{}",
        err.message
    );
    assert_eq!(read(&load_file), before);
    let octets_file = tmp.path().join("web1/interface-eth0/if_octets-2024-03-01");
    assert!(
        !octets_file.exists(),
        "created by the failed batch, so removed again"
    );

    fs::remove_dir(&blocker).unwrap();
    p.write(&batch).unwrap();
    assert_eq!(read(&load_file).lines().count(), 3);
    // The rate cache was not advanced by the failed attempt: the retry still has a rate.
    assert_eq!(
        read(&octets_file),
        "epoch,rx,tx\n1709294410.000,10.000000,10.000000\n"
    );
}

#[test]
fn identifier_fields_cannot_leave_the_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut p = csv(&data, false);
    let up = ValueList {
        host: "..".into(),
        ..load(DAY1)
    };
    let up2 = ValueList {
        host: "../..".into(),
        ..load(DAY1)
    };
    p.write(&[up, up2]).unwrap();
    assert!(data.join("__/load/load-2024-03-01").is_file());
    assert!(data.join(".._../load/load-2024-03-01").is_file());
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "only data/ in the temp dir"
    );
}

#[test]
fn options_are_validated_and_data_dir_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let nested = tmp.path().join("a/b/c");
    csv(&nested, false);
    assert!(nested.is_dir());

    let err = Csv::init(&ctx(&[])).err().unwrap();
    assert_eq!(err.code, codes::INVALID_PARAMS);
    let dir = tmp.path().to_string_lossy().into_owned();
    let err = Csv::init(&ctx(&[("DataDir", &dir), ("StoreRates", "maybe")]))
        .err()
        .unwrap();
    assert_eq!(err.code, codes::INVALID_PARAMS);

    let file = tmp.path().join("plain-file");
    fs::write(&file, "").unwrap();
    let under_file = file.join("sub").to_string_lossy().into_owned();
    let err = Csv::init(&ctx(&[("DataDir", &under_file)])).err().unwrap();
    assert_eq!(err.code, codes::FAILED);
    assert!(err.message.contains("plain-file"), "{}", err.message);

    let p = Csv::init(&ctx(&[("DataDir", "STDOUT")])).unwrap();
    assert_eq!(p.target, Target::Stdout);
    let p = Csv::init(&ctx(&[("DataDir", "stderr")])).unwrap();
    assert_eq!(p.target, Target::Stderr);
}

#[test]
fn lists_of_unknown_types_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = csv(tmp.path(), false);
    let odd = ValueList {
        host: "web1".into(),
        time: DAY1,
        ..ValueList::new("x", "no_such_type", vec![])
    };
    let err = p.write(&[odd]).unwrap_err();
    assert!(err.message.contains("no_such_type"), "{}", err.message);
    let short = ValueList {
        values: vec![Value::Gauge(1.0)].into(),
        ..load(DAY1)
    };
    assert!(p.write(&[short]).is_err());
}

#[test]
fn a_file_removed_or_renamed_between_batches_is_created_again() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = csv(tmp.path(), false);
    let file = tmp.path().join("web1/load/load-2024-03-01");
    let header = "epoch,shortterm,midterm,longterm\n";
    let line = |t: u32| format!("{t}.000,0.500000,0.250000,0.125000\n");
    p.write(&[load(DAY1)]).unwrap();
    fs::remove_file(&file).unwrap();
    p.write(&[load(DAY1 + 10.0)]).unwrap();
    assert_eq!(read(&file), format!("{header}{}", line(1709294410)));

    // Moved away, as log rotation does: the name gets a new file, the old one no more lines.
    let rotated = tmp.path().join("rotated");
    fs::rename(&file, &rotated).unwrap();
    p.write(&[load(DAY1 + 20.0)]).unwrap();
    assert_eq!(read(&file), format!("{header}{}", line(1709294420)));
    assert_eq!(read(&rotated), format!("{header}{}", line(1709294410)));

    fs::remove_dir_all(tmp.path().join("web1")).unwrap();
    p.write(&[load(DAY1 + 30.0)]).unwrap();
    assert_eq!(read(&file), format!("{header}{}", line(1709294430)));
}

#[test]
fn lines_appended_by_others_survive_and_a_failed_batch_still_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = csv(tmp.path(), false);
    p.write(&[load(DAY1)]).unwrap();
    let file = tmp.path().join("web1/load/load-2024-03-01");
    // Someone else appends to the open file between two batches.
    let mut other = fs::OpenOptions::new().append(true).open(&file).unwrap();
    std::io::Write::write_all(&mut other, b"# note\n").unwrap();
    let before = read(&file);
    let blocker = tmp.path().join("web1/uptime/uptime-2024-03-01");
    fs::create_dir_all(&blocker).unwrap();
    let uptime = stamped(
        ValueList::new("uptime", "uptime", vec![Value::Gauge(42.0)]),
        DAY1,
    );
    p.write(&[load(DAY1 + 10.0), uptime]).unwrap_err();
    assert_eq!(read(&file), before);
    p.write(&[load(DAY1 + 20.0)]).unwrap();
    assert_eq!(
        read(&file),
        format!("{before}1709294420.000,0.500000,0.250000,0.125000\n")
    );
}
