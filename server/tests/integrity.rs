//! The integrity API against Polaris servers in-process over real TLS (SQLite always; MariaDB
//! and PostgreSQL when configured): `POST /api/v1/integrity/reports` takes the host from the
//! client certificate, refuses no certificate (3031), a revoked host (3034), a bad report and
//! one over the findings limit (3021); the accepted digest comes from `init`, a check with
//! another baseline is flagged; findings are listed, paged and acknowledged.

mod common;

use common::agents::{Certs, Server};
use common::{BACKENDS, Scratch};
use serde_json::{Value, json};

/// `POST path` with `agent`; (status, JSON).
async fn post(agent: ureq::Agent, server: &Server, path: &str, body: Value) -> (u16, Value) {
    let url = format!("{}{path}", server.base);
    tokio::task::spawn_blocking(move || devpki::post(&agent, &url, &body, None).unwrap())
        .await
        .unwrap()
}

fn digest(c: char) -> String {
    c.to_string().repeat(64)
}

fn report(kind: &str, baseline: &str, findings: Vec<Value>) -> Value {
    json!({"kind": kind, "baseline_digest": baseline, "started": 1_764_806_400.0,
        "duration_s": 0.5, "entries": 100, "added": 1, "removed": 0, "changed": 1,
        "unreadable": 0, "findings": findings})
}

fn changed(path: &str) -> Value {
    json!({"path": path, "change": "changed", "attribute": "sha256", "old": "old", "new": "new"})
}

fn paths(page: &Value) -> Vec<String> {
    page["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hosts_post_reports_and_admins_see_flags_and_acknowledge_findings() {
    let certs = Certs::new();
    for backend in BACKENDS {
        let Some(scratch) = Scratch::new(backend).await else {
            continue;
        };
        let server = Server::start(&scratch.url, &certs, "").await;
        let path = "/api/v1/integrity/reports";

        // No certificate: refused.
        let anonymous = certs.0.anonymous();
        let (status, body) = post(
            anonymous,
            &server,
            path,
            report("init", &digest('a'), vec![]),
        )
        .await;
        assert_eq!(
            (status, body["errcode"].as_u64()),
            (401, Some(3031)),
            "{body}"
        );

        // A check before any init is flagged.
        let web1 = server.host("web1").await.agent;
        let (status, ack) = post(
            web1.clone(),
            &server,
            path,
            report("check", &digest('a'), vec![]),
        )
        .await;
        assert_eq!(status, 200, "{ack}");
        assert_eq!(ack["baseline_ok"], false);
        assert_eq!(ack["reason"], "no accepted baseline");
        let first_flag = ack["id"].as_i64().unwrap();

        // init accepts its digest; a check with it is ok, with another is flagged.
        let (_, ack) = post(
            web1.clone(),
            &server,
            path,
            report("init", &digest('a'), vec![]),
        )
        .await;
        assert_eq!(ack["baseline_ok"], true, "{ack}");
        let (_, ack) = post(
            web1.clone(),
            &server,
            path,
            report(
                "check",
                &digest('a'),
                vec![changed("/etc/passwd"), changed("/etc/group")],
            ),
        )
        .await;
        assert_eq!(ack["baseline_ok"], true, "{ack}");
        let (_, ack) = post(
            web1.clone(),
            &server,
            path,
            report("check", &digest('b'), vec![changed("/bin/ls")]),
        )
        .await;
        assert_eq!(ack["baseline_ok"], false, "{ack}");
        let swapped = ack["id"].as_i64().unwrap();
        assert!(
            ack["reason"].as_str().unwrap().contains(&digest('b')),
            "{ack}"
        );
        // The host is shown flagged.
        let (status, state) = server
            .call("GET", "/api/v1/integrity/hosts/web1", None)
            .await;
        assert_eq!(status, 200, "{state}");
        assert_eq!(state["accepted_digest"], digest('a'));
        assert_eq!(state["baseline_ok"], false);
        assert_eq!(state["unacknowledged_flags"], 2);
        assert_eq!(state["unacknowledged_findings"], 3);
        assert_eq!(state["last_report"]["id"], swapped);

        // An update from the swapped baseline is flagged too, becomes the accepted digest, and
        // does not hide the earlier flags.
        let mut update = report("update", &digest('c'), vec![]);
        update["previous_digest"] = json!(digest('b'));
        let (_, ack) = post(web1.clone(), &server, path, update).await;
        assert_eq!(ack["baseline_ok"], false, "{ack}");
        let (_, ack) = post(
            web1.clone(),
            &server,
            path,
            report("check", &digest('c'), vec![]),
        )
        .await;
        assert_eq!(ack["baseline_ok"], true, "{ack}");
        let (_, state) = server
            .call("GET", "/api/v1/integrity/hosts/web1", None)
            .await;
        assert_eq!(
            (
                state["baseline_ok"].clone(),
                state["accepted_digest"].clone()
            ),
            (json!(true), json!(digest('c')))
        );
        assert_eq!(state["unacknowledged_flags"], 3, "{state}");

        // Findings: listed, paged by cursor.
        let (status, page) = server
            .call("GET", "/api/v1/integrity/findings?host=web1&limit=2", None)
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(paths(&page), ["/etc/passwd", "/etc/group"]);
        let cursor = page["next_cursor"].as_str().unwrap().to_string();
        let (_, page) = server
            .call(
                "GET",
                &format!("/api/v1/integrity/findings?host=web1&limit=2&cursor={cursor}"),
                None,
            )
            .await;
        assert_eq!(paths(&page), ["/bin/ls"]);
        assert!(page.get("next_cursor").is_none(), "{page}");
        let (_, page) = server
            .call("GET", "/api/v1/integrity/findings?host=web1", None)
            .await;
        let first = page["findings"][0]["id"].as_i64().unwrap();
        assert_eq!(page["findings"][0]["attribute"], "sha256");

        // Acknowledged by id, then the host's rest up to the swapped check (its flag too).
        let (status, done) = server
            .call(
                "POST",
                "/api/v1/integrity/acknowledge",
                Some(json!({"by": "alice", "ids": [first]})),
            )
            .await;
        assert_eq!(status, 200, "{done}");
        assert_eq!(done, json!({"findings": 1, "reports": 0}));
        let (_, page) = server
            .call("GET", "/api/v1/integrity/findings?host=web1", None)
            .await;
        assert_eq!(paths(&page), ["/etc/group", "/bin/ls"]);
        let (_, done) = server
            .call(
                "POST",
                "/api/v1/integrity/acknowledge",
                Some(json!({"by": "bob", "host": "web1", "up_to_report": swapped})),
            )
            .await;
        assert_eq!(done, json!({"findings": 2, "reports": 2}));
        let (_, page) = server
            .call("GET", "/api/v1/integrity/findings?host=web1", None)
            .await;
        assert_eq!(paths(&page), Vec::<String>::new());
        let (_, page) = server
            .call(
                "GET",
                "/api/v1/integrity/findings?host=web1&state=all",
                None,
            )
            .await;
        assert_eq!(page["findings"][0]["acknowledged"]["by"], "alice", "{page}");
        assert_eq!(page["findings"][2]["acknowledged"]["by"], "bob", "{page}");
        let (_, state) = server
            .call("GET", "/api/v1/integrity/hosts/web1", None)
            .await;
        // The update's flag came after `swapped`: still there.
        assert_eq!(state["unacknowledged_flags"], 1, "{state}");
        assert!(first_flag < swapped);

        // A real-time report: judged like a check, listed with its kind, never accepted.
        let (status, ack) = post(
            web1.clone(),
            &server,
            path,
            report("realtime", &digest('c'), vec![changed("/etc/hosts")]),
        )
        .await;
        assert_eq!(
            (status, ack["baseline_ok"].clone()),
            (200, json!(true)),
            "{ack}"
        );
        let (_, page) = server
            .call("GET", "/api/v1/integrity/findings?host=web1", None)
            .await;
        assert_eq!(paths(&page), ["/etc/hosts"]);
        assert_eq!(page["findings"][0]["kind"], "realtime", "{page}");
        let (_, state) = server
            .call("GET", "/api/v1/integrity/hosts/web1", None)
            .await;
        assert_eq!(state["accepted_digest"], digest('c'));
        assert_eq!(state["last_report"]["kind"], "realtime", "{state}");
        let realtime_id = page["findings"][0]["id"].as_i64().unwrap();
        let (_, done) = server
            .call(
                "POST",
                "/api/v1/integrity/acknowledge",
                Some(json!({"by": "carol", "ids": [realtime_id]})),
            )
            .await;
        assert_eq!(done, json!({"findings": 1, "reports": 0}));

        // Bad reports and the limits: 3021, nothing stored.
        let too_many: Vec<Value> = (0..10_001).map(|i| changed(&format!("/f{i}"))).collect();
        let mut no_previous = report("update", &digest('c'), vec![]);
        no_previous["previous_digest"] = Value::Null;
        let bad = [
            (report("check", "ABC", vec![]), "baseline_digest"),
            (report("verify", &digest('a'), vec![]), "kind"),
            (report("check", &digest('c'), too_many), "10000"),
            (
                report(
                    "check",
                    &digest('c'),
                    vec![json!({"path": "/x", "change": "changed"})],
                ),
                "finding 0",
            ),
            (
                report(
                    "check",
                    &digest('c'),
                    vec![json!({"path": "", "change": "added"})],
                ),
                "path",
            ),
            (
                report("check", &digest('c'), vec![changed(&"p".repeat(5000))]),
                "path",
            ),
            (no_previous, "previous_digest"),
            (
                {
                    let mut r = report("realtime", &digest('c'), vec![]);
                    r["previous_digest"] = json!(digest('b'));
                    r
                },
                "previous_digest",
            ),
        ];
        for (body, named) in bad {
            let (status, answer) = post(web1.clone(), &server, path, body).await;
            assert_eq!(
                (status, answer["errcode"].as_u64()),
                (400, Some(3021)),
                "{answer}"
            );
            assert!(
                answer["message"].as_str().unwrap().contains(named),
                "{named}: {answer}"
            );
        }
        let (_, page) = server
            .call(
                "GET",
                "/api/v1/integrity/findings?state=all&limit=1000",
                None,
            )
            .await;
        assert_eq!(
            page["findings"].as_array().unwrap().len(),
            4,
            "a refused report stored findings (3 of checks, 1 real-time)"
        );
        for query in [
            "limit=0",
            "limit=5000",
            "cursor=x",
            "state=some",
            "colour=red",
        ] {
            let (status, body) = server
                .call("GET", &format!("/api/v1/integrity/findings?{query}"), None)
                .await;
            assert_eq!(
                (status, body["errcode"].as_u64()),
                (400, Some(3021)),
                "{query}: {body}"
            );
        }
        for body in [
            json!({"ids": [1]}),
            json!({"by": "x"}),
            json!({"by": "x", "ids": []}),
            json!({"by": "x", "ids": [1], "host": "web1", "up_to_report": 1}),
        ] {
            let (status, answer) = server
                .call("POST", "/api/v1/integrity/acknowledge", Some(body.clone()))
                .await;
            assert_eq!(
                (status, answer["errcode"].as_u64()),
                (400, Some(3021)),
                "{body}: {answer}"
            );
        }
        let (status, _) = server
            .call("GET", "/api/v1/integrity/hosts/nobody", None)
            .await;
        assert_eq!(status, 404);
        let (_, hosts) = server.call("GET", "/api/v1/integrity/hosts", None).await;
        assert_eq!(hosts.as_array().map(Vec::len), Some(1), "{hosts}");

        // A revoked host is refused.
        let (status, _) = server
            .call("POST", "/api/v1/hosts/web1/revoke", Some(json!({})))
            .await;
        assert_eq!(status, 200);
        let (status, body) = post(web1, &server, path, report("check", &digest('c'), vec![])).await;
        assert_eq!(
            (status, body["errcode"].as_u64()),
            (403, Some(3034)),
            "{body}"
        );

        // The OpenAPI document describes the routes and the wire types.
        let (_, doc) = server.call("GET", "/api/openapi.json", None).await;
        for route in [
            path,
            "/api/v1/integrity/findings",
            "/api/v1/integrity/acknowledge",
            "/api/v1/integrity/hosts",
            "/api/v1/integrity/hosts/{hostname}",
        ] {
            assert!(
                doc["paths"].get(route).is_some(),
                "{route} is not in the document"
            );
        }
        for schema in [
            "IntegrityReport",
            "Finding",
            "IntegrityAck",
            "FindingPage",
            "HostIntegrityView",
        ] {
            assert!(
                doc["components"]["schemas"].get(schema).is_some(),
                "{schema}"
            );
        }
        let kinds = doc["components"]["schemas"]["RunKind"].to_string();
        assert!(kinds.contains("realtime"), "{kinds}");
        let finding = doc["components"]["schemas"]["FindingView"].to_string();
        assert!(finding.contains("\"kind\""), "{finding}");
        drop(server);
        scratch.remove().await;
    }
}
