//! Shutdown: when its shutdown future resolves, `app::serve` stops the background loops
//! (sweeper, dispatcher, session keeper) and returns only once they have ended, so no
//! background query runs after it. Seen from the database: while serving, a silent host goes
//! offline and a session of this replica is refreshed; after `serve` returned, neither happens.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{Scratch, Tls};
use polaris::db::{Backend, Db, HostStatus, SessionView};
use wire::boot::StatusReport;

const REPLICA: &str = "shutdown-test";

/// A BootAgent report of `hostname` with a 1 s step: offline after 1 s of silence here.
fn report(hostname: &str) -> StatusReport {
    serde_json::from_value(serde_json::json!({
        "hostname": hostname, "version": "1.0", "uptime": 1, "timestamp": 0, "step": 1
    }))
    .unwrap()
}

/// A session of this replica for `hostname`, last seen an hour ago.
fn old_session(hostname: &str) -> SessionView {
    let old = polaris::db::now() - chrono::Duration::hours(1);
    SessionView {
        hostname: hostname.into(),
        replica: REPLICA.into(),
        session: "s1".into(),
        version: "1.0".into(),
        address: "127.0.0.1:1".into(),
        connected_at: old,
        seen_at: old,
    }
}

async fn status(db: &Db, hostname: &str) -> HostStatus {
    db.host(hostname).await.unwrap().unwrap().status
}

async fn seen_at(db: &Db, hostname: &str) -> chrono::DateTime<Utc> {
    let long_ago = Utc::now() - chrono::Duration::days(1);
    let sessions = db.sessions(long_ago).await.unwrap();
    sessions
        .into_iter()
        .find(|s| s.hostname == hostname)
        .unwrap()
        .seen_at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_end_before_serve_returns() {
    let scratch = Scratch::new(Backend::Sqlite).await.unwrap();
    let tls = Tls::new();
    let text = format!(
        "admin_token = \"shutdown-admin-token-0123456789\"\ndatabase = {:?}\n\
         offline_after_steps = 1\n{}[agents]\nheartbeat = 1\nreplica = {REPLICA:?}\n",
        scratch.url,
        tls.section()
    );
    let config: polaris::config::Config = toml::from_str(&text).unwrap();
    config.check().unwrap();
    let state = polaris::app::state(config).await.unwrap();
    let db = state.db.clone();
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let agents = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(polaris::app::serve(http, Some(agents), state, async {
        let _ = stopped.await;
    }));

    // Serving: the sweeper marks a silent host offline, the keeper refreshes a session.
    tokio::time::sleep(Duration::from_millis(300)).await;
    db.report_status(&report("before")).await.unwrap();
    db.open_session(&old_session("kept")).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while status(&db, "before").await != HostStatus::Offline
        || seen_at(&db, "kept").await < Utc::now() - chrono::Duration::minutes(1)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the loops run while serving"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Shut down: serve returns, with every loop ended.
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("serve returns after shutdown")
        .unwrap()
        .unwrap();
    db.report_status(&report("after")).await.unwrap();
    db.open_session(&old_session("kept")).await.unwrap();
    let before = seen_at(&db, "kept").await;
    // Three sweeper ticks and three keeper periods.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        status(&db, "after").await,
        HostStatus::Online,
        "no sweep after shutdown"
    );
    assert_eq!(
        seen_at(&db, "kept").await,
        before,
        "no session refresh after shutdown"
    );
    scratch.remove().await;
}
