//! Real time with the real binary as a daemon: a chmod, a content change, a new file, a
//! removed file and a new folder in a real-time tree are in the log within seconds (polled, no
//! timed assertion), by inotify and by fanotify; a change outside the real-time trees waits
//! for the scheduled check; the baseline is never written; a tree over the watch limit falls
//! back to the scheduled check, said in the log (our `realtime_max_watches`, and the kernel's
//! limit lowered in a user namespace); a lost event queue (the daemon stopped while events pile
//! up) makes the tree checked whole.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Setup, write};

fn start(setup: &Setup, log: &Path) -> Child {
    setup
        .command(&["-f", "-L", log.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits (up to a minute: a bound on a hang, not a speed check) until `test` holds for the
/// log; returns it.
fn wait_until(log: &Path, what: &str, test: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = std::fs::read_to_string(log).unwrap_or_default();
        if test(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "no {what} in the log:\n{now}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for(log: &Path, text: &str) -> String {
    wait_until(log, text, |l| l.contains(text))
}

/// The log from the first real-time report on (what real time reported).
fn realtime_part(log: &str) -> &str {
    log.find("Real-time check").map_or("", |i| &log[i..])
}

/// Waits until a real-time report lists `path` (an AIDE-like line `<summary>: <path>`).
fn wait_reported(log: &Path, path: &str) -> String {
    let line = format!(": {path}\n");
    wait_until(log, &format!("real-time report of {path}"), |l| {
        realtime_part(l).contains(&line)
    })
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill on the id of a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
}

fn stop(mut daemon: Child) {
    signal(&daemon, libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0));
            return;
        }
        if Instant::now() > deadline {
            let _ = daemon.kill();
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

/// A tree with a real-time part `/rt` and a part `/other` that is not.
fn setup() -> Setup {
    let setup = Setup::new("/ p+u+g+s+m+sha256\n/var/log/app.log p+u+g+S+sha256\n");
    for name in [
        "rt/chmod",
        "rt/content",
        "rt/gone",
        "rt/deep/er/f",
        "other/f",
    ] {
        write(&setup.path(name), name.as_bytes());
    }
    write(&setup.path("var/log/app.log"), b"line 1\n");
    setup.init();
    setup
}

fn baseline_bytes(setup: &Setup) -> Vec<u8> {
    std::fs::read(&setup.db).unwrap()
}

fn changes_are_seen_within_seconds(mode: &str) {
    let setup = setup();
    let before = baseline_bytes(&setup);
    add_config(
        &setup,
        &format!(
            "schedule = \"every 1h\"\nrealtime = [\"/rt\", \"/var/log\"]\nrealtime_mode = \"{mode}\"\n"
        ),
    );
    let log = setup.dir.path().join("daemon.log");
    let daemon = start(&setup, &log);
    let text = wait_for(&log, "Real time: watching");
    assert!(text.contains(&format!("by {mode}.")), "{text}");

    // Outside the real-time trees first: only the scheduled check (in an hour) would see it.
    write(&setup.path("other/f"), b"changed");
    std::fs::set_permissions(
        setup.path("rt/chmod"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let text = wait_reported(&log, "/rt/chmod");
    assert!(text.contains("-rw-------"), "the new permissions: {text}");
    write(&setup.path("rt/content"), b"new content");
    let text = wait_reported(&log, "/rt/content");
    assert!(text.contains("SHA256"), "{text}");
    write(&setup.path("rt/new"), b"new");
    wait_reported(&log, "/rt/new");
    std::fs::remove_file(setup.path("rt/gone")).unwrap();
    wait_reported(&log, "/rt/gone");
    // A new folder with a file in it, and a folder moved out of the tree (its file removed).
    write(&setup.path("rt/newdir/inner"), b"x");
    wait_reported(&log, "/rt/newdir/inner");
    std::fs::rename(setup.path("rt/deep"), setup.path("other/deep")).unwrap();
    wait_reported(&log, "/rt/deep/er/f");
    // A growing log is not flagged while it grows; a truncated one is.
    {
        use std::io::Write as _;
        let mut app = std::fs::OpenOptions::new()
            .append(true)
            .open(setup.path("var/log/app.log"))
            .unwrap();
        for i in 2..200 {
            app.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
    }
    write(&setup.path("rt/marker"), b"after the log grew");
    let text = wait_reported(&log, "/rt/marker");
    assert!(
        !realtime_part(&text).contains(": /var/log/app.log\n"),
        "a growing log flagged: {text}"
    );
    write(&setup.path("var/log/app.log"), b"li");
    wait_reported(&log, "/var/log/app.log");

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains("/other/f"),
        "a path outside the real-time trees was reported before the scheduled check: {text}"
    );
    // Each change reported once, not at each event.
    assert_eq!(
        realtime_part(&text).matches("File: /rt/chmod\n").count(),
        1,
        "{text}"
    );
    stop(daemon);
    assert!(
        baseline_bytes(&setup) == before,
        "real time changed the baseline"
    );
    // The scheduled check (here the CLI's) still sees everything, /other/f too.
    let (report, code) = setup.check();
    assert_eq!(code & 4, 4);
    assert!(common::paths(&report, "changed").contains(&"/other/f".to_string()));
}

#[test]
fn inotify_reports_changes_in_realtime_trees_only_and_never_writes_the_baseline() {
    changes_are_seen_within_seconds("inotify");
}

/// fanotify with FAN_REPORT_DFID_NAME needs CAP_SYS_ADMIN and Linux >= 5.9; the tests run as
/// root here. Elsewhere they say why they cannot run, rather than pass without trying.
fn fanotify_available() -> bool {
    let flags = libc::FAN_CLASS_NOTIF | libc::FAN_REPORT_DFID_NAME;
    // SAFETY: a probe; the descriptor is closed at once.
    let fd = unsafe { libc::fanotify_init(flags, libc::O_RDONLY as libc::c_uint) };
    if fd < 0 {
        eprintln!(
            "fanotify not available here ({}): test not run",
            std::io::Error::last_os_error()
        );
        return false;
    }
    // SAFETY: closes the probe's descriptor.
    unsafe { libc::close(fd) };
    true
}

#[test]
fn fanotify_reports_the_same_changes() {
    if fanotify_available() {
        changes_are_seen_within_seconds("fanotify");
    }
}

#[test]
fn a_tree_over_the_watch_limit_falls_back_to_the_scheduled_check_and_says_so() {
    let setup = Setup::new("/ p+s+sha256\n");
    write(&setup.path("small/f"), b"1");
    for dir in ["big/a/f", "big/b/f", "big/c/f"] {
        write(&setup.path(dir), b"1");
    }
    setup.init();
    // /small needs one watch, /big four: the limit of 3 leaves /big out.
    add_config(
        &setup,
        "schedule = \"every 1h\"\nrealtime = [\"/small\", \"/big\"]\nrealtime_mode = \"inotify\"\nrealtime_max_watches = 3\n",
    );
    let log = setup.dir.path().join("daemon.log");
    let daemon = start(&setup, &log);
    let text = wait_for(&log, "Real time: watching");
    assert!(
        text.contains("big is NOT watched: realtime_max_watches = 3 reached"),
        "{text}"
    );
    assert!(
        text.contains("the kernel's limits: fs.inotify.max_user_watches = "),
        "{text}"
    );
    write(&setup.path("big/a/f"), b"2");
    write(&setup.path("small/f"), b"2");
    let text = wait_reported(&log, "/small/f");
    assert!(!text.contains("/big/a/f"), "{text}");
    stop(daemon);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("big was not watched"), "{text}");
}

#[test]
fn the_kernels_watch_limit_makes_a_tree_fall_back_and_says_so() {
    // The kernel's own limit (ENOSPC from inotify_add_watch), lowered to 3 for a user
    // namespace of the daemon's own (`unshare -Ur`), so the machine's limit is left alone.
    let probe = std::process::Command::new("unshare")
        .args([
            "-Ur",
            "sh",
            "-c",
            "echo 3 > /proc/sys/user/max_inotify_watches",
        ])
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("no user namespace with its own inotify limit here ({probe:?}): test not run");
        return;
    }
    let setup = Setup::new("/ p+s+sha256\n");
    write(&setup.path("small/f"), b"1");
    for dir in ["big/a/f", "big/b/f", "big/c/f"] {
        write(&setup.path(dir), b"1");
    }
    setup.init();
    add_config(
        &setup,
        "schedule = \"every 1h\"\nrealtime = [\"/small\", \"/big\"]\nrealtime_mode = \"inotify\"\n",
    );
    let log = setup.dir.path().join("daemon.log");
    // `sh` execs the daemon: the child's id is the daemon's.
    let daemon = std::process::Command::new("unshare")
        .args(["-Ur", "sh", "-c"])
        .arg(format!(
            "echo 3 > /proc/sys/user/max_inotify_watches && exec {:?} -C {:?} -f -L {:?}",
            env!("CARGO_BIN_EXE_secureagent"),
            setup.conf,
            log
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let text = wait_for(&log, "Real time: watching");
    assert!(
        text.contains(
            "big is NOT watched: the kernel's watch limit (fs.inotify.max_user_watches = "
        ),
        "{text}"
    );
    assert!(
        text.contains("user.max_inotify_watches = 3) reached with 3 watches"),
        "{text}"
    );
    write(&setup.path("big/a/f"), b"2");
    write(&setup.path("small/f"), b"2");
    let text = wait_reported(&log, "/small/f");
    assert!(!text.contains("/big/a/f"), "{text}");
    stop(daemon);
}

#[test]
fn a_lost_inotify_queue_makes_the_tree_checked_whole() {
    a_lost_event_queue_makes_the_tree_checked_whole("inotify");
}

#[test]
fn a_lost_fanotify_queue_makes_the_tree_checked_whole() {
    if !fanotify_available() {
        return;
    }
    a_lost_event_queue_makes_the_tree_checked_whole("fanotify");
}

fn a_lost_event_queue_makes_the_tree_checked_whole(mode: &str) {
    let setup = Setup::new("/ p+s+sha256\n");
    write(&setup.path("rt/keep"), b"1");
    setup.init();
    add_config(
        &setup,
        &format!("schedule = \"every 1h\"\nrealtime = [\"/rt\"]\nrealtime_mode = \"{mode}\"\n"),
    );
    let log = setup.dir.path().join("daemon.log");
    let daemon = start(&setup, &log);
    wait_for(&log, "Real time: watching");
    // The daemon stopped (as a loaded host may stall it) while more events come than the
    // kernel queues (fs.inotify.max_queued_events, 16384 by default; fanotify's is 16384):
    // at least one per new file (fanotify may merge a file's create and close).
    let queued: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16384);
    let files = queued.max(16384) + 1000;
    signal(&daemon, libc::SIGSTOP);
    std::fs::create_dir(setup.path("rt/many")).unwrap();
    for i in 0..files {
        std::fs::File::create(setup.path(&format!("rt/f{i:06}"))).unwrap();
    }
    // A change no event will tell of after the overflow: the whole-tree check finds it.
    signal(&daemon, libc::SIGCONT);
    let text = wait_for(&log, "queue overflowed");
    assert!(
        text.contains("every watched tree is checked whole"),
        "{text}"
    );
    let last = format!("/rt/f{:06}", files - 1);
    let text = wait_reported(&log, &last);
    assert!(
        text.contains(&format!("Added entries:\t\t{}", files + 1)),
        "every new file and the new folder, once: {}",
        &text[text.len().saturating_sub(3000)..]
    );
    stop(daemon);
}

#[test]
fn a_realtime_tree_outside_the_rules_is_a_configuration_error_naming_it() {
    let setup = Setup::new("/etc p+sha256\n!/etc/skip\n");
    add_config(&setup, "realtime = [\"/etc\", \"/usr/bin\"]\n");
    let out = setup.run(&["-t"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Failed!!!"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("realtime tree `/usr/bin`"), "{err}");
    for (trees, ok) in [
        ("[\"/etc\"]", true),
        ("[\"/etc/skip/x\"]", false),
        ("[\"/\"]", true),
    ] {
        let setup = Setup::new("/etc p+sha256\n!/etc/skip\n");
        add_config(&setup, &format!("realtime = {trees}\n"));
        let out = setup.run(&["-t"]);
        assert_eq!(out.status.success(), ok, "{trees}: {out:?}");
    }
}
