//! One-shot programs (`Kind::Once`, what gearman's tasks and cron runs are): run once, their
//! exit recorded, never restarted, adopted by a new supervisor while they run, and nothing
//! they leave behind survives their end.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{alive, wait_for};
use supervise::{Kind, ProgramSpec, State, Supervisor};

fn once(name: &str, start: &str) -> ProgramSpec {
    let mut spec = ProgramSpec::new(name, start);
    spec.kind = Kind::Once;
    spec.stop_timeout = Duration::from_secs(2);
    spec
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[tokio::test]
async fn a_one_shot_program_runs_once_and_its_exit_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::new(&dir.path().join("run"));
    let marker = dir.path().join("runs");
    sup.launch(once(
        "job",
        &format!("echo run >> {}; exit 7", marker.display()),
    ))
    .unwrap();
    let (status, seen) = wait_for(&sup, "job", 10, |s| s.state == State::Finished).await;
    assert_eq!(status.exit.and_then(|e| e.code), Some(7), "{status:?}");
    assert!(!seen.contains(&State::Backoff), "{seen:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sup.status("job").unwrap().state,
        State::Finished,
        "never restarted"
    );
    // Starting it again is refused (logged): it stays finished and does not run.
    let again = sup
        .start(once("job", &format!("echo run >> {}", marker.display())))
        .await
        .unwrap();
    assert_eq!(again.state, State::Finished);
    assert!(sup.launch(once("job", "true")).is_err(), "a name runs once");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(lines(&marker), 1);
    sup.forget("job").unwrap();
    assert!(sup.status("job").is_none());
    assert!(sup.run_states().is_empty(), "its run-state file is gone");
}

#[tokio::test]
async fn a_one_shot_program_outlives_its_supervisor_and_is_adopted_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let marker = dir.path().join("runs");
    let pid = {
        let sup = Supervisor::new(&run);
        sup.launch(once(
            "long",
            &format!("sleep 1; echo run >> {}", marker.display()),
        ))
        .unwrap();
        let (status, _) = wait_for(&sup, "long", 10, |s| s.state == State::Running).await;
        status.pid.unwrap()
    };
    // A new supervisor (gearman restarted) adopts it by pid and start time.
    let sup = Supervisor::new(&run);
    let recovered = sup.recover();
    assert_eq!(recovered.len(), 1);
    assert_eq!(
        (recovered[0].state, recovered[0].pid),
        (State::Running, Some(pid))
    );
    let (status, _) = wait_for(&sup, "long", 10, |s| s.state == State::Finished).await;
    assert!(
        status.exit.is_none(),
        "not our child: its status is unknown"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(lines(&marker), 1, "ran once, not restarted by the adoption");
    // A third supervisor finds it finished and leaves it so.
    drop(sup);
    let sup = Supervisor::new(&run);
    assert_eq!(sup.recover()[0].state, State::Finished);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(lines(&marker), 1);
}

#[tokio::test]
async fn a_stopped_one_shot_program_finishes_and_leaves_nothing_running() {
    let dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::new(&dir.path().join("run"));
    let pidfile = dir.path().join("child.pid");
    // The background sleep is in its own process group, as a task's command is.
    sup.launch(once(
        "stoppable",
        &format!("set -m; sleep 100 & echo $! > {}; wait", pidfile.display()),
    ))
    .unwrap();
    let mut child = None;
    for _ in 0..200 {
        if let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        {
            child = Some(pid);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let child = child.expect("the program started its child");
    assert!(alive(child));
    let status = sup.stop("stoppable").await.unwrap();
    assert_eq!(status.state, State::Finished, "{status:?}");
    for _ in 0..100 {
        if !alive(child) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!alive(child), "what it left in its session was killed");
}

#[tokio::test]
async fn a_one_shot_program_that_exits_0_keeps_its_background_child() {
    let dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::new(&dir.path().join("run"));
    let pidfile = dir.path().join("child.pid");
    sup.launch(once(
        "leaves-one",
        &format!(
            "sleep 100 >/dev/null 2>&1 & echo $! > {}",
            pidfile.display()
        ),
    ))
    .unwrap();
    let (status, _) = wait_for(&sup, "leaves-one", 10, |s| s.state == State::Finished).await;
    assert_eq!(status.exit.and_then(|e| e.code), Some(0));
    let child: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        alive(child),
        "a deliberate background child is left running"
    );
    // SAFETY: test: kill(2) of the child this test's program started.
    unsafe { libc::kill(child as i32, libc::SIGKILL) };
}
