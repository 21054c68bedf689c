//! A task still running when its gearman is killed with `kill -9` and started again is adopted
//! by the new gearman through the process engine (same runner pid, never started twice), and
//! its output and exit status still reach Polaris.

use std::time::{Duration, Instant};

use e2e::fleet::{Gearman, Polaris};
use serde_json::{Value, json};

fn query(polaris: &Polaris, task: &str) -> Value {
    let answer =
        polaris.command(json!({"hosts": ["host-0"], "method": "task.query", "args": task}));
    Polaris::by_host(&answer)["host-0"]["data"].clone()
}

#[test]
fn a_task_running_through_a_kill_9_of_its_agent_is_adopted_and_reports_its_end() {
    let work = tempfile::tempdir().unwrap();
    let polaris = Polaris::start(&work.path().join("polaris"));
    let mut agent = Gearman::start(
        &work.path().join("host-0"),
        "host-0",
        &polaris.agents,
        &polaris.ca,
        "",
    );
    polaris.wait_connected(&["host-0"], Duration::from_secs(30));

    let marker = work.path().join("runs");
    let cmd = format!(
        "echo run >> {}; sleep 4; echo adopted; exit 3",
        marker.display()
    );
    let answer = polaris.command(json!({
        "hosts": ["host-0"], "method": "async.bash", "cmd": cmd, "timeout": 60
    }));
    let entry = &Polaris::by_host(&answer)["host-0"];
    assert_eq!(entry["retcode"], 2, "{entry}");
    let task = entry["data"]["task_id"].as_str().unwrap().to_string();
    let before = query(&polaris, &task);
    assert_eq!(before["state"], "running", "{before}");
    let runner = before["pid"].as_i64().expect("the runner's pid");

    std::thread::sleep(Duration::from_millis(1000));
    agent.kill9();
    agent.restart();
    polaris.wait_connected(&["host-0"], Duration::from_secs(30));

    let adopted = query(&polaris, &task);
    assert_eq!(
        adopted["state"], "running",
        "still running, adopted: {adopted}"
    );
    assert_eq!(adopted["pid"].as_i64(), Some(runner), "the same runner");

    let deadline = Instant::now() + Duration::from_secs(30);
    let done = loop {
        let view = query(&polaris, &task);
        if view["state"] != "running" {
            break view;
        }
        assert!(Instant::now() < deadline, "still running: {view}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["result"]["data"], "adopted\n", "{done}");
    assert_eq!(done["result"]["exit_status"], 3, "{done}");
    let runs = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(
        runs.lines().count(),
        1,
        "run once, not again by the adoption"
    );
}
