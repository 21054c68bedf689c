//! Tests of the http plugin against a real HTTP listener on 127.0.0.1, started by each test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use plugin_api::types_db::TypesDb;
use plugin_api::{InitContext, Plugin, Value, ValueList, WritePlugin, codes};
use wire::metrics::{MetricsBatch, ValueListJson};

use crate::Http;

/// What the test server saw of one request.
#[derive(Debug)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn batch(&self) -> MetricsBatch {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A server answering one request per status in `statuses` (0: read it, never answer), on its
/// own connection each; joined, it returns what it saw.
fn server(statuses: Vec<u16>) -> (u16, JoinHandle<Vec<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for status in statuses {
            let (stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (k, v) = line.split_once(':').unwrap();
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
            let length: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse().unwrap())
                .expect("the client sends Content-Length");
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let request_line = request_line.trim_end().to_string();
            seen.push(Seen {
                request_line,
                headers,
                body: String::from_utf8(body).unwrap(),
            });
            if status == 0 {
                std::thread::sleep(Duration::from_secs(2));
                continue;
            }
            let text = if status == 503 {
                "busy, retry later"
            } else {
                ""
            };
            let mut stream = reader.into_inner();
            write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            )
            .unwrap();
        }
        seen
    });
    (port, thread)
}

fn ctx(options: &[(&str, &str)]) -> InitContext {
    let types_db = TypesDb::find(env!("CARGO_MANIFEST_DIR")).unwrap();
    InitContext::default()
        .with_options(options)
        .with_host_fact("types_db", &types_db.to_string_lossy())
        .with_host_fact("hostname", "web1")
}

fn http(port: u16, extra: &[(&str, &str)]) -> Http {
    let url = format!("http://127.0.0.1:{port}/ingest?src=nodus");
    let mut options = vec![("URL", url.as_str())];
    options.extend_from_slice(extra);
    Http::init(&ctx(&options)).unwrap()
}

/// A stamped value list, checked against types.db like nodus does before writing.
fn stamped(vl: ValueList, time: f64) -> ValueList {
    let vl = ValueList {
        host: "web1".into(),
        time,
        interval: 10.0,
        ..vl
    };
    TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR"))
        .unwrap()
        .check(&vl)
        .unwrap();
    vl
}

fn uptime(time: f64, v: f64) -> ValueList {
    stamped(
        ValueList::new("uptime", "uptime", vec![Value::Gauge(v)]),
        time,
    )
}

#[test]
fn posts_the_batch_as_write_http_json_with_auth_and_headers() {
    let (port, seen) = server(vec![200]);
    let options = [
        ("User", "agent"),
        ("Password", "s3cret"),
        ("Header", "X-Tenant: blue"),
    ];
    let mut p = http(port, &options);
    let octets = ValueList::new(
        "interface",
        "if_octets",
        vec![Value::Derive(10), Value::Derive(20)],
    )
    .plugin_instance("eth0");
    let cpu = ValueList::new("cpu", "cpu", vec![Value::Derive(5)])
        .plugin_instance("0")
        .type_instance("idle");
    p.write(&[
        stamped(octets, 1700000000.5),
        stamped(cpu, 1700000000.0),
        uptime(1700000000.0, f64::NAN),
    ])
    .unwrap();
    let seen = seen.join().unwrap();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.request_line, "POST /ingest?src=nodus HTTP/1.1");
    assert_eq!(req.header("Content-Type"), Some("application/json"));
    assert_eq!(req.header("Authorization"), Some("Basic YWdlbnQ6czNjcmV0"));
    assert_eq!(req.header("X-Tenant"), Some("blue"));
    let json = |values: Vec<Option<f64>>,
                dstypes: &[&str],
                dsnames: &[&str],
                time,
                plugin: &str,
                pi: &str,
                t: &str,
                ti: &str| {
        ValueListJson {
            values,
            dstypes: dstypes.iter().map(|s| s.to_string()).collect(),
            dsnames: dsnames.iter().map(|s| s.to_string()).collect(),
            time,
            interval: 10.0,
            host: "web1".into(),
            plugin: plugin.into(),
            plugin_instance: pi.into(),
            type_: t.into(),
            type_instance: ti.into(),
        }
    };
    let expected = vec![
        json(
            vec![Some(10.0), Some(20.0)],
            &["derive", "derive"],
            &["rx", "tx"],
            1700000000.5,
            "interface",
            "eth0",
            "if_octets",
            "",
        ),
        json(
            vec![Some(5.0)],
            &["derive"],
            &["value"],
            1700000000.0,
            "cpu",
            "0",
            "cpu",
            "idle",
        ),
        json(
            vec![None],
            &["gauge"],
            &["value"],
            1700000000.0,
            "uptime",
            "",
            "uptime",
            "",
        ),
    ];
    assert_eq!(req.batch(), expected);
    assert!(req.body.contains(r#""values":[null]"#), "{}", req.body);
}

#[test]
fn batches_are_split_into_batch_size_posts() {
    let (port, seen) = server(vec![200, 200, 204]);
    let mut p = http(port, &[("BatchSize", "2")]);
    let lists: Vec<ValueList> = (0..5)
        .map(|i| uptime(1700000000.0 + f64::from(i), 1.0))
        .collect();
    p.write(&lists).unwrap();
    let sizes: Vec<usize> = seen
        .join()
        .unwrap()
        .iter()
        .map(|s| s.batch().len())
        .collect();
    assert_eq!(sizes, [2, 2, 1]);
}

#[test]
fn a_non_2xx_answer_fails_the_batch() {
    let (port, seen) = server(vec![503]);
    let mut p = http(port, &[]);
    let err = p.write(&[uptime(1700000000.0, 1.0)]).unwrap_err();
    assert_eq!(err.code, codes::FAILED);
    assert!(err.message.contains("503"), "{}", err.message);
    assert!(err.message.contains("busy, retry later"), "{}", err.message);
    assert!(
        err.message
            .contains(&format!("http://127.0.0.1:{port}/ingest")),
        "{}",
        err.message
    );
    seen.join().unwrap();
}

#[test]
fn a_failed_later_part_fails_the_whole_batch() {
    let (port, seen) = server(vec![200, 500]);
    let mut p = http(port, &[("BatchSize", "1")]);
    let err = p.write(&[uptime(1.0, 1.0), uptime(2.0, 1.0)]).unwrap_err();
    assert!(err.message.contains("part 2 of 2"), "{}", err.message);
    assert_eq!(seen.join().unwrap().len(), 2);
}

#[test]
fn connection_errors_and_timeouts_fail_the_batch() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut p = http(closed, &[]);
    assert_eq!(
        p.write(&[uptime(1.0, 1.0)]).unwrap_err().code,
        codes::FAILED
    );

    let (port, seen) = server(vec![0]);
    let mut p = http(port, &[("Timeout", "0.5")]);
    let started = Instant::now();
    let err = p.write(&[uptime(1.0, 1.0)]).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        err.message.to_lowercase().contains("timeout"),
        "{}",
        err.message
    );
    seen.join().unwrap();
}

#[test]
fn bad_options_are_refused() {
    let url = ("URL", "http://127.0.0.1:9/x");
    let cases: &[&[(&str, &str)]] = &[
        &[],
        &[("URL", "ftp://host/x")],
        &[("URL", "/just/a/path")],
        &[url, ("Password", "p")],
        &[url, ("BatchSize", "0")],
        &[url, ("BatchSize", "-1")],
        &[url, ("Timeout", "0")],
        &[url, ("Header", "no colon")],
        &[url, ("Header", "bad name: v")],
        &[url, ("Format", "Command")],
    ];
    for options in cases {
        let err = Http::init(&ctx(options)).err().unwrap();
        assert_eq!(
            err.code,
            codes::INVALID_PARAMS,
            "{options:?}: {}",
            err.message
        );
    }
    let err = Http::init(&ctx(&[url, ("CACert", "/nonexistent/ca.pem")]))
        .err()
        .unwrap();
    assert_eq!(err.code, codes::FAILED);
    assert!(
        err.message.contains("/nonexistent/ca.pem"),
        "{}",
        err.message
    );
    let ok = Http::init(&ctx(&[
        ("URL", "https://polaris.example/ingest"),
        ("Format", "json"),
    ]));
    assert!(ok.is_ok());
}

#[test]
fn lists_of_unknown_types_are_refused() {
    let mut p = http(9, &[]);
    let odd = ValueList {
        host: "web1".into(),
        ..ValueList::new("x", "no_such_type", vec![])
    };
    let err = p.write(&[odd]).unwrap_err();
    assert!(err.message.contains("no_such_type"), "{}", err.message);
}
