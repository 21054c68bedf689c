//! The daemon mode: checks on a schedule, never two at once (a tick while a check runs or
//! while another run holds the lock is skipped and logged), a CLI run meanwhile exits 20,
//! the run's priority, and SIGTERM mid-run: a prompt exit 0 with the baseline untouched.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Setup, write};

/// The daemon in the foreground, logging to `log`.
fn start(setup: &Setup, log: &Path) -> Child {
    setup
        .command(&["-f", "-L", log.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits (up to a minute: a bound on a hang, not a speed check) until the log holds `text`.
fn wait_for(log: &Path, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = std::fs::read_to_string(log).unwrap_or_default();
        if now.contains(text) {
            return now;
        }
        assert!(Instant::now() < deadline, "no `{text}` in the log:\n{now}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigterm(child: &Child) {
    // SAFETY: kill on the id of a child this test started and has not reaped.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
}

/// Waits for the child's exit; its code and how long it took.
fn wait_exit(child: &mut Child) -> (Option<i32>, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code(), started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the daemon did not exit within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn add_config(setup: &Setup, text: &str) {
    let mut conf = std::fs::read_to_string(&setup.conf).unwrap();
    conf.push_str(text);
    std::fs::write(&setup.conf, conf).unwrap();
}

#[test]
fn two_ticks_of_a_short_interval_run_two_checks_and_report_them() {
    let setup = Setup::new("/ p+s+sha256\n");
    write(&setup.path("etc/conf"), b"a = 1\n");
    setup.init();
    add_config(&setup, "schedule = \"every 1s\"\n");
    let log = setup.dir.path().join("daemon.log");
    let mut daemon = start(&setup, &log);
    wait_for(&log, "Check #1 finished: exit 0 (no changes)");
    // A change between the ticks is in a later check's report, as the CLI prints it.
    write(&setup.path("etc/conf"), b"a = 2\n");
    let text = wait_for(&log, "exit 4 (changes found)");
    assert!(text.contains("/etc/conf"), "{text}");
    assert!(text.contains("Check #2 "), "{text}");
    assert!(!text.contains("skipped"), "{text}");
    sigterm(&daemon);
    let (code, _) = wait_exit(&mut daemon);
    assert_eq!(code, Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("secureagent stopped."), "{text}");
}

#[test]
fn a_tick_while_another_run_holds_the_lock_is_skipped() {
    let setup = Setup::new("/ p+s+sha256\n");
    write(&setup.path("f"), b"x");
    setup.init();
    add_config(&setup, "schedule = \"every 1s\"\n");
    // This test holds `<db>.lock` as a CLI run would.
    let mut lock_path = setup.db.clone().into_os_string();
    lock_path.push(".lock");
    let lock = std::fs::File::open(&lock_path).unwrap();
    use std::os::fd::AsRawFd as _;
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let log = setup.dir.path().join("daemon.log");
    let mut daemon = start(&setup, &log);
    let text = wait_for(&log, "skipped: another secureagent run holds");
    assert!(!text.contains("finished"), "{text}");
    drop(lock);
    wait_for(&log, "finished: exit 0");
    sigterm(&daemon);
    assert_eq!(wait_exit(&mut daemon).0, Some(0));
}

/// The nice value (field 19) of each thread of `pid`.
fn thread_nices(pid: u32) -> Vec<i32> {
    let mut nices = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap_or_default();
        if let Some((_, rest)) = stat.rsplit_once(')') {
            // Fields from the 3rd (state) on: the nice value is the 19th.
            if let Some(nice) = rest.split_whitespace().nth(16) {
                nices.push(nice.parse().unwrap());
            }
        }
    }
    nices
}

/// The I/O class (`ioprio >> 13`) of each thread of `pid`.
fn thread_io_classes(pid: u32) -> Vec<i64> {
    let mut classes = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let tid: libc::c_int = task.unwrap().file_name().to_str().unwrap().parse().unwrap();
        // SAFETY: ioprio_get reads a thread's I/O priority.
        let prio = unsafe { libc::syscall(libc::SYS_ioprio_get, 1 as libc::c_int, tid) };
        if prio >= 0 {
            classes.push(prio >> 13);
        }
    }
    classes
}

#[test]
fn a_slow_capped_run_is_gentle_never_doubled_and_stops_on_sigterm_with_the_baseline_untouched() {
    let setup = Setup::new("/ p+s+sha256\n");
    write(&setup.path("big"), &vec![5u8; 6 << 20]);
    setup.init();
    let mut digest_path = setup.db.clone().into_os_string();
    digest_path.push(".sha256");
    let before = (
        std::fs::read(&setup.db).unwrap(),
        std::fs::read(&digest_path).unwrap(),
        std::fs::metadata(&setup.db).unwrap().modified().unwrap(),
    );
    // 6 MiB at 1 MiB/s: a check of about 6 s, while ticks come every second.
    add_config(
        &setup,
        "schedule = \"every 1s\"\nmax_read_mib_s = 1\nnice = 15\nio_class = \"idle\"\n",
    );
    let log = setup.dir.path().join("daemon.log");
    let mut daemon = start(&setup, &log);
    wait_for(&log, "Check #1 started");
    let text = wait_for(&log, "is still running (1 skipped so far)");
    assert!(
        text.contains("check #1 started at"),
        "the skip names the running check: {text}"
    );

    // During the run: every thread at the configured nice (or nicer, if this test already
    // runs nicer) and in the idle I/O class.
    let own_nice = thread_nices(std::process::id())[0];
    let nices = thread_nices(daemon.id());
    assert!(nices.len() >= 3, "main, the check, its workers: {nices:?}");
    assert!(nices.iter().all(|n| *n == own_nice.max(15)), "{nices:?}");
    let classes = thread_io_classes(daemon.id());
    assert!(
        !classes.is_empty() && classes.iter().all(|c| *c == 3),
        "{classes:?}"
    );

    // A CLI check meanwhile finds the lock taken.
    let out = setup.run(&["--check"]);
    assert_eq!(out.status.code(), Some(20), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("another secureagent run holds"));

    sigterm(&daemon);
    let (code, took) = wait_exit(&mut daemon);
    assert_eq!(code, Some(0));
    assert!(
        took < Duration::from_secs(3),
        "stopped mid-run in {took:?}, not after the ~6 s check"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("Stopping: check #1"), "{text}");
    assert!(
        !text.contains("finished"),
        "no report of a stopped walk: {text}"
    );
    let after = (
        std::fs::read(&setup.db).unwrap(),
        std::fs::read(&digest_path).unwrap(),
        std::fs::metadata(&setup.db).unwrap().modified().unwrap(),
    );
    assert!(before == after, "the baseline changed");
}
