//! Rotation with real files and the real agent: rename-and-create, copytruncate, inode reuse
//! and a file truncated while the agent is stopped. Every line must arrive, and once.

mod common;

use std::os::unix::fs::MetadataExt as _;
use std::sync::atomic::Ordering;

use common::{Receiver, Setup, append, lines, set, wait_until};

const LINE_SOURCE: &str = "[[source]]\nname = \"app\"\npath = \"LOGS/app.log\"\n";

#[test]
fn rename_and_create_reads_the_old_file_to_its_end() {
    let receiver = Receiver::start();
    let setup = Setup::new(&receiver.url, LINE_SOURCE);
    let log = setup.logs.join("app.log");
    let first = lines("first", 0..1000);
    append(&log, &first);
    let agent = setup.start();
    receiver.wait_for(&set(&first));
    // Lines written just before the rename land in the renamed file; the new file gets the rest.
    let tail = lines("tail", 0..500);
    append(&log, &tail);
    std::fs::rename(&log, setup.logs.join("app.log.1")).unwrap();
    let second = lines("second", 0..1000);
    append(&log, &second);
    let mut all = first.clone();
    all.extend(tail);
    all.extend(second);
    receiver.wait_for(&set(&all));
    receiver.assert_once();
    // The old file is closed once read: the agent holds only the new one.
    wait_until("the renamed file is closed", || {
        std::fs::read_dir(format!("/proc/{}/fd", agent.pid()))
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .all(|target| !target.to_string_lossy().contains("app.log.1"))
    });
    agent.stop();
}

#[test]
fn copytruncate_starts_a_new_generation_and_counts_the_truncation() {
    let receiver = Receiver::start();
    let setup = Setup::new(&receiver.url, LINE_SOURCE);
    let log = setup.logs.join("app.log");
    let before = lines("before", 0..2000);
    append(&log, &before);
    let agent = setup.start();
    receiver.wait_for(&set(&before));
    // logrotate's copytruncate: copy, then truncate in place; the writer goes on appending.
    std::fs::copy(&log, setup.logs.join("app.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    let after = lines("after", 0..100);
    append(&log, &after);
    receiver.wait_for(&set(&after));
    receiver.assert_once();
    let ids: std::collections::BTreeSet<String> = receiver
        .records
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.file.clone())
        .collect();
    assert_eq!(
        ids.len(),
        2,
        "one generation before and one after the truncation"
    );
    let first_after = receiver
        .records
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.message == after[0])
        .cloned()
        .unwrap();
    assert_eq!(first_after.offset, 0);
    wait_until("the truncation is reported", || {
        receiver.source("app").is_some_and(|s| s.truncations == 1)
    });
    agent.stop();
}

#[test]
fn a_file_truncated_while_the_agent_is_stopped_is_read_again_from_0() {
    let receiver = Receiver::start();
    let setup = Setup::new(&receiver.url, LINE_SOURCE);
    let log = setup.logs.join("app.log");
    let before = lines("before", 0..3000);
    append(&log, &before);
    let agent = setup.start();
    receiver.wait_for(&set(&before));
    agent.stop();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    let after = lines("after", 0..10);
    append(&log, &after);
    let agent = setup.start();
    receiver.wait_for(&set(&after));
    receiver.assert_once();
    agent.stop();
}

#[test]
fn a_restart_resumes_where_the_acknowledgement_left_off() {
    let receiver = Receiver::start();
    let setup = Setup::new(&receiver.url, LINE_SOURCE);
    let log = setup.logs.join("app.log");
    let before = lines("before", 0..1000);
    append(&log, &before);
    let agent = setup.start();
    receiver.wait_for(&set(&before));
    agent.stop();
    let after = lines("after", 0..1000);
    append(&log, &after);
    let agent = setup.start();
    receiver.wait_for(&set(&after));
    receiver.assert_once();
    agent.stop();
}

#[test]
fn a_reused_inode_is_a_new_file() {
    let receiver = Receiver::start();
    let setup = Setup::new(&receiver.url, LINE_SOURCE);
    let log = setup.logs.join("app.log");
    let old = lines("old", 0..2000);
    append(&log, &old);
    let old_inode = std::fs::metadata(&log).unwrap().ino();
    let agent = setup.start();
    receiver.wait_for(&set(&old));
    agent.stop();
    // Delete and create: the file system often hands the freed inode to the new file, longer
    // than the old offset, with other first bytes. Its lines must all come, from offset 0.
    std::fs::remove_file(&log).unwrap();
    let mut new = lines("new", 0..5000);
    new.insert(0, "a different first line".into());
    append(&log, &new);
    let reused = std::fs::metadata(&log).unwrap().ino() == old_inode;
    eprintln!("inode reused by the file system: {reused}");
    let agent = setup.start();
    receiver.wait_for(&set(&new));
    receiver.assert_once();
    let first = receiver
        .records
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.message == new[0])
        .cloned()
        .unwrap();
    assert_eq!(first.offset, 0);
    agent.stop();
}

#[test]
fn a_file_rotated_away_and_deleted_before_it_is_read_is_counted_lost() {
    let receiver = Receiver::start();
    let setup = Setup::new(
        &receiver.url,
        "[[source]]\nname = \"app\"\npath = \"LOGS/*.log\"\n",
    );
    let busy = setup.logs.join("busy.log");
    let quiet = setup.logs.join("quiet.log");
    append(&busy, &lines("busy", 0..10));
    append(&quiet, &lines("quiet", 0..10));
    let agent = setup.start();
    let mut seen = lines("busy", 0..10);
    seen.extend(lines("quiet", 0..10));
    receiver.wait_for(&set(&seen));
    let socket = setup.dir.path().join("logagent.sock");
    wait_until("quiet.log is closed as idle", || {
        common::snapshot(&socket)["files"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f["path"].as_str().unwrap().ends_with("quiet.log") && f["open"] == false)
    });
    // Polaris refuses: the batch of busy.log waits, and nothing more is read.
    receiver.failing.store(true, Ordering::SeqCst);
    append(&busy, &lines("busy", 10..20));
    wait_until("a batch waits for Polaris", || {
        !common::snapshot(&socket)["sink_error"].is_null()
    });
    let unread = lines("unread", 0..100);
    append(&quiet, &unread);
    let unread_bytes: u64 = unread.iter().map(|l| l.len() as u64 + 1).sum();
    let grown = std::fs::metadata(&quiet).unwrap().len();
    wait_until("the agent saw quiet.log grow", || {
        common::snapshot(&socket)["files"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f["path"].as_str().unwrap().ends_with("quiet.log") && f["size"] == grown)
    });
    std::fs::remove_file(&quiet).unwrap();
    wait_until("the loss is reported", || {
        common::snapshot(&socket)["sources"][0]["lost_bytes"] == unread_bytes
    });
    receiver.failing.store(false, Ordering::SeqCst);
    receiver.wait_for(&set(&lines("busy", 10..20)));
    wait_until("Polaris is told of the loss", || {
        receiver
            .source("app")
            .is_some_and(|s| s.lost_bytes == unread_bytes)
    });
    assert!(!receiver.counts().contains_key(&unread[0]));
    receiver.assert_once();
    agent.stop();
}

/// Waits until the agent has closed every file as idle.
fn wait_closed(setup: &Setup) {
    let socket = setup.dir.path().join("logagent.sock");
    wait_until("the file is closed as idle", || {
        let snapshot = common::snapshot(&socket);
        let files = snapshot["files"].as_array().cloned().unwrap_or_default();
        !files.is_empty() && files.iter().all(|f| f["open"] == false)
    });
}

#[test]
fn an_idle_file_truncated_or_replaced_while_closed_is_read_from_0() {
    let receiver = Receiver::start();
    let setup = Setup::new(&receiver.url, LINE_SOURCE);
    let log = setup.logs.join("app.log");
    let first = lines("first", 0..1000);
    append(&log, &first);
    let agent = setup.start();
    receiver.wait_for(&set(&first));
    wait_closed(&setup);
    // Truncated while its descriptor is closed, and written again, shorter.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    let second = lines("second", 0..10);
    append(&log, &second);
    receiver.wait_for(&set(&second));
    wait_closed(&setup);
    // Deleted and created again while closed (often on the same inode), longer than before.
    let inode = std::fs::metadata(&log).unwrap().ino();
    std::fs::remove_file(&log).unwrap();
    let mut third = lines("third", 0..2000);
    third.insert(0, "another first line".into());
    append(&log, &third);
    eprintln!(
        "inode reused: {}",
        std::fs::metadata(&log).unwrap().ino() == inode
    );
    receiver.wait_for(&set(&third));
    receiver.assert_once();
    agent.stop();
}
