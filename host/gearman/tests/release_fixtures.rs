//! State written by earlier releases still opens: a copy of each saved state directory
//! (`tests/fixtures/release-*/state`, see their READMEs) is upgraded in place by a real agent
//! with every task, cron entry, daemon and unsent result kept and usable; a database from a
//! newer gearman is refused with a clear message.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gearman::agent::{Agent, AgentOptions};
use gearman::bridge::AgentLink;
use gearman::link::Link;
use gearman::store::{Store, migrations};
use serde_json::{Value, json};
use wire::agent::AgentMessage;
use wire::{CommandResult, Resp};

/// The ids of the five tasks in release 0.1's fixture (two async done, one running, two cron).
const FIXTURE_TASKS: [&str; 5] = [
    "33d7907e06ce40d4afff72dac7ba66a4",
    "9c22c26e98c745f1b006814ea0999199",
    "7fa3c389b94c4ffaa4a2c35239a3e21e",
    "f82235444d904699a93b75be5296bc8d",
    "69c630aaa0904d0981f42a419231e6de",
];

fn fixture(release: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/release-{release}/state"))
}

/// A private copy of a fixture's state directory.
fn copy_of(release: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(fixture(release))
        .arg(&state)
        .status()
        .unwrap();
    assert!(ok.success());
    (dir, state)
}

/// Moves every time in the copied 0.1 database so that the old agent seems to have stopped
/// `ago` seconds before now. Without this the fixture ages: the retention the agent applies
/// at start (cron runs kept an hour, async tasks a week) forgets its finished tasks.
fn as_if_stopped(state: &Path, ago: f64) {
    let conn = rusqlite::Connection::open(state.join("gearman.db")).unwrap();
    let newest: f64 = conn
        .query_row(
            "SELECT max(max(started, coalesce(finished, started))) FROM tasks",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let shift = now - ago - newest;
    conn.execute_batch(&format!(
        "UPDATE tasks SET started = started + {shift}, finished = finished + {shift};
         UPDATE outbox SET created = created + {shift};
         UPDATE cron SET created = created + {whole}, last_fire = last_fire + {whole};",
        whole = shift as i64
    ))
    .unwrap();
}

fn count(store: &Store, table: &str) -> i64 {
    store.with_conn(|c| {
        c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    })
}

fn open(state: &Path) -> Arc<Agent> {
    Agent::open(AgentOptions {
        state_dir: state.to_path_buf(),
        plugin_dir: state.join("no-plugins"),
        exe: env!("CARGO_BIN_EXE_gearman").into(),
        kill_grace: Duration::from_millis(500),
        plugins: gearman::plugins::PluginOptions {
            nodus_socket: state.join("no-nodus.sock"),
            nodus_plugin_dir: state.join("nodus-plugins"),
            release_key: None,
            downloads: Default::default(),
        },
    })
    .unwrap()
}

async fn call(agent: &Agent, request: Value) -> CommandResult {
    agent.handle(serde_json::from_value(request).unwrap()).await
}

fn data(result: CommandResult) -> Value {
    assert_eq!(result.resp, Resp::Success, "{result:?}");
    result.data.unwrap()
}

#[test]
fn the_release_0_1_database_upgrades_in_place_with_every_row_kept() {
    let (_dir, state) = copy_of("0.1");
    let db = state.join("gearman.db");
    let before = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(
        migrations::version(&before).unwrap(),
        0,
        "0.1 had no schema version"
    );
    drop(before);
    let store = Store::open(&db).unwrap();
    store.with_conn(|c| assert_eq!(migrations::version(c).unwrap(), migrations::LATEST));
    assert_eq!(count(&store, "tasks"), 5);
    assert_eq!(count(&store, "cron"), 2);
    assert_eq!(count(&store, "daemon"), 2);
    assert_eq!(count(&store, "outbox"), 12);
    let tables: i64 = store.with_conn(|c| {
        c.query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'daemon_run'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    });
    assert_eq!(tables, 0, "the write-only daemon_run mirror is gone");
    drop(store);
    // Opening again is a no-op.
    let store = Store::open(&db).unwrap();
    assert_eq!(count(&store, "outbox"), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_on_the_release_0_1_state_keeps_and_uses_every_row() {
    let (_dir, state) = copy_of("0.1");
    // As in a real upgrade: the old agent stopped a moment ago.
    as_if_stopped(&state, 1.0);
    let agent = open(&state);
    let link = AgentLink(agent.clone());

    // Every unsent result is still what the link sends after its next connect, in order.
    let pending = link.pending(0, 100);
    assert_eq!(pending.len(), 12, "{pending:?}");
    let results = pending
        .iter()
        .filter(|m| matches!(m, AgentMessage::Result { .. }))
        .count();
    assert_eq!(results, 10);
    let first = match &pending[0] {
        AgentMessage::Result { seq, result } => {
            assert_eq!(result.id.as_deref(), Some("a1"));
            *seq
        }
        other => panic!("{other:?}"),
    };
    link.ack(first);
    assert_eq!(
        link.pending(0, 100).len(),
        11,
        "an acknowledged result is gone"
    );

    // Every task is listed; the finished ones keep their output, the one whose runner died
    // with the old agent ends `lost`.
    let tasks = data(call(&agent, json!({"id": "l", "method": "task.list"})).await);
    let tasks = tasks.as_array().unwrap().clone();
    // The every-second cron entry may already have started a new run: look for the five.
    for id in FIXTURE_TASKS {
        assert!(
            tasks.iter().any(|t| t["task_id"] == *id),
            "task {id} of the fixture is listed: {tasks:?}"
        );
    }
    let with_output = tasks
        .iter()
        .find(|t| t["cmd"].as_str().unwrap().starts_with("echo hello fixture"))
        .unwrap();
    let id = with_output["task_id"].as_str().unwrap();
    let view = data(
        call(
            &agent,
            json!({"id": "q", "method": "task.query", "args": id}),
        )
        .await,
    );
    assert_eq!(view["state"], "done");
    assert!(
        view["result"]["data"]
            .as_str()
            .unwrap()
            .contains("hello fixture"),
        "{view}"
    );
    let was_running = tasks.iter().find(|t| t["cmd"] == "sleep 1000").unwrap();
    let id = was_running["task_id"].as_str().unwrap().to_string();
    let begun = Instant::now();
    loop {
        let view = data(
            call(
                &agent,
                json!({"id": "q", "method": "task.query", "args": id}),
            )
            .await,
        );
        if view["state"] != "running" {
            assert_eq!(view["state"], "lost", "{view}");
            break;
        }
        assert!(begun.elapsed() < Duration::from_secs(10), "{view}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Both cron entries are there, and the every-second one still fires.
    let entries = data(call(&agent, json!({"id": "c", "method": "cron.list"})).await);
    assert_eq!(entries.as_array().unwrap().len(), 2, "{entries}");
    let begun = Instant::now();
    loop {
        let runs = link
            .pending(0, 1000)
            .into_iter()
            .filter(|m| matches!(m, AgentMessage::CronRun { run, .. } if run.result.data == Some(json!("tick\n"))))
            .count();
        if runs > 2 {
            break;
        }
        assert!(begun.elapsed() < Duration::from_secs(10), "no new cron run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    call(
        &agent,
        json!({"id": "r", "method": "cron.remove", "args": entries[0]["cron_id"]}),
    )
    .await;
    call(
        &agent,
        json!({"id": "r", "method": "cron.remove", "args": entries[1]["cron_id"]}),
    )
    .await;

    // Both daemons are defined and start from their installed folders.
    let daemons = data(call(&agent, json!({"id": "d", "method": "daemon.list"})).await);
    let names: Vec<&str> = daemons
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    for name in ["alpha", "beta"] {
        let status = data(
            call(
                &agent,
                json!({"id": "s", "method": "daemon.restart", "args": name}),
            )
            .await,
        );
        assert_eq!(status["state"], "running", "{status}");
        let status = data(
            call(
                &agent,
                json!({"id": "x", "method": "daemon.stop", "args": name}),
            )
            .await,
        );
        assert_eq!(status["state"], "stopped", "{status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_stopped_long_ago_forgets_old_finished_tasks_but_not_their_results() {
    let list = |agent: Arc<Agent>| async move {
        let tasks = data(call(&agent, json!({"id": "l", "method": "task.list"})).await);
        let ids: Vec<String> = tasks
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["task_id"].as_str().unwrap().to_string())
            .collect();
        FIXTURE_TASKS.map(|id| ids.iter().any(|i| i == id))
    };
    // Two hours: the cron runs (kept an hour) are gone, the async tasks (kept a week) stay.
    let (_dir, state) = copy_of("0.1");
    as_if_stopped(&state, 2.0 * 3600.0);
    let agent = open(&state);
    assert_eq!(list(agent.clone()).await, [true, true, true, false, false]);
    let results = AgentLink(agent)
        .pending(0, 100)
        .iter()
        .filter(|m| matches!(m, AgentMessage::Result { .. }))
        .count();
    assert_eq!(results, 10, "what the server has not acknowledged is kept");
    // Eight days: only the task that was still running when the agent stopped is left.
    let (_dir, state) = copy_of("0.1");
    as_if_stopped(&state, 8.0 * 86_400.0);
    let agent = open(&state);
    assert_eq!(list(agent).await, [false, false, true, false, false]);
}

#[test]
fn a_database_from_a_newer_gearman_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gearman.db");
    drop(Store::open(&db).unwrap());
    let newer = migrations::LATEST + 1;
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.pragma_update(None, "user_version", newer).unwrap();
    drop(conn);
    let error = match Store::open(&db) {
        Ok(_) => panic!("a newer schema was opened"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        error.contains(&format!("schema version {newer}")) && error.contains("newer gearman"),
        "{error}"
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(migrations::version(&conn).unwrap(), newer, "not touched");
}
