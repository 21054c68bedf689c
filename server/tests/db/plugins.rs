//! Plugins in the database on every backend: inventories replace what a host had and answer
//! the three questions (one host, one plugin's hosts, problems); a catalogue release is never
//! replaced; rollouts begin hosts within `max_concurrency` even with two handles racing, and
//! stop once more than `max_errors` hosts failed.

use polaris::db::plugins::{
    NewRollout, Release, RolloutAction, RolloutHostState, RolloutState, Settled,
};
use polaris::db::{DbError, Target};
use serde_json::json;
use wire::plugins::{
    AgentPlugins, InstanceReport, InstanceState, PluginAgent, PluginInventory, PluginReport,
    SkippedFile,
};

use super::Ctx;

fn instance(name: &str, state: InstanceState, reason: Option<&str>) -> InstanceReport {
    InstanceReport {
        name: name.into(),
        state,
        reason: reason.map(str::to_owned),
        options: serde_json::from_value(json!({"URL": "http://m", "Password": "***"})).unwrap(),
    }
}

fn plugin(name: &str, version: &str, instances: Vec<InstanceReport>) -> PluginReport {
    PluginReport {
        name: name.into(),
        version: version.into(),
        abi: "2.1.0".into(),
        roles: vec!["read".into()],
        file: format!("/usr/lib/cargo/nodus/{name}.so"),
        digest: format!("SHA256:{}", "b".repeat(64)),
        schema: Vec::new(),
        instances,
    }
}

fn nodus(plugins: Vec<PluginReport>, skipped: Vec<SkippedFile>) -> AgentPlugins {
    AgentPlugins {
        agent: PluginAgent::Nodus,
        error: None,
        plugins,
        skipped,
        cut: 0,
    }
}

pub async fn inventories_replace_and_answer(ctx: Ctx) {
    let db = &ctx.db;
    let first = PluginInventory {
        agents: vec![
            nodus(
                vec![
                    plugin(
                        "cpu",
                        "1.0.0",
                        vec![instance("cpu", InstanceState::Running, None)],
                    ),
                    plugin(
                        "http",
                        "2.1.0",
                        vec![
                            instance("http/a", InstanceState::Running, None),
                            instance("http/b", InstanceState::Penalised, Some("refused")),
                        ],
                    ),
                ],
                vec![SkippedFile {
                    file: "/usr/lib/cargo/nodus/old.so".into(),
                    reason: "built against plugin-api 1.0.0, host has 2.1.0".into(),
                }],
            ),
            AgentPlugins {
                agent: PluginAgent::Gearman,
                error: Some("nodus control socket refused".into()),
                plugins: vec![],
                skipped: vec![],
                cut: 0,
            },
        ],
    };
    db.replace_inventory("web-1", &first).await.expect("store");
    let other = PluginInventory {
        agents: vec![nodus(
            vec![plugin(
                "cpu",
                "1.1.0",
                vec![instance("cpu", InstanceState::Stopped, None)],
            )],
            vec![],
        )],
    };
    db.replace_inventory("web-2", &other).await.expect("store");

    let host = db.host_plugins("web-1").await.expect("read");
    assert_eq!(host.len(), 2);
    assert_eq!(host[0].agent, PluginAgent::Gearman, "agents by name");
    assert_eq!(
        host[0].error.as_deref(),
        Some("nodus control socket refused")
    );
    let nodus_part = &host[1];
    let names: Vec<&str> = nodus_part.plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["cpu", "http"]);
    let http = &nodus_part.plugins[1];
    assert_eq!(http.state, InstanceState::Penalised);
    assert_eq!(http.reason.as_deref(), Some("refused"));
    assert_eq!(http.instances[1].options["Password"], "***");
    assert_eq!(nodus_part.skipped.len(), 1);

    let cpu = db.plugin_hosts("cpu", None, None).await.expect("read");
    let hosts: Vec<(&str, &str)> = cpu
        .iter()
        .map(|p| (p.hostname.as_str(), p.version.as_str()))
        .collect();
    assert_eq!(hosts, [("web-1", "1.0.0"), ("web-2", "1.1.0")]);
    let at = db
        .plugin_hosts("cpu", Some("1.1.0"), Some(PluginAgent::Nodus))
        .await
        .expect("read");
    assert_eq!(at.len(), 1);
    assert!(
        db.plugin_hosts("cpu", None, Some(PluginAgent::Gearman))
            .await
            .unwrap()
            .is_empty()
    );

    let problems = db.plugin_problems(100).await.expect("read");
    let kinds: Vec<(String, String)> = problems
        .iter()
        .map(|p| (p.hostname.clone(), format!("{:?}", p.kind)))
        .collect();
    assert_eq!(
        kinds,
        [
            ("web-1".to_string(), "AgentError".to_string()),
            ("web-1".into(), "Skipped".into()),
            ("web-1".into(), "Penalised".into()),
        ],
        "{problems:?}"
    );
    assert_eq!(db.plugin_problems(1).await.unwrap().len(), 1);

    // A new inventory replaces everything web-1 had: http removed, the error gone.
    db.replace_inventory("web-1", &other)
        .await
        .expect("replace");
    let host = db.host_plugins("web-1").await.expect("read");
    assert_eq!(host.len(), 1);
    assert_eq!(host[0].plugins.len(), 1);
    assert!(host[0].skipped.is_empty());
    assert!(
        db.plugin_hosts("http", None, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(db.plugin_problems(100).await.unwrap().is_empty());
    // An empty inventory leaves nothing.
    db.replace_inventory("web-1", &PluginInventory::default())
        .await
        .expect("empty");
    assert!(db.host_plugins("web-1").await.unwrap().is_empty());
}

fn release(version: &str, digest: char) -> Release {
    Release {
        agent: PluginAgent::Nodus,
        name: "rollout".into(),
        version: version.into(),
        abi: "2.0.0".into(),
        roles: vec!["read".into(), "info".into()],
        digest: format!("SHA256:{}", digest.to_string().repeat(64)),
        size: 1234,
        path: format!("plugins/nodus/rollout/{version}/rollout.so"),
        signed: true,
        created: polaris::db::now(),
        hosts: 0,
    }
}

pub async fn releases_are_never_replaced(ctx: Ctx) {
    let db = &ctx.db;
    let first = db.add_release(&release("1.0.0", 'a')).await.expect("add");
    assert_eq!(first.digest, release("1.0.0", 'a').digest);
    // The same release again: what is stored.
    let again = db.add_release(&release("1.0.0", 'a')).await.expect("again");
    assert_eq!(again.created, first.created);
    // Other bytes under the same version: a conflict, nothing changed.
    match db.add_release(&release("1.0.0", 'c')).await {
        Err(DbError::Conflict(why)) => assert!(why.contains("another digest"), "{why}"),
        other => panic!("{other:?}"),
    }
    db.add_release(&release("2.0.0", 'd')).await.expect("add");
    // The same name and version for the other agent is another release.
    let mut gearman = release("1.0.0", 'e');
    gearman.agent = PluginAgent::Gearman;
    db.add_release(&gearman).await.expect("add");
    db.replace_inventory(
        "h",
        &PluginInventory {
            agents: vec![nodus(vec![plugin("rollout", "2.0.0", vec![])], vec![])],
        },
    )
    .await
    .unwrap();
    let list = db.releases().await.expect("list");
    let shown: Vec<(PluginAgent, &str, u64)> = list
        .iter()
        .map(|r| (r.agent, r.version.as_str(), r.hosts))
        .collect();
    assert_eq!(
        shown,
        [
            (PluginAgent::Gearman, "1.0.0", 0),
            (PluginAgent::Nodus, "1.0.0", 0),
            (PluginAgent::Nodus, "2.0.0", 1)
        ]
    );
    assert_eq!(list[1].roles, ["read", "info"]);
    assert!(list[1].signed);
    let one = db
        .release(PluginAgent::Nodus, "rollout", "2.0.0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.hosts, 1);
    assert!(
        db.release(PluginAgent::Nodus, "rollout", "9.9.9")
            .await
            .unwrap()
            .is_none()
    );
}

async fn register(db: &polaris::db::Db, hosts: &[String]) {
    for host in hosts {
        let report: wire::boot::StatusReport = serde_json::from_value(json!({
            "hostname": host, "version": "b", "uptime": 1, "timestamp": 1, "step": 600,
            "agents": []}))
        .unwrap();
        db.report_status(&report).await.expect("register");
    }
}

fn new_rollout<'a>(
    id: &'a str,
    target: &'a Target,
    max_concurrency: u32,
    max_errors: u32,
) -> NewRollout<'a> {
    NewRollout {
        id,
        action: RolloutAction::Start,
        agent: PluginAgent::Nodus,
        plugin: "cpu",
        version: None,
        instance: None,
        method: "plugin.start",
        command: r#"{"method":"plugin.start","agent":"nodus","name":"cpu"}"#,
        target,
        max_concurrency,
        max_errors,
        timeout: 60,
    }
}

pub async fn rollouts_begin_within_max_concurrency(ctx: Ctx) {
    let db = &ctx.db;
    let hosts: Vec<String> = (0..12).map(|i| format!("h{i:02}")).collect();
    register(db, &hosts).await;
    let unknown = Target::Hosts(vec!["h00".into(), "ghost".into()]);
    match db.create_rollout(&new_rollout("r0", &unknown, 1, 0)).await {
        Err(DbError::UnknownHosts(names)) => assert_eq!(names, ["ghost"]),
        other => panic!("{other:?}"),
    }
    assert!(db.rollout("r0").await.unwrap().is_none(), "nothing stored");
    let target = Target::Hosts(hosts.clone());
    let rollout = db
        .create_rollout(&new_rollout("r1", &target, 3, 100))
        .await
        .expect("create");
    assert_eq!(rollout.counts.pending, 12);
    assert_eq!(rollout.hosts[0].hostname, "h00", "in the order given");

    // A second handle on the same database races the first, round after round.
    let other = polaris::db::Db::connect(&ctx.url)
        .await
        .expect("second handle");
    let mut begun_total = 0;
    while begun_total < 12 {
        let (a, b) = tokio::join!(db.begin_hosts("r1"), other.begin_hosts("r1"));
        let (a, b) = (a.expect("begin"), b.expect("begin"));
        let running = db.rollout("r1").await.unwrap().unwrap().counts.running;
        assert!(running <= 3, "{running} hosts running at once");
        assert!(a.len() + b.len() <= 3);
        begun_total += a.len() + b.len();
        // Every host begun is settled before the next round.
        let settled: Vec<Settled> = a
            .iter()
            .chain(&b)
            .map(|h| Settled {
                hostname: h.hostname.clone(),
                state: RolloutHostState::Succeeded,
                retcode: 2,
                message: "ok".into(),
            })
            .collect();
        assert_eq!(
            db.settle_hosts("r1", &settled).await.expect("settle"),
            settled.len() as u64
        );
        // Settling twice (another replica) changes nothing.
        assert_eq!(other.settle_hosts("r1", &settled).await.unwrap(), 0);
    }
    assert_eq!(
        db.finish_rollout("r1").await.unwrap(),
        Some(RolloutState::Succeeded)
    );
    let done = db.rollout("r1").await.unwrap().unwrap();
    assert_eq!(done.counts.succeeded, 12);
    assert!(done.finished.is_some());
    assert!(db.active_rollouts().await.unwrap().is_empty());
    assert_eq!(db.rollouts(10).await.unwrap()[0].counts.succeeded, 12);
}

pub async fn rollouts_stop_past_max_errors(ctx: Ctx) {
    let db = &ctx.db;
    let hosts: Vec<String> = (0..5).map(|i| format!("e{i}")).collect();
    register(db, &hosts).await;
    let target = Target::Hosts(hosts.clone());
    db.create_rollout(&new_rollout("r2", &target, 2, 1))
        .await
        .expect("create");
    let first = db.begin_hosts("r2").await.unwrap();
    assert_eq!(first.len(), 2);
    let fail = |host: &str| Settled {
        hostname: host.into(),
        state: RolloutHostState::Failed,
        retcode: 3023,
        message: "kept 1.0.0: init panicked: boom".into(),
    };
    // One error is allowed.
    db.settle_hosts("r2", &[fail(&first[0].hostname)])
        .await
        .unwrap();
    let second = db.begin_hosts("r2").await.unwrap();
    assert_eq!(second.len(), 1, "one slot freed");
    assert_eq!(
        db.rollout("r2").await.unwrap().unwrap().state,
        RolloutState::Running
    );
    // The second is more than max_errors: stopped, pending hosts cancelled.
    db.settle_hosts("r2", &[fail(&first[1].hostname)])
        .await
        .unwrap();
    let stopped = db.rollout("r2").await.unwrap().unwrap();
    assert_eq!(stopped.state, RolloutState::Stopped);
    assert!(
        stopped
            .reason
            .as_deref()
            .unwrap()
            .contains("max_errors = 1")
    );
    assert_eq!(stopped.counts.cancelled, 2);
    assert_eq!(stopped.counts.running, 1, "the host in flight finishes");
    assert!(db.begin_hosts("r2").await.unwrap().is_empty());
    assert_eq!(db.finish_rollout("r2").await.unwrap(), None);
    assert_eq!(db.active_rollouts().await.unwrap().len(), 1);
    db.settle_hosts(
        "r2",
        &[Settled {
            hostname: second[0].hostname.clone(),
            state: RolloutHostState::Succeeded,
            retcode: 2,
            message: "installed".into(),
        }],
    )
    .await
    .unwrap();
    assert_eq!(
        db.finish_rollout("r2").await.unwrap(),
        Some(RolloutState::Stopped)
    );
    let done = db.rollout("r2").await.unwrap().unwrap();
    let states: Vec<RolloutHostState> = done.hosts.iter().map(|h| h.state).collect();
    assert_eq!(
        states,
        [
            RolloutHostState::Failed,
            RolloutHostState::Failed,
            RolloutHostState::Succeeded,
            RolloutHostState::Cancelled,
            RolloutHostState::Cancelled
        ]
    );
    assert_eq!(
        done.hosts[0].message.as_deref(),
        Some("kept 1.0.0: init panicked: boom")
    );

    // Failures within max_errors: every host tried, the rollout `failed`.
    let region_hosts = vec!["f1".to_string(), "f2".to_string()];
    register(db, &region_hosts).await;
    let target = Target::Hosts(region_hosts);
    db.create_rollout(&new_rollout("r3", &target, 5, 1))
        .await
        .unwrap();
    let begun = db.begin_hosts("r3").await.unwrap();
    assert_eq!(begun.len(), 2);
    db.settle_hosts("r3", &[fail("f1")]).await.unwrap();
    db.settle_hosts(
        "r3",
        &[Settled {
            hostname: "f2".into(),
            state: RolloutHostState::TimedOut,
            retcode: 205,
            message: "No answer before the timeout".into(),
        }],
    )
    .await
    .unwrap();
    // Two errors > 1: stopped, even though nothing was left to cancel.
    assert_eq!(
        db.finish_rollout("r3").await.unwrap(),
        Some(RolloutState::Stopped)
    );
}

pub async fn rollouts_fail_within_max_errors(ctx: Ctx) {
    let db = &ctx.db;
    let hosts = vec!["g1".to_string(), "g2".to_string()];
    register(db, &hosts).await;
    let target = Target::Region("unknown".into());
    let rollout = db
        .create_rollout(&new_rollout("r4", &target, 5, 1))
        .await
        .unwrap();
    assert_eq!(
        rollout
            .hosts
            .iter()
            .map(|h| h.hostname.as_str())
            .collect::<Vec<_>>(),
        ["g1", "g2"],
        "a region's hosts by name"
    );
    db.begin_hosts("r4").await.unwrap();
    let settle = |host: &str, state| Settled {
        hostname: host.into(),
        state,
        retcode: 2,
        message: String::new(),
    };
    db.settle_hosts(
        "r4",
        &[
            settle("g1", RolloutHostState::Failed),
            settle("g2", RolloutHostState::Succeeded),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        db.finish_rollout("r4").await.unwrap(),
        Some(RolloutState::Failed)
    );
    let empty = Target::Region("nowhere".into());
    assert!(matches!(
        db.create_rollout(&new_rollout("r5", &empty, 1, 0)).await,
        Err(DbError::UnknownHosts(_))
    ));
}
