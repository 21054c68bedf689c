//! Delivery with the real agent and a real receiver: offsets are committed only after the
//! acknowledgement, so an agent killed with SIGKILL between send and acknowledgement sends
//! the unacknowledged records again after its restart, and nothing else; 20,000 matched files
//! of which 20 are active hold few descriptors.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use common::{Receiver, Setup, append, lines, set, wait_until};

#[test]
fn kill_9_between_send_and_ack_loses_nothing_and_repeats_only_the_unacknowledged() {
    let receiver = Receiver::start();
    let setup = Setup::new(
        &receiver.url,
        "[[source]]\nname = \"app\"\npath = \"LOGS/*.log\"\n",
    );
    let mut all = Vec::new();
    for round in 0..5 {
        let agent = setup.start();
        let acked = receiver.records.lock().unwrap().len();
        // This round's first lines are acknowledged; the next batch is stored but its
        // acknowledgement held back, and the agent is killed while it waits.
        let first = lines(&format!("r{round}a"), 0..300);
        append(&setup.logs.join(format!("f{}.log", round % 2)), &first);
        receiver.wait_for(&set(&first));
        wait_until("the first lines are committed", || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            true
        });
        receiver.holding.store(true, Ordering::SeqCst);
        let held_before = receiver.held_batches.load(Ordering::SeqCst);
        let second = lines(&format!("r{round}b"), 0..300);
        append(&setup.logs.join(format!("f{}.log", round % 2)), &second);
        wait_until("a batch is stored and its answer held back", || {
            receiver.held_batches.load(Ordering::SeqCst) > held_before
        });
        agent.kill9();
        receiver.holding.store(false, Ordering::SeqCst);
        all.extend(first);
        all.extend(second);
        assert!(receiver.records.lock().unwrap().len() > acked);
    }
    let agent = setup.start();
    receiver.wait_for(&set(&all));
    // Each (file, offset) names one record; duplicates are only records of held batches.
    let records = receiver.records.lock().unwrap().clone();
    let mut by_key: BTreeMap<(String, u64), Vec<&str>> = BTreeMap::new();
    for r in &records {
        by_key
            .entry((r.file.clone(), r.offset))
            .or_default()
            .push(&r.message);
    }
    for (key, messages) in &by_key {
        assert!(
            messages.iter().all(|m| *m == messages[0]),
            "{key:?}: {messages:?}"
        );
    }
    let unique: BTreeSet<&str> = by_key.values().map(|m| m[0]).collect();
    assert_eq!(
        unique.len(),
        all.len(),
        "every line once, counted by (file, offset)"
    );
    let repeated: Vec<&str> = by_key
        .values()
        .filter(|m| m.len() > 1)
        .map(|m| m[0])
        .collect();
    assert!(!repeated.is_empty(), "the held batches were sent again");
    assert!(
        repeated.iter().all(|m| m.contains('b')),
        "only unacknowledged records repeat: {:?}",
        &repeated[..repeated.len().min(5)]
    );
    agent.stop();
}

#[test]
fn polaris_down_stops_reading_and_keeps_the_place() {
    let receiver = Receiver::start();
    receiver.failing.store(true, Ordering::SeqCst);
    let setup = Setup::new(
        &receiver.url,
        "[[source]]\nname = \"app\"\npath = \"LOGS/app.log\"\n",
    );
    let log = setup.logs.join("app.log");
    let first = lines("down", 0..40_000);
    append(&log, &first);
    let agent = setup.start();
    let socket = setup.dir.path().join("logagent.sock");
    wait_until("the agent waits for Polaris", || {
        common::snapshot(&socket)["sources"][0]["state"] == "waiting"
    });
    // It read one batch and waits: it has not read the whole file.
    let read = common::snapshot(&socket)["files"][0]["read"]
        .as_u64()
        .unwrap();
    assert!(read < std::fs::metadata(&log).unwrap().len());
    assert_eq!(common::snapshot(&socket)["files"][0]["offset"], 0);
    receiver.failing.store(false, Ordering::SeqCst);
    receiver.wait_for(&set(&first));
    receiver.assert_once();
    agent.stop();
}

#[test]
fn twenty_thousand_files_twenty_active_hold_few_descriptors() {
    let receiver = Receiver::start();
    let setup = Setup::new(
        &receiver.url,
        "max_open_files = 64\n[[source]]\nname = \"many\"\npath = \"LOGS/*/*.log\"\n",
    );
    for d in 0..20 {
        let dir = setup.logs.join(format!("d{d:02}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..1000 {
            std::fs::write(dir.join(format!("f{f:04}.log")), format!("idle-{d}-{f}\n")).unwrap();
        }
    }
    let idle: Vec<String> = (0..20)
        .flat_map(|d| (0..1000).map(move |f| format!("idle-{d}-{f}")))
        .collect();
    let started = std::time::Instant::now();
    let agent = setup.start();
    let mut most = 0;
    let mut sample = || {
        most = most.max(agent.open_fds());
    };
    receiver.wait_for(&set(&idle));
    eprintln!(
        "20,000 files read in {:?}, agent CPU {} ticks",
        started.elapsed(),
        cpu_ticks(agent.pid())
    );
    sample();
    let mut active = Vec::new();
    for round in 0..10 {
        for a in 0..20 {
            let path = setup.logs.join(format!("d{a:02}/f0000.log"));
            let batch = lines(&format!("active-{a}-{round}"), 0..50);
            append(&path, &batch);
            active.extend(batch);
        }
        sample();
        std::thread::sleep(std::time::Duration::from_millis(200));
        sample();
    }
    receiver.wait_for(&set(&active));
    sample();
    receiver.assert_once();
    let before = cpu_ticks(agent.pid());
    std::thread::sleep(std::time::Duration::from_secs(3));
    eprintln!(
        "idle for 3 s: {} CPU ticks",
        cpu_ticks(agent.pid()) - before
    );
    assert!(most < 100, "at most {most} descriptors open");
    eprintln!("most descriptors seen: {most}");
    agent.stop();
}

/// User + system CPU time of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn a_record_polaris_refuses_is_skipped_counted_and_nothing_else_lost() {
    let receiver = Receiver::start();
    *receiver.refuse_containing.lock().unwrap() = Some("POISON".into());
    let setup = Setup::new(
        &receiver.url,
        "[[source]]\nname = \"app\"\npath = \"LOGS/app.log\"\n",
    );
    let log = setup.logs.join("app.log");
    let mut good = lines("good", 0..3000);
    let mut written = good.clone();
    written.insert(1234, "POISON-1".into());
    written.insert(2500, "POISON-2".into());
    append(&log, &written);
    let agent = setup.start();
    receiver.wait_for(&set(&good));
    // The source does not stall: lines written after the refusals arrive too.
    let later = lines("later", 0..100);
    append(&log, &later);
    receiver.wait_for(&set(&later));
    good.extend(later);
    receiver.assert_once();
    let counts = receiver.counts();
    assert!(counts.keys().all(|m| !m.contains("POISON")));
    assert_eq!(counts.len(), good.len());
    assert!(receiver.refused_batches.load(Ordering::SeqCst) >= 2);
    let socket = setup.dir.path().join("logagent.sock");
    wait_until("the control socket counts two rejected records", || {
        common::snapshot(&socket)["sources"][0]["rejected_records"] == 2
    });
    wait_until("Polaris is told of the two rejected records", || {
        receiver
            .source("app")
            .is_some_and(|s| s.rejected_records == 2)
    });
    let log_text = setup.log();
    assert!(
        log_text.contains("refused a record for good") && log_text.contains("marked as bad"),
        "{log_text}"
    );
    // Its offset was committed: a restarted agent sends neither it nor anything else again.
    agent.stop();
    let before = receiver.records.lock().unwrap().len();
    let agent = setup.start();
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(receiver.records.lock().unwrap().len(), before);
    agent.stop();
}
