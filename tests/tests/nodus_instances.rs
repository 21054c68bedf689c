//! Plugin instances in one nodus (plugin-api 2.0): two `http` writer instances post to two
//! real Polaris servers and two `csv` instances write two folders; every value reaches all
//! four; `nodusctl plugin stop http/primary` stops that instance only.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e::nodus::Nodus;
use e2e::server::ServerProcess;
use serde_json::Value;

const TOKEN: &str = "instances-admin-token-0123456789";
const HOST: &str = "twin";

fn wait_until(limit: Duration, what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The ticker values (read sequence numbers) a server stored for host `twin`.
fn stored(server: &ServerProcess, since: f64) -> BTreeSet<u64> {
    let to = since + 600.0;
    let path = format!(
        "/api/v1/metrics/query?host={HOST}&plugin=ticker&type=gauge&from={since}&to={to}&step=0.01"
    );
    let (status, series) = server.call("GET", &path, None);
    assert_eq!(status, 200, "{series}");
    series
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["points"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p[1].as_f64())
        .map(|v| v as u64)
        .collect()
}

/// The ticker values a csv instance wrote under `dir`.
fn written(dir: &Path) -> BTreeSet<u64> {
    let folder = dir.join(HOST).join("ticker");
    std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|e| {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            text.lines()
                .filter(|l| !l.starts_with("epoch"))
                .filter_map(|l| l.split(',').nth(1)?.parse::<f64>().ok())
                .map(|v| v as u64)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn ticker() -> PathBuf {
    e2e::build_fixture("ticker-plugin", "ticker", None)
}

fn http_instance(name: &str, server: &ServerProcess, identity: &devpki::Identity) -> String {
    format!(
        "[[plugin.http]]\ninstance = \"{name}\"\n[plugin.http.options]\n\
         URL = \"https://{}/api/v1/metrics\"\nCACert = {:?}\nClientCert = {:?}\nClientKey = {:?}\n\
         Timeout = 5\n",
        server.http, server.ca, identity.cert, identity.key
    )
}

#[test]
fn two_http_and_two_csv_instances_get_every_value_and_stop_alone() {
    let root = tempfile::tempdir().unwrap();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        - 5.0;
    let primary = ServerProcess::start(&root.path().join("primary"), TOKEN, "");
    let backup = ServerProcess::start(&root.path().join("backup"), TOKEN, "");
    let id_primary = primary
        .enroller()
        .enroll(HOST, &root.path().join("id-primary"))
        .unwrap();
    let id_backup = backup
        .enroller()
        .enroll(HOST, &root.path().join("id-backup"))
        .unwrap();
    let (csv_one, csv_two) = (root.path().join("csv-one"), root.path().join("csv-two"));
    let ticker = ticker();
    let nodus = Nodus::start_with(
        |_| {
            format!(
                "hostname = \"{HOST}\"\ninterval = 0.2\n[plugin.ticker]\n{}{}\
                 [[plugin.csv]]\ninstance = \"one\"\n[plugin.csv.options]\nDataDir = {csv_one:?}\n\
                 [[plugin.csv]]\ninstance = \"two\"\n[plugin.csv.options]\nDataDir = {csv_two:?}\n",
                http_instance("primary", &primary, &id_primary),
                http_instance("backup", &backup, &id_backup),
            )
        },
        &["http", "csv"],
        &[(&ticker, "ticker.so")],
    );

    // One line per instance, each showing its plugin's schema.
    let list = nodus.list();
    let names: Vec<&str> = list.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "csv/one",
            "csv/two",
            "http/backup",
            "http/primary",
            "ticker"
        ]
    );
    let http = nodus.plugin("http/primary").unwrap();
    assert_eq!(http["plugin"], "http");
    assert_eq!(http["state"], "running");
    let timeout = http["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "Timeout")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(timeout["type"], "seconds", "{http}");
    assert_eq!(timeout["default"], "5");

    // Every value reaches both servers and both folders.
    let first: BTreeSet<u64> = (1..=10).collect();
    let has_first = |set: &BTreeSet<u64>| first.is_subset(set);
    wait_until(Duration::from_secs(60), "10 values everywhere", || {
        has_first(&written(&csv_one))
            && has_first(&written(&csv_two))
            && has_first(&stored(&primary, since))
            && has_first(&stored(&backup, since))
    });

    // Stopping one instance leaves the others running.
    let out = nodus.ctl(&["plugin", "stop", "http/primary"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(nodus.plugin("http/primary").unwrap()["state"], "stopped");
    assert_eq!(nodus.plugin("http/backup").unwrap()["state"], "running");
    std::thread::sleep(Duration::from_millis(500));
    let frozen = stored(&primary, since).len();
    let reached = stored(&backup, since).len();
    wait_until(Duration::from_secs(30), "backup keeps receiving", || {
        stored(&backup, since).len() >= reached + 10
    });
    assert_eq!(
        stored(&primary, since).len(),
        frozen,
        "a stopped instance posts nothing"
    );
    let queued = nodus.plugin("http/primary").unwrap()["queue"]["len"]
        .as_u64()
        .unwrap_or(0);
    assert!(queued > 0, "its values wait in its own queue");

    // Started again, it sends what it queued: both servers hold the same values again.
    assert!(
        nodus
            .ctl(&["plugin", "start", "http/primary"])
            .status
            .success()
    );
    wait_until(Duration::from_secs(60), "primary catches up", || {
        let (p, b) = (stored(&primary, since), stored(&backup, since));
        let upto = *b.iter().next_back().unwrap_or(&0);
        (1..=upto.saturating_sub(5)).all(|v| p.contains(&v))
    });
    // The csv instances never stopped: every value of the run so far is in both folders.
    let (one, two) = (written(&csv_one), written(&csv_two));
    let common = one.len().min(two.len()) as u64;
    assert!((1..common).all(|v| one.contains(&v) && two.contains(&v)));
    assert!(nodus.stop(), "nodus exits cleanly");
}
