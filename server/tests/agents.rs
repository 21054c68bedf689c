//! gearman agents and `POST /api/v1/commands`, end to end over real wss: the test plays the
//! agent with the wire protocol (init, welcome or redirect, requests, results, acks, cron runs)
//! against Polaris servers started in-process, on SQLite and, when their URLs are set, on
//! MariaDB and PostgreSQL (two replicas on one database).

mod common;

use std::time::Duration;

use futures_util::SinkExt;

use common::agents::{Agent, Certs, Server, connect, retcodes, success, until_done};
use common::{BACKENDS, Scratch};
use serde_json::json;
use wire::agent::{CronRun, ServerMessage};
use wire::params::Exec;
use wire::{Command, CommandResult};

/// A server on a fresh database of `backend`, or `None` when that backend is not configured.
async fn on(
    backend: polaris::db::Backend,
    certs: &Certs,
    extra: &str,
) -> Option<(Server, Scratch)> {
    let scratch = Scratch::new(backend).await?;
    Some((Server::start(&scratch.url, certs, extra).await, scratch))
}

/// A connected host, an unknown one and a known one without gearman: a result, 203 and 204,
/// in the caller's order; a re-sent result is acked once more but stored once; the agent list.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn command_reaches_connected_hosts_and_names_the_others() {
    let certs = Certs::new();
    for backend in BACKENDS {
        let Some((server, scratch)) = on(backend, &certs, "").await else {
            continue;
        };
        server.boot_report("sleepy").await;
        let mut agent = Agent::online(&server, "web-1").await;
        let body = json!({"id": "cmd-1", "hosts": ["web-1", "ghost", "sleepy"],
            "method": "sync.bash", "cmd": "echo hi", "timeout": 5});
        let call = tokio::spawn(async move {
            let answer = server.command(body).await;
            (server, answer)
        });
        let request = agent.request().await;
        assert_eq!(
            request.command,
            Command::SyncBash(Exec {
                cmd: "echo hi".into(),
                timeout: Some(5),
                ..Exec::default()
            })
        );
        let result = success(&request, "hi\n");
        agent.answer(result.clone()).await;
        let (server, (status, answer)) = call.await.unwrap();
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["id"], "cmd-1");
        assert_eq!(answer["done"], true);
        assert_eq!(retcodes(&answer), [2, 203, 204], "{answer}");
        let entries = answer["response"].as_array().unwrap();
        assert_eq!(entries[0]["host"], "web-1");
        assert_eq!(entries[0]["resp"], "success");
        assert_eq!(entries[0]["data"], "hi\n");
        assert_eq!(entries[0]["exit_status"], 0);
        assert_eq!(entries[1]["host"], "ghost");
        assert_eq!(entries[1]["message"], "No such host");
        assert_eq!(entries[2]["message"], "Host offline");

        // The same result again, as after a lost ack: acked, not stored a second time.
        let mut again = result;
        again.data = Some(json!("changed"));
        agent.answer(again).await;
        let (_, stored) = server.call("GET", "/api/v1/commands/cmd-1", None).await;
        assert_eq!(stored["response"][0]["data"], "hi\n");

        let (status, agents) = server.call("GET", "/api/v1/agents", None).await;
        assert_eq!(status, 200);
        assert_eq!(agents[0]["hostname"], "web-1");
        assert_eq!(agents[0]["version"], "gearman-test");
        let (_, host) = server.call("GET", "/api/v1/hosts/web-1", None).await;
        assert_eq!(host["status"], "online", "{host}");
        drop(server);
        scratch.remove().await;
    }
}

/// A host that never answers gets 205 when the deadline passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn silent_host_gets_205_at_the_deadline() {
    let certs = Certs::new();
    let scratch = Scratch::new(polaris::db::Backend::Sqlite).await.unwrap();
    let server = Server::start(&scratch.url, &certs, "").await;
    let mut agent = Agent::online(&server, "mute").await;
    let (status, answer) = server
        .command(json!({"hosts": ["mute"], "method": "getinfo.users", "deadline": 1}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(retcodes(&answer), [205], "{answer}");
    assert_eq!(
        answer["response"][0]["message"],
        "No answer before deadline"
    );
    // It was sent all the same.
    assert_eq!(agent.request().await.command.method(), "getinfo.users");
}

/// A connection that closes with a command on it: 206 at once; the result the agent kept in
/// its outbox, sent after reconnecting, replaces it; the command is never sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disconnect_gives_206_and_the_late_result_replaces_it() {
    let certs = Certs::new();
    let scratch = Scratch::new(polaris::db::Backend::Sqlite).await.unwrap();
    let server = Server::start(&scratch.url, &certs, "").await;
    let mut agent = Agent::online(&server, "flaky").await;
    let body = json!({"id": "cmd-206", "hosts": ["flaky"], "method": "sync.bash",
        "cmd": "sleep 1; echo late", "deadline": 60});
    let call = tokio::spawn(async move {
        let answer = server.command(body).await;
        (server, answer)
    });
    let request = agent.request().await;
    drop(agent);
    let (server, (status, answer)) = call.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(retcodes(&answer), [206], "{answer}");
    assert_eq!(answer["response"][0]["message"], "Agent disconnected");

    let mut agent = Agent::online(&server, "flaky").await;
    agent.answer(success(&request, "late\n")).await;
    let stored = until_done(&server, "cmd-206").await;
    assert_eq!(retcodes(&stored), [2], "{stored}");
    assert_eq!(stored["response"][0]["data"], "late\n");

    // The next frame this agent gets is a new command, not the old one again.
    let (status, _) = server
        .command(json!({"hosts": ["flaky"], "method": "getinfo.kernel", "async": true}))
        .await;
    assert_eq!(status, 202);
    assert_eq!(agent.request().await.command.method(), "getinfo.kernel");
}

/// `"async": true` answers 202 with pending entries; GET shows the results and `done`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn async_command_and_get() {
    let certs = Certs::new();
    let scratch = Scratch::new(polaris::db::Backend::Sqlite).await.unwrap();
    let server = Server::start(&scratch.url, &certs, "").await;
    let mut agent = Agent::online(&server, "a1").await;
    let (status, answer) = server
        .command(json!({"hosts": ["a1", "nowhere"], "method": "getinfo.os", "async": true}))
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["done"], false);
    assert_eq!(retcodes(&answer), [207, 203]);
    assert_eq!(answer["response"][0]["resp"], "pending");
    let id = answer["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let request = agent.request().await;
    let mut result = CommandResult::success(json!({"name": "Debian"})).with_id(&request.id);
    result.exec.duration_ms = Some(3);
    agent.answer(result).await;
    let done = until_done(&server, &id).await;
    assert_eq!(done["done"], true);
    assert_eq!(retcodes(&done), [2, 203]);
    assert_eq!(done["response"][0]["data"]["name"], "Debian");
    let (status, missing) = server.call("GET", "/api/v1/commands/nope", None).await;
    assert_eq!((status, missing["errcode"].as_u64()), (404, Some(3030)));
}

/// `max_concurrency: 1` over three hosts: one host at a time, the next after each answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_concurrency_sends_one_at_a_time() {
    let certs = Certs::new();
    let scratch = Scratch::new(polaris::db::Backend::Sqlite).await.unwrap();
    let server = Server::start(&scratch.url, &certs, "").await;
    let names = ["m1", "m2", "m3"];
    let mut agents = Vec::new();
    for name in names {
        agents.push(Agent::online(&server, name).await);
    }
    let (status, answer) = server
        .command(json!({"hosts": names, "method": "sync.bash", "cmd": "true",
            "max_concurrency": 1, "async": true}))
        .await;
    assert_eq!(status, 202);
    let id = answer["id"].as_str().unwrap().to_owned();
    let mut answered = Vec::new();
    for _ in 0..3 {
        // Exactly one agent holds a request; the others get nothing meanwhile.
        let mut holder = None;
        for (i, agent) in agents.iter_mut().enumerate() {
            if answered.contains(&i) {
                continue;
            }
            let wait = if holder.is_none() {
                Duration::from_secs(5)
            } else {
                Duration::from_millis(700)
            };
            if let Some(ServerMessage::Request(request)) = agent.next_within(wait).await {
                assert!(holder.is_none(), "two hosts in flight at once");
                holder = Some((i, request));
            }
        }
        let (i, request) = holder.expect("one host in flight");
        agents[i].answer(success(&request, "")).await;
        answered.push(i);
    }
    let done = until_done(&server, &id).await;
    assert_eq!(retcodes(&done), [2, 2, 2]);
}

/// A command posted to replica A reaches the agent connected to replica B on the same
/// database, and the answer comes back through A; the sessions name their replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_one_database() {
    let certs = Certs::new();
    for backend in BACKENDS {
        let Some(scratch) = Scratch::new(backend).await else {
            continue;
        };
        let a = Server::start(&scratch.url, &certs, "replica = \"replica-a\"").await;
        let b = Server::start(&scratch.url, &certs, "replica = \"replica-b\"").await;
        let mut agent = Agent::online(&b, "far-host").await;
        let body = json!({"hosts": ["far-host"], "method": "sync.bash", "cmd": "hostname"});
        let call = tokio::spawn(async move {
            let answer = a.command(body).await;
            (a, answer)
        });
        let request = agent.request().await;
        agent.answer(success(&request, "far-host\n")).await;
        let (a, (status, answer)) = call.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(retcodes(&answer), [2], "{backend:?}: {answer}");
        assert_eq!(answer["response"][0]["data"], "far-host\n");
        let (_, sessions) = a.call("GET", "/api/v1/agents", None).await;
        assert_eq!(sessions[0]["replica"], "replica-b");
        drop((a, b));
        scratch.remove().await;
    }
}

/// A director replica answers every init with its redirect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn director_redirects() {
    let certs = Certs::new();
    let scratch = Scratch::new(polaris::db::Backend::Sqlite).await.unwrap();
    let server = Server::start(&scratch.url, &certs, "redirect = \"a:8443,b:8443\"").await;
    let (mut agent, answer) = Agent::init(&server, "h").await;
    assert_eq!(
        answer,
        ServerMessage::Redirect {
            server: "a:8443,b:8443".into()
        }
    );
    assert!(
        agent.next().await.is_none(),
        "the connection closes after a redirect"
    );
}

/// An agent without a client certificate is refused; with the one its host enrolled, it is
/// welcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_requires_a_client_certificate() {
    let certs = Certs::new();
    let scratch = Scratch::new(polaris::db::Backend::Sqlite).await.unwrap();
    let server = Server::start(&scratch.url, &certs, "").await;
    match connect(server.agents, &certs, None).await {
        Err(_) => {}
        Ok(mut agent) => {
            // TLS 1.3 reports the refusal after the client's side of the handshake.
            let init = agent
                .ws
                .send(tokio_tungstenite::tungstenite::Message::text("{}"))
                .await;
            assert!(
                init.is_err() || agent.next().await.is_none(),
                "accepted without a certificate"
            );
        }
    }
    let identity = server.host("mtls").await.identity;
    let mut agent = connect(server.agents, &certs, Some(&identity))
        .await
        .expect("with a certificate");
    assert!(matches!(
        agent.hello("mtls").await,
        ServerMessage::Welcome { .. }
    ));
}

/// Cron runs are stored once per run id and listed newest first, by entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_runs_are_stored_and_listed() {
    let certs = Certs::new();
    let scratch = Scratch::new(polaris::db::Backend::Sqlite).await.unwrap();
    let server = Server::start(&scratch.url, &certs, "").await;
    let mut agent = Agent::online(&server, "cronhost").await;
    let run = |cron_id: &str, run_id: &str, at: f64| CronRun {
        cron_id: cron_id.into(),
        run_id: run_id.into(),
        scheduled: at as i64,
        started: at,
        finished: at + 0.5,
        result: CommandResult::success(json!("ok")),
    };
    agent.cron_run(run("c1", "r1", 100.0)).await;
    agent.cron_run(run("c2", "r2", 200.0)).await;
    agent.cron_run(run("c1", "r3", 300.0)).await;
    agent.cron_run(run("c1", "r3", 300.0)).await; // re-sent: acked, ignored
    let (status, runs) = server
        .call("GET", "/api/v1/hosts/cronhost/cron-runs", None)
        .await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["r3", "r2", "r1"]);
    let (_, runs) = server
        .call(
            "GET",
            "/api/v1/hosts/cronhost/cron-runs?cron_id=c1&limit=1",
            None,
        )
        .await;
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["run_id"], "r3");
    assert_eq!(runs[0]["result"]["data"], "ok");
}

/// The seed's literal requests (`sync.bash`, `getinfo.users`, `daemon.init`) reach the host
/// as they were posted, with the host job's id and without the fan-out fields; the agent's
/// literal answer comes back to the caller as it was sent, with the host's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_seeds_messages_pass_through_unchanged() {
    let certs = Certs::new();
    let scratch = Scratch::new(polaris::db::Backend::Sqlite).await.unwrap();
    let server = Server::start(&scratch.url, &certs, "").await;
    let mut agent = Agent::online(&server, "seed-host").await;
    let server = std::sync::Arc::new(server);
    for (message, answer) in [
        (wire::seed::SYNC_BASH, wire::seed::SYNC_BASH_SUCCESS),
        (wire::seed::SYNC_BASH, wire::seed::SYNC_BASH_FAILED),
        (wire::seed::GETINFO_USERS, wire::seed::SYNC_BASH_SUCCESS),
        (wire::seed::DAEMON_INIT, wire::seed::SYNC_BASH_SUCCESS),
    ] {
        let sent: serde_json::Value = serde_json::from_str(message).unwrap();
        let mut body = sent.clone();
        body["hosts"] = json!(["seed-host"]);
        body.as_object_mut().unwrap().remove("id");
        let caller = server.clone();
        let call = tokio::spawn(async move { caller.command(body).await });
        let text = agent
            .next_text(Duration::from_secs(10))
            .await
            .expect("a frame");
        let mut frame: serde_json::Value = serde_json::from_str(&text).unwrap();
        let host_job = frame["id"].as_str().unwrap().to_owned();
        frame["id"] = json!("x");
        assert_eq!(
            frame, sent,
            "the frame differs from the seed's request: {text}"
        );
        // The agent answers with the seed's literal result under the host job's id.
        let mut result: CommandResult = serde_json::from_str(answer).unwrap();
        result.id = Some(host_job);
        agent.answer(result).await;
        let (status, view) = call.await.unwrap();
        assert_eq!(status, 200, "{view}");
        let mut entry = view["response"][0].clone();
        assert_eq!(entry["host"], "seed-host");
        entry.as_object_mut().unwrap().remove("host");
        let mut expected: serde_json::Value = serde_json::from_str(answer).unwrap();
        expected.as_object_mut().unwrap().remove("id");
        assert_eq!(entry, expected, "{view}");
    }
}

/// Requests Polaris refuses: 400 with errcode 3021 (3022 for an unknown method) and the
/// reason, nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_commands_get_3021() {
    let certs = Certs::new();
    let scratch = Scratch::new(polaris::db::Backend::Sqlite).await.unwrap();
    let server = Server::start(&scratch.url, &certs, "").await;
    let cases = [
        (json!({"hosts": [], "method": "getinfo.users"}), "hosts"),
        (json!({"hosts": ["h"], "method": ""}), "No such method"),
        (json!({"hosts": ["h"], "method": "reboot"}), "`reboot`"),
        (json!({"hosts": ["h"], "method": "sync.bash"}), "cmd"),
        (
            json!({"hosts": ["h"], "method": "sync.bash", "cmd": "ls", "timeout": 0}),
            "timeout",
        ),
        (
            json!({"hosts": ["h"], "method": "getinfo.os", "max_concurrency": 0}),
            "max_concurrency",
        ),
        (json!({"method": "getinfo.os"}), "hosts"),
        (
            json!({"hosts": ["h"], "method": "getinfo.os", "colour": 1}),
            "colour",
        ),
    ];
    for (body, word) in cases {
        let (status, error) = server.command(body.clone()).await;
        assert_eq!(status, 400, "{body}: {error}");
        let message = error["message"].as_str().unwrap();
        let (code, standard) = if message.starts_with("No such method") {
            (3022, "No such method")
        } else {
            (3021, "Invalid params")
        };
        assert_eq!(error["errcode"], code, "{body}");
        assert!(
            message.starts_with(standard) && message.contains(word),
            "{message}"
        );
    }
    let first = json!({"id": "dup", "hosts": ["h"], "method": "getinfo.os", "async": true});
    assert_eq!(server.command(first.clone()).await.0, 202);
    let (status, error) = server.command(first).await;
    assert_eq!(
        (status, error["errcode"].as_u64()),
        (409, Some(3021)),
        "{error}"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
}
