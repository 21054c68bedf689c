//! Benchmark P4: metrics ingest through HTTP, on every configured backend.
//!
//! For each backend (SQLite always; MariaDB and PostgreSQL when `POLARIS_TEST_MYSQL_URL` /
//! `POLARIS_TEST_POSTGRES_URL` name a server, loudly skipped otherwise) it starts Polaris
//! in-process on a scratch database of its own and POSTs batches the size nodus sends
//! (`write_batch` = 500 value lists) to `POST /api/v1/metrics` over real HTTPS (Polaris's own
//! CA, `[tls] ca_dir` in a temporary folder) from `INGEST_CLIENTS` (4) concurrent blocking
//! clients (std threads, ureq). The value lists are collection cycles of each of
//! `INGEST_HOSTS` (50) simulated hosts, like nodus's default read plugins produce them on a
//! 2-CPU host (load, cpu, interface, memory, df, disk, processes: 56 value lists, 76 values, 76
//! series per host), one round every 10 s of metric time. Each batch holds one host's lists
//! and is sent with that host's client certificate (every host enrolled through the real API
//! before the clock starts), as nodus sends them. It warms up for 1 s (which also creates the series), then
//! measures for `INGEST_SECONDS` (10) and prints batches, values, seconds, values/s and the p50/p99 batch
//! latency; every reply must be 200 with errcode 0, and the values the replies count and the
//! values in the database must both equal the values sent (the values packed in the staged
//! batches and in the chunks, the one storage model of every backend).
//!
//! ```text
//! cargo bench -p polaris --bench ingest                 # every configured backend
//! cargo bench -p polaris --bench ingest -- sqlite       # only these (sqlite, mysql, postgres)
//! INGEST_CLIENTS=4 INGEST_SECONDS=10 INGEST_HOSTS=50 INGEST_SERIES_FIRST=1 cargo bench -p polaris --bench ingest
//! ```
//!
//! The warm-up begins with the first batch of every host sent by one client, one batch after
//! the other, so the series are created without concurrent transactions creating the same ones (in real use
//! each nodus host creates only its own). `INGEST_SERIES_FIRST=0` sends it concurrently
//! instead: on MariaDB, concurrent batches that create the same new series can then fail with
//! 503 (an InnoDB deadlock, or "no rows returned": the `SELECT id` after the upsert reads the
//! transaction's snapshot, which predates the other transaction's commit of that series).
//!
//! `cargo bench -p polaris --bench ingest -- breakdown` shows where SQLite's time goes without
//! HTTP: the JSON parsing of the batches alone, then `Db::ingest` called straight from 1 and
//! from `INGEST_CLIENTS` tasks, with the share of the calls that move staged values to chunks,
//! and what two queries cost after the single task's run.
//!
//! The bodies are serialized before the clock starts: 125 rounds of each host (a whole number
//! of batches) make templates; each send copies one and writes the round's times into its
//! fixed-width `time` fields, so every batch carries new times at the cost of a copy.
//!
//! Goal: >= 500,000 values/s into each backend on the 2-core reference machine.

#[path = "ingest/breakdown.rs"]
mod breakdown;
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "ingest/workload.rs"]
mod workload;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use polaris::config::Config;
use polaris::db::{Backend, MetricQuery};
use sqlx::Connection;
use wire::metrics::ValueListJson;

use breakdown::breakdown;
use workload::{Template, host_cycle, host_name, templates, write_times};

/// Value lists per POST: nodus's `write_batch` default.
const BATCH: usize = 500;
/// Seconds of metric time between two rounds (nodus's default interval).
const INTERVAL_S: u64 = 10;
/// Metric time of the first round, in milliseconds.
const T0_MS: u64 = 1_700_000_000_000;
/// Width of a `time` field as the templates write it: `1700000000.013`.
const TIME_WIDTH: usize = 14;
/// Staged values at which an ingest moves them to chunks (`STAGING_LIMIT` in
/// src/db/common/metrics.rs).
const STAGING_LIMIT: usize = 131_072;
/// The goal, every backend, on the 2-core reference machine.
const GOAL: f64 = 500_000.0;
const WARM_UP: Duration = Duration::from_secs(1);
const TOKEN: &str = "bench-admin-token-0123456789";

/// One POST as a client saw it.
struct Sent {
    started: Instant,
    done: Instant,
    values: usize,
}

/// Sends the batches `next` hands out until `stop` or batch `limit`; returns what it sent and
/// had acknowledged, and the first failure, which ends it.
fn client(
    url: &str,
    hosts: &[ureq::Agent],
    templates: &[Template],
    period_ms: u64,
    next: &AtomicUsize,
    stop: &AtomicBool,
    limit: usize,
) -> (Vec<Sent>, Option<String>) {
    let mut sent = Vec::new();
    let mut body = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let k = next.fetch_add(1, Ordering::Relaxed);
        if k >= limit {
            next.fetch_sub(1, Ordering::Relaxed);
            break;
        }
        let template = &templates[k % templates.len()];
        body.clear();
        body.extend_from_slice(&template.body);
        write_times(
            &mut body,
            &template.times,
            (k / templates.len()) as u64 * period_ms,
        );
        match post(&hosts[template.host], url, &body, template.values) {
            Ok(one) => sent.push(one),
            Err(e) => return (sent, Some(format!("batch {k}: {e}"))),
        }
    }
    (sent, None)
}

/// POSTs one batch; it must be answered 200, errcode 0, with all its values stored.
fn post(agent: &ureq::Agent, url: &str, body: &[u8], expected: usize) -> Result<Sent, String> {
    let started = Instant::now();
    let mut response = agent
        .post(url)
        .content_type("application/json")
        .send(body)
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    let done = Instant::now();
    let reply: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    if status != 200 || reply["errcode"] != 0 {
        return Err(format!("HTTP {status}: {text}"));
    }
    let values = reply["values"]
        .as_u64()
        .ok_or_else(|| format!("no values: {text}"))? as usize;
    if values != expected {
        return Err(format!("{expected} values sent, {values} stored"));
    }
    Ok(Sent {
        started,
        done,
        values,
    })
}

/// Values stored: those packed in the staged batches (24 bytes each) and in the chunks (16
/// bytes each), plus any rows of `metric_values` (none: they are from older versions).
async fn stored_rows(backend: Backend, url: &str) -> Result<i64, sqlx::Error> {
    macro_rules! stored {
        ($conn:ty) => {{
            let mut conn = <$conn>::connect(url).await?;
            let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM metric_values")
                .fetch_one(&mut conn)
                .await?;
            let mut bytes = [0; 2];
            for (sum, table) in bytes.iter_mut().zip(["metric_staged", "metric_chunks"]) {
                let sql = sqlx::AssertSqlSafe(format!("SELECT data FROM {table}"));
                let blobs: Vec<Vec<u8>> = sqlx::query_scalar(sql).fetch_all(&mut conn).await?;
                *sum = blobs.iter().map(Vec::len).sum::<usize>();
            }
            rows + (bytes[0] / 24 + bytes[1] / 16) as i64
        }};
    }
    Ok(match backend {
        Backend::Sqlite => stored!(sqlx::SqliteConnection),
        Backend::MySql => stored!(sqlx::MySqlConnection),
        Backend::Postgres => stored!(sqlx::PgConnection),
    })
}

struct Settings {
    clients: usize,
    seconds: f64,
    hosts: usize,
    series_first: bool,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text} is not a valid number")),
        Err(_) => default,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SQLite",
        Backend::MySql => "MariaDB",
        Backend::Postgres => "PostgreSQL",
    }
}

/// Runs the benchmark on one backend, or says loudly that it is not configured.
fn bench(
    backend: Backend,
    settings: &Settings,
    templates: &[Template],
    period_ms: u64,
    first_round: usize,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(scratch) = runtime.block_on(common::Scratch::new(backend)) else {
        let var = if backend == Backend::MySql {
            "POLARIS_TEST_MYSQL_URL"
        } else {
            "POLARIS_TEST_POSTGRES_URL"
        };
        println!(
            "\n*** SKIPPED: {}: set {var}=<url> to benchmark it ***",
            name(backend)
        );
        return;
    };
    let tls = common::Tls::new();
    let config: Config = toml::from_str(&format!(
        "admin_token = {TOKEN:?}\ndatabase = {:?}\n{}",
        scratch.url,
        tls.section()
    ))
    .unwrap();
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let addr = runtime.block_on(async {
        let state = polaris::app::state(config).await.expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(polaris::app::run(listener, state, async {
            let _ = stopped.await;
        }));
        addr
    });
    let enroller = tls.enroller(&addr, TOKEN);
    let url = format!("{}/api/v1/metrics", enroller.base);
    // Every host enrolled, its client (with its certificate) shared by the sending threads.
    let hosts: Vec<ureq::Agent> = (0..settings.hosts)
        .map(|host| tls.host(&enroller, &scratch.url, &host_name(host)).agent)
        .collect();

    let start = Instant::now();
    let window = start + WARM_UP;
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut sent = Vec::new();
    let mut failures = Vec::new();
    if settings.series_first {
        // The warm-up starts with the first round from one client, so the series are created
        // one batch at a time, as each nodus host creates its own (see the `INGEST_SERIES_FIRST`
        // note in the header).
        let (batches, failure) = client(
            &url,
            &hosts,
            templates,
            period_ms,
            &next,
            &AtomicBool::new(false),
            first_round,
        );
        sent.extend(batches);
        failures.extend(failure);
    }
    thread::scope(|scope| {
        let clients: Vec<_> = (0..settings.clients)
            .map(|_| {
                scope.spawn(|| client(&url, &hosts, templates, period_ms, &next, &stop, usize::MAX))
            })
            .collect();
        thread::sleep(
            (window + Duration::from_secs_f64(settings.seconds))
                .saturating_duration_since(Instant::now()),
        );
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            let (batches, failure) = client.join().expect("client thread");
            sent.extend(batches);
            failures.extend(failure);
        }
    });

    let total_values: usize = sent.iter().map(|s| s.values).sum();
    let stored = runtime.block_on(stored_rows(backend, &scratch.url));
    let _ = stop_server.send(());
    runtime.block_on(scratch.remove());
    runtime.shutdown_timeout(Duration::from_secs(5));

    let measured: Vec<&Sent> = sent.iter().filter(|s| s.started >= window).collect();
    let values: usize = measured.iter().map(|s| s.values).sum();
    let end = measured.iter().map(|s| s.done).max().unwrap_or(window);
    let seconds = (end - window).as_secs_f64();
    let rate = if seconds > 0.0 {
        values as f64 / seconds
    } else {
        0.0
    };
    let mut latencies: Vec<Duration> = measured.iter().map(|s| s.done - s.started).collect();
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "\n== {}: {} clients, {} s after a {} s warm-up",
        name(backend),
        settings.clients,
        settings.seconds,
        WARM_UP.as_secs()
    );
    if latencies.is_empty() {
        println!("   no batch completed in the measured window");
    } else {
        println!(
            "   batches {}  values {}  seconds {seconds:.2}  values/s {}  batch latency p50 {:.2} ms  p99 {:.2} ms",
            measured.len(),
            thousands(values as f64),
            thousands(rate),
            ms(percentile(&latencies, 0.50)),
            ms(percentile(&latencies, 0.99)),
        );
    }
    let stored_text = match &stored {
        Ok(rows) => thousands(*rows as f64),
        Err(e) => format!("unknown ({e})"),
    };
    let counts_match = stored
        .as_ref()
        .is_ok_and(|&rows| rows as usize == total_values);
    let consistent = failures.is_empty() && counts_match;
    println!(
        "   check: {} batches in all (warm-up included), every reply 200/errcode 0 with the values sent: {}; \
         {} values acknowledged, {stored_text} values in the database: {}",
        sent.len(),
        if failures.is_empty() { "yes" } else { "NO" },
        thousands(total_values as f64),
        if counts_match { "match" } else { "MISMATCH" },
    );
    for failure in &failures {
        println!("   FAILED: {failure}");
    }
    {
        println!(
            "   goal: >= {} values/s into {} on this {}-core machine: {} ({} values/s)",
            thousands(GOAL),
            name(backend),
            thread::available_parallelism().map_or(0, |n| n.get()),
            if rate >= GOAL { "met" } else { "NOT MET" },
            thousands(rate),
        );
    }
    assert!(consistent, "{}: the check failed", name(backend));
}

fn main() {
    let settings = Settings {
        clients: env_or("INGEST_CLIENTS", 4),
        seconds: env_or("INGEST_SECONDS", 10.0),
        hosts: env_or("INGEST_HOSTS", 50),
        series_first: env_or("INGEST_SERIES_FIRST", 1) != 0,
    };
    assert!(settings.clients > 0 && settings.hosts > 0 && settings.seconds > 0.0);
    // Backends named on the command line (cargo bench adds `--bench`: flags are ignored).
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| a.to_lowercase())
        .collect();
    let cycle = host_cycle();
    let per_host: usize = cycle.iter().map(|k| k.ds.len()).sum();
    // Enough rounds of one host for a whole number of batches; the first batch of every host
    // holds all its series.
    let rounds = BATCH / gcd(BATCH, cycle.len());
    let first_round = settings.hosts;
    let started = Instant::now();
    let templates = templates(settings.hosts, rounds);
    let bytes: usize = templates.iter().map(|t| t.body.len()).sum();
    let values: usize = templates.iter().map(|t| t.values).sum();
    println!(
        "Benchmark P4: POST /api/v1/metrics over HTTPS (each host its client certificate), {BATCH} value lists per batch ({:.0} values, {:.0} KiB on average), \
         {} hosts x {} value lists ({per_host} values, {per_host} series) per {INTERVAL_S} s round = {} series; \
         {} distinct batches pre-serialized in {:.2?}; {} CPUs",
        values as f64 / templates.len() as f64,
        bytes as f64 / templates.len() as f64 / 1024.0,
        settings.hosts,
        cycle.len(),
        settings.hosts * per_host,
        templates.len(),
        started.elapsed(),
        thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let period_ms = rounds as u64 * INTERVAL_S * 1000;
    if only.iter().any(|o| o == "breakdown") {
        breakdown(&settings, &templates, period_ms, first_round);
        return;
    }
    for backend in common::BACKENDS {
        let label = match backend {
            Backend::Sqlite => "sqlite",
            Backend::MySql => "mysql",
            Backend::Postgres => "postgres",
        };
        if only.is_empty()
            || only
                .iter()
                .any(|o| o == label || o == &name(backend).to_lowercase())
        {
            bench(backend, &settings, &templates, period_ms, first_round);
        }
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}
