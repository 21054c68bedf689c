//! Limits: a program that allocates past its memory limit ends `killed`, through the cgroup
//! (v1 or v2, as the machine has them) and through the process-tree sampler.

mod common;

use std::time::Duration;

use common::{quick, wait_for};
use supervise::{AgentState, LimitMode, Options, State, Supervisor};

const HOG: &str = "exec /usr/bin/python3 -c \"import time\na=[]\nwhile True:\n    a.append(b'x' * 10**7)\n    time.sleep(0.05)\"";

async fn hog_is_killed(sup: &Supervisor, name: &str) -> supervise::Status {
    let mut spec = quick(name, HOG);
    spec.limits.memory_bytes = Some(50 << 20);
    spec.limits.hits = 2;
    spec.start_delay = Duration::from_millis(200);
    sup.start(spec).await.unwrap();
    let (killed, _) = wait_for(sup, name, 30, |s| s.state == State::Killed).await;
    assert_eq!(killed.seed_status, AgentState::Killed);
    killed
}

#[tokio::test]
async fn a_memory_hog_is_killed_through_cgroups_where_available() {
    let dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::new(dir.path());
    let killed = hog_is_killed(&sup, "hog-cgroup").await;
    eprintln!("limiter {} -> {killed:?}", sup.limiter());
    assert!(killed.last_error.unwrap().contains("limit"));
    if sup.limiter() != "none" {
        assert_eq!(killed.limiter, sup.limiter());
    }
    sup.remove("hog-cgroup").await.unwrap();
}

#[tokio::test]
async fn a_memory_hog_is_killed_by_the_sampler() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path());
    options.limits = LimitMode::Sampler;
    options.sample_interval = Duration::from_millis(250);
    let sup = Supervisor::with_options(options);
    let killed = hog_is_killed(&sup, "hog-sampler").await;
    assert_eq!(killed.limiter, "sampler");
    let error = killed.last_error.clone().unwrap();
    assert!(error.contains("memory"), "{error}");
    assert!(killed.limit_hits >= 2, "{killed:?}");
    // It stays killed (until the cool-down), not restarted at once.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sup.status("hog-sampler").unwrap().state, State::Killed);
}
