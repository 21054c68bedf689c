//! Adoption: programs outlive their supervisor and a new one re-attaches to the same pids
//! from the persisted run state; a pid now held by another process is never taken for it.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{alive, quick, wait_for};
use supervise::{State, Supervisor};

#[tokio::test]
async fn a_new_supervisor_adopts_the_same_three_pids() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("starts");
    let mut before = BTreeMap::new();
    {
        let sup = Supervisor::new(dir.path());
        for name in ["a", "b", "c"] {
            let cmd = format!("echo {name} >> {}; exec sleep 1000", counter.display());
            let status = sup.start(quick(name, &cmd)).await.unwrap();
            assert_eq!(status.state, State::Running);
            before.insert(name.to_string(), status.pid.unwrap());
        }
        // Dropped without stopping anything.
    }
    for pid in before.values() {
        assert!(alive(*pid), "programs outlive their supervisor");
    }
    let sup = Supervisor::new(dir.path());
    let recovered = sup.recover();
    assert_eq!(recovered.len(), 3);
    let after: BTreeMap<String, u32> = recovered
        .iter()
        .map(|s| (s.name.clone(), s.pid.unwrap()))
        .collect();
    assert_eq!(after, before);
    assert!(recovered.iter().all(|s| s.state == State::Running));
    // Adopting again changes nothing; nothing was started twice.
    let again = sup.adopt(quick("a", "sleep 1000"), 1, 1);
    assert_eq!(again.pid, before.get("a").copied());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap().lines().count(),
        3
    );

    // Adopted processes are still watched and stopped for real.
    let pid = before["b"];
    assert_eq!(sup.stop("b").await.unwrap().state, State::Stopped);
    assert!(!alive(pid));
    // And a crash of an adopted one is noticed and restarted.
    let pid = before["c"];
    unsafe { libc_kill(pid) };
    let (restarted, _) = wait_for(&sup, "c", 10, |s| {
        s.state == State::Running && s.pid.is_some_and(|p| p != pid)
    })
    .await;
    assert!(alive(restarted.pid.unwrap()));
    for name in ["a", "c"] {
        sup.remove(name).await.unwrap();
    }
}

#[tokio::test]
async fn a_reused_pid_is_not_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let mut other = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    let pid = other.id();
    let real = supervise::procfs::start_time(pid).unwrap();
    let sup = Supervisor::new(dir.path());
    // The run state says "pid, started at another time": some other process has the pid now.
    let status = sup.adopt(quick("ghost", "sleep 1000"), pid, real + 7);
    assert_ne!(status.pid, Some(pid));
    let (running, _) = wait_for(&sup, "ghost", 10, |s| s.state == State::Running).await;
    assert_ne!(running.pid, Some(pid), "a fresh process, not the impostor");
    sup.stop("ghost").await.unwrap();
    assert!(alive(pid), "the unrelated process was left alone");
    other.kill().unwrap();
    other.wait().unwrap();
}

/// SIGKILL to one process, as a crash would.
unsafe fn libc_kill(pid: u32) {
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
}
