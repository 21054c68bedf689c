//! A running nodus under `nodusctl`: list, stop, start, remove and load do what they say, as
//! the csv writer's output shows; errors for unknown plugins, no agent, and no permission.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use e2e::nodus::Nodus;

fn ticker() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| e2e::build_fixture("ticker-plugin", "ticker", None))
}

/// Lines written so far to the csv files of plugin `ticker` (all days, all instances).
fn ticker_lines(nodus: &Nodus) -> usize {
    let dir = nodus.path("csv/testhost/ticker");
    std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .map(|text| text.lines().filter(|l| !l.starts_with("epoch")).count())
                .sum()
        })
        .unwrap_or(0)
}

fn wait_until(limit: Duration, what: &str, check: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn stop_start_remove_load() {
    let nodus = Nodus::start_with(
        |work| {
            format!(
                "hostname = \"testhost\"\ninterval = 0.1\n[plugin.ticker]\n[plugin.load]\ninterval = 5\n[plugin.csv.options]\nDataDir = {:?}\n",
                work.join("csv")
            )
        },
        &["load", "csv"],
        &[(ticker(), "ticker.so")],
    );

    let list = nodus.list();
    let names: Vec<&str> = list.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["csv", "load", "ticker"]);
    let ticker_status = nodus.plugin("ticker").unwrap();
    assert_eq!(ticker_status["roles"][0], "read");
    assert_eq!(ticker_status["state"], "running");
    assert_eq!(ticker_status["interval"], 0.1);
    assert_eq!(nodus.plugin("csv").unwrap()["roles"][0], "write");

    wait_until(Duration::from_secs(10), "ticker values in csv", || {
        ticker_lines(&nodus) >= 5
    });

    // stop: collection pauses.
    assert!(nodus.ctl(&["plugin", "stop", "ticker"]).status.success());
    assert_eq!(nodus.plugin("ticker").unwrap()["state"], "stopped");
    std::thread::sleep(Duration::from_millis(400)); // let the last read's values reach the file
    let paused = ticker_lines(&nodus);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        ticker_lines(&nodus),
        paused,
        "values kept coming while stopped"
    );

    // start: it resumes.
    assert!(nodus.ctl(&["plugin", "start", "ticker"]).status.success());
    wait_until(Duration::from_secs(10), "collection to resume", || {
        ticker_lines(&nodus) >= paused + 3
    });

    // remove: it is gone and its values end.
    let out = nodus.ctl(&["plugin", "remove", "ticker"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(nodus.plugin("ticker").is_none());
    std::thread::sleep(Duration::from_millis(400));
    let ended = ticker_lines(&nodus);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        ticker_lines(&nodus),
        ended,
        "values kept coming after remove"
    );
    let out = nodus.ctl(&["plugin", "stop", "ticker"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no plugin named `ticker`"));

    // load: a plugin file added to the running agent's plugin directory starts collecting.
    let copy = nodus.path("plugins/ticker-again.so");
    std::fs::copy(ticker(), &copy).unwrap();
    let out = nodus.ctl(&["plugin", "load", copy.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(nodus.plugin("ticker").unwrap()["state"], "running");
    wait_until(
        Duration::from_secs(10),
        "the loaded plugin to collect",
        || ticker_lines(&nodus) >= ended + 3,
    );

    assert!(nodus.stop(), "nodus exits 0 on SIGTERM");
}

#[test]
fn trace_unknown_plugin_no_agent_and_no_permission() {
    let nodus = Nodus::start_with(|_| "[plugin.load]\n".to_string(), &["load"], &[]);
    let out = std::process::Command::new(e2e::bin("nodusctl"))
        .arg("-s")
        .arg(nodus.path("nodus.sock"))
        .args(["plugin", "list"])
        .env("NODUS_TRACE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(">> {\"command\":\"plugin_list\"}"),
        "{stderr}"
    );
    assert!(stderr.contains("<< {\"ok\":true"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("load"));

    let out = nodus.ctl(&["plugin", "start", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no plugin named `nosuch`"));

    let out = std::process::Command::new(e2e::bin("nodusctl"))
        .args(["-s", "/nonexistent/nodus.sock", "plugin", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no nodus is running"));

    // As an unprivileged user the socket (mode 0660, in a 0700 directory) is out of reach.
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(e2e::bin("nodusctl"))
        .arg("-s")
        .arg(nodus.path("nodus.sock"))
        .args(["plugin", "list"])
        .output();
    match out {
        Ok(out) if nix_is_root() => {
            assert_eq!(
                out.status.code(),
                Some(4),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stderr).contains("permission denied"));
        }
        _ => eprintln!("SKIPPED the permission check: needs root and setpriv"),
    }
    assert!(nodus.stop());
}

fn nix_is_root() -> bool {
    e2e::run("id", &["-u"]) == "0"
}
