//! Tests of the prometheus plugin over real HTTP on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plugin_api::types_db::TypesDb;
use plugin_api::{InitContext, Plugin, Value, ValueList, WritePlugin, codes};

use crate::Prometheus;

fn ctx(options: &[(&str, &str)]) -> InitContext {
    let types_db = TypesDb::find(env!("CARGO_MANIFEST_DIR")).unwrap();
    InitContext::default()
        .with_options(options)
        .with_host_fact("types_db", &types_db.to_string_lossy())
        .with_host_fact("hostname", "web1")
}

/// A port that was free a moment ago (bound to 127.0.0.1:0, then released).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn start(port: u16, extra: &[(&str, &str)]) -> Prometheus {
    let port = port.to_string();
    let mut options = vec![("Port", port.as_str())];
    options.extend_from_slice(extra);
    Prometheus::init(&ctx(&options)).unwrap()
}

/// `GET path` over HTTP/1.0: (status, content type, body).
fn get(port: u16, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or_default()
        .to_string();
    (status, content_type, body.to_string())
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as f64
}

/// A stamped value list, checked against types.db like nodus does before writing.
fn stamped(vl: ValueList, time: f64, interval: f64) -> ValueList {
    let vl = ValueList {
        host: "web1".into(),
        time,
        interval,
        ..vl
    };
    TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR"))
        .unwrap()
        .check(&vl)
        .unwrap();
    vl
}

fn load(time: f64) -> ValueList {
    let g = Value::Gauge;
    stamped(
        ValueList::new("load", "load", vec![g(0.1), g(0.25), g(1.5)]),
        time,
        10.0,
    )
}

fn octets(time: f64) -> ValueList {
    let values = vec![Value::Derive(1000), Value::Derive(2000)];
    stamped(
        ValueList::new("interface", "if_octets", values).plugin_instance("eth0"),
        time,
        10.0,
    )
}

#[test]
fn serves_load_and_if_octets_in_the_text_format() {
    let port = free_port();
    let mut p = start(port, &[]);
    let t = now_secs();
    let ms = (t * 1000.0) as i64;
    p.write(&[load(t - 10.0), octets(t)]).unwrap();
    p.write(&[load(t)]).unwrap();
    let (status, content_type, body) = get(port, "/metrics");
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/plain; version=0.0.4");
    let help = |name: &str, plugin: &str, t: &str, ds: &str, dsname: &str| {
        format!(
            "# HELP {name} write_prometheus plugin: '{plugin}' Type: '{t}', Dstype: '{ds}', \
             Dsname: '{dsname}'\n"
        )
    };
    let expected = [
        help("collectd_interface_if_octets_rx_total", "interface", "if_octets", "derive", "rx"),
        "# TYPE collectd_interface_if_octets_rx_total counter\n".into(),
        format!("collectd_interface_if_octets_rx_total{{interface=\"eth0\",instance=\"web1\"}} 1000 {ms}\n"),
        help("collectd_interface_if_octets_tx_total", "interface", "if_octets", "derive", "tx"),
        "# TYPE collectd_interface_if_octets_tx_total counter\n".into(),
        format!("collectd_interface_if_octets_tx_total{{interface=\"eth0\",instance=\"web1\"}} 2000 {ms}\n"),
        help("collectd_load_longterm", "load", "load", "gauge", "longterm"),
        "# TYPE collectd_load_longterm gauge\n".into(),
        format!("collectd_load_longterm{{instance=\"web1\"}} 1.5 {ms}\n"),
        help("collectd_load_midterm", "load", "load", "gauge", "midterm"),
        "# TYPE collectd_load_midterm gauge\n".into(),
        format!("collectd_load_midterm{{instance=\"web1\"}} 0.25 {ms}\n"),
        help("collectd_load_shortterm", "load", "load", "gauge", "shortterm"),
        "# TYPE collectd_load_shortterm gauge\n".into(),
        format!("collectd_load_shortterm{{instance=\"web1\"}} 0.1 {ms}\n"),
        "\n# nodus/prometheus 1.0.0 at web1\n".into(),
    ]
    .concat();
    assert_eq!(body, expected);
    p.shutdown().unwrap();
}

#[test]
fn other_paths_are_404_and_label_values_are_escaped() {
    let port = free_port();
    let mut p = start(port, &[]);
    assert_eq!(get(port, "/").0, 404);
    assert_eq!(get(port, "/metricsx").0, 404);
    assert_eq!(get(port, "/metrics?x=1").0, 200);
    let t = now_secs();
    let vl = stamped(
        ValueList::new("cpu", "cpu", vec![Value::Derive(7)]),
        t,
        10.0,
    )
    .plugin_instance("0")
    .type_instance("a\"b\\c\nd");
    p.write(&[vl]).unwrap();
    let body = get(port, "/metrics").2;
    let line = format!(
        "collectd_cpu_total{{cpu=\"0\",type=\"a\\\"b\\\\c\\nd\",instance=\"web1\"}} 7 {}\n",
        (t * 1000.0) as i64
    );
    assert!(body.contains(&line), "{body}");
    p.shutdown().unwrap();
}

#[test]
fn stale_values_are_not_served() {
    let port = free_port();
    let mut p = start(port, &[("StalenessDelta", "60")]);
    let t = now_secs();
    let uptime = |time, interval| {
        stamped(
            ValueList::new("uptime", "uptime", vec![Value::Gauge(5.0)]),
            time,
            interval,
        )
    };
    let fresh = uptime(t - 30.0, 10.0).type_instance("fresh");
    let old = uptime(t - 120.0, 10.0).type_instance("old");
    // Interval above StalenessDelta: served without a timestamp, until two intervals old.
    let slow = uptime(t - 120.0, 100.0).type_instance("slow");
    p.write(&[fresh, old, slow]).unwrap();
    let body = get(port, "/metrics").2;
    let ms = ((t - 30.0) * 1000.0) as i64;
    assert!(
        body.contains(&format!(
            "collectd_uptime{{uptime=\"fresh\",instance=\"web1\"}} 5 {ms}\n"
        )),
        "{body}"
    );
    assert!(
        body.contains("collectd_uptime{uptime=\"slow\",instance=\"web1\"} 5\n"),
        "{body}"
    );
    assert!(!body.contains("old"), "{body}");
    // An older value does not replace a newer one.
    p.write(&[uptime(t - 50.0, 10.0).type_instance("fresh")])
        .unwrap();
    assert!(get(port, "/metrics").2.contains(&format!("}} 5 {ms}\n")));
    p.shutdown().unwrap();
}

#[test]
fn shutdown_frees_the_port_so_stop_start_works() {
    let port = free_port();
    for _ in 0..5 {
        let mut p = start(port, &[]);
        assert_eq!(get(port, "/metrics").0, 200);
        p.shutdown().unwrap();
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "nothing listens after stop"
        );
    }
    // Dropping the instance without shutdown closes the port too.
    drop(start(port, &[]));
    TcpListener::bind(("127.0.0.1", port)).unwrap();
}

#[test]
fn a_taken_port_fails_init_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = Prometheus::init(&ctx(&[("Port", &port.to_string())]))
        .err()
        .unwrap();
    assert_eq!(err.code, codes::FAILED);
    assert!(
        err.message.contains(&format!("127.0.0.1:{port}")),
        "{}",
        err.message
    );
}

#[test]
fn bad_options_are_invalid_params() {
    for (key, value) in [
        ("Port", "0"),
        ("Port", "70000"),
        ("Port", "x"),
        ("StalenessDelta", "-1"),
        ("Host", " "),
    ] {
        let err = Prometheus::init(&ctx(&[(key, value)])).err().unwrap();
        assert_eq!(
            err.code,
            codes::INVALID_PARAMS,
            "{key} = {value}: {}",
            err.message
        );
    }
}
