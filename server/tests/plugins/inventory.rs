//! Inventories over the agent link: stored, replaced, not rewritten when repeated, and
//! queried per host, per plugin and as problems, on every backend.

use super::*;

/// An inventory sent over the link is what the API shows: per host with options as sent
/// (secrets masked by the agent), per plugin, and as problems; a new one replaces it, one that
/// repeats the last is not written again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inventories_arrive_over_the_agent_link() {
    let certs = Certs::new();
    let dir = tempfile::tempdir().unwrap();
    for backend in BACKENDS {
        let Some((server, scratch)) = on(backend, &certs, dir.path(), "").await else {
            continue;
        };
        let mut agent = Agent::online(&server, "inv-1").await;
        let first = inventory(
            vec![
                report(
                    "cpu",
                    "1.0.0",
                    vec![instance("cpu", InstanceState::Running, None)],
                ),
                report(
                    "http",
                    "2.1.0",
                    vec![
                        instance("http/primary", InstanceState::Running, None),
                        instance("http/backup", InstanceState::Penalised, Some("refused")),
                    ],
                ),
            ],
            vec![SkippedFile {
                file: "/usr/lib/cargo/nodus/old.so".into(),
                reason: "built against plugin-api 1.0.0, host has 2.1.0: rebuild it".into(),
            }],
        );
        agent.inventory(&first).await;
        let host = poll(
            &server,
            "/api/v1/hosts/inv-1/plugins",
            Duration::from_secs(20),
            |h| h["agents"].as_array().is_some_and(|a| !a.is_empty()),
        )
        .await;
        assert!(host["agent_seen"].is_string(), "{host}");
        let nodus = &host["agents"][0];
        assert_eq!(nodus["agent"], "nodus", "{host}");
        assert_eq!(nodus["plugins"][1]["name"], "http");
        assert_eq!(nodus["plugins"][1]["state"], "penalised");
        assert_eq!(nodus["plugins"][1]["reason"], "refused");
        assert_eq!(
            nodus["plugins"][1]["instances"][0]["options"]["Password"],
            "***"
        );
        assert_eq!(nodus["skipped"][0]["file"], "/usr/lib/cargo/nodus/old.so");
        let updated = nodus["updated"].clone();

        let (_, hosts) = server
            .call(
                "GET",
                "/api/v1/plugins/cpu/hosts?version=1.0.0&agent=nodus",
                None,
            )
            .await;
        assert_eq!(hosts[0]["hostname"], "inv-1", "{hosts}");
        assert_eq!(hosts[0]["state"], "running");
        let (_, none) = server
            .call("GET", "/api/v1/plugins/cpu/hosts?version=9", None)
            .await;
        assert_eq!(none, json!([]));
        let (_, problems) = server.call("GET", "/api/v1/plugin-problems", None).await;
        let kinds: Vec<&str> = problems
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["problem"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["skipped", "penalised"], "{problems}");
        assert_eq!(problems[1]["instance"], "http/backup");

        // The same inventory again (a heartbeat): not written; a cron run's ack shows the
        // frame before it was handled.
        tokio::time::sleep(Duration::from_millis(20)).await;
        agent.inventory(&first).await;
        agent
            .cron_run(wire::agent::CronRun {
                cron_id: "c".into(),
                run_id: "r1".into(),
                scheduled: 1,
                started: 1.0,
                finished: 1.0,
                result: CommandResult::success(json!("ok")),
            })
            .await;
        let (_, host) = server
            .call("GET", "/api/v1/hosts/inv-1/plugins", None)
            .await;
        assert_eq!(
            host["agents"][0]["updated"], updated,
            "a repeat is not written"
        );

        // `nodusctl plugin stop cpu`: the next inventory replaces the last.
        let stopped = inventory(
            vec![report(
                "cpu",
                "1.0.0",
                vec![instance("cpu", InstanceState::Stopped, None)],
            )],
            vec![],
        );
        agent.inventory(&stopped).await;
        let host = poll(
            &server,
            "/api/v1/hosts/inv-1/plugins",
            Duration::from_secs(20),
            |h| {
                h["agents"][0]["plugins"]
                    .as_array()
                    .is_some_and(|p| p.len() == 1)
            },
        )
        .await;
        assert_eq!(host["agents"][0]["plugins"][0]["state"], "stopped");
        assert_eq!(host["agents"][0]["skipped"], json!([]));
        let (_, problems) = server.call("GET", "/api/v1/plugin-problems", None).await;
        assert_eq!(problems, json!([]));

        // Disconnected: the last inventory stays, marked as not current.
        drop(agent);
        let host = poll(
            &server,
            "/api/v1/hosts/inv-1/plugins",
            Duration::from_secs(20),
            |h| h["agent_seen"].is_null(),
        )
        .await;
        assert_eq!(host["agents"][0]["plugins"][0]["name"], "cpu");

        let (status, error) = server
            .call("GET", "/api/v1/hosts/ghost/plugins", None)
            .await;
        assert_eq!((status, error["errcode"].as_u64()), (404, Some(203)));
        let (status, _) = server
            .call("GET", "/api/v1/plugins/..%2Fx/hosts", None)
            .await;
        assert_eq!(status, 400);
        let (status, _) = server
            .call("GET", "/api/v1/plugins/cpu/hosts?agent=bootagent", None)
            .await;
        assert_eq!(status, 400);
        drop(server);
        scratch.remove().await;
    }
}
