//! Helpers shared by the integration tests: short specs and waiting for a state.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use supervise::{ProgramSpec, State, Status, Supervisor};

/// A spec with short delays suited to tests.
pub fn quick(name: &str, start: &str) -> ProgramSpec {
    let mut spec = ProgramSpec::new(name, start);
    spec.start_delay = Duration::from_millis(300);
    spec.check_interval = Duration::from_secs(1);
    spec.stop_timeout = Duration::from_secs(2);
    spec
}

/// Polls the status of `name` until `want` holds (at most `secs`); returns the states seen.
pub async fn wait_for(
    sup: &Supervisor,
    name: &str,
    secs: u64,
    want: impl Fn(&Status) -> bool,
) -> (Status, Vec<State>) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen: Vec<State> = vec![];
    loop {
        let status = sup.status(name).expect("the program is registered");
        if seen.last() != Some(&status.state) {
            seen.push(status.state);
        }
        if want(&status) {
            return (status, seen);
        }
        assert!(
            Instant::now() < deadline,
            "`{name}` did not get there; states seen {seen:?}, now {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether `pid` is a live (non-zombie) process.
pub fn alive(pid: u32) -> bool {
    supervise::procfs::start_time(pid).is_some_and(|s| supervise::procfs::is_alive(pid, s))
}
