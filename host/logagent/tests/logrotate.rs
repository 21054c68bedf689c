//! Rotation by Debian's real `logrotate` (skipped with a note when it is not installed):
//! `create` with `compress` + `delaycompress`, then `copytruncate`. Every line arrives, once.
//! The source names the live file only: a renamed file is found again by its inode, and a
//! compressed rotation is never read (it would repeat lines already read).

mod common;

use std::path::Path;
use std::process::Command;

use common::{Receiver, Setup, append, lines, set};

const LOGROTATE: &str = "/usr/sbin/logrotate";

fn rotate(setup: &Setup, rules: &str) {
    let conf = setup.dir.path().join("logrotate.conf");
    let log = setup.logs.join("app.log");
    std::fs::write(
        &conf,
        format!(
            "{} {{\n  rotate 5\n  missingok\n{rules}\n}}\n",
            log.display()
        ),
    )
    .unwrap();
    let status = Command::new(LOGROTATE)
        .arg("-f")
        .arg("-s")
        .arg(setup.dir.path().join("logrotate.state"))
        .arg(&conf)
        .status()
        .unwrap();
    assert!(status.success(), "logrotate failed");
}

#[test]
fn lines_rotated_by_logrotate_arrive_once() {
    if !Path::new(LOGROTATE).exists() {
        eprintln!("logrotate is not installed (apt-get install logrotate): test skipped");
        return;
    }
    let receiver = Receiver::start();
    let setup = Setup::new(
        &receiver.url,
        "[[source]]\nname = \"app\"\npath = \"LOGS/app.log\"\n",
    );
    let log = setup.logs.join("app.log");
    *receiver.debug_dir.lock().unwrap() = Some(setup.dir.path().to_path_buf());
    let mut all = vec!["first".to_string()];
    append(&log, &all);
    let agent = setup.start();
    receiver.wait_for(&set(&all));
    let create = "  create 0640\n  compress\n  delaycompress";
    for round in 0..4 {
        // Written, then rotated at once (renamed, a new file created): the agent may not have
        // read the lines yet; it finds the renamed file by its inode and reads it to its end.
        let batch = lines(&format!("create{round}"), 0..3000);
        append(&log, &batch);
        all.extend(batch);
        rotate(&setup, create);
        let after = lines(&format!("created{round}"), 0..500);
        append(&log, &after);
        all.extend(after);
        // Before the next rotation compresses (and deletes) the renamed file.
        receiver.wait_for(&set(&all));
    }
    let compressed = std::fs::read_dir(&setup.logs)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".gz"))
        .count();
    assert!(compressed >= 2, "logrotate compressed older rotations");
    for round in 0..3 {
        let batch = lines(&format!("copy{round}"), 0..3000);
        append(&log, &batch);
        all.extend(batch);
        // copytruncate loses what is written between its copy and its truncation; here the
        // writer is quiet, and the agent has read everything before the truncation.
        receiver.wait_for(&set(&all));
        rotate(&setup, "  copytruncate\n  compress\n  delaycompress");
        let after = lines(&format!("copied{round}"), 0..500);
        append(&log, &after);
        all.extend(after);
    }
    receiver.wait_for(&set(&all));
    receiver.assert_once();
    assert_eq!(receiver.counts().len(), all.len());
    agent.stop();
}
