//! Polaris over real HTTPS (its own CA, `[tls] ca_dir`), on every backend: the BootAgent
//! conversation end to end, bad input refused with JSON errors and nothing stored half-way, the
//! admin API's auth and jobs, metrics ingest and query, its own `/metrics`, and the OpenAPI
//! document validated by `openapi-spec-validator`. The agent calls carry the client
//! certificate of the host they speak for, enrolled through the real API.

mod common;

use std::time::{Duration, Instant};

use polaris::config::Config;
use serde_json::{Value, json};

const TOKEN: &str = "test-admin-token-0123456789";

/// A Polaris on its own runtime, on a database of its own.
struct Polaris {
    base: String,
    /// HTTPS without a client certificate (the admin API).
    agent: ureq::Agent,
    tls: common::Tls,
    enroller: devpki::Enroller,
    database: String,
    runtime: Option<tokio::runtime::Runtime>,
    scratch: Option<common::Scratch>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Polaris {
    fn start(backend: polaris::db::Backend) -> Option<Polaris> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let scratch = runtime.block_on(common::Scratch::new(backend))?;
        let tls = common::Tls::new();
        let config: Config = toml::from_str(&format!(
            "admin_token = {TOKEN:?}\ndatabase = {:?}\nmax_body = 65536\n{}",
            scratch.url,
            tls.section()
        ))
        .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let addr = runtime.block_on(async {
            let state = polaris::app::state(config).await.expect("state");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            tokio::spawn(polaris::app::run(listener, state, async {
                let _ = stopped.await;
            }));
            addr
        });
        let enroller = tls.enroller(&addr, TOKEN);
        Some(Polaris {
            base: enroller.base.clone(),
            agent: tls.anonymous(),
            enroller,
            database: scratch.url.clone(),
            tls,
            runtime: Some(runtime),
            scratch: Some(scratch),
            stop: Some(stop),
        })
    }

    /// The HTTPS client of `hostname` (enrolled at its first use), with its certificate.
    fn host(&self, hostname: &str) -> ureq::Agent {
        self.tls
            .host(&self.enroller, &self.database, hostname)
            .agent
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> (u16, Value) {
        self.exchange(&self.agent, method, path, body, token)
    }

    /// `POST path` with `body` as host `hostname` (its client certificate).
    fn send_as(&self, hostname: &str, path: &str, body: &str) -> (u16, Value) {
        self.exchange(&self.host(hostname), "POST", path, Some(body), None)
    }

    fn exchange(
        &self,
        agent: &ureq::Agent,
        method: &str,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut response = match (method, body) {
            ("GET", _) => {
                let mut request = agent.get(&url);
                if let Some(token) = token {
                    request = request.header("Authorization", format!("Bearer {token}"));
                }
                request.call()
            }
            (_, body) => {
                let mut request = agent.post(&url).content_type("application/json");
                if let Some(token) = token {
                    request = request.header("Authorization", format!("Bearer {token}"));
                }
                request.send(body.unwrap_or(""))
            }
        }
        .expect("HTTP exchange");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// An agent's `POST` as host `hostname`.
    fn post(&self, hostname: &str, path: &str, body: &Value) -> (u16, Value) {
        self.send_as(hostname, path, &body.to_string())
    }

    fn admin_get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None, Some(TOKEN))
    }

    fn admin_post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send("POST", path, Some(&body.to_string()), Some(TOKEN))
    }

    fn text(&self, path: &str) -> String {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.base))
            .call()
            .unwrap();
        response.body_mut().read_to_string().unwrap()
    }
}

impl Drop for Polaris {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let (Some(runtime), Some(scratch)) = (self.runtime.take(), self.scratch.take()) {
            runtime.block_on(scratch.remove());
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

/// Runs `case` against a fresh Polaris on every configured backend.
fn each_backend(case: impl Fn(&Polaris)) {
    for backend in common::BACKENDS {
        if let Some(polaris) = Polaris::start(backend) {
            eprintln!("-- {backend:?}");
            case(&polaris);
        }
    }
}

fn report(hostname: &str, step: u64) -> Value {
    json!({ "hostname": hostname, "version": "bootagent-1.2.4-x86_64", "uptime": 1234, "timestamp": 1232,
            "step": step, "agents": [ { "name": "BasicAgent", "version": "1.2.3", "status": "stoped", "uptime": 123 } ] })
}

fn install_job(hosts: &[&str]) -> Value {
    json!({ "action": "install", "name": "BasicAgent", "url": "http://127.0.0.1/packages/BasicAgent-1.5.6.tar.gz",
            "checksum": format!("SHA256:{}", "4a".repeat(32)), "env": { "PATH": "/usr/bin" },
            "limits": { "CPU": "10%", "memory": "20M" }, "hosts": hosts })
}

#[test]
fn bootagent_conversation_end_to_end() {
    each_backend(|p| {
        let (status, reply) = p.post("host-a", "/agent/status", &report("host-a", 1));
        assert_eq!(
            (status, reply.clone()),
            (200, json!({ "errcode": 0, "jobs": [] }))
        );

        let (status, job) = p.admin_post("/api/v1/jobs", &install_job(&["host-a"]));
        assert_eq!(status, 201, "{job}");
        let job_id = job["id"].as_str().unwrap().to_string();

        // Handed out with every report until its result arrives.
        let mut handed = None;
        for _ in 0..2 {
            let (_, reply) = p.post("host-a", "/agent/status", &report("host-a", 1));
            let jobs = reply["jobs"].as_array().unwrap();
            assert_eq!(jobs.len(), 1, "{reply}");
            assert_eq!(jobs[0]["action"], "install");
            assert_eq!(jobs[0]["checksum"], format!("SHA256:{}", "4a".repeat(32)));
            assert_eq!(jobs[0]["limits"]["memory"], "20M");
            handed = Some(jobs[0]["id"].as_str().unwrap().to_string());
        }
        let host_job = handed.unwrap();
        let (status, reply) = p.post(
            "host-a",
            "/agent/job/result",
            &json!([{ "id": host_job, "errcode": 0, "message": "success" }]),
        );
        assert_eq!((status, reply), (200, json!({ "errcode": 0 })));
        let (_, reply) = p.post("host-a", "/agent/status", &report("host-a", 1));
        assert_eq!(
            reply["jobs"],
            json!([]),
            "done jobs are not handed out again"
        );

        let (status, view) = p.admin_get(&format!("/api/v1/jobs/{job_id}"));
        assert_eq!(status, 200);
        assert_eq!(view["hosts"][0]["status"], "done");
        assert_eq!(view["hosts"][0]["message"], "success");
        assert!(view["hosts"][0]["handed_out"].as_u64().unwrap() >= 2);

        let (_, host) = p.admin_get("/api/v1/hosts/host-a");
        assert_eq!(host["status"], "online");
        assert_eq!(host["region"], "unknown");
        assert_eq!(host["agents"][0]["name"], "BasicAgent");
        assert_eq!(host["agents"][0]["status"], "stoped");

        // Silent for more than 3 × step (1 s): offline.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, host) = p.admin_get("/api/v1/hosts/host-a");
            if host["status"] == "offline" {
                break;
            }
            assert!(Instant::now() < deadline, "still {host}");
            std::thread::sleep(Duration::from_millis(250));
        }
        let (_, again) = p.post("host-a", "/agent/status", &report("host-a", 1));
        assert_eq!(again["errcode"], 0);
        assert_eq!(p.admin_get("/api/v1/hosts/host-a").1["status"], "online");
    });
}

#[test]
fn bad_input_gets_json_errors_and_stores_nothing() {
    each_backend(|p| {
        let cases: [(&str, &str, u16, &str); 6] = [
            ("/agent/status", "{ not json", 400, "Invalid params"),
            (
                "/agent/status",
                r#"{"hostname":"h","version":"v","uptime":"long","timestamp":1,"step":600}"#,
                400,
                "uptime",
            ),
            (
                "/agent/status",
                r#"{"version":"v","uptime":1,"timestamp":1,"step":600}"#,
                400,
                "hostname",
            ),
            (
                "/agent/status",
                r#"{"hostname":"","version":"v","uptime":1,"timestamp":1,"step":600}"#,
                400,
                "hostname",
            ),
            (
                "/agent/status",
                r#"{"hostname":"h","version":"v","uptime":1,"timestamp":1,"step":0}"#,
                400,
                "step",
            ),
            ("/agent/job/result", r#"{"id":"x"}"#, 400, "Invalid params"),
        ];
        // Sent with the certificate of host `h`, whose name the reports carry; enrolling it
        // made it known.
        p.host("h");
        let before = p.admin_get("/api/v1/hosts").1;
        assert_eq!(before.as_array().unwrap().len(), 1, "{before}");
        assert_eq!(before[0]["hostname"], "h", "enrolled: {before}");
        for (path, body, expected, mention) in cases {
            let (status, reply) = p.send_as("h", path, body);
            assert_eq!(status, expected, "{body}: {reply}");
            assert_eq!(reply["errcode"], 3021, "{body}: {reply}");
            assert!(
                reply["message"].as_str().unwrap().contains(mention),
                "{body}: {reply}"
            );
        }
        let huge = json!({ "hostname": "h", "version": "x".repeat(70_000), "uptime": 1, "timestamp": 1, "step": 600 });
        let (status, reply) = p.post("h", "/agent/status", &huge);
        assert_eq!(
            (status, reply["errcode"].clone()),
            (413, json!(3032)),
            "{reply}"
        );
        assert_eq!(
            p.admin_get("/api/v1/hosts").1,
            before,
            "no host registered or changed by bad reports"
        );

        // A batch with one unknown id stores none of its results.
        p.post("host-b", "/agent/status", &report("host-b", 600));
        let (_, job) = p.admin_post("/api/v1/jobs", &install_job(&["host-b"]));
        let (_, reply) = p.post("host-b", "/agent/status", &report("host-b", 600));
        let real = reply["jobs"][0]["id"].as_str().unwrap().to_string();
        let (status, reply) = p.post(
            "host-b",
            "/agent/job/result",
            &json!([{ "id": real, "errcode": 0, "message": "ok" }, { "id": "no-such-job", "errcode": 0, "message": "ok" }]),
        );
        assert_eq!(status, 404);
        assert_eq!(reply["errcode"], 3030);
        assert!(reply["message"].as_str().unwrap().contains("no-such-job"));
        let view = p
            .admin_get(&format!("/api/v1/jobs/{}", job["id"].as_str().unwrap()))
            .1;
        assert_eq!(
            view["hosts"][0]["status"], "pending",
            "the valid result was not stored either"
        );
        assert_eq!(
            p.post("host-b", "/agent/status", &report("host-b", 600)).1["jobs"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    });
}

#[test]
fn admin_api_auth_and_job_targets() {
    each_backend(|p| {
        assert_eq!(p.send("GET", "/api/v1/hosts", None, None).0, 401);
        let (status, reply) = p.send("GET", "/api/v1/hosts", None, Some("wrong-token"));
        assert_eq!((status, reply["errcode"].clone()), (401, json!(3031)));
        for host in ["r1-a", "r1-b", "r2-a"] {
            let mut body = report(host, 600);
            body["region"] = json!(if host.starts_with("r1") {
                "east"
            } else {
                "west"
            });
            assert_eq!(p.post(host, "/agent/status", &body).0, 200);
        }
        assert_eq!(
            p.admin_get("/api/v1/hosts?region=east")
                .1
                .as_array()
                .unwrap()
                .len(),
            2
        );

        let (status, reply) = p.admin_post(
            "/api/v1/jobs",
            &install_job(&["r1-a", "ghost-1", "ghost-2"]),
        );
        assert_eq!(status, 404);
        assert_eq!(reply["errcode"], 203);
        let message = reply["message"].as_str().unwrap();
        assert!(
            message.contains("ghost-1") && message.contains("ghost-2") && !message.contains("r1-a"),
            "{message}"
        );
        assert_eq!(
            p.post("r1-a", "/agent/status", &report("r1-a", 600)).1["jobs"],
            json!([]),
            "nothing created"
        );

        let (status, view) = p.admin_post(
            "/api/v1/jobs",
            &json!({ "action": "restart", "name": "BasicAgent", "region": "east" }),
        );
        assert_eq!(status, 201, "{view}");
        let mut hosts: Vec<&str> = view["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["hostname"].as_str().unwrap())
            .collect();
        hosts.sort();
        assert_eq!(hosts, ["r1-a", "r1-b"]);
        let (status, view) = p.admin_post("/api/v1/jobs", &json!({ "action": "config", "svrlist": "127.0.0.1:8080", "step": 60, "hosts": ["r2-a"] }));
        assert_eq!(status, 201, "{view}");
        let jobs = p.post("r2-a", "/agent/status", &report("r2-a", 600)).1["jobs"].clone();
        assert_eq!(jobs[0]["action"], "config");
        assert_eq!(jobs[0]["step"], 60);

        for bad in [
            json!({ "action": "install", "name": "A", "url": "http://x/p", "hosts": ["r1-a"] }),
            json!({ "action": "install", "name": "A", "url": "gopher://x", "checksum": format!("SHA256:{}", "0".repeat(64)), "hosts": ["r1-a"] }),
            json!({ "action": "stop", "hosts": ["r1-a"] }),
            json!({ "action": "restart", "name": "A" }),
            json!({ "action": "reboot", "name": "A", "hosts": ["r1-a"] }),
        ] {
            let (status, reply) = p.admin_post("/api/v1/jobs", &bad);
            assert_eq!(
                (status, reply["errcode"].clone()),
                (400, json!(3021)),
                "{bad}: {reply}"
            );
        }
        assert_eq!(p.admin_get("/api/v1/jobs/nope").0, 404);
    });
}

#[test]
fn metrics_ingest_query_and_own_metrics() {
    each_backend(|p| {
        let batch: Vec<Value> = (0..4)
            .map(|i| {
                json!({ "values": [i as f64, 10.0 * i as f64, 1.0], "dstypes": ["gauge", "gauge", "gauge"],
                        "dsnames": ["shortterm", "midterm", "longterm"], "time": 1_000_000.0 + 10.0 * i as f64,
                        "interval": 10.0, "host": "web-1", "plugin": "load", "plugin_instance": "", "type": "load", "type_instance": "" })
            })
            .collect();
        let (status, reply) = p.post("web-1", "/api/v1/metrics", &json!(batch));
        assert_eq!(
            (status, reply.clone()),
            (200, json!({ "errcode": 0, "values": 12 }))
        );
        let (status, series) =
            p.admin_get("/api/v1/metrics/query?host=web-1&plugin=load&type=load&dsname=midterm&from=1000000&to=1000040&step=20");
        assert_eq!(status, 200, "{series}");
        assert_eq!(
            series[0]["points"],
            json!([[1000000.0, 5.0], [1000020.0, 25.0]])
        );

        let bad = json!([{ "values": [1.0, 2.0], "dstypes": ["gauge"], "dsnames": ["a", "b"], "time": 1.0, "interval": 10.0,
                           "host": "web-1", "plugin": "x", "type": "y" }]);
        assert_eq!(p.post("web-1", "/api/v1/metrics", &bad).0, 400);
        let (status, _) =
            p.admin_get("/api/v1/metrics/query?host=web-1&plugin=load&type=load&from=10&to=5");
        assert_eq!(status, 400);

        // The host that sent the metrics reports: the one host known, online.
        p.post("web-1", "/agent/status", &report("web-1", 600));
        let text = p.text("/metrics");
        assert!(
            text.contains("polaris_hosts{status=\"online\"} 1"),
            "{text}"
        );
        assert!(text.contains("polaris_ingested_values_total 12"), "{text}");
        assert!(text.contains("route=\"/agent/status\""), "{text}");
        assert!(text.contains("polaris_db_latency_seconds"), "{text}");
    });
}

/// Where `openapi-spec-validator` is importable: already installed, or installed by this test
/// under `target/pydeps` with pip.
fn validator_path() -> Option<String> {
    let probe = |path: &str| {
        std::process::Command::new("python3")
            .args(["-c", "import openapi_spec_validator"])
            .env("PYTHONPATH", path)
            .status()
            .is_ok_and(|s| s.success())
    };
    let target = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/pydeps");
    if probe(target) {
        return Some(target.into());
    }
    let installed = std::process::Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--target",
            target,
            "openapi-spec-validator",
        ])
        .status()
        .is_ok_and(|s| s.success());
    (installed && probe(target)).then(|| target.into())
}

#[test]
fn openapi_document_validates() {
    let p = Polaris::start(polaris::db::Backend::Sqlite).unwrap();
    let doc = p.text("/api/openapi.json");
    let parsed: Value = serde_json::from_str(&doc).unwrap();
    assert!(parsed["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/agent/status",
        "/agent/job/result",
        "/api/v1/hosts",
        "/api/v1/jobs",
        "/api/v1/jobs/{id}",
        "/api/v1/metrics",
        "/api/v1/metrics/query",
        "/metrics",
    ] {
        assert!(
            parsed["paths"][path].is_object(),
            "{path} is not documented"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &doc).unwrap();
    let path = validator_path()
        .expect("openapi-spec-validator could not be installed with pip (needed by this test)");
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .env("PYTHONPATH", path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
