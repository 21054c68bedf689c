//! Hosts, their agents and boot jobs.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use polaris::db::{Backend, DbError, HostJobStatus, HostStatus, Job, Target};
use wire::boot::{AgentState, AgentStatus, BootAction, BootJob, JobResult, StatusReport};

use super::Ctx;

fn report(
    hostname: &str,
    region: Option<&str>,
    step: u64,
    agents: &[(&str, AgentState)],
) -> StatusReport {
    StatusReport {
        hostname: hostname.into(),
        version: "bootagent-1.2.4-x86_64".into(),
        uptime: 1234,
        timestamp: Utc::now().timestamp(),
        step,
        agents: agents
            .iter()
            .map(|(name, status)| AgentStatus {
                name: (*name).into(),
                version: "1.2.3".into(),
                status: *status,
                uptime: 99,
            })
            .collect(),
        region: region.map(Into::into),
    }
}

fn job(id: &str, action: BootAction) -> BootJob {
    BootJob {
        id: id.into(),
        action,
        name: Some("BasicAgent".into()),
        url: Some("ftp://server:21/BasicAgent/BasicAgent-1.5.6.rpm".into()),
        checksum: Some("SHA256:4a34b8d7".into()),
        env: BTreeMap::from([("PATH".into(), "/usr/bin:/usr/local/bin".into())]),
        limits: BTreeMap::from([("CPU".into(), "10%".into())]),
        svrlist: None,
        step: None,
    }
}

fn result(id: &str, errcode: u32, message: &str) -> JobResult {
    JobResult {
        id: id.into(),
        errcode,
        message: message.into(),
        hostname: None,
    }
}

pub async fn migrates_twice(ctx: Ctx) {
    ctx.db.migrate().await.unwrap();
    ctx.db.migrate().await.unwrap();
    ctx.db.ping().await.unwrap();
    assert_eq!(Backend::of_url(&ctx.url), Some(ctx.db.backend()));
    let counts = ctx.db.status_counts().await.unwrap();
    assert_eq!(counts.values().sum::<u64>(), 0);
    assert_eq!(counts.len(), 3);
}

pub async fn status_report_registers_and_updates(ctx: Ctx) {
    let db = ctx.db;
    let agents = [
        ("LogAgent", AgentState::Stoped),
        ("BasicAgent", AgentState::Running),
    ];
    let id = db
        .report_status(&report("web-1", None, 600, &agents))
        .await
        .unwrap();
    let host = db.host("web-1").await.unwrap().unwrap();
    assert_eq!(
        (host.id, host.region.as_str(), host.status, host.step),
        (id, "unknown", HostStatus::Online, 600)
    );
    assert_eq!(host.version, "bootagent-1.2.4-x86_64");
    let last_seen = host.last_seen.unwrap();
    assert!(
        (Utc::now() - last_seen).num_seconds().abs() < 5,
        "last_seen {last_seen} is not now (UTC)"
    );
    let names: Vec<_> = host
        .agents
        .iter()
        .map(|a| (a.name.as_str(), a.status))
        .collect();
    assert_eq!(
        names,
        [
            ("BasicAgent", AgentState::Running),
            ("LogAgent", AgentState::Stoped)
        ]
    );
    assert_eq!(host.agents[0].uptime, 99);

    // A second report updates the row in place and replaces the agents; the region sticks.
    let mut again = report(
        "web-1",
        Some("cn-north"),
        300,
        &[("Nodus", AgentState::Killed)],
    );
    again.version = "bootagent-1.3.0-x86_64".into();
    assert_eq!(db.report_status(&again).await.unwrap(), id);
    db.report_status(&report(
        "web-1",
        None,
        300,
        &[("Nodus", AgentState::Killed)],
    ))
    .await
    .unwrap();
    let updated = db.host("web-1").await.unwrap().unwrap();
    assert_eq!((updated.region.as_str(), updated.step), ("cn-north", 300));
    assert_eq!(updated.version, "bootagent-1.2.4-x86_64");
    assert_eq!(updated.gmt_create, host.gmt_create);
    assert!(updated.gmt_modify >= host.gmt_modify);
    let names: Vec<_> = updated
        .agents
        .iter()
        .map(|a| (a.name.as_str(), a.status))
        .collect();
    assert_eq!(names, [("Nodus", AgentState::Killed)]);

    db.report_status(&report("db-1", Some("eu"), 600, &[]))
        .await
        .unwrap();
    let all: Vec<_> = db
        .hosts(None)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.hostname)
        .collect();
    assert_eq!(all, ["db-1", "web-1"]);
    let eu = db.hosts(Some("eu")).await.unwrap();
    assert_eq!(
        (eu.len(), eu[0].hostname.as_str(), eu[0].agents.len()),
        (1, "db-1", 0)
    );
    assert!(db.hosts(Some("nowhere")).await.unwrap().is_empty());
    assert!(db.host("nope").await.unwrap().is_none());
    assert_eq!(db.status_counts().await.unwrap()["online"], 2);
}

pub async fn bad_reports_store_nothing(ctx: Ctx) {
    let db = ctx.db;
    let twice = report(
        "web-1",
        None,
        600,
        &[("A", AgentState::Running), ("A", AgentState::Fatal)],
    );
    assert!(matches!(
        db.report_status(&twice).await,
        Err(DbError::Invalid(_))
    ));
    assert!(matches!(
        db.report_status(&report("", None, 600, &[])).await,
        Err(DbError::Invalid(_))
    ));
    let long = "h".repeat(257);
    assert!(matches!(
        db.report_status(&report(&long, None, 600, &[])).await,
        Err(DbError::Invalid(_))
    ));
    assert!(db.hosts(None).await.unwrap().is_empty());
    // The longest allowed name and non-ASCII names are stored as they are.
    let longest = "é".repeat(256);
    db.report_status(&report(&longest, Some("région"), 600, &[]))
        .await
        .unwrap();
    assert_eq!(db.host(&longest).await.unwrap().unwrap().region, "région");
}

pub async fn jobs_target_hosts_or_region(ctx: Ctx) {
    let db = ctx.db;
    for (host, region) in [("h1", "r1"), ("h2", "r1"), ("h3", "r2")] {
        db.report_status(&report(host, Some(region), 600, &[]))
            .await
            .unwrap();
    }
    let created = db
        .create_job(
            &job("job-1", BootAction::Install),
            &Target::Hosts(vec!["h3".into(), "h1".into()]),
        )
        .await
        .unwrap();
    assert_eq!(created.id, "job-1");
    assert_eq!(created.spec, job("job-1", BootAction::Install));
    let hosts: Vec<_> = created
        .hosts
        .iter()
        .map(|h| (h.hostname.as_str(), h.status, h.handed_out))
        .collect();
    assert_eq!(
        hosts,
        [
            ("h1", HostJobStatus::Pending, 0),
            ("h3", HostJobStatus::Pending, 0)
        ]
    );
    for part in &created.hosts {
        assert_eq!(
            uuid::Uuid::parse_str(&part.id).unwrap().get_version_num(),
            4
        );
        assert!(part.errcode.is_none() && part.message.is_none());
    }
    assert_ne!(created.hosts[0].id, created.hosts[1].id);
    let read = db.job("job-1").await.unwrap().unwrap();
    assert_eq!(read.gmt_create, created.gmt_create);
    assert_eq!(read.spec, created.spec);
    let ids = |view: &Job| {
        view.hosts
            .iter()
            .map(|h| (h.id.clone(), h.gmt_modify))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&read), ids(&created));

    let by_region = db
        .create_job(
            &job("job-2", BootAction::Restart),
            &Target::Region("r1".into()),
        )
        .await
        .unwrap();
    let hosts: Vec<_> = by_region
        .hosts
        .iter()
        .map(|h| h.hostname.as_str())
        .collect();
    assert_eq!(hosts, ["h1", "h2"]);

    // Unknown hosts: every one is named, and nothing is stored.
    let targets = Target::Hosts(vec![
        "h1".into(),
        "ghost".into(),
        "phantom".into(),
        "ghost".into(),
    ]);
    match db
        .create_job(&job("job-3", BootAction::Stop), &targets)
        .await
    {
        Err(DbError::UnknownHosts(names)) => assert_eq!(names, ["ghost", "phantom"]),
        other => panic!("expected UnknownHosts, got {other:?}"),
    }
    assert!(db.job("job-3").await.unwrap().is_none());
    let h1 = db.host("h1").await.unwrap().unwrap().id;
    assert_eq!(db.pending_jobs(h1).await.unwrap().len(), 2);

    let empty_region = db
        .create_job(
            &job("job-4", BootAction::Stop),
            &Target::Region("nowhere".into()),
        )
        .await;
    assert!(
        matches!(empty_region, Err(DbError::UnknownHosts(_))),
        "{empty_region:?}"
    );
    assert!(db.job("job-4").await.unwrap().is_none());
    let no_hosts = db
        .create_job(&job("job-5", BootAction::Stop), &Target::Hosts(vec![]))
        .await;
    assert!(matches!(no_hosts, Err(DbError::Invalid(_))), "{no_hosts:?}");
    let again = db
        .create_job(
            &job("job-1", BootAction::Stop),
            &Target::Hosts(vec!["h2".into()]),
        )
        .await;
    assert!(matches!(again, Err(DbError::Conflict(_))), "{again:?}");
    assert_eq!(db.job("job-1").await.unwrap().unwrap().hosts.len(), 2);
}

pub async fn pending_jobs_until_result(ctx: Ctx) {
    let db = ctx.db;
    let h1 = db
        .report_status(&report("h1", None, 600, &[]))
        .await
        .unwrap();
    let h2 = db
        .report_status(&report("h2", None, 600, &[]))
        .await
        .unwrap();
    let install = db
        .create_job(
            &job("job-a", BootAction::Install),
            &Target::Hosts(vec!["h1".into()]),
        )
        .await
        .unwrap();
    let config = BootJob {
        svrlist: Some("192.168.9.1:1234,".into()),
        step: Some(1200),
        ..job("job-b", BootAction::Config)
    };
    db.create_job(&config, &Target::Hosts(vec!["h1".into()]))
        .await
        .unwrap();
    let (a, b) = (
        install.hosts[0].id.clone(),
        db.job("job-b").await.unwrap().unwrap().hosts[0].id.clone(),
    );

    for round in 1..=2 {
        let pending = db.pending_jobs(h1).await.unwrap();
        let ids: Vec<_> = pending.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, [a.as_str(), b.as_str()], "round {round}");
        assert_eq!(
            pending[0],
            BootJob {
                id: a.clone(),
                ..job("job-a", BootAction::Install)
            }
        );
        assert_eq!(
            (pending[1].action, pending[1].step),
            (BootAction::Config, Some(1200))
        );
        assert_eq!(
            db.job("job-a").await.unwrap().unwrap().hosts[0].handed_out,
            round
        );
    }
    assert!(db.pending_jobs(h2).await.unwrap().is_empty());

    db.store_results(&[result(&a, 0, "success")]).await.unwrap();
    let pending: Vec<_> = db
        .pending_jobs(h1)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(pending, std::slice::from_ref(&b));
    let done = &db.job("job-a").await.unwrap().unwrap().hosts[0];
    assert_eq!(
        (done.status, done.errcode, done.message.as_deref()),
        (HostJobStatus::Done, Some(0), Some("success"))
    );

    db.store_results(&[result(&b, 203, "No such host")])
        .await
        .unwrap();
    assert!(db.pending_jobs(h1).await.unwrap().is_empty());
    let failed = &db.job("job-b").await.unwrap().unwrap().hosts[0];
    assert_eq!(
        (failed.status, failed.errcode),
        (HostJobStatus::Failed, Some(203))
    );
    assert_eq!(failed.handed_out, 3);

    // A re-sent result for a finished job is accepted and changes nothing.
    db.store_results(&[result(&a, 7, "late"), result(&a, 0, "again")])
        .await
        .unwrap();
    let done = &db.job("job-a").await.unwrap().unwrap().hosts[0];
    assert_eq!(
        (done.status, done.errcode, done.message.as_deref()),
        (HostJobStatus::Done, Some(0), Some("success"))
    );
}

pub async fn results_are_all_or_nothing(ctx: Ctx) {
    let db = ctx.db;
    for host in ["h1", "h2"] {
        db.report_status(&report(host, None, 600, &[]))
            .await
            .unwrap();
    }
    let view = db
        .create_job(
            &job("job-a", BootAction::Upgrade),
            &Target::Hosts(vec!["h1".into(), "h2".into()]),
        )
        .await
        .unwrap();
    let (on_h1, on_h2) = (view.hosts[0].id.clone(), view.hosts[1].id.clone());
    let status = |view: Job| view.hosts.iter().map(|h| h.status).collect::<Vec<_>>();

    let mixed = db
        .store_results(&[result(&on_h1, 0, "ok"), result("no-such-id", 0, "ok")])
        .await;
    assert!(
        matches!(&mixed, Err(DbError::UnknownJob(id)) if id == "no-such-id"),
        "{mixed:?}"
    );
    assert_eq!(
        status(db.job("job-a").await.unwrap().unwrap()),
        [HostJobStatus::Pending; 2]
    );

    // A result naming its host must be for a job of that host.
    let wrong_host = JobResult {
        hostname: Some("h2".into()),
        ..result(&on_h1, 0, "ok")
    };
    assert!(matches!(
        db.store_results(&[wrong_host]).await,
        Err(DbError::UnknownJob(_))
    ));
    let right_host = JobResult {
        hostname: Some("h1".into()),
        ..result(&on_h1, 0, "ok")
    };
    db.store_results(&[right_host.clone(), result(&on_h2, 1, "failed\0badly")])
        .await
        .unwrap();
    db.store_results(&[right_host]).await.unwrap();
    assert_eq!(
        status(db.job("job-a").await.unwrap().unwrap()),
        [HostJobStatus::Done, HostJobStatus::Failed]
    );
    db.store_results(&[]).await.unwrap();
}

pub async fn marks_silent_hosts_offline(ctx: Ctx) {
    let db = ctx.db;
    db.report_status(&report("fast", None, 1, &[]))
        .await
        .unwrap();
    db.report_status(&report("slow", None, 600, &[]))
        .await
        .unwrap();
    assert_eq!(db.mark_offline(2).await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_eq!(db.mark_offline(2).await.unwrap(), 1);
    assert_eq!(db.mark_offline(2).await.unwrap(), 0);
    assert_eq!(
        db.host("fast").await.unwrap().unwrap().status,
        HostStatus::Offline
    );
    assert_eq!(
        db.host("slow").await.unwrap().unwrap().status,
        HostStatus::Online
    );
    let counts = db.status_counts().await.unwrap();
    assert_eq!(
        (counts["online"], counts["offline"], counts["unknown"]),
        (1, 1, 0)
    );
    db.report_status(&report("fast", None, 1, &[]))
        .await
        .unwrap();
    assert_eq!(
        db.host("fast").await.unwrap().unwrap().status,
        HostStatus::Online
    );
}
