//! The supervisord scenario under our supervisor, with real processes: a sleeper runs, a
//! crasher ends fatal after its retries and comes back after the cool-down, a program that
//! ignores SIGTERM is dead within stop_timeout + 0.5 s; plus precheck, check and restart.

mod common;

use std::time::{Duration, Instant};

use common::{alive, quick, wait_for};
use supervise::{AgentState, CheckSpec, State, StopSpec, Supervisor};

#[tokio::test]
async fn a_sleeper_reaches_running_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::new(dir.path());
    let status = sup.start(quick("sleeper", "sleep 1000")).await.unwrap();
    assert_eq!(status.state, State::Running);
    assert_eq!(status.seed_status, AgentState::Running);
    let pid = status.pid.unwrap();
    assert!(alive(pid));
    // Detached: it leads its own session and process group.
    assert_eq!(supervise::procfs::pgid(pid), Some(pid));

    let stopped = sup.stop("sleeper").await.unwrap();
    assert_eq!(stopped.state, State::Stopped);
    assert_eq!(stopped.seed_status, AgentState::Stoped);
    assert!(!alive(pid));
}

#[tokio::test]
async fn a_crasher_backs_off_ends_fatal_then_retries_after_the_cooldown() {
    let dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::new(dir.path());
    let mut spec = quick("crasher", "echo crashing >&2; exit 3");
    spec.max_retries = 2;
    spec.fatal_cooldown = Duration::from_secs(2);
    let first = sup.start(spec).await.unwrap();
    assert_eq!(first.state, State::Backoff);
    assert!(first.last_error.unwrap().contains("exit status: 3"));

    let (fatal, seen) = wait_for(&sup, "crasher", 20, |s| s.state == State::Fatal).await;
    assert_eq!(fatal.seed_status, AgentState::Fatal);
    assert_eq!(fatal.retries, 2);
    assert!(seen.contains(&State::Backoff), "{seen:?}");
    // Not for ever: after the cool-down it starts again (and fails again).
    let (_, after) = wait_for(&sup, "crasher", 10, |s| s.state != State::Fatal).await;
    assert!(
        matches!(after.last(), Some(State::Starting | State::Backoff)),
        "{after:?}"
    );
}

#[tokio::test]
async fn a_program_ignoring_sigterm_is_dead_within_stop_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::new(dir.path());
    let mut spec = quick("stubborn", "trap '' TERM; sleep 1000 & wait");
    spec.stop = StopSpec::parse("kill:TERM").unwrap();
    spec.stop_timeout = Duration::from_secs(2);
    let status = sup.start(spec).await.unwrap();
    assert_eq!(status.state, State::Running);
    let pid = status.pid.unwrap();
    let members = supervise::procfs::tree_pids(pid);
    assert!(members.len() >= 2, "the shell and its sleep: {members:?}");

    let t0 = Instant::now();
    let stopped = sup.stop("stubborn").await.unwrap();
    let took = t0.elapsed();
    assert_eq!(stopped.state, State::Stopped);
    // The seed's bound, with slack: stop_timeout + 0.5 s.
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    for p in members {
        assert!(!alive(p), "pid {p} of the group survived");
    }
}

#[tokio::test]
async fn a_stop_command_runs_with_the_pid() {
    let dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::new(dir.path());
    let mut spec = quick("polite", "sleep 1000");
    spec.stop = StopSpec::parse("process:kill -INT $SUPERVISE_PID").unwrap();
    let pid = sup.start(spec).await.unwrap().pid.unwrap();
    let t0 = Instant::now();
    assert_eq!(sup.stop("polite").await.unwrap().state, State::Stopped);
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "stopped by the command, not the kill"
    );
    assert!(!alive(pid));
}

#[tokio::test]
async fn a_failing_precheck_is_retried_and_blocks_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::new(dir.path());
    let marker = dir.path().join("attempts");
    let mut spec = quick("guarded", "sleep 1000");
    spec.precheck = Some(format!("echo x >> {}; exit 1", marker.display()));
    spec.precheck_retries = 2;
    spec.max_retries = 0;
    let status = sup.start(spec).await.unwrap();
    assert_eq!(status.state, State::Fatal);
    assert!(status.last_error.unwrap().contains("precheck"));
    assert_eq!(std::fs::read_to_string(&marker).unwrap().lines().count(), 3);
}

#[tokio::test]
async fn a_failing_check_restarts_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::new(dir.path());
    let flag = dir.path().join("healthy");
    std::fs::write(&flag, "").unwrap();
    let mut spec = quick("checked", "sleep 1000");
    spec.check = CheckSpec::Command(format!("test -e {}", flag.display()));
    let first = sup.start(spec).await.unwrap();
    assert_eq!(first.state, State::Running);
    std::fs::remove_file(&flag).unwrap();
    let (failed, _) = wait_for(&sup, "checked", 10, |s| s.state == State::Backoff).await;
    assert!(failed.last_error.unwrap().contains("check"));
    assert!(
        !alive(first.pid.unwrap()),
        "the unhealthy process was killed"
    );
    std::fs::write(&flag, "").unwrap();
    let (again, _) = wait_for(&sup, "checked", 10, |s| s.state == State::Running).await;
    assert_ne!(again.pid, first.pid);
    sup.remove("checked").await.unwrap();
    assert!(sup.status("checked").is_none());
}

#[tokio::test]
async fn socket_check_and_restart_give_a_new_process() {
    let dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::new(dir.path());
    let sock = dir.path().join("p.sock");
    let mut spec = quick(
        "listener",
        &format!(
            "exec /usr/bin/python3 -c \"import socket,time; s=socket.socket(socket.AF_UNIX); s.bind('{0}'); s.listen(); time.sleep(1000)\"",
            sock.display()
        ),
    );
    spec.start_delay = Duration::from_secs(1);
    spec.precheck = Some(format!("rm -f {}", sock.display()));
    spec.check = CheckSpec::Socket(sock.clone());
    let first = sup.start(spec).await.unwrap();
    assert_eq!(first.state, State::Running, "{first:?}");
    let second = sup.restart("listener").await.unwrap();
    assert_eq!(second.state, State::Running);
    assert_ne!(second.pid, first.pid);
    assert!(!alive(first.pid.unwrap()));
    sup.stop("listener").await.unwrap();
}

#[tokio::test]
async fn a_program_runs_as_its_user_with_supplementary_groups_and_env() {
    // postgres is in ssl-cert on this kind of machine; nobody has no extra group.
    let user = if std::process::Command::new("id")
        .arg("postgres")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        "postgres"
    } else {
        "nobody"
    };
    let expected = String::from_utf8(
        std::process::Command::new("id")
            .args(["-G", user])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::new(dir.path());
    let mut spec = quick("as-user", "sleep 1000");
    spec.user = Some(user.into());
    spec.env.insert("GREETING".into(), "hello".into());
    let pid = sup.start(spec).await.unwrap().pid.unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap()
            .split_whitespace()
            .skip(1)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let uid = String::from_utf8(
        std::process::Command::new("id")
            .args(["-u", user])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(line("Uid:")[0], uid.trim());
    let mut groups = line("Groups:");
    let mut want: Vec<String> = expected.split_whitespace().map(str::to_string).collect();
    groups.sort();
    want.sort();
    assert_eq!(groups, want);
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(environ.split(|b| *b == 0).any(|kv| kv == b"GREETING=hello"));
    // A clean environment: nothing of this test process's (CARGO_*, RUST_*, ...) gets through.
    let allowed = [
        "PATH", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME", "HOME", "PWD", "GREETING",
    ];
    for kv in environ.split(|b| *b == 0).filter(|kv| !kv.is_empty()) {
        let text = String::from_utf8_lossy(kv);
        let key = text.split('=').next().unwrap_or_default();
        assert!(allowed.contains(&key), "inherited: {text}");
    }
    let path = format!("PATH={}", supervise::CLEAN_PATH);
    assert!(environ.split(|b| *b == 0).any(|kv| kv == path.as_bytes()));
    sup.stop("as-user").await.unwrap();
}
