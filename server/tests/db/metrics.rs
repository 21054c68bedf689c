//! Metrics: ingest, averages, staging and chunks (the one storage model of every backend),
//! databases from before chunks, and SQLite's ingest rate.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use polaris::db::{Backend, Db, DbError, MetricQuery};
use polaris::limits::SeriesLimits;
use sqlx::Connection;
use wire::metrics::ValueListJson;

use super::{Ctx, Scratch};

fn values(
    host: &str,
    plugin: (&str, &str),
    type_: (&str, &str),
    time: f64,
    ds: &[(&str, Option<f64>)],
) -> ValueListJson {
    ValueListJson {
        values: ds.iter().map(|(_, v)| *v).collect(),
        dstypes: ds.iter().map(|_| "gauge".to_owned()).collect(),
        dsnames: ds.iter().map(|(name, _)| (*name).to_owned()).collect(),
        time,
        interval: 10.0,
        host: host.into(),
        plugin: plugin.0.into(),
        plugin_instance: plugin.1.into(),
        type_: type_.0.into(),
        type_instance: type_.1.into(),
    }
}

fn query(host: &str, plugin: &str, type_: &str, from: f64, to: f64, step: f64) -> MetricQuery {
    MetricQuery {
        host: host.into(),
        plugin: plugin.into(),
        plugin_instance: None,
        type_: type_.into(),
        type_instance: None,
        dsname: None,
        from,
        to,
        step,
    }
}

pub async fn ingests_and_averages(ctx: Ctx) {
    let db = ctx.db;
    let mut batch = Vec::new();
    for (i, time) in [100.0, 105.0, 110.0, 115.0, 120.0].into_iter().enumerate() {
        let v = i as f64 + 1.0;
        batch.push(values(
            "h1",
            ("cpu", "0"),
            ("cpu", "idle"),
            time,
            &[("value", Some(v))],
        ));
        batch.push(values(
            "h1",
            ("cpu", "0"),
            ("cpu", "user"),
            time,
            &[("value", Some(10.0 * v))],
        ));
        let load = [
            ("shortterm", Some(v)),
            ("midterm", Some(v * 2.0)),
            ("longterm", None),
        ];
        batch.push(values("h1", ("load", ""), ("load", ""), time, &load));
    }
    batch.push(values(
        "h1",
        ("cpu", "0"),
        ("cpu", "idle"),
        -15.0,
        &[("value", Some(42.0))],
    ));
    batch.push(values(
        "h1",
        ("cpu", "0"),
        ("cpu", "idle"),
        130.0,
        &[("value", Some(f64::NAN))],
    ));
    assert_eq!(
        db.ingest(&batch, SeriesLimits::default()).await.unwrap(),
        5 * 5 + 2
    );

    let idle = MetricQuery {
        plugin_instance: Some("0".into()),
        type_instance: Some("idle".into()),
        ..query("h1", "cpu", "cpu", 100.0, 120.0, 10.0)
    };
    let series = db.query_metrics(&idle).await.unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(
        (
            series[0].type_instance.as_str(),
            series[0].dsname.as_str(),
            series[0].dstype.as_str()
        ),
        ("idle", "value", "gauge")
    );
    assert_eq!(series[0].points, [(100.0, 1.5), (110.0, 3.5)]);
    // Buckets are floor(time / step) × step, before 1970 too; unknown values are left out.
    let wide = db
        .query_metrics(&MetricQuery {
            from: -100.0,
            to: 1000.0,
            step: 20.0,
            ..idle.clone()
        })
        .await
        .unwrap();
    assert_eq!(wide[0].points, [(-20.0, 42.0), (100.0, 2.5), (120.0, 5.0)]);

    let cpu = db
        .query_metrics(&query("h1", "cpu", "cpu", 0.0, 200.0, 60.0))
        .await
        .unwrap();
    let seen: Vec<_> = cpu
        .iter()
        .map(|s| (s.type_instance.as_str(), s.points.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            ("idle", vec![(60.0, 2.5), (120.0, 5.0)]),
            ("user", vec![(60.0, 25.0), (120.0, 50.0)])
        ]
    );

    let load = db
        .query_metrics(&query("h1", "load", "load", 100.0, 121.0, 5.0))
        .await
        .unwrap();
    let names: Vec<_> = load.iter().map(|s| s.dsname.as_str()).collect();
    assert_eq!(names, ["longterm", "midterm", "shortterm"]);
    assert!(load[0].points.is_empty());
    assert_eq!(
        load[1].points,
        [
            (100.0, 2.0),
            (105.0, 4.0),
            (110.0, 6.0),
            (115.0, 8.0),
            (120.0, 10.0)
        ]
    );
    let midterm = MetricQuery {
        dsname: Some("midterm".into()),
        ..query("h1", "load", "load", 100.0, 121.0, 100.0)
    };
    assert_eq!(
        db.query_metrics(&midterm).await.unwrap()[0].points,
        [(100.0, 6.0)]
    );
    assert!(
        db.query_metrics(&query("h2", "cpu", "cpu", 0.0, 200.0, 60.0))
            .await
            .unwrap()
            .is_empty()
    );
    let bad_step = db
        .query_metrics(&query("h1", "cpu", "cpu", 0.0, 200.0, 0.0))
        .await;
    assert!(matches!(bad_step, Err(DbError::Invalid(_))));

    // Known series again (from the cache), and from a second handle whose cache is empty.
    let more = [values(
        "h1",
        ("cpu", "0"),
        ("cpu", "idle"),
        101.0,
        &[("value", Some(6.5))],
    )];
    assert_eq!(db.ingest(&more, SeriesLimits::default()).await.unwrap(), 1);
    let other = Db::connect(&ctx.url).await.unwrap();
    let more = [
        values(
            "h1",
            ("cpu", "0"),
            ("cpu", "idle"),
            102.0,
            &[("value", Some(0.5))],
        ),
        values(
            "h1",
            ("cpu", "1"),
            ("cpu", "idle"),
            102.0,
            &[("value", Some(1.0))],
        ),
    ];
    assert_eq!(
        other.ingest(&more, SeriesLimits::default()).await.unwrap(),
        2
    );
    assert_eq!(
        db.query_metrics(&idle).await.unwrap()[0].points,
        [(100.0, 2.5), (110.0, 3.5)]
    );
    let all_idle = MetricQuery {
        type_instance: Some("idle".into()),
        ..query("h1", "cpu", "cpu", 100.0, 110.0, 10.0)
    };
    let instances: Vec<_> = db
        .query_metrics(&all_idle)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.plugin_instance)
        .collect();
    assert_eq!(instances, ["0", "1"]);
}

pub async fn mismatched_arrays_store_nothing(ctx: Ctx) {
    let db = ctx.db;
    let good = values(
        "h1",
        ("cpu", "0"),
        ("cpu", "idle"),
        100.0,
        &[("value", Some(1.0))],
    );
    let mut bad = values(
        "h1",
        ("load", ""),
        ("load", ""),
        100.0,
        &[("shortterm", Some(1.0)), ("midterm", Some(2.0))],
    );
    bad.dsnames.pop();
    let refused = db
        .ingest(&[good.clone(), bad], SeriesLimits::default())
        .await;
    assert!(
        matches!(&refused, Err(DbError::Invalid(message)) if message.contains("value list 1")),
        "{refused:?}"
    );
    let mut nul = good.clone();
    nul.plugin_instance = "a\0b".into();
    assert!(matches!(
        db.ingest(&[good.clone(), nul], SeriesLimits::default())
            .await,
        Err(DbError::Invalid(_))
    ));
    assert!(
        db.query_metrics(&query("h1", "cpu", "cpu", 0.0, 1000.0, 10.0))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(db.ingest(&[], SeriesLimits::default()).await.unwrap(), 0);
    assert_eq!(
        db.ingest(&[good], SeriesLimits::default()).await.unwrap(),
        1
    );
}

pub async fn concurrent_ingests_share_new_series(ctx: Ctx) {
    let batch: Vec<_> = (0..50)
        .map(|i| {
            values(
                "h1",
                ("df", &format!("disk{i}")),
                ("df", "used"),
                100.0,
                &[("value", Some(1.0))],
            )
        })
        .collect();
    let mut tasks = Vec::new();
    for task in 0..4 {
        // Each task meets the new series in another order (rotated, every other one reversed),
        // as agents' batches do: locks must not deadlock, ids must not be missed.
        let mut batch = batch.clone();
        batch.rotate_left(task * 13);
        if task % 2 == 1 {
            batch.reverse();
        }
        let db = Db::connect(&ctx.url).await.unwrap();
        tasks.push(tokio::spawn(async move {
            db.ingest(&batch, SeriesLimits::default()).await.unwrap()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 50);
    }
    let series = ctx
        .db
        .query_metrics(&query("h1", "df", "df", 0.0, 1000.0, 1000.0))
        .await
        .unwrap();
    assert_eq!(series.len(), 50);
    assert!(series.iter().all(|s| s.points == [(0.0, 1.0)]));
}

pub async fn many_values_move_to_the_index(ctx: Ctx) {
    // More values than are staged (128 Ki) before moving them to per-series chunks.
    const LISTS: i32 = 66_000;
    let db = ctx.db;
    let list = |time: f64, rx: Option<f64>, tx: Option<f64>| {
        values(
            "h1",
            ("interface", "eth0"),
            ("if_octets", ""),
            time,
            &[("rx", rx), ("tx", tx)],
        )
    };
    let batch: Vec<_> = (0..LISTS)
        .map(|i| list(f64::from(i) / 100.0, Some(1.0), Some(f64::from(i % 2))))
        .collect();
    assert_eq!(
        db.ingest(&batch, SeriesLimits::default()).await.unwrap(),
        2 * LISTS as usize
    );
    assert_eq!(
        db.ingest(&[list(1.0, Some(4.0), None)], SeriesLimits::default())
            .await
            .unwrap(),
        2
    );
    // The big batch is in four chunks (two per series: a chunk holds at most 64 Ki values), the
    // last two values are staged.
    let counts = stored_counts(&ctx.url).await;
    assert_eq!(counts, [0, 1, 2, 4, 2 * i64::from(LISTS)]);
    // Buckets with values in chunks and staged average over both.
    let series = db
        .query_metrics(&query("h1", "interface", "if_octets", 0.0, 1000.0, 1000.0))
        .await
        .unwrap();
    let points: Vec<_> = series
        .iter()
        .map(|s| (s.dsname.as_str(), s.points.clone()))
        .collect();
    let rx = (f64::from(LISTS) + 4.0) / f64::from(LISTS + 1);
    assert_eq!(points, [("rx", vec![(0.0, rx)]), ("tx", vec![(0.0, 0.5)])]);
    let early = db
        .query_metrics(&query("h1", "interface", "if_octets", 0.0, 100.0, 50.0))
        .await
        .unwrap();
    assert_eq!(early[0].points, [(0.0, 5_004.0 / 5_001.0), (50.0, 1.0)]);
}

/// Values of the flush test: rx known but every 7th, tx known but every 3rd, `none` never
/// known; multiples of 0.25, so that sums are exact in any order.
fn flush_list(i: u32) -> ValueListJson {
    let rx = (!i.is_multiple_of(7)).then(|| f64::from(i % 13) * 0.25);
    let tx = (!i.is_multiple_of(3)).then(|| f64::from(i % 5));
    values(
        "h1",
        ("interface", "eth0"),
        ("if_octets", ""),
        f64::from(i) * 0.5,
        &[("rx", rx), ("tx", tx), ("none", None)],
    )
}

/// The answer `query` must get for `stored` (data-source name, time, value), computed here:
/// the series with a value in the range, by name, and the average of each bucket's known values.
fn expected(stored: &[(&str, f64, Option<f64>)], query: &MetricQuery) -> Vec<(String, Points)> {
    let mut series: BTreeMap<&str, BTreeMap<i64, (f64, i64)>> = BTreeMap::new();
    for &(name, time, value) in stored {
        if query.dsname.as_deref().is_some_and(|only| only != name)
            || !(time >= query.from && time < query.to)
        {
            continue;
        }
        let buckets = series.entry(name).or_default();
        if let Some(value) = value {
            let sum = buckets
                .entry((time / query.step).floor() as i64)
                .or_default();
            sum.0 += value;
            sum.1 += 1;
        }
    }
    series
        .into_iter()
        .map(|(name, buckets)| {
            let points = buckets
                .into_iter()
                .map(|(bucket, (sum, n))| (bucket as f64 * query.step, sum / n as f64))
                .collect();
            (name.to_owned(), points)
        })
        .collect()
}

type Points = Vec<(f64, f64)>;

pub async fn queries_span_a_flush(ctx: Ctx) {
    // Two batches of just over the staging limit (128 Ki values on SQLite), each moved to
    // chunks (the second sent newest first, so its chunks are sorted by the flush), then a
    // small batch that stays staged.
    const LISTS: u32 = 44_000;
    let db = ctx.db;
    let batches = [
        (0..LISTS).map(flush_list).collect::<Vec<_>>(),
        (LISTS..2 * LISTS).rev().map(flush_list).collect(),
        (2 * LISTS..2 * LISTS + 300).map(flush_list).collect(),
    ];
    let mut stored = Vec::new();
    for batch in &batches {
        assert_eq!(
            db.ingest(batch, SeriesLimits::default()).await.unwrap(),
            3 * batch.len()
        );
        for list in batch {
            for (name, value) in list.dsnames.iter().zip(&list.values) {
                stored.push((name.as_str(), list.time, *value));
            }
        }
    }
    let chunked = 6 * i64::from(LISTS);
    assert_eq!(stored_counts(&ctx.url).await, [0, 1, 900, 6, chunked]);
    // Rows of a database written before chunks existed move into chunks at the next migrate,
    // values bit for bit (the staged values stay staged).
    // Multiples of 0.25 where other values are (sums exact in any order), and one alone in its
    // buckets that is not.
    let old = [
        (100.25, Some(2.5)),
        (30_000.75, None),
        (44_100.5, Some(0.75)),
        (90_000.125, Some(0.1 + 0.2)),
    ];
    for (time, value) in old {
        insert_value_row(&ctx.url, time, value).await;
        stored.push(("rx", time, value));
    }
    assert_eq!(stored_counts(&ctx.url).await, [4, 1, 900, 6, chunked]);
    let db = Db::connect(&ctx.url).await.unwrap();
    db.migrate().await.unwrap();
    assert_eq!(stored_counts(&ctx.url).await, [0, 1, 900, 7, chunked + 4]);
    db.migrate().await.unwrap();
    assert_eq!(stored_counts(&ctx.url).await, [0, 1, 900, 7, chunked + 4]);
    let queries = [
        // Everything: chunks of both flushes, staged values (and old rows).
        (0.0, 1e6, 5_000.0, None),
        // From the middle of the first flush's chunks to the middle of the second's.
        (12_345.5, 37_654.25, 1_000.0, None),
        // The end of the second flush's chunks and the staged values.
        (43_900.0, 44_200.0, 7.0, None),
        // Staged values of one series only.
        (44_010.0, 44_100.0, 30.0, Some("tx")),
        // Inside one chunk.
        (20_000.5, 20_010.0, 2.5, Some("rx")),
        // The last value of the first flush's chunks and the first of the second's.
        (21_999.5, 22_000.5, 0.5, None),
        // Nothing stored there.
        (60_000.0, 70_000.0, 60.0, None),
        // An old row's value, alone in its bucket: bit for bit.
        (90_000.0, 90_001.0, 1.0, Some("rx")),
    ];
    for (from, to, step, dsname) in queries {
        let query = MetricQuery {
            dsname: dsname.map(str::to_owned),
            ..query("h1", "interface", "if_octets", from, to, step)
        };
        let got: Vec<(String, Points)> = db
            .query_metrics(&query)
            .await
            .unwrap()
            .into_iter()
            .map(|series| (series.dsname, series.points))
            .collect();
        let want = expected(&stored, &query);
        assert_eq!(got, want, "{from}..{to} step {step} {dsname:?}");
        if from == 0.0 {
            let names: Vec<&str> = got.iter().map(|(name, _)| name.as_str()).collect();
            assert_eq!(names, ["none", "rx", "tx"]);
            assert!(got[0].1.is_empty() && !got[1].1.is_empty());
        }
    }
}

/// A SQLite database written before chunks (migrations 0001 and 0002 only) keeps its values:
/// the staged rows move to `metric_values` with migration 0003, and from there into chunks
/// when the server migrates; queries read them with the values ingested since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub async fn values_from_before_chunks_are_kept() {
    let scratch = Scratch::new(Backend::Sqlite).await.unwrap();
    let before = tempfile::tempdir().unwrap();
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for name in ["0001_init.sql", "0002_commands.sql"] {
        std::fs::copy(migrations.join(name), before.path().join(name)).unwrap();
    }
    let options: sqlx::sqlite::SqliteConnectOptions = scratch.url.parse().unwrap();
    let mut conn = sqlx::SqliteConnection::connect_with(&options.create_if_missing(true))
        .await
        .unwrap();
    let old = sqlx::migrate::Migrator::new(before.path()).await.unwrap();
    old.run(&mut conn).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO metric_series (id, host, plugin, type, dsname, dstype) \
         VALUES (1, 'h1', 'load', 'load', 'shortterm', 'gauge');
         INSERT INTO metric_values VALUES (1, 100.0, 1.0), (1, 110.0, NULL);
         INSERT INTO metric_values_recent VALUES (1, 120.0, 2.0), (1, 130.0, NULL);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let db = Db::connect(&scratch.url).await.unwrap();
    db.migrate().await.unwrap();
    let load = |time, value| {
        values(
            "h1",
            ("load", ""),
            ("load", ""),
            time,
            &[("shortterm", value)],
        )
    };
    let batch = [load(140.0, Some(6.0)), load(150.0, None)];
    assert_eq!(db.ingest(&batch, SeriesLimits::default()).await.unwrap(), 2);
    assert_eq!(stored_counts(&scratch.url).await, [0, 1, 2, 1, 4]);
    let series = db
        .query_metrics(&query("h1", "load", "load", 100.0, 200.0, 20.0))
        .await
        .unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].points, [(100.0, 1.0), (120.0, 2.0), (140.0, 6.0)]);
    scratch.remove().await;
}

/// The values in each place: rows of `metric_values` (left by older versions), staged batches
/// (rows of `metric_staged`) and their values, chunks and their values (from the blobs'
/// lengths), on the backend `url` names.
async fn stored_counts(url: &str) -> [i64; 5] {
    macro_rules! counts {
        ($conn:ty) => {{
            let mut conn = <$conn>::connect(url).await.unwrap();
            let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM metric_values")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            let staged: Vec<Vec<u8>> = sqlx::query_scalar("SELECT data FROM metric_staged")
                .fetch_all(&mut conn)
                .await
                .unwrap();
            let chunks: Vec<Vec<u8>> = sqlx::query_scalar("SELECT data FROM metric_chunks")
                .fetch_all(&mut conn)
                .await
                .unwrap();
            let bytes = |blobs: &[Vec<u8>]| blobs.iter().map(Vec::len).sum::<usize>() as i64;
            [
                rows,
                staged.len() as i64,
                bytes(&staged) / 24,
                chunks.len() as i64,
                bytes(&chunks) / 16,
            ]
        }};
    }
    match Backend::of_url(url).unwrap() {
        Backend::Sqlite => counts!(sqlx::SqliteConnection),
        Backend::MySql => counts!(sqlx::MySqlConnection),
        Backend::Postgres => counts!(sqlx::PgConnection),
    }
}

/// Inserts a row into `metric_values` for the `rx` series, as a version before chunks did.
async fn insert_value_row(url: &str, time: f64, value: Option<f64>) {
    macro_rules! insert {
        ($conn:ty, $sql:expr) => {{
            let mut conn = <$conn>::connect(url).await.unwrap();
            sqlx::query($sql)
                .bind(time)
                .bind(value)
                .execute(&mut conn)
                .await
                .unwrap();
        }};
    }
    const SQL: &str = "INSERT INTO metric_values (series_id, time, value) \
        SELECT id, ?, ? FROM metric_series WHERE dsname = 'rx'";
    match Backend::of_url(url).unwrap() {
        Backend::Sqlite => insert!(sqlx::SqliteConnection, SQL),
        Backend::MySql => insert!(sqlx::MySqlConnection, SQL),
        Backend::Postgres => insert!(
            sqlx::PgConnection,
            "INSERT INTO metric_values (series_id, time, value) \
             SELECT id, $1, $2 FROM metric_series WHERE dsname = 'rx'"
        ),
    }
}

/// SQLite's ingest rate with batches like nodus sends: 500 value lists of 1 or 2 values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: cargo test --release -p polaris --test db -- --ignored ingest_rate"]
pub async fn ingest_rate() {
    let scratch = Scratch::new(Backend::Sqlite).await.unwrap();
    let db = Db::connect(&scratch.url).await.unwrap();
    db.migrate().await.unwrap();
    let batches: Vec<Vec<ValueListJson>> = (0..2000)
        .map(|round| {
            (0..500)
                .map(|i| {
                    let host = format!("host{}", i % 50);
                    let time = 1_700_000_000.0 + f64::from(round) * 10.0;
                    let plugin = format!("{}", i / 50);
                    if i % 2 == 0 {
                        values(
                            &host,
                            ("cpu", &plugin),
                            ("cpu", "idle"),
                            time,
                            &[("value", Some(f64::from(i)))],
                        )
                    } else {
                        let ds = [("rx", Some(f64::from(i))), ("tx", Some(f64::from(round)))];
                        values(&host, ("interface", &plugin), ("if_octets", ""), time, &ds)
                    }
                })
                .collect()
        })
        .collect();
    db.ingest(&batches[0], SeriesLimits::default())
        .await
        .unwrap(); // creates the series
    let mut calls = Vec::with_capacity(batches.len());
    let started = Instant::now();
    let mut stored = 0;
    for batch in &batches[1..] {
        let call = Instant::now();
        stored += db.ingest(batch, SeriesLimits::default()).await.unwrap();
        calls.push(call.elapsed());
    }
    let elapsed = started.elapsed();
    let rate = stored as f64 / elapsed.as_secs_f64();
    calls.sort();
    let (median, slowest) = (calls[calls.len() / 2], calls[calls.len() - 1]);
    // Straight to stderr, past the test harness's capture.
    let report = format!(
        "SQLite ingest: {stored} values in {} batches of 500 value lists, {elapsed:.2?}: \
         {rate:.0} values/s; median call {median:.2?}, slowest {slowest:.2?}\n",
        batches.len() - 1
    );
    std::io::stderr().write_all(report.as_bytes()).unwrap();
}
