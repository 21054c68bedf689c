//! nodus without `-f`: it daemonises, writes its PID file and log, answers on its socket, and
//! removes the PID file and socket when it is stopped with SIGTERM.

use std::process::Command;
use std::time::{Duration, Instant};

use e2e::nodus::{config_header, plugin_links};

#[test]
fn daemonises_with_pid_and_log_files() {
    let work = tempfile::tempdir().unwrap();
    plugin_links(&work.path().join("plugins"), &["load"], &[]);
    let config = work.path().join("nodus.conf");
    std::fs::write(
        &config,
        format!(
            "{}[plugin.load]\ninterval = 0.2\n",
            config_header(work.path())
        ),
    )
    .unwrap();
    let (pid_file, log, socket) = (
        work.path().join("nodus.pid"),
        work.path().join("nodus.log"),
        work.path().join("nodus.sock"),
    );

    let started = Instant::now();
    let status = Command::new(e2e::bin("nodus"))
        .arg("-C")
        .arg(&config)
        .arg("-P")
        .arg(&pid_file)
        .arg("-L")
        .arg(&log)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the launching process exits 0 once daemonised"
    );
    while !pid_file.exists() {
        assert!(started.elapsed() < Duration::from_secs(10), "no PID file");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    assert!(
        stat.contains("(nodus)"),
        "the PID file names a running nodus: {stat}"
    );
    let ppid: i32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(
        ppid,
        std::process::id() as i32,
        "detached from the launcher"
    );

    let out = Command::new(e2e::bin("nodusctl"))
        .arg("-s")
        .arg(&socket)
        .args(["plugin", "list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("load"));

    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pid_file.exists() || socket.exists() {
        assert!(Instant::now() < deadline, "PID file or socket left behind");
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("nodus stopped."), "{text}");
    assert!(
        text.contains("read thread for plugin `load` started."),
        "debug lines name the read thread: {text}"
    );
}
