//! `-- breakdown`: where SQLite's ingest time goes without HTTP (JSON parsing alone, then
//! `Db::ingest` called straight from one task and from several).

use super::*;

/// `breakdown`: where SQLite's time goes without HTTP. Parses the batches alone (what the JSON
/// extractor does), then calls `Db::ingest` straight, from one task and from `clients` tasks.
pub(super) fn breakdown(
    settings: &Settings,
    templates: &[Template],
    period_ms: u64,
    first_round: usize,
) {
    let seconds = Duration::from_secs_f64(settings.seconds);
    let body = |k: usize| {
        let template = &templates[k % templates.len()];
        let mut body = template.body.clone();
        write_times(
            &mut body,
            &template.times,
            (k / templates.len()) as u64 * period_ms,
        );
        body
    };
    // 1. JSON parsing, one thread.
    let bodies: Vec<Vec<u8>> = (0..templates.len()).map(body).collect();
    let (mut n, mut values) = (0, 0);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        let batch: Vec<ValueListJson> = serde_json::from_slice(&bodies[n % bodies.len()]).unwrap();
        values += batch.iter().map(|l| l.values.len()).sum::<usize>();
        n += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "\n== breakdown (SQLite, no HTTP)\n   JSON parse into Vec<ValueListJson>, 1 thread: {:.0} us per batch, {} values/s",
        elapsed / n as f64 * 1e6,
        thousands(values as f64 / elapsed)
    );
    // 2. Db::ingest straight, from 1 and from `clients` tasks.
    let parsed: Arc<Vec<Vec<ValueListJson>>> = Arc::new(
        bodies
            .iter()
            .map(|b| serde_json::from_slice(b).unwrap())
            .collect(),
    );
    for tasks in [1, settings.clients] {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let scratch = runtime
            .block_on(common::Scratch::new(Backend::Sqlite))
            .unwrap();
        let db = runtime.block_on(async {
            let db = polaris::db::Db::connect(&scratch.url).await.unwrap();
            db.migrate().await.unwrap();
            for k in 0..first_round {
                db.ingest(
                    &shifted(&parsed, k, period_ms),
                    polaris::limits::SeriesLimits::default(),
                )
                .await
                .unwrap();
            }
            db
        });
        let next = Arc::new(AtomicUsize::new(first_round));
        let started = Instant::now();
        // On the runtime's workers, as the handlers run.
        let workers: Vec<_> = (0..tasks)
            .map(|_| {
                let (db, parsed, next) = (db.clone(), parsed.clone(), next.clone());
                runtime.spawn(async move {
                    let mut calls = Vec::new();
                    while started.elapsed() < seconds {
                        let batch =
                            shifted(&parsed, next.fetch_add(1, Ordering::Relaxed), period_ms);
                        let call = Instant::now();
                        let n = db
                            .ingest(&batch, polaris::limits::SeriesLimits::default())
                            .await
                            .unwrap();
                        calls.push((call.elapsed(), n));
                    }
                    calls
                })
            })
            .collect();
        let mut calls = Vec::new();
        for worker in workers {
            calls.extend(runtime.block_on(worker).unwrap());
        }
        let elapsed = started.elapsed().as_secs_f64();
        let values: usize = calls.iter().map(|(_, n)| n).sum();
        let mut latencies: Vec<Duration> = calls.iter().map(|(d, _)| *d).collect();
        latencies.sort();
        println!(
            "   Db::ingest, {tasks} task(s): {} batches, {} values/s; call p50 {:.2} ms, p99 {:.2} ms, max {:.0} ms",
            latencies.len(),
            thousands(values as f64 / elapsed),
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().unwrap().as_secs_f64() * 1e3,
        );
        if tasks == 1 {
            // Alone, the calls that flush are those after which SQLite's staged values reached
            // its limit: counted here as sqlite.rs does (from the values of the first round).
            let mut staged: usize = (0..first_round)
                .map(|k| {
                    parsed[k % parsed.len()]
                        .iter()
                        .map(|l| l.values.len())
                        .sum::<usize>()
                })
                .sum();
            let mut flushes = Vec::new();
            for (d, n) in &calls {
                staged += n;
                if staged >= STAGING_LIMIT {
                    flushes.push(*d);
                    staged = 0;
                }
            }
            if let (Some(first), Some(last)) = (flushes.first(), flushes.last()) {
                let total = flushes.iter().sum::<Duration>().as_secs_f64();
                println!(
                    "     of which {} calls that flushed the staged rows to chunks took {total:.2} s of {elapsed:.2} s \
                     ({:.0} ms each on average); the first {:.0} ms, the last {:.0} ms",
                    flushes.len(),
                    total / flushes.len() as f64 * 1e3,
                    first.as_secs_f64() * 1e3,
                    last.as_secs_f64() * 1e3,
                );
            }
            // What a query costs then: one host's CPU series, over the first hour of metric time
            // (old chunks, through their index) and over everything (every chunk of those
            // series, and every staged batch).
            let t0 = T0_MS as f64 / 1000.0;
            for (what, to, step) in [
                ("the first hour", t0 + 3600.0, 60.0),
                ("everything", t0 + 1e7, 3600.0),
            ] {
                let query = MetricQuery {
                    host: "node-000.dc1.example.net".into(),
                    plugin: "cpu".into(),
                    plugin_instance: None,
                    type_: "cpu".into(),
                    type_instance: None,
                    dsname: None,
                    from: t0,
                    to,
                    step,
                };
                let started = Instant::now();
                let series = runtime.block_on(db.query_metrics(&query)).unwrap();
                println!(
                    "   then query_metrics of node-000's cpu ({} series), {what}: {:.1} ms",
                    series.len(),
                    started.elapsed().as_secs_f64() * 1e3
                );
            }
        }
        runtime.block_on(scratch.remove());
    }
}

/// Parsed batch `k`: its template's value lists with the times of its period.
fn shifted(parsed: &[Vec<ValueListJson>], k: usize, period_ms: u64) -> Vec<ValueListJson> {
    let mut batch = parsed[k % parsed.len()].clone();
    let shift = (k / parsed.len()) as u64 * period_ms;
    for list in &mut batch {
        list.time += shift as f64 / 1000.0;
    }
    batch
}
