//! Log records in chunks on every backend: a resend cut at other records than the first send
//! (and two replicas storing overlapping batches at once) stores each record once, queries
//! merge chunks whose time ranges overlap into exact (time, id) order, and records stored as
//! rows before chunks are kept.

use polaris::db::logs::{LogQuery, LogRetention};
use serde_json::{Value, json};

use super::Ctx;
use super::logs::{F1, F2, checked, record};

/// The records of `file` numbered `range` (offset 10 each, one second apart).
fn numbered(file: &str, range: std::ops::Range<u64>) -> Vec<Value> {
    range
        .map(|i| {
            record(
                "app",
                file,
                i * 10,
                5000.0 + i as f64,
                &format!("n{i}"),
                json!({"i": i}),
            )
        })
        .collect()
}

pub async fn a_resend_cut_differently_stores_nothing_twice(ctx: Ctx) {
    let store = |lines: Vec<Value>| {
        let db = ctx.db.clone();
        async move {
            let (records, _) = checked(lines, vec![]);
            let count = db.store_logs("web1", &records, &[]).await.unwrap();
            (count.stored, count.duplicates)
        }
    };
    // The first send: three batches, of two files at once in the last.
    assert_eq!(store(numbered(F1, 0..30)).await, (30, 0));
    assert_eq!(store(numbered(F1, 30..70)).await, (40, 0));
    let mut both = numbered(F1, 70..100);
    both.extend(numbered(F2, 0..5));
    assert_eq!(store(both).await, (35, 0));
    // The resend after a kill -9 is cut elsewhere: each batch overlaps two or three chunks, and
    // holds records never sent (100..110), out of order and twice within the batch.
    assert_eq!(store(numbered(F1, 10..50)).await, (0, 40));
    let mut across = numbered(F1, 95..110);
    across.reverse();
    across.extend(numbered(F1, 50..60));
    across.extend(numbered(F1, 105..107));
    assert_eq!(store(across).await, (10, 17));
    assert_eq!(store(numbered(F1, 0..120)).await, (10, 110));
    assert_eq!(store(numbered(F2, 3..8)).await, (3, 2));

    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = ctx
            .db
            .query_logs(&LogQuery {
                host: Some("web1".into()),
                after,
                limit: 33,
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.time, last.id));
        all.extend(page.into_iter().map(|r| (r.file, r.offset)));
    }
    let mut expected: Vec<(String, u64)> = (0..120).map(|i| (F1.to_string(), i * 10)).collect();
    expected.extend((0..8).map(|i| (F2.to_string(), i * 10)));
    // Time order: F1's and F2's records of one second are ordered by id.
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(sorted, expected, "every record once");
    assert_eq!(all.len(), 128);

    // Two replicas store overlapping batches of a third file at the same moment: each record
    // once between them.
    const F3: &str = "00000000000000c3";
    let other = polaris::db::Db::connect(&ctx.url).await.unwrap();
    let mut stored = 0;
    for round in 0..5u64 {
        let (a, _) = checked(numbered(F3, round * 40..round * 40 + 60), vec![]);
        let (b, _) = checked(numbered(F3, round * 40 + 20..round * 40 + 50), vec![]);
        let (one, two) = tokio::join!(
            ctx.db.store_logs("web2", &a, &[]),
            other.store_logs("web2", &b, &[])
        );
        let (one, two) = (one.unwrap(), two.unwrap());
        assert_eq!(one.stored + one.duplicates, 60);
        assert_eq!(two.stored + two.duplicates, 30);
        stored += one.stored + two.stored;
    }
    assert_eq!(stored, 220, "offsets 0..220, each once");
    let held = ctx
        .db
        .query_logs(&LogQuery {
            host: Some("web2".into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut offsets: Vec<u64> = held.iter().map(|r| r.offset).collect();
    offsets.sort_unstable();
    assert_eq!(offsets, (0..220).map(|i| i * 10).collect::<Vec<_>>());
}

pub async fn queries_merge_chunks_whose_times_overlap(ctx: Ctx) {
    // Four batches of two files, each spanning a wide time range that overlaps the others',
    // with ties of time across chunks: 200 records in all.
    let mut expected: Vec<(u64, String)> = Vec::new();
    for batch in 0..4u64 {
        let mut lines = Vec::new();
        for i in 0..50u64 {
            let n = batch * 50 + i;
            // Times 0..100 s, each taken by two records (of different chunks), shuffled.
            let time = ((n * 37) % 100) as f64;
            let file = if i % 2 == 0 { F1 } else { F2 };
            let kind = if n % 3 == 0 { "GET" } else { "POST" };
            lines.push(record(
                "app",
                file,
                n * 10,
                1000.0 + time,
                &format!("{kind} {n}"),
                json!({"kind": kind}),
            ));
            expected.push((time as u64, format!("{kind} {n}")));
        }
        let (records, _) = checked(lines, vec![]);
        ctx.db.store_logs("web1", &records, &[]).await.unwrap();
    }
    let page_all = |query: LogQuery| {
        let db = ctx.db.clone();
        async move {
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let page = db
                    .query_logs(&LogQuery {
                        after,
                        limit: 7,
                        ..query.clone()
                    })
                    .await
                    .unwrap();
                let Some(last) = page.last() else { break };
                after = Some((last.time, last.id));
                seen.extend(page.into_iter().map(|r| (r.time, r.id, r.message)));
            }
            seen
        }
    };
    let seen = page_all(LogQuery::default()).await;
    assert_eq!(seen.len(), 200);
    assert!(
        seen.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)),
        "exact (time, id) order across chunks"
    );
    let mut got: Vec<(u64, String)> = seen
        .iter()
        .map(|(t, _, m)| ((t - 1000.0) as u64, m.clone()))
        .collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "every record once");
    // With a time range and a field: those records only, in order, once.
    let seen = page_all(LogQuery {
        from: Some(1020.0),
        to: Some(1060.0),
        fields: vec![("kind".into(), "GET".into())],
        ..Default::default()
    })
    .await;
    let mut want: Vec<(u64, String)> = expected
        .iter()
        .filter(|(t, m)| (20..60).contains(t) && m.starts_with("GET"))
        .cloned()
        .collect();
    want.sort();
    let mut got: Vec<(u64, String)> = seen
        .iter()
        .map(|(t, _, m)| ((t - 1000.0) as u64, m.clone()))
        .collect();
    assert!(seen.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
    got.sort();
    assert_eq!(got, want);
    assert!(!want.is_empty());

    // One batch whose records are hours apart (a late line, a wrong clock): each is found by a
    // query of its own time.
    let (records, _) = checked(
        vec![
            record("far", F1, 0, 1000.0, "early", json!({})),
            record("far", F1, 10, 1000.0 + 5.0 * 3600.0, "late", json!({})),
            record("far", F1, 20, 1001.0, "early too", json!({})),
        ],
        vec![],
    );
    ctx.db.store_logs("web1", &records, &[]).await.unwrap();
    let from = |from: f64| {
        let db = ctx.db.clone();
        async move {
            let query = LogQuery {
                source: Some("far".into()),
                from: Some(from),
                limit: 10,
                ..Default::default()
            };
            let found = db.query_logs(&query).await.unwrap();
            found.into_iter().map(|r| r.message).collect::<Vec<_>>()
        }
    };
    assert_eq!(from(1000.5 + 4.0 * 3600.0).await, ["late"]);
    assert_eq!(from(1000.5).await, ["early too", "late"]);
    assert_eq!(from(0.0).await, ["early", "early too", "late"]);
}

/// A SQLite database written before chunks (migrations up to 0008) keeps its log records: they
/// move into chunks when the server migrates, queries, counts and retention see them with those
/// ingested since, and a resend of an old record is a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub async fn records_from_before_chunks_are_kept() {
    use sqlx::Connection;
    let scratch = crate::common::Scratch::new(polaris::db::Backend::Sqlite)
        .await
        .unwrap();
    let before = tempfile::tempdir().unwrap();
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(&migrations).unwrap() {
        let name = entry.unwrap().file_name();
        if name.to_string_lossy().as_ref() < "0009" {
            std::fs::copy(migrations.join(&name), before.path().join(&name)).unwrap();
        }
    }
    let options: sqlx::sqlite::SqliteConnectOptions = scratch.url.parse().unwrap();
    let mut conn = sqlx::SqliteConnection::connect_with(&options.create_if_missing(true))
        .await
        .unwrap();
    let old = sqlx::migrate::Migrator::new(before.path()).await.unwrap();
    old.run(&mut conn).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO log_records (host, source, file, file_offset, time, time_from_read, path, \
         message, fields, field_index, bytes, truncated_bytes, parse_error, received_at) VALUES \
         ('web1', 'app', '00000000000000a1', 0, 100.0, 0, '/var/log/app.log', 'old zero', \
          '{\"level\":\"info\"}', '\nlevel=info\n', 24, NULL, NULL, '2026-01-01T00:00:00Z'), \
         ('web1', 'app', '00000000000000a1', 10, 300.0, 1, '/var/log/app.log', 'old ten', \
          '{}', '\n', 9, 5, 'bad json', '2026-01-01T00:00:01Z');",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let db = polaris::db::Db::connect(&scratch.url).await.unwrap();
    db.migrate().await.unwrap();
    let (records, _) = checked(
        vec![
            record("app", F1, 10, 300.0, "old ten", json!({})),
            record("app", F1, 20, 200.0, "new twenty", json!({"level": "info"})),
        ],
        vec![],
    );
    let count = db.store_logs("web1", &records, &[]).await.unwrap();
    assert_eq!((count.stored, count.duplicates), (1, 1));
    let all = db
        .query_logs(&LogQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let got: Vec<(&str, f64)> = all.iter().map(|r| (r.message.as_str(), r.time)).collect();
    assert_eq!(
        got,
        [
            ("old zero", 100.0),
            ("new twenty", 200.0),
            ("old ten", 300.0)
        ]
    );
    let ten = &all[2];
    assert_eq!(
        (
            ten.time_from_read,
            ten.truncated_bytes,
            ten.parse_error.as_deref()
        ),
        (true, Some(5), Some("bad json"))
    );
    let info = db
        .query_logs(&LogQuery {
            fields: vec![("level".into(), "info".into())],
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(info.len(), 2);
    assert_eq!(db.log_bytes().await.unwrap(), 24 + 9 + 10 + 16);
    // Migrating again moves nothing more and loses nothing.
    db.migrate().await.unwrap();
    let pruned = db
        .prune_logs(
            LogRetention {
                max_age: Some(50),
                max_bytes: None,
            },
            400.0,
        )
        .await
        .unwrap();
    assert_eq!(pruned.by_age, 3, "the old rows' chunk and the new one");
    assert_eq!(db.log_bytes().await.unwrap(), 0);
    scratch.remove().await;
}
