//! Both Prometheus expositions pass `promtool check metrics` (Debian package `prometheus`):
//! Polaris's own `/metrics` from a running server, and nodus's prometheus writer from a running
//! nodus. Each is served as `text/plain; version=0.0.4` and is that format: a counter's
//! `# HELP` and `# TYPE` name the samples' family (`…_total`), so Prometheus keeps its type
//! and help.

use std::time::{Duration, Instant};

use e2e::nodus::Nodus;
use e2e::server::{ServerProcess, free_port};
use e2e::tools::{promtool, promtool_check_metrics};

/// `GET url` with `agent`: (content type, body).
fn get_text(agent: &ureq::Agent, url: &str) -> (String, String) {
    let mut response = agent
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(response.status().as_u16(), 200, "{url}");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (content_type, response.body_mut().read_to_string().unwrap())
}

/// The `# TYPE` lines of an exposition: (family, type).
fn types(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .collect()
}

#[test]
fn polaris_metrics_pass_promtool() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), "metrics-admin-token-0123456789", "");
    // Requests of a few routes and statuses, so the request counters have samples.
    assert_eq!(server.call("GET", "/api/v1/hosts", None).0, 200);
    assert_eq!(server.call("GET", "/api/v1/no-such-route", None).0, 404);
    let agent = devpki::client(&server.ca, None).unwrap();
    let (content_type, text) = get_text(&agent, &format!("https://{}/metrics", server.http));
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");

    let (code, printed) = promtool_check_metrics(&promtool, &text);
    assert_eq!(code, 0, "promtool check metrics:\n{printed}\non:\n{text}");
    // The counters keep their type and help under the name their samples carry.
    let types = types(&text);
    for counter in ["polaris_http_requests_total", "polaris_commands_total"] {
        assert!(types.contains(&(counter, "counter")), "{counter}: {text}");
        assert!(
            text.contains(&format!("# HELP {counter} ")),
            "{counter}: {text}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("polaris_http_requests_total{") && l.contains("status=\"404\"")),
        "{text}"
    );
}

/// nodus's built-in read plugins.
const READ_PLUGINS: [&str; 9] = [
    "cpu",
    "load",
    "memory",
    "swap",
    "interface",
    "disk",
    "df",
    "processes",
    "uptime",
];

#[test]
fn nodus_prometheus_writer_passes_promtool() {
    let Some(promtool) = promtool() else {
        return;
    };
    let port = free_port();
    let mut plugins = READ_PLUGINS.to_vec();
    plugins.push("prometheus");
    // The built-in plugins send GAUGE and DERIVE values; the fixture sends ABSOLUTE ones (in
    // types.db's `absolute` type; its `counter` type would break promtool's rule that a name
    // does not hold its metric type, a collectd naming matter, not nodus's).
    let ticker = e2e::build_fixture("ticker-plugin", "ticker", None);
    let nodus = Nodus::start_with(
        |_| {
            let mut body = String::from("interval = 0.2\n");
            for plugin in READ_PLUGINS {
                body.push_str(&format!("[plugin.{plugin}]\n"));
            }
            body.push_str("[plugin.ticker.options]\nType = \"absolute\"\n");
            body.push_str(&format!("[plugin.prometheus.options]\nPort = {port}\n"));
            body
        },
        &plugins,
        &[(&ticker, "ticker.so")],
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let url = format!("http://127.0.0.1:{port}/metrics");
    // Until the first values of every read plugin reached the writer (cpu needs two reads).
    let families = [
        "collectd_cpu_total",
        "collectd_load_shortterm",
        "collectd_memory",
        "collectd_swap",
        "collectd_interface_if_octets_rx_total",
        "collectd_disk_disk_octets_read_total",
        "collectd_df_df_complex",
        "collectd_processes_ps_state",
        "collectd_uptime",
        "collectd_ticker_absolute",
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    let (content_type, text) = loop {
        let (content_type, text) = get_text(&agent, &url);
        let missing: Vec<_> = families
            .iter()
            .filter(|f| !text.contains(&format!("\n{f}")))
            .collect();
        if missing.is_empty() {
            break (content_type, text);
        }
        assert!(
            Instant::now() < deadline,
            "{missing:?} never served:\n{text}\n{}",
            nodus.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(content_type, "text/plain; version=0.0.4");

    let (code, printed) = promtool_check_metrics(&promtool, &text);
    assert_eq!(code, 0, "promtool check metrics:\n{printed}\non:\n{text}");
    let types = types(&text);
    for (family, kind) in [
        ("collectd_cpu_total", "counter"),
        ("collectd_load_shortterm", "gauge"),
        ("collectd_ticker_absolute_total", "counter"),
    ] {
        assert!(types.contains(&(family, kind)), "{family} {kind}: {text}");
    }
    assert!(nodus.stop(), "nodus stops cleanly");
}
