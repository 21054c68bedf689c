//! Agent sessions across replicas: what a replica that died had sent is marked lost by the
//! others, and only that.

use std::time::Duration;

use chrono::Utc;
use polaris::db::{HostState, NewCommand, SessionView};
use wire::CommandResult;

use super::Ctx;

fn session(hostname: &str, replica: &str, seen_at: chrono::DateTime<Utc>) -> SessionView {
    SessionView {
        hostname: hostname.into(),
        replica: replica.into(),
        session: format!("{hostname}-{replica}"),
        version: "gearman-test".into(),
        address: "127.0.0.1:1".into(),
        connected_at: seen_at,
        seen_at,
    }
}

pub async fn dead_replicas_sent_jobs_become_lost(ctx: Ctx) {
    let db = &ctx.db;
    let start = Utc::now();
    // Host a's connection is on a replica that went silent an hour ago; b's on a live one.
    db.open_session(&session("a", "dead", start - chrono::Duration::hours(1)))
        .await
        .expect("session a");
    db.open_session(&session("b", "live", start))
        .await
        .expect("session b");
    let hosts = vec!["a".to_string(), "b".to_string()];
    db.create_command(&NewCommand {
        id: "cmd-1",
        method: "sync.bash",
        spec: r#"{"method":"sync.bash","cmd":"sleep 600"}"#,
        hosts: &hosts,
        deadline: start + chrono::Duration::minutes(10),
        max_concurrency: None,
        fresh_after: start - chrono::Duration::hours(2),
    })
    .await
    .expect("create command");
    let sent_a = db.claim("dead", Some("cmd-1"), 10).await.expect("claim a");
    let sent_b = db.claim("live", Some("cmd-1"), 10).await.expect("claim b");
    assert_eq!((sent_a.len(), sent_b.len()), (1, 1));
    let claimed = Utc::now();

    // Nothing is stale yet: a sweep as of before the claims marks nothing.
    assert_eq!(db.sweep_dead_replicas(start).await.expect("sweep"), 0);

    // Later the live replica refreshes its sessions; the dead one cannot.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    db.touch_sessions("live").await.expect("touch");
    let swept = db
        .sweep_dead_replicas(claimed + chrono::Duration::milliseconds(500))
        .await
        .expect("sweep");
    assert_eq!(swept, 1, "only the dead replica's host job is lost");
    let states = |record: polaris::db::CommandRecord| {
        let mut states: Vec<(String, HostState)> = record
            .parts
            .into_iter()
            .map(|(host, part)| (host, part.state))
            .collect();
        states.sort_by(|x, y| x.0.cmp(&y.0));
        states
    };
    let record = db.command("cmd-1").await.expect("read").expect("command");
    assert_eq!(
        states(record),
        vec![("a".into(), HostState::Lost), ("b".into(), HostState::Sent)]
    );

    // The agent reconnected elsewhere and its result arrives late: it replaces `lost`.
    let late = CommandResult::success(serde_json::json!("done")).with_id(sent_a[0].id.clone());
    let stored = db
        .store_command_results(&[("a", &late)])
        .await
        .expect("store");
    assert_eq!(stored, vec![Some("cmd-1".to_string())]);
    let record = db.command("cmd-1").await.expect("read").expect("command");
    assert_eq!(
        states(record),
        vec![("a".into(), HostState::Done), ("b".into(), HostState::Sent)]
    );
}
