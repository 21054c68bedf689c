//! Real runners: the test binary plays `gearman __run-task` through a small wrapper script
//! that runs the ignored test [`runner_entry`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use wire::retcode;

use super::*;

const RUNNER_DIR_ENV: &str = "GEARMAN_TEST_TASK_DIR";

/// The runner when a test starts the test binary through [`test_exe`]; does nothing otherwise.
#[test]
#[ignore = "entry point of the task runner for the other tests"]
fn runner_entry() {
    if let Ok(dir) = std::env::var(RUNNER_DIR_ENV) {
        let _ = shim_main(&[dir]);
        std::process::exit(0);
    }
}

/// An executable in `dir` that behaves like `gearman __run-task <dir>` for these tests.
pub(crate) fn test_exe(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let me = std::env::current_exe().unwrap();
    let script = dir.join("fake-gearman");
    let text = format!(
        "#!/bin/sh\n{RUNNER_DIR_ENV}=\"$2\" exec '{}' tasks::tests::runner_entry --exact --ignored \
         --test-threads=1 >/dev/null\n",
        me.display()
    );
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn spec(cmd: &str) -> RunSpec {
    RunSpec {
        cmd: cmd.into(),
        timeout: Duration::from_secs(60),
        user: "root".into(),
        group: None,
        env: Vec::new(),
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    exe: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let exe = test_exe(dir.path());
        Fixture { dir, exe }
    }

    /// An agent's view of the state directory, as after a (re)start.
    fn open(&self) -> (Arc<Store>, Arc<Tasks>) {
        let store = Store::open(&self.dir.path().join("gearman.db")).unwrap();
        let tasks = Tasks::open(
            store.clone(),
            self.dir.path(),
            self.exe.clone(),
            Duration::from_millis(500),
        )
        .unwrap();
        (store, tasks)
    }
}

/// Waits (up to `limit`) until the task has ended; returns its view.
async fn finished(tasks: &Tasks, id: &str, limit: Duration) -> Value {
    let begun = Instant::now();
    loop {
        let view = tasks.query(id).expect("task exists");
        if view_is_finished(&view) {
            return view;
        }
        assert!(begun.elapsed() < limit, "task {id} still running: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn output(view: &Value) -> &str {
    view["result"]["data"].as_str().unwrap_or("")
}

fn pid_alive(pid: i32) -> bool {
    let pid = pid as u32;
    supervise::procfs::start_time(pid).is_some_and(|start| supervise::procfs::is_alive(pid, start))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_async_task_runs_and_stays_queryable() {
    let fx = Fixture::new();
    let (_store, tasks) = fx.open();
    let id = tasks.start(spec("echo hi; exit 4"), Origin::Async).unwrap();
    let view = finished(&tasks, &id, Duration::from_secs(20)).await;
    assert_eq!(view["state"], "done");
    assert_eq!(view["result"]["retcode"], retcode::NORMAL_TERMINATION);
    assert_eq!(view["result"]["exit_status"], 4);
    assert_eq!(output(&view), "hi\n");
    let list = tasks.list();
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == id.as_str())
        .unwrap();
    assert!(
        listed["result"].get("data").is_none(),
        "list carries no output"
    );
    // The directory is deleted right after the outcome is in the database.
    let folder = fx.dir.path().join("tasks").join(&id);
    let begun = Instant::now();
    while folder.exists() && begun.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!folder.exists());
    drop(tasks);

    let (_store, reopened) = fx.open();
    assert_eq!(output(&reopened.query(&id).unwrap()), "hi\n");
}

#[test]
fn tasks_survive_the_agent_and_are_collected_after_restart() {
    let fx = Fixture::new();
    // The first agent starts two tasks and goes away without waiting for them.
    let first = tokio::runtime::Runtime::new().unwrap();
    let (ended_id, running_id, cron_id) = {
        let _rt = first.enter();
        let (_store, tasks) = fx.open();
        let ended = tasks
            .start(spec("sleep 0.3; echo early"), Origin::Async)
            .unwrap();
        let running = tasks
            .start(spec("sleep 2; echo late; exit 5"), Origin::Async)
            .unwrap();
        let cron = tasks
            .start(
                spec("sleep 1; echo tick"),
                Origin::Cron {
                    cron_id: "c1".into(),
                    scheduled: 1_700_000_000,
                },
            )
            .unwrap();
        (ended, running, cron)
    };
    first.shutdown_background();
    std::thread::sleep(Duration::from_millis(1200));

    let second = tokio::runtime::Runtime::new().unwrap();
    second.block_on(async {
        let (store, tasks) = fx.open();
        // Ended while no agent ran: collected at open.
        let early = tasks.query(&ended_id).unwrap();
        assert_eq!(
            (early["state"].as_str(), output(&early)),
            (Some("done"), "early\n")
        );
        // Still running when this agent started: adopted by the engine, its output and exit
        // status reported all the same.
        let late = finished(&tasks, &running_id, Duration::from_secs(20)).await;
        assert_eq!(
            (late["state"].as_str(), output(&late)),
            (Some("done"), "late\n")
        );
        assert_eq!(late["result"]["exit_status"], 5, "{late}");
        finished(&tasks, &cron_id, Duration::from_secs(20)).await;
        let runs: Vec<CronRun> = store
            .outbox_pending(0, 100)
            .unwrap()
            .into_iter()
            .filter_map(|(_, item)| match item {
                Outgoing::CronRun(run) => Some(run),
                Outgoing::Result(_) => None,
            })
            .collect();
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(
            (runs[0].cron_id.as_str(), runs[0].scheduled),
            ("c1", 1_700_000_000)
        );
        assert_eq!(runs[0].run_id, cron_id);
        assert_eq!(
            runs[0].result.data.as_ref().and_then(Value::as_str),
            Some("tick\n")
        );
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runner_killed_without_a_result_is_lost_and_its_command_stopped() {
    let fx = Fixture::new();
    let (_store, tasks) = fx.open();
    let pidfile = fx.dir.path().join("sleep.pid");
    let cmd = format!("sleep 100 & echo $! > {}; wait", pidfile.display());
    let id = tasks.start(spec(&cmd), Origin::Async).unwrap();
    let begun = Instant::now();
    while !pidfile.exists() || std::fs::read_to_string(&pidfile).unwrap().trim().is_empty() {
        assert!(begun.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sleep_pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let runner = tasks.query(&id).unwrap()["pid"]
        .as_i64()
        .expect("the engine's pid of the runner is recorded") as i32;
    // SAFETY: test: kill -9 of the runner this test started.
    unsafe { libc::kill(runner, libc::SIGKILL) };
    let view = finished(&tasks, &id, Duration::from_secs(20)).await;
    assert_eq!(view["state"], "lost");
    assert_eq!(view["result"]["retcode"], retcode::FAILED);
    assert!(
        view["result"]["message"].as_str().unwrap().contains("lost"),
        "{view}"
    );
    for _ in 0..100 {
        if !pid_alive(sleep_pid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!pid_alive(sleep_pid), "the lost task's command still runs");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_stops_a_task_that_ignores_term() {
    let fx = Fixture::new();
    let (_store, tasks) = fx.open();
    let id = tasks
        .start(
            spec("trap '' INT TERM; echo started; sleep 100"),
            Origin::Async,
        )
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let begun = Instant::now();
    tasks.kill(&id).unwrap();
    // grace 0.5 s + backstop 2 s + generous slack
    let view = finished(&tasks, &id, Duration::from_secs(10)).await;
    assert!(begun.elapsed() < Duration::from_secs(10));
    assert_eq!(view["state"], "killed");
    assert_eq!(view["result"]["retcode"], retcode::KILLED_BY_SIGNAL);
    assert_eq!(view["result"]["message"], "Killed by task.kill");
    assert_eq!(output(&view), "started\n");
    // A finished task cannot be killed again; an unknown one is not found.
    assert_eq!(tasks.kill(&id).unwrap_err().retcode, retcode::FAILED);
    assert_eq!(tasks.kill("nope").unwrap_err().retcode, retcode::NOT_FOUND);
    assert!(tasks.query("nope").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runner_that_cannot_start_is_could_not_start() {
    let fx = Fixture::new();
    let store = Store::open(&fx.dir.path().join("gearman.db")).unwrap();
    let tasks = Tasks::open(
        store,
        fx.dir.path(),
        fx.dir.path().join("no-such-exe"),
        Duration::from_millis(500),
    )
    .unwrap();
    let err = tasks.start(spec("true"), Origin::Async).unwrap_err();
    assert_eq!(err.retcode, retcode::NOT_STARTED);
    assert_eq!(tasks.list(), Value::Array(Vec::new()));
}

#[tokio::test(flavor = "multi_thread")]
async fn task_folders_and_files_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let fx = Fixture::new();
    let (_store, tasks) = fx.open();
    let id = tasks
        .start(spec("echo secret; sleep 1"), Origin::Async)
        .unwrap();
    let dir = fx.dir.path().join("tasks").join(&id);
    assert_eq!(mode(&fx.dir.path().join("tasks")), 0o700);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(SPEC_FILE)), 0o600);
    assert_eq!(mode(&dir.join(LOG_FILE)), 0o600);
    let view = finished(&tasks, &id, Duration::from_secs(20)).await;
    assert_eq!(output(&view), "secret\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_command_starts_with_default_signal_dispositions() {
    // As under `nohup` or a shell's background job: this process ignores INT and HUP (harmless
    // to the other tests of this binary, whose children get a clean slate anyway).
    // SAFETY: signal(2) with SIG_IGN; no handler runs.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    let fx = Fixture::new();
    let (_store, tasks) = fx.open();
    let id = tasks
        .start(
            spec("grep -E '^Sig(Blk|Ign)' /proc/self/status"),
            Origin::Async,
        )
        .unwrap();
    let view = finished(&tasks, &id, Duration::from_secs(20)).await;
    assert_eq!(
        output(&view),
        "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
        "{view}"
    );
}
