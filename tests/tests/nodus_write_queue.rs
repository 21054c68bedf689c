//! Write queues and read penalties in a running nodus:
//! - a write target that fails for a while and then recovers loses nothing that fit in the
//!   queue, and the drop counter accounts exactly for the rest; reads go on meanwhile;
//! - a read that outlives its timeout is suspended for longer, shown in `nodusctl plugin list`,
//!   and restored once it reads well again.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use e2e::nodus::Nodus;
use e2e::receiver::Receiver;

fn ticker() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| e2e::build_fixture("ticker-plugin", "ticker", None))
}

fn num(status: &serde_json::Value, path: &[&str]) -> u64 {
    let mut v = status;
    for key in path {
        v = &v[*key];
    }
    v.as_u64()
        .unwrap_or_else(|| panic!("no {path:?} in {status}"))
}

#[test]
fn failing_writer_recovers_and_drop_counter_is_exact() {
    let receiver = Receiver::start();
    let url = receiver.url.clone();
    let nodus = Nodus::start_with(
        move |_| {
            format!(
                "hostname = \"testhost\"\nwrite_queue_limit_high = 60\nwrite_queue_limit_low = 40\n\
                 write_batch = 10\nwrite_retry_max = 0.3\n\
                 [plugin.ticker]\ninterval = 0.05\n[plugin.ticker.options]\nLists = 5\n\
                 [plugin.http.options]\nURL = {url:?}\n"
            )
        },
        &["http"],
        &[(ticker(), "ticker.so")],
    );

    // While the target fails, reads go on and the queue overflows.
    let status = nodus.wait_for("http", Duration::from_secs(20), |s| {
        num(s, &["queue", "dropped"]) > 0
    });
    assert!(num(&status, &["errors"]) > 0, "{status}");
    let reads_then = num(&nodus.plugin("ticker").unwrap(), &["calls"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        num(&nodus.plugin("ticker").unwrap(), &["calls"]) > reads_then + 3,
        "reads stalled behind the failing writer"
    );
    assert_eq!(receiver.accepted.load(Ordering::SeqCst), 0);

    // The target recovers; stop producing, let the queue drain.
    receiver.failing.store(false, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    assert!(nodus.ctl(&["plugin", "stop", "ticker"]).status.success());
    let drained = nodus.wait_for("http", Duration::from_secs(20), |s| {
        num(s, &["queue", "len"]) == 0
    });
    let produced = num(&nodus.plugin("ticker").unwrap(), &["values"]);
    let dropped = num(&drained, &["queue", "dropped"]);
    let delivered = receiver.accepted.load(Ordering::SeqCst);
    assert!(
        dropped > 0 && delivered > 0,
        "dropped {dropped}, delivered {delivered}"
    );
    assert_eq!(
        delivered + dropped,
        produced,
        "every value is delivered or counted as dropped, once"
    );
    assert_eq!(
        num(&drained, &["values"]),
        delivered,
        "the writer's own count agrees with the receiver"
    );
    assert!(receiver.refused.load(Ordering::SeqCst) > 0);
    assert!(nodus.stop());
}

#[test]
fn slow_read_is_penalised_and_restored() {
    let nodus = Nodus::start_with(
        |_| {
            "[plugin.ticker]\ninterval = 0.1\ntimeout = 0.05\n[plugin.ticker.options]\nSleep = 0.12\n".into()
        },
        &[],
        &[(ticker(), "ticker.so")],
    );
    let status = nodus.wait_for("ticker", Duration::from_secs(10), |s| {
        s["interval"].as_f64().unwrap_or(0.0) >= 0.4
    });
    assert_eq!(status["base_interval"], 0.1);
    assert!(num(&status, &["errors"]) >= 2, "{status}");
    let log = nodus.log();
    assert!(
        log.contains("read-function of plugin `ticker` took"),
        "{log}"
    );
    assert!(log.contains("Will suspend it for 0.2 s"), "{log}");
    let table = String::from_utf8_lossy(&nodus.ctl(&["plugin", "list"]).stdout).into_owned();
    assert!(
        table.contains("(0.1s)"),
        "the table shows the penalty next to the base: {table}"
    );
    assert!(nodus.stop());

    // A plugin that fails every other read keeps coming back to its base interval.
    let nodus = Nodus::start_with(
        |_| "[plugin.ticker]\ninterval = 0.05\n[plugin.ticker.options]\nFailEvery = 2\n".into(),
        &[],
        &[(ticker(), "ticker.so")],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !nodus.log().contains("works again; interval back to 0.05 s") {
        assert!(Instant::now() < deadline, "{}", nodus.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(nodus.log().contains("read-function of plugin `ticker` failed: read 2 fails on purpose. Will suspend it for 0.1 s."));
    assert!(nodus.stop());
}
