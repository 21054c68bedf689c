//! The log API against Polaris servers in-process over real TLS (SQLite always; MariaDB and
//! PostgreSQL when configured): `POST /api/v1/logs` takes the host from the client
//! certificate, stores each record once across a resend, refuses a bad batch whole (3021) and a
//! revoked host (3034); `GET /api/v1/logs` filters and pages by cursor; each host's sources are
//! listed; the background retention deletes the oldest records past `[logs] max_bytes`.

mod common;

use std::time::Duration;

use common::agents::{Certs, Server};
use common::{BACKENDS, Scratch};
use serde_json::{Value, json};

/// `POST path` with `agent` (presenting its certificate, or none); (status, JSON).
async fn post(agent: ureq::Agent, server: &Server, path: &str, body: Value) -> (u16, Value) {
    let body = serde_json::to_vec(&body).unwrap();
    post_bytes(agent, server, path, body, None).await
}

fn record(offset: u64, time: f64, message: &str, status: u64) -> Value {
    json!({"source": "nginx", "file": "0123456789abcdef", "offset": offset,
        "path": "/var/log/nginx/access.log", "time": time, "message": message,
        "fields": {"status": status, "method": "GET"}})
}

fn batch(records: Vec<Value>) -> Value {
    json!({"records": records, "sources": [{"name": "nginx", "path": "/var/log/nginx/*.log",
        "files": 1, "open_files": 1, "offset": 400, "size": 500, "lag": 100, "state": "reading",
        "lost_bytes": 0, "truncations": 0, "parse_errors": 0, "truncated_records": 0,
        "rejected_records": 3}]})
}

fn messages(page: &Value) -> Vec<String> {
    page["records"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|r| r["message"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hosts_post_log_batches_and_admins_query_them() {
    let certs = Certs::new();
    for backend in BACKENDS {
        let Some(scratch) = Scratch::new(backend).await else {
            continue;
        };
        // Records of 2025: kept whatever their age.
        let server = Server::start(&scratch.url, &certs, "\n[logs]\nmax_age = 0\n").await;
        let records: Vec<Value> = (0..5u64)
            .map(|i| {
                record(
                    i * 80,
                    1_764_806_400.0 + i as f64,
                    &format!("GET /{i}"),
                    200 + i % 2 * 204,
                )
            })
            .collect();

        // No certificate: refused, nothing stored.
        let anonymous = certs.0.anonymous();
        let (status, body) = post(anonymous, &server, "/api/v1/logs", batch(records.clone())).await;
        assert_eq!(
            (status, body["errcode"].as_u64()),
            (401, Some(3031)),
            "{body}"
        );

        // Stored once; the resend (agent killed before it committed) is all duplicates.
        let web1 = server.host("web1").await.agent;
        let (status, ack) = post(
            web1.clone(),
            &server,
            "/api/v1/logs",
            batch(records.clone()),
        )
        .await;
        assert_eq!(status, 200, "{ack}");
        assert_eq!(ack, json!({"stored": 5, "duplicates": 0}));
        let (_, ack) = post(
            web1.clone(),
            &server,
            "/api/v1/logs",
            batch(records.clone()),
        )
        .await;
        assert_eq!(ack, json!({"stored": 0, "duplicates": 5}));

        // The same records from another host's certificate are that host's.
        let web2 = server.host("web2").await.agent;
        let (_, ack) = post(web2, &server, "/api/v1/logs", batch(records[..2].to_vec())).await;
        assert_eq!(ack, json!({"stored": 2, "duplicates": 0}));

        // A bad record refuses the whole batch, naming it; the good one is not stored.
        let mut bad = record(1000, 1_764_806_500.0, "GET /bad", 200);
        bad["file"] = json!("not-hex");
        let good = record(900, 1_764_806_500.0, "GET /good", 200);
        let (status, body) = post(
            web1.clone(),
            &server,
            "/api/v1/logs",
            batch(vec![good, bad]),
        )
        .await;
        assert_eq!(
            (status, body["errcode"].as_u64()),
            (400, Some(3021)),
            "{body}"
        );
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("record 1") && message.contains("hex"),
            "{message}"
        );
        let (_, page) = server
            .call("GET", "/api/v1/logs?contains=GET%20/good", None)
            .await;
        assert_eq!(
            messages(&page),
            Vec::<String>::new(),
            "a refused batch stored a record"
        );

        // Queries: by host, by field, by time (RFC 3339), paged by cursor.
        let (status, page) = server.call("GET", "/api/v1/logs?host=web1", None).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(
            messages(&page),
            ["GET /0", "GET /1", "GET /2", "GET /3", "GET /4"]
        );
        assert_eq!(page["records"][1]["fields"]["status"], 404);
        assert_eq!(page["records"][1]["host"], "web1");
        assert!(page.get("next_cursor").is_none(), "{page}");
        let (_, page) = server
            .call("GET", "/api/v1/logs?host=web1&field=status:404", None)
            .await;
        assert_eq!(messages(&page), ["GET /1", "GET /3"]);
        let (_, page) = server
            .call(
                "GET",
                "/api/v1/logs?source=nginx&from=2025-12-04T00:00:02Z&to=1764806404",
                None,
            )
            .await;
        assert_eq!(messages(&page), ["GET /2", "GET /3"]);
        let mut seen = Vec::new();
        let mut path = "/api/v1/logs?host=web1&limit=2".to_string();
        loop {
            let (status, page) = server.call("GET", &path, None).await;
            assert_eq!(status, 200, "{page}");
            seen.extend(messages(&page));
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("/api/v1/logs?host=web1&limit=2&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(seen, ["GET /0", "GET /1", "GET /2", "GET /3", "GET /4"]);
        let (status, body) = server.call("GET", "/api/v1/logs?limit=5000", None).await;
        assert_eq!(
            (status, body["errcode"].as_u64()),
            (400, Some(3021)),
            "{body}"
        );
        let (status, body) = server
            .call("GET", "/api/v1/logs?cursor=nonsense", None)
            .await;
        assert_eq!(
            (status, body["errcode"].as_u64()),
            (400, Some(3021)),
            "{body}"
        );

        // The host's sources.
        let (status, sources) = server
            .call("GET", "/api/v1/hosts/web1/log-sources", None)
            .await;
        assert_eq!(status, 200, "{sources}");
        assert_eq!(sources[0]["name"], "nginx");
        assert_eq!(
            (sources[0]["lag"].as_u64(), sources[0]["records"].as_u64()),
            (Some(100), Some(5))
        );
        assert_eq!(sources[0]["state"], "reading");
        // Records the agent skipped because Polaris refused them alone.
        assert_eq!(sources[0]["rejected_records"], 3);
        let (status, _) = server
            .call("GET", "/api/v1/hosts/nobody/log-sources", None)
            .await;
        assert_eq!(status, 404);

        // A revoked host is refused at once.
        let (status, _) = server
            .call("POST", "/api/v1/hosts/web1/revoke", Some(json!({})))
            .await;
        assert_eq!(status, 200);
        let late = vec![record(2000, 1_764_806_600.0, "GET /late", 200)];
        let (status, body) = post(web1, &server, "/api/v1/logs", batch(late)).await;
        assert_eq!(
            (status, body["errcode"].as_u64()),
            (403, Some(3034)),
            "{body}"
        );
        let (_, page) = server.call("GET", "/api/v1/logs?contains=late", None).await;
        assert_eq!(messages(&page), Vec::<String>::new());

        // The OpenAPI document describes the routes and the wire types.
        let (_, doc) = server.call("GET", "/api/openapi.json", None).await;
        for route in ["/api/v1/logs", "/api/v1/hosts/{hostname}/log-sources"] {
            assert!(
                doc["paths"].get(route).is_some(),
                "{route} is not in the document"
            );
        }
        for schema in ["LogBatch", "LogRecord", "SourceStatus", "LogAck", "LogPage"] {
            assert!(
                doc["components"]["schemas"].get(schema).is_some(),
                "{schema}"
            );
        }
        drop(server);
        scratch.remove().await;
    }
}

/// With `[logs] max_bytes`, the server's background round deletes the oldest chunks (here a
/// batch of one record each) until the rest fit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_background_retention_keeps_the_newest_records_within_max_bytes() {
    let certs = Certs::new();
    let Some(scratch) = Scratch::new(polaris::db::Backend::Sqlite).await else {
        return;
    };
    // Each record: a 100-byte message and its fields' JSON (29 bytes).
    let extra = "\n[logs]\nmax_age = 0\nmax_bytes = 400\nretention_interval = 1\n";
    let server = Server::start(&scratch.url, &certs, extra).await;
    let agent = server.host("web1").await.agent;
    let records: Vec<Value> = (0..10u64)
        .map(|i| {
            record(
                i * 200,
                1_764_806_400.0 + i as f64,
                &format!("{i:0>100}"),
                200,
            )
        })
        .collect();
    for record in records {
        let (status, ack) = post(agent.clone(), &server, "/api/v1/logs", batch(vec![record])).await;
        assert_eq!((status, ack["stored"].as_u64()), (200, Some(1)), "{ack}");
    }
    let mut kept = Vec::new();
    for _ in 0..100 {
        let (_, page) = server.call("GET", "/api/v1/logs", None).await;
        kept = messages(&page);
        if kept.len() < 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let newest: Vec<String> = (7..10u64).map(|i| format!("{i:0>100}")).collect();
    assert_eq!(kept, newest, "the three newest records fit in 400 bytes");
    drop(server);
    scratch.remove().await;
}

/// `POST path` of `body` as it is (JSON, in `encoding` when given); (status, JSON).
async fn post_bytes(
    agent: ureq::Agent,
    server: &Server,
    path: &str,
    body: Vec<u8>,
    encoding: Option<&'static str>,
) -> (u16, Value) {
    let url = format!("{}{path}", server.base);
    tokio::task::spawn_blocking(move || {
        let mut request = agent.post(&url).header("Content-Type", "application/json");
        if let Some(encoding) = encoding {
            request = request.header("Content-Encoding", encoding);
        }
        let mut response = request.send(&body[..]).unwrap();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (
            response.status().as_u16(),
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_may_come_zstd_compressed_and_other_codings_are_refused() {
    let certs = Certs::new();
    let Some(scratch) = Scratch::new(polaris::db::Backend::Sqlite).await else {
        return;
    };
    let server = Server::start(&scratch.url, &certs, "\n[logs]\nmax_age = 0\n").await;
    let agent = server.host("web1").await.agent;
    let records: Vec<Value> = (0..3u64)
        .map(|i| {
            record(
                i * 90,
                1_764_806_400.0 + i as f64,
                &format!("GET /z{i}"),
                200,
            )
        })
        .collect();
    let json = serde_json::to_vec(&batch(records)).unwrap();
    // Two frames one after the other are one body, as logagent sends it.
    let (head, tail) = json.split_at(json.len() / 2);
    let mut body = zstd::bulk::compress(head, 1).unwrap();
    body.extend(zstd::bulk::compress(tail, 1).unwrap());
    let (status, ack) =
        post_bytes(agent.clone(), &server, "/api/v1/logs", body, Some("zstd")).await;
    assert_eq!((status, ack["stored"].as_u64()), (200, Some(3)), "{ack}");

    let refused = [
        // Not zstd at all.
        (json.clone(), Some("zstd"), 400, 3021, "not zstd"),
        // A coding Polaris does not take.
        (
            json.clone(),
            Some("gzip"),
            415,
            3021,
            "Content-Encoding `gzip`",
        ),
        // 40 MiB of JSON whitespace in a few kB: over the 32 MiB a batch may decode to.
        (
            zstd::bulk::compress(&vec![b' '; 40 << 20], 1).unwrap(),
            Some("zstd"),
            413,
            3032,
            "over the server's limit",
        ),
        (
            window_of_128_mib(b"{}"),
            Some("zstd"),
            400,
            3021,
            "not zstd",
        ),
    ];
    for (body, encoding, want_status, want_code, want_text) in refused {
        let (status, answer) =
            post_bytes(agent.clone(), &server, "/api/v1/logs", body, encoding).await;
        assert_eq!(
            (status, answer["errcode"].as_u64()),
            (want_status, Some(want_code)),
            "{encoding:?}: {answer}"
        );
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(want_text), "{message}");
    }
    // A route of plain bodies only says so.
    let body = zstd::bulk::compress(b"{}", 1).unwrap();
    let (status, answer) = post_bytes(
        agent.clone(),
        &server,
        "/api/v1/integrity/reports",
        body,
        Some("zstd"),
    )
    .await;
    assert_eq!(
        (status, answer["errcode"].as_u64()),
        (415, Some(3021)),
        "{answer}"
    );
    // Nothing of the refused bodies was stored.
    let (_, page) = server.call("GET", "/api/v1/logs", None).await;
    assert_eq!(messages(&page), ["GET /z0", "GET /z1", "GET /z2"]);
    drop(server);
    scratch.remove().await;
}

/// `text` in a zstd frame that asks its reader for a 128 MiB window.
fn window_of_128_mib(text: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    encoder.window_log(27).unwrap();
    encoder.include_contentsize(false).unwrap();
    encoder.write_all(text).unwrap();
    encoder.finish().unwrap()
}
