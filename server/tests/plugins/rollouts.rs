//! Rollouts against agents played over the real protocol: `max_concurrency`, `max_errors`,
//! offline and silent hosts, refused requests, and two schedulers on one database.

use super::*;

/// How a fake agent of a rollout test answers.
#[derive(Clone)]
struct Fleet {
    /// Requests held right now, over all agents.
    in_flight: Arc<AtomicUsize>,
    /// The most held at once.
    most: Arc<AtomicUsize>,
    /// How long each request is held before the answer.
    hold: Duration,
    /// Every request answered: (host, command).
    seen: Arc<std::sync::Mutex<Vec<(String, Command)>>>,
}

impl Fleet {
    fn new(hold: Duration) -> Fleet {
        Fleet {
            in_flight: Arc::default(),
            most: Arc::default(),
            hold,
            seen: Arc::default(),
        }
    }

    /// Serves `agent` until its connection ends: each request is held, then answered with
    /// `answer(host, command)`; the answer's inventory (if any) is sent before the result.
    fn serve<F>(&self, mut agent: Agent, host: String, answer: F) -> tokio::task::JoinHandle<()>
    where
        F: Fn(&str, &Command) -> (CommandResult, Option<PluginInventory>) + Send + 'static,
    {
        let fleet = self.clone();
        tokio::spawn(async move {
            while let Some(message) = agent.next_within(ROLLOUT_PATIENCE).await {
                let ServerMessage::Request(request) = message else {
                    continue;
                };
                let now = fleet.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                fleet.most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(fleet.hold).await;
                let (result, inventory) = answer(&host, &request.command);
                fleet
                    .seen
                    .lock()
                    .unwrap()
                    .push((host.clone(), request.command.clone()));
                // Released before the answer: once the server has it, it may begin another.
                fleet.in_flight.fetch_sub(1, Ordering::SeqCst);
                if let Some(inventory) = inventory {
                    agent.inventory(&inventory).await;
                }
                agent.answer(result.with_id(&request.id)).await;
            }
        })
    }
}

/// A catalogue release rolled out to six hosts with `max_concurrency` 2 and `max_errors` 1:
/// never more than two hosts at once; each host's command carries the release's URL (the file
/// is there) and digest; the second failure stops it: the hosts not begun are cancelled, the one
/// in flight finishes; the API says why per host, and the inventories show who runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollouts_keep_max_concurrency_and_stop_past_max_errors() {
    let certs = Certs::new();
    let dir = tempfile::tempdir().unwrap();
    for backend in BACKENDS {
        let Some((server, scratch)) = on(backend, &certs, dir.path(), "").await else {
            continue;
        };
        let so = shared_object();
        let (status, release) = server
            .upload(vec![
                ("manifest", manifest("rollout", "1.0.0")),
                ("file", so.clone()),
            ])
            .await;
        assert!(status == 201 || status == 200, "{release}");
        let digest = release["digest"].as_str().unwrap().to_owned();
        let url = release["url"].as_str().unwrap().to_owned();
        let hosts: Vec<String> = (1..=6).map(|i| format!("roll-{i}")).collect();
        let fleet = Fleet::new(Duration::from_millis(400));
        let mut served = Vec::new();
        for host in &hosts {
            let agent = Agent::online(&server, host).await;
            served.push(fleet.serve(agent, host.clone(), |host, command| {
                let Command::PluginInstall(release) = command else {
                    return (CommandResult::failed(3021, "not an install"), None);
                };
                if host == "roll-2" || host == "roll-3" {
                    let message =
                        format!("not installed: init panicked: broken {}", release.version);
                    return (CommandResult::failed(3023, message), None);
                }
                let installed = inventory(
                    vec![report(
                        &release.name,
                        &release.version,
                        vec![instance("rollout", InstanceState::Running, None)],
                    )],
                    vec![],
                );
                (
                    CommandResult::success(json!(format!("installed {}", release.version))),
                    Some(installed),
                )
            }));
        }
        let (status, rollout) = server
            .call(
                "POST",
                "/api/v1/rollouts",
                Some(
                    json!({"action": "install", "agent": "nodus", "plugin": "rollout",
                    "version": "1.0.0", "hosts": hosts, "max_concurrency": 2, "max_errors": 1}),
                ),
            )
            .await;
        assert_eq!(status, 201, "{rollout}");
        assert_eq!(rollout["counts"]["pending"], 6);
        let id = rollout["id"].as_str().unwrap().to_owned();
        let done = finished(&server, &id).await;
        assert_eq!(done["state"], "stopped", "{backend:?}: {done}");
        assert!(
            done["reason"].as_str().unwrap().contains("max_errors = 1"),
            "{done}"
        );
        assert_eq!(
            host_states(&done),
            [
                ("roll-1".to_string(), "succeeded".to_string()),
                ("roll-2".into(), "failed".into()),
                ("roll-3".into(), "failed".into()),
                ("roll-4".into(), "succeeded".into()),
                ("roll-5".into(), "cancelled".into()),
                ("roll-6".into(), "cancelled".into()),
            ],
            "{backend:?}: {done}"
        );
        assert_eq!(
            done["hosts"][1]["message"],
            "not installed: init panicked: broken 1.0.0"
        );
        assert_eq!(done["hosts"][1]["retcode"], 3023);
        assert!(done["hosts"][4]["started"].is_null());
        assert!(
            fleet.most.load(Ordering::SeqCst) <= 2,
            "more than two hosts at once"
        );
        // Each host's part is an ordinary command.
        let command = done["hosts"][0]["command"].as_str().unwrap();
        let (_, part) = server
            .call("GET", &format!("/api/v1/commands/{command}"), None)
            .await;
        assert_eq!(part["response"][0]["data"], "installed 1.0.0", "{part}");

        // Each host begun got one request: the release, with its URL (which serves the file)
        // and digest.
        for task in served {
            task.abort();
        }
        let expected = Command::PluginInstall(wire::plugins::PluginRelease {
            agent: PluginAgent::Nodus,
            name: "rollout".into(),
            version: "1.0.0".into(),
            url: url.clone(),
            checksum: digest.clone(),
        });
        let mut seen = fleet.seen.lock().unwrap().clone();
        seen.sort_by(|x, y| x.0.cmp(&y.0));
        let seen_hosts: Vec<&str> = seen.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(seen_hosts, ["roll-1", "roll-2", "roll-3", "roll-4"]);
        assert!(seen.iter().all(|(_, c)| *c == expected), "{seen:?}");
        assert_eq!(
            server.download(&url, PKG_USER, PKG_PASSWORD).await.unwrap(),
            so
        );
        let (_, rollouts) = server.call("GET", "/api/v1/rollouts", None).await;
        assert_eq!(rollouts[0]["id"], id.as_str());
        assert!(rollouts[0].get("hosts").is_none());
        assert_eq!(rollouts[0]["counts"]["cancelled"], 2);

        // The two hosts that installed it report it: the catalogue counts them.
        let list = poll(&server, "/api/v1/plugins", Duration::from_secs(20), |l| {
            l[0]["hosts"] == 2
        })
        .await;
        assert_eq!(list[0]["version"], "1.0.0");
        let (_, running) = server
            .call("GET", "/api/v1/plugins/rollout/hosts?version=1.0.0", None)
            .await;
        let names: Vec<&str> = running
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["hostname"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["roll-1", "roll-4"]);
        drop(server);
        scratch.remove().await;
    }
}

/// The frame an agent gets for a rollout host is the plugin command with the release's URL and
/// digest, nothing else; a host without an agent fails at once (204), a silent one times out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offline_and_silent_hosts_fail_a_rollout() {
    let certs = Certs::new();
    let dir = tempfile::tempdir().unwrap();
    let (server, _scratch) = on(polaris::db::Backend::Sqlite, &certs, dir.path(), "")
        .await
        .unwrap();
    let (status, release) = server
        .upload(vec![
            ("manifest", manifest("rollout", "2.0.0")),
            ("file", shared_object()),
        ])
        .await;
    assert_eq!(status, 201, "{release}");
    server.boot_report("asleep").await;
    let mut silent = Agent::online(&server, "silent").await;
    let (status, rollout) = server
        .call(
            "POST",
            "/api/v1/rollouts",
            Some(
                json!({"action": "upgrade", "agent": "nodus", "plugin": "rollout",
                "version": "2.0.0", "hosts": ["asleep", "silent"], "max_errors": 5,
                "timeout": 2}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{rollout}");
    let text = silent
        .next_text(Duration::from_secs(20))
        .await
        .expect("the command");
    let mut frame: Value = serde_json::from_str(&text).unwrap();
    assert!(frame["id"].is_string());
    frame.as_object_mut().unwrap().remove("id");
    assert_eq!(
        frame,
        json!({"method": "plugin.upgrade", "agent": "nodus", "name": "rollout",
            "version": "2.0.0", "url": release["url"], "checksum": release["digest"]})
    );
    let id = rollout["id"].as_str().unwrap();
    let done = finished(&server, id).await;
    assert_eq!(done["state"], "failed", "{done}");
    assert_eq!(
        host_states(&done),
        [
            ("asleep".to_string(), "failed".to_string()),
            ("silent".into(), "timed_out".into())
        ]
    );
    assert_eq!(done["hosts"][0]["retcode"], 204);
    assert_eq!(done["hosts"][0]["message"], "Host offline");
    assert_eq!(done["hosts"][1]["retcode"], 205);
}

/// Rollout requests Polaris refuses, and the plugin methods through `POST /api/v1/commands`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollout_and_plugin_command_requests_are_checked() {
    let certs = Certs::new();
    let dir = tempfile::tempdir().unwrap();
    let (server, _scratch) = on(polaris::db::Backend::Sqlite, &certs, dir.path(), "")
        .await
        .unwrap();
    server.boot_report("known").await;
    let base = json!({"action": "stop", "agent": "nodus", "plugin": "cpu", "hosts": ["known"]});
    let with = |changes: Value| {
        let mut body = base.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let cases = [
        (with(json!({"plugin": "../cpu"})), 400, "plugin"),
        (with(json!({"version": "1.0.0"})), 400, "version"),
        (with(json!({"action": "install"})), 400, "version"),
        (
            with(json!({"action": "remove", "instance": "a"})),
            400,
            "instance",
        ),
        (with(json!({"options": {"A": 1}})), 400, "options"),
        (with(json!({"action": "configure"})), 400, "options"),
        (with(json!({"hosts": null})), 400, "region"),
        (with(json!({"region": "r"})), 400, "region"),
        (with(json!({"hosts": ["known", "known"]})), 400, "twice"),
        (with(json!({"max_concurrency": 0})), 400, "max_concurrency"),
        (with(json!({"timeout": 0})), 400, "timeout"),
        (with(json!({"colour": 1})), 400, "colour"),
        (with(json!({"hosts": ["known", "ghost"]})), 404, "ghost"),
        (
            with(json!({"hosts": null, "region": "nowhere"})),
            404,
            "nowhere",
        ),
        (
            with(json!({"action": "install", "version": "1.0.0"})),
            404,
            "not in the catalogue",
        ),
        (
            with(json!({"action": "configure", "options": {"A": {"deep": 1}}})),
            400,
            "options",
        ),
    ];
    for (body, status, word) in cases {
        let (got, error) = server
            .call("POST", "/api/v1/rollouts", Some(body.clone()))
            .await;
        assert_eq!(got, status, "{body}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(word), "{body}: {message}");
    }
    let (_, list) = server.call("GET", "/api/v1/rollouts", None).await;
    assert_eq!(list, json!([]), "nothing refused was stored");
    let (status, _) = server.call("GET", "/api/v1/rollouts/nope", None).await;
    assert_eq!(status, 404);

    // The plugin methods are commands like any other.
    let mut agent = Agent::online(&server, "cmd-host").await;
    let (status, answer) = server
        .command(
            json!({"hosts": ["cmd-host"], "method": "plugin.stop", "agent": "nodus",
            "name": "cpu", "instance": "cpu", "async": true}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let request = agent.request().await;
    assert_eq!(request.command.method(), "plugin.stop");
    for (body, word) in [
        (
            json!({"hosts": ["cmd-host"], "method": "plugin.install", "agent": "nodus",
                "name": "x", "version": "1 beta", "url": "https://p/x.so",
                "checksum": format!("SHA256:{}", "a".repeat(64))}),
            "version",
        ),
        (
            json!({"hosts": ["cmd-host"], "method": "plugin.configure", "agent": "nodus",
                "name": "http", "options": {"two words": 1}}),
            "option name",
        ),
        (
            json!({"hosts": ["cmd-host"], "method": "plugin.remove", "agent": "nodus",
                "name": "cpu", "instance": "cpu"}),
            "instance",
        ),
    ] {
        let (status, error) = server.command(body.clone()).await;
        assert_eq!(
            (status, error["errcode"].as_u64()),
            (400, Some(3021)),
            "{body}"
        );
        assert!(error["message"].as_str().unwrap().contains(word), "{error}");
    }
}

/// Two replicas on one database (MariaDB, PostgreSQL) schedule the same rollout: together they
/// never run more than `max_concurrency` hosts, and every host is done once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_never_exceed_max_concurrency() {
    let certs = Certs::new();
    for backend in [polaris::db::Backend::Postgres, polaris::db::Backend::MySql] {
        let Some(scratch) = Scratch::new(backend).await else {
            continue;
        };
        let a = Server::start(&scratch.url, &certs, "replica = \"sched-a\"").await;
        let b = Server::start(&scratch.url, &certs, "replica = \"sched-b\"").await;
        let hosts: Vec<String> = (1..=9).map(|i| format!("twin-{i}")).collect();
        let fleet = Fleet::new(Duration::from_millis(300));
        let mut served = Vec::new();
        for (i, host) in hosts.iter().enumerate() {
            let server = if i % 2 == 0 { &a } else { &b };
            let agent = Agent::online(server, host).await;
            served.push(fleet.serve(agent, host.clone(), |_, command| {
                let ok = matches!(command, Command::PluginStart(_));
                let result = if ok {
                    CommandResult::success(json!("started"))
                } else {
                    CommandResult::failed(3021, "not a start")
                };
                (result, None)
            }));
        }
        let (status, rollout) = a
            .call(
                "POST",
                "/api/v1/rollouts",
                Some(json!({"action": "start", "agent": "nodus", "plugin": "cpu",
                    "instance": "cpu", "hosts": hosts, "max_concurrency": 3})),
            )
            .await;
        assert_eq!(status, 201, "{rollout}");
        let id = rollout["id"].as_str().unwrap().to_owned();
        let done = finished(&b, &id).await;
        assert_eq!(done["state"], "succeeded", "{backend:?}: {done}");
        assert_eq!(done["counts"]["succeeded"], 9);
        let most = fleet.most.load(Ordering::SeqCst);
        assert!(most <= 3, "{backend:?}: {most} hosts at once");
        for task in served {
            task.abort();
        }
        let mut seen: Vec<String> = fleet
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|(h, _)| h.clone())
            .collect();
        seen.sort();
        assert_eq!(seen, hosts, "{backend:?}: each host got its command once");
        drop((a, b));
        scratch.remove().await;
    }
}
