//! Runs real processes through `bash`.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wire::params::Exec;
use wire::{Resp, retcode};

use super::*;

fn spec(cmd: &str) -> RunSpec {
    RunSpec {
        cmd: cmd.into(),
        timeout: Duration::from_secs(30),
        user: "root".into(),
        group: None,
        env: Vec::new(),
    }
}

fn text(result: &CommandResult) -> &str {
    result.data.as_ref().and_then(|d| d.as_str()).unwrap_or("")
}

/// Members of process group `pgid` that are alive (not zombies), read from /proc.
fn live_members(pgid: i32) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        if fields.first() != Some(&"Z") && fields.get(2) == Some(&pgid.to_string().as_str()) {
            pids.push(pid);
        }
    }
    pids
}

#[tokio::test]
async fn exit_status_and_both_streams_are_reported() {
    let result = run(
        &spec("echo out; echo err >&2; exit 3"),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(result.retcode, retcode::NORMAL_TERMINATION);
    assert_eq!(result.message, "Normal termination");
    assert_eq!(result.resp, Resp::Failed);
    assert_eq!(result.exec.exit_status, Some(3));
    assert_eq!(text(&result), "out\nerr\n");
    assert!(result.exec.duration_ms.is_some());

    let ok = run(&spec("true"), Duration::from_secs(1)).await;
    assert_eq!((ok.resp, ok.exec.exit_status), (Resp::Success, Some(0)));
}

#[tokio::test]
async fn output_past_the_cap_is_counted_not_kept() {
    let result = run(
        &spec("head -c 1048576 /dev/zero | tr '\\0' a"),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(result.exec.exit_status, Some(0));
    assert_eq!(text(&result).len(), OUTPUT_CAP);
    assert!(text(&result).bytes().all(|b| b == b'a'));
    assert!(result.exec.truncated);
    assert_eq!(result.exec.dropped_bytes, 1_048_576 - 65_536);
}

#[tokio::test]
async fn timeout_kills_a_group_that_ignores_term() {
    let pgid = Arc::new(Mutex::new(None));
    let seen = pgid.clone();
    let mut run_spec = spec("trap '' INT TERM; sleep 100 & echo $!; wait; sleep 100");
    run_spec.timeout = Duration::from_secs(1);
    let grace = Duration::from_secs(1);
    let begun = Instant::now();
    let result = run_with(&run_spec, grace, std::future::pending(), move |pid| {
        *seen.lock().unwrap() = Some(pid as i32);
    })
    .await;
    assert!(
        begun.elapsed() < Duration::from_secs(1 + 1 + 5),
        "took {:?}",
        begun.elapsed()
    );
    assert_eq!(result.retcode, retcode::TIMED_OUT);
    assert_eq!(result.message, "Timed out after 1 s");
    assert_eq!(result.exec.signal, Some(libc::SIGKILL));
    let sleep_pid: i32 = text(&result).trim().parse().expect("partial output kept");
    let pgid = pgid.lock().unwrap().expect("pid reported");
    // SIGKILL is delivered asynchronously; allow the kernel a moment.
    let mut left = live_members(pgid);
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        left = live_members(pgid);
    }
    assert!(left.is_empty(), "group {pgid} still has {left:?}");
    assert!(!live_members(pgid).contains(&sleep_pid));
}

#[tokio::test]
async fn a_stop_request_ends_the_command() {
    let result = run_with(
        &spec("sleep 100"),
        Duration::from_secs(1),
        tokio::time::sleep(Duration::from_millis(200)),
        |_| {},
    )
    .await;
    assert_eq!(result.retcode, retcode::KILLED_BY_SIGNAL);
    assert_eq!(result.message, "Stopped on request");
}

#[tokio::test]
async fn a_signal_from_elsewhere_is_reported() {
    let result = run(&spec("kill -9 $$"), Duration::from_secs(1)).await;
    assert_eq!(result.retcode, retcode::KILLED_BY_SIGNAL);
    assert_eq!(result.exec.signal, Some(9));
    assert_eq!(result.message, "Killed by signal 9 (SIGKILL)");
}

#[tokio::test]
async fn a_background_child_holding_the_pipe_does_not_hang_the_run() {
    let begun = Instant::now();
    let result = run(&spec("sleep 100 & echo $!"), Duration::from_secs(1)).await;
    assert!(begun.elapsed() < Duration::from_secs(10));
    assert_eq!(result.exec.exit_status, Some(0));
    let pid: i32 = text(&result).trim().parse().unwrap();
    // SAFETY: test clean-up of the sleep started above.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

#[tokio::test]
async fn runs_as_the_requested_user() {
    let mut as_nobody = spec("id -un; echo $HOME $USER");
    as_nobody.user = "nobody".into();
    let result = run(&as_nobody, Duration::from_secs(1)).await;
    let home = nix::unistd::User::from_name("nobody").unwrap().unwrap().dir;
    assert_eq!(
        text(&result),
        format!("nobody\n{} nobody\n", home.display())
    );
}

/// The groups `/etc/group` gives `user` (primary plus every group listing it).
fn groups_from_etc(user: &str) -> BTreeSet<u32> {
    let primary = nix::unistd::User::from_name(user)
        .unwrap()
        .unwrap()
        .gid
        .as_raw();
    let mut groups = BTreeSet::from([primary]);
    for line in std::fs::read_to_string("/etc/group").unwrap().lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() == 4 && fields[3].split(',').any(|m| m == user) {
            groups.insert(fields[2].parse().unwrap());
        }
    }
    groups
}

#[tokio::test]
async fn supplementary_groups_are_kept() {
    // A user with supplementary groups if this machine has one (e.g. postgres in ssl-cert).
    let etc = std::fs::read_to_string("/etc/group").unwrap();
    let user = etc
        .lines()
        .filter_map(|l| l.split(':').nth(3))
        .flat_map(|m| m.split(','))
        .find(|u| !u.is_empty() && nix::unistd::User::from_name(u).ok().flatten().is_some())
        .unwrap_or("root")
        .to_string();
    let mut as_user = spec("id -G");
    as_user.user = user.clone();
    let result = run(&as_user, Duration::from_secs(1)).await;
    let got: BTreeSet<u32> = text(&result)
        .split_whitespace()
        .map(|g| g.parse().unwrap())
        .collect();
    assert_eq!(got, groups_from_etc(&user), "user {user}: {result:?}");
}

#[tokio::test]
async fn an_explicit_group_is_used() {
    let mut as_group = spec("id -gn");
    as_group.user = "nobody".into();
    as_group.group = Some("root".into());
    let result = run(&as_group, Duration::from_secs(1)).await;
    assert_eq!(text(&result), "root\n");
}

#[test]
fn requests_are_checked() {
    let req = |cmd: &str, timeout: Option<u64>, user: Option<&str>| Exec {
        cmd: cmd.into(),
        timeout,
        user: user.map(Into::into),
        group: None,
    };
    let spec = RunSpec::from_exec(&req("ls", None, None)).unwrap();
    assert_eq!(spec.timeout, Duration::from_secs(DEFAULT_TIMEOUT_SECS));
    assert_eq!((spec.user.as_str(), spec.group), ("root", None));

    let unknown = RunSpec::from_exec(&req("ls", None, Some("no-such-user-x")))
        .unwrap_err()
        .into_result();
    assert_eq!(unknown.retcode, retcode::INVALID_PARAMS);
    assert_eq!(
        unknown.message,
        "Invalid params: no such user `no-such-user-x`"
    );

    for bad in [
        req("", None, None),
        req("  ", None, None),
        req("ls", Some(0), None),
    ] {
        assert_eq!(
            RunSpec::from_exec(&bad).unwrap_err().retcode(),
            retcode::INVALID_PARAMS
        );
    }
}

#[tokio::test]
async fn a_user_that_vanished_is_could_not_start() {
    let mut ghost = spec("true");
    ghost.user = "no-such-user-x".into();
    let result = run(&ghost, Duration::from_secs(1)).await;
    assert_eq!(result.retcode, retcode::NOT_STARTED);
    assert!(
        result.message.contains("no such user"),
        "{}",
        result.message
    );
}
