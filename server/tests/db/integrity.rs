//! Integrity reports in the database on every backend: the accepted digest follows `init` and
//! `update`; a check with another baseline, or before any `init`, is flagged and stays so;
//! findings are stored with their report, listed and paged by id, acknowledged once (who and
//! when); each host's state.

use polaris::db::integrity::{AckTarget, FindingQuery};
use wire::integrity::{Change, Finding, IntegrityReport, RunKind};

use super::Ctx;

fn digest(c: char) -> String {
    c.to_string().repeat(64)
}

fn report(
    kind: RunKind,
    baseline: char,
    previous: Option<char>,
    paths: &[&str],
) -> IntegrityReport {
    IntegrityReport {
        kind,
        baseline_digest: digest(baseline),
        previous_digest: previous.map(digest),
        started: 1_764_806_400.25,
        duration_s: 1.5,
        entries: 42,
        added: 0,
        removed: 0,
        changed: paths.len() as u64,
        unreadable: 1,
        findings: paths
            .iter()
            .map(|path| Finding {
                path: path.to_string(),
                change: Change::Changed,
                attribute: Some("perm".into()),
                old: Some("-rw-r--r--".into()),
                new: Some("-rwxrwxrwx".into()),
            })
            .collect(),
        findings_dropped: 7,
    }
}

pub async fn baselines_are_judged_and_flags_stay(ctx: Ctx) {
    let db = &ctx.db;
    let stored = db
        .store_integrity_report("web1", &report(RunKind::Check, 'a', None, &[]))
        .await
        .unwrap();
    assert!(!stored.baseline_ok);
    assert_eq!(stored.reason.as_deref(), Some("no accepted baseline"));
    let init = db
        .store_integrity_report("web1", &report(RunKind::Init, 'a', None, &[]))
        .await
        .unwrap();
    assert!(init.baseline_ok && init.id > stored.id);
    // Another host's init is not web1's.
    db.store_integrity_report("web2", &report(RunKind::Init, 'z', None, &[]))
        .await
        .unwrap();
    let ok = db
        .store_integrity_report("web1", &report(RunKind::Check, 'a', None, &["/etc/shadow"]))
        .await
        .unwrap();
    assert!(ok.baseline_ok, "{ok:?}");
    let swapped = db
        .store_integrity_report("web1", &report(RunKind::Check, 'z', None, &["/bin/ls"]))
        .await
        .unwrap();
    assert!(!swapped.baseline_ok);
    // An update from the accepted baseline is ok and moves the accepted digest.
    let update = db
        .store_integrity_report("web1", &report(RunKind::Update, 'b', Some('a'), &[]))
        .await
        .unwrap();
    assert!(update.baseline_ok, "{update:?}");

    let states = db.integrity_states(None).await.unwrap();
    assert_eq!(
        states.iter().map(|s| s.host.as_str()).collect::<Vec<_>>(),
        ["web1", "web2"]
    );
    let web1 = &states[0];
    assert_eq!(web1.accepted_digest, Some(digest('b')));
    assert_eq!(web1.last_check_baseline_ok, Some(true));
    // The update does not hide the two flags before it.
    assert_eq!(web1.unacknowledged_flags, 2);
    assert_eq!(web1.unacknowledged_findings, 2);
    assert_eq!(web1.last_report.id, update.id);
    assert_eq!(web1.last_report.kind, RunKind::Update);
    assert_eq!(web1.last_report.accepted_digest, Some(digest('a')));
    assert_eq!(
        (
            web1.last_report.entries,
            web1.last_report.unreadable,
            web1.last_report.findings_dropped
        ),
        (42, 1, 7)
    );
    assert_eq!(web1.last_report.started, 1_764_806_400.25);
    let web2 = &states[1];
    assert_eq!(web2.last_check_baseline_ok, None);
    assert!(
        db.integrity_states(Some("nobody"))
            .await
            .unwrap()
            .is_empty()
    );
    // A second handle (another replica) sees the same accepted digest.
    let other = polaris::db::Db::connect(&ctx.url).await.unwrap();
    let after = other
        .store_integrity_report("web1", &report(RunKind::Check, 'a', None, &[]))
        .await
        .unwrap();
    assert!(!after.baseline_ok, "the old baseline is no longer accepted");

    // A later --init that writes another baseline compared nothing: flagged, and accepted as
    // an update is; one that writes the accepted baseline again is not flagged.
    let reinit = db
        .store_integrity_report("web1", &report(RunKind::Init, 'c', None, &[]))
        .await
        .unwrap();
    assert!(!reinit.baseline_ok, "{reinit:?}");
    assert!(
        reinit
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("a new --init replaced the accepted baseline")),
        "{reinit:?}"
    );
    let again = db
        .store_integrity_report("web1", &report(RunKind::Init, 'c', None, &[]))
        .await
        .unwrap();
    assert!(again.baseline_ok, "{again:?}");
    let check = db
        .store_integrity_report("web1", &report(RunKind::Check, 'c', None, &[]))
        .await
        .unwrap();
    assert!(check.baseline_ok, "{check:?}");
}

pub async fn findings_page_and_acknowledge_once(ctx: Ctx) {
    let db = &ctx.db;
    db.store_integrity_report("web1", &report(RunKind::Init, 'a', None, &[]))
        .await
        .unwrap();
    let paths: Vec<String> = (0..25).map(|i| format!("/etc/f{i:02}")).collect();
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    let first = db
        .store_integrity_report("web1", &report(RunKind::Check, 'a', None, &refs[..20]))
        .await
        .unwrap();
    let second = db
        .store_integrity_report("web1", &report(RunKind::Check, 'b', None, &refs[20..]))
        .await
        .unwrap();
    db.store_integrity_report("web2", &report(RunKind::Check, 'a', None, &["/other"]))
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = db
            .integrity_findings(&FindingQuery {
                host: Some("web1".into()),
                all: false,
                after,
                limit: 7,
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|f| f.id);
        seen.extend(page.into_iter().map(|f| (f.path, f.report_id)));
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(
        seen.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        paths.iter().collect::<Vec<_>>()
    );
    assert_eq!(seen[0].1, first.id);
    assert_eq!(seen[24].1, second.id);

    let all = db
        .integrity_findings(&FindingQuery {
            host: None,
            all: true,
            after: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 26);
    assert_eq!(all[0].change, Change::Changed);
    assert_eq!(all[0].old.as_deref(), Some("-rw-r--r--"));
    let ids: Vec<i64> = all[..3].iter().map(|f| f.id).collect();
    let done = db
        .acknowledge_integrity(&AckTarget::Findings(ids.clone()), "alice")
        .await
        .unwrap();
    assert_eq!((done.findings, done.reports), (3, 0));
    // Once: a second acknowledgement changes nothing and keeps the first one's name.
    let done = db
        .acknowledge_integrity(&AckTarget::Findings(ids), "mallory")
        .await
        .unwrap();
    assert_eq!(done.findings, 0);
    let done = db
        .acknowledge_integrity(
            &AckTarget::HostUpTo {
                host: "web1".into(),
                report_id: first.id,
            },
            "bob",
        )
        .await
        .unwrap();
    assert_eq!((done.findings, done.reports), (17, 0));
    let open = db
        .integrity_findings(&FindingQuery {
            host: None,
            all: false,
            after: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(
        open.iter().map(|f| f.host.as_str()).collect::<Vec<_>>(),
        ["web1", "web1", "web1", "web1", "web1", "web2"]
    );
    let all = db
        .integrity_findings(&FindingQuery {
            host: Some("web1".into()),
            all: true,
            after: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(
        all[0].acknowledged.as_ref().map(|a| a.0.as_str()),
        Some("alice")
    );
    assert_eq!(
        all[5].acknowledged.as_ref().map(|a| a.0.as_str()),
        Some("bob")
    );
    assert!(all[24].acknowledged.is_none());
    // The flagged second check is acknowledged with its findings.
    let done = db
        .acknowledge_integrity(
            &AckTarget::HostUpTo {
                host: "web1".into(),
                report_id: second.id,
            },
            "bob",
        )
        .await
        .unwrap();
    assert_eq!((done.findings, done.reports), (5, 1));
    let state = db.integrity_states(Some("web1")).await.unwrap();
    assert_eq!(
        (
            state[0].unacknowledged_flags,
            state[0].unacknowledged_findings
        ),
        (0, 0)
    );
    assert_eq!(state[0].last_check_baseline_ok, Some(false));
}

pub async fn realtime_reports_are_judged_never_accepted_and_their_findings_listed(ctx: Ctx) {
    let db = &ctx.db;
    db.store_integrity_report("rt1", &report(RunKind::Init, 'a', None, &[]))
        .await
        .unwrap();
    let realtime = db
        .store_integrity_report(
            "rt1",
            &report(RunKind::Realtime, 'a', None, &["/etc/hosts"]),
        )
        .await
        .unwrap();
    assert!(realtime.baseline_ok, "{realtime:?}");
    // A real-time report from another baseline is flagged like a check, and does not become
    // the accepted baseline.
    let swapped = db
        .store_integrity_report("rt1", &report(RunKind::Realtime, 'z', None, &["/bin/ls"]))
        .await
        .unwrap();
    assert!(!swapped.baseline_ok, "{swapped:?}");
    let check = db
        .store_integrity_report("rt1", &report(RunKind::Check, 'a', None, &[]))
        .await
        .unwrap();
    assert!(check.baseline_ok, "the accepted digest is still the init's");
    let state = db.integrity_states(Some("rt1")).await.unwrap();
    assert_eq!(state[0].accepted_digest, Some(digest('a')));
    assert_eq!(state[0].unacknowledged_flags, 1);
    let findings = db
        .integrity_findings(&FindingQuery {
            host: Some("rt1".into()),
            all: false,
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(
        findings
            .iter()
            .map(|f| (f.path.as_str(), f.kind))
            .collect::<Vec<_>>(),
        [
            ("/etc/hosts", RunKind::Realtime),
            ("/bin/ls", RunKind::Realtime)
        ]
    );
    let done = db
        .acknowledge_integrity(&AckTarget::Findings(vec![findings[0].id]), "ops")
        .await
        .unwrap();
    assert_eq!(done.findings, 1);
    let left = db
        .integrity_findings(&FindingQuery {
            host: Some("rt1".into()),
            all: false,
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].path, "/bin/ls");
}
