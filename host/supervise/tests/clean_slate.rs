//! Every program the engine starts gets a clean signal slate (default dispositions, empty
//! mask), whatever the supervisor inherited: here the test process itself ignores SIGINT and
//! SIGHUP (as a shell's background job or `nohup` would) and blocks SIGTERM and SIGUSR1. Its
//! own binary, because dispositions are process-wide.

mod common;

use std::time::{Duration, Instant};

use common::{alive, quick};
use supervise::{State, StopSpec, Supervisor};

/// The hexadecimal signal set of `field` (`SigIgn`, `SigBlk`, `SigCgt`) in /proc/<pid>/status.
fn signal_set(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    u64::from_str_radix(line.trim(), 16).unwrap()
}

fn bit(signal: i32) -> u64 {
    1 << (signal - 1)
}

#[tokio::test(flavor = "current_thread")]
async fn a_program_started_by_a_supervisor_that_ignores_and_blocks_signals_gets_defaults() {
    // SAFETY: plain libc calls on stack values; this binary has only this test.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let me = std::process::id();
    assert_ne!(
        signal_set(me, "SigIgn") & bit(libc::SIGINT),
        0,
        "the test set-up holds"
    );
    let thread_blk = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    assert!(
        !thread_blk.contains("SigBlk:\t0000000000000000"),
        "{thread_blk}"
    );

    let dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::new(dir.path());
    let mut spec = quick("slate", "sleep 1000");
    // Stopped by SIGINT from its stop command: works only if SIGINT is not ignored.
    spec.stop = StopSpec::parse("process:kill -INT $SUPERVISE_PID").unwrap();
    spec.stop_timeout = Duration::from_secs(5);
    let pid = sup.start(spec).await.unwrap().pid.unwrap();
    assert_eq!(
        signal_set(pid, "SigIgn"),
        0,
        "no ignored signal reached the program"
    );
    assert_eq!(
        signal_set(pid, "SigBlk"),
        0,
        "the program's signal mask is empty"
    );
    assert_eq!(signal_set(pid, "SigCgt"), 0, "no handler survives exec");

    let t0 = Instant::now();
    assert_eq!(sup.stop("slate").await.unwrap().state, State::Stopped);
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "SIGINT stopped it, not the SIGKILL after stop_timeout ({:?})",
        t0.elapsed()
    );
    assert!(!alive(pid));
}
