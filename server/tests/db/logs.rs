//! Log records in the database on every backend: a record is stored once across a resend
//! (the agent's at-least-once delivery), sources keep their latest state, queries filter by
//! host, source, time, text and fields and page by cursor without a record lost or repeated,
//! and retention deletes the oldest records by age and by size.

use polaris::api::log_batch::{check_batch, parse_batch};
use polaris::db::logs::{LogQuery, LogRetention, NewLogRecord, NewSourceState};
use serde_json::{Value, json};
use wire::logs::LogBatch;

use super::Ctx;

/// A record of `source` in file generation `file` at `offset`.
fn record(source: &str, file: &str, offset: u64, time: f64, message: &str, fields: Value) -> Value {
    json!({"source": source, "file": file, "offset": offset, "path": format!("/var/log/{source}.log"),
        "time": time, "message": message, "fields": fields})
}

fn checked(records: Vec<Value>, sources: Vec<Value>) -> (Vec<NewLogRecord>, Vec<NewSourceState>) {
    let batch: LogBatch =
        serde_json::from_value(json!({"records": records, "sources": sources})).unwrap();
    let checked = check_batch(batch).unwrap();
    (checked.records, checked.sources)
}

fn source(name: &str, offset: u64, state: &str) -> Value {
    json!({"name": name, "path": format!("/var/log/{name}*.log"), "files": 2, "open_files": 1,
        "offset": offset, "size": 1000, "lag": 1000 - offset, "state": state, "lost_bytes": 0,
        "truncations": 1, "parse_errors": 0, "truncated_records": 0})
}

const F1: &str = "00000000000000a1";
const F2: &str = "00000000000000b2";

pub async fn stored_once_across_a_resend(ctx: Ctx) {
    let first = vec![
        record("nginx", F1, 0, 10.0, "line 0", json!({})),
        record("nginx", F1, 7, 11.0, "line 1", json!({})),
        record("nginx", F1, 14, 12.0, "line 2", json!({})),
    ];
    let (records, sources) = checked(first.clone(), vec![source("nginx", 21, "reading")]);
    let count = ctx.db.store_logs("web1", &records, &sources).await.unwrap();
    assert_eq!((count.stored, count.duplicates), (3, 0));
    // The agent was killed before it committed: it resends, with one record more, through
    // another handle (another replica).
    let other = polaris::db::Db::connect(&ctx.url).await.unwrap();
    let mut again = first.clone();
    again.push(record("nginx", F1, 21, 13.0, "line 3", json!({})));
    // The agent skipped two records Polaris refused alone (an older agent sends no count).
    let mut state = source("nginx", 28, "idle");
    state["rejected_records"] = json!(2);
    let (records, sources) = checked(again, vec![state]);
    let count = other.store_logs("web1", &records, &sources).await.unwrap();
    assert_eq!((count.stored, count.duplicates), (1, 3));
    // The same offset in a new file generation (copytruncate), or of another host, is new.
    let (records, _) = checked(
        vec![record("nginx", F2, 0, 14.0, "after truncation", json!({}))],
        vec![],
    );
    assert_eq!(
        ctx.db
            .store_logs("web1", &records, &[])
            .await
            .unwrap()
            .stored,
        1
    );
    let (records, _) = checked(first, vec![]);
    assert_eq!(
        ctx.db
            .store_logs("web2", &records, &[])
            .await
            .unwrap()
            .stored,
        3
    );

    let all = ctx
        .db
        .query_logs(&LogQuery {
            host: Some("web1".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let messages: Vec<&str> = all.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(
        messages,
        ["line 0", "line 1", "line 2", "line 3", "after truncation"]
    );
    assert_eq!((all[3].offset, all[3].file.as_str()), (21, F1));

    let sources = ctx.db.log_sources("web1").await.unwrap();
    assert_eq!(sources.len(), 1);
    let (nginx, records) = (&sources[0].status, sources[0].records);
    assert_eq!(
        (nginx.offset, nginx.lag, nginx.state.as_str()),
        (28, 972, "idle")
    );
    assert_eq!((records, nginx.truncations), (5, 1));
    assert_eq!(nginx.rejected_records, 2);
    assert!(ctx.db.log_sources("web3").await.unwrap().is_empty());
}

pub async fn queries_filter_by_host_source_time_text_and_field(ctx: Ctx) {
    let (records, _) = checked(
        vec![
            record(
                "nginx",
                F1,
                0,
                100.0,
                "GET /index.html 200",
                json!({"status": 200, "method": "GET"}),
            ),
            record(
                "nginx",
                F1,
                30,
                200.0,
                "GET /missing 404",
                json!({"status": 404, "method": "GET"}),
            ),
            record(
                "nginx",
                F1,
                60,
                300.0,
                "POST /form 404",
                json!({"status": 404, "method": "POST"}),
            ),
            record(
                "app",
                F2,
                0,
                250.0,
                "panic: get lost",
                json!({"level": "error", "status": "404"}),
            ),
            record(
                "app",
                F2,
                20,
                400.0,
                "odd fields",
                json!({"a=b": "c", "ok": true,
                "nested": {"status": 404}, "multi": "x\nstatus=404"}),
            ),
        ],
        vec![],
    );
    ctx.db.store_logs("web1", &records, &[]).await.unwrap();
    let (records, _) = checked(
        vec![record(
            "nginx",
            F1,
            0,
            150.0,
            "GET /other 404",
            json!({"status": 404}),
        )],
        vec![],
    );
    ctx.db.store_logs("web2", &records, &[]).await.unwrap();

    let find = |query: LogQuery| {
        let db = ctx.db.clone();
        async move {
            let query = LogQuery {
                limit: 100,
                ..query
            };
            let found = db.query_logs(&query).await.unwrap();
            found.into_iter().map(|r| r.message).collect::<Vec<_>>()
        }
    };
    let web1 = || Some("web1".to_string());
    assert_eq!(
        find(LogQuery {
            host: web1(),
            ..Default::default()
        })
        .await
        .len(),
        5
    );
    assert_eq!(
        find(LogQuery {
            host: web1(),
            source: Some("app".into()),
            ..Default::default()
        })
        .await,
        ["panic: get lost", "odd fields"]
    );
    assert_eq!(
        find(LogQuery {
            host: web1(),
            from: Some(200.0),
            to: Some(300.0),
            ..Default::default()
        })
        .await,
        ["GET /missing 404", "panic: get lost"],
        "from is inclusive, to exclusive"
    );
    // Case-sensitive text: "GET" is not "get".
    assert_eq!(
        find(LogQuery {
            contains: Some("GET".into()),
            ..Default::default()
        })
        .await,
        ["GET /index.html 200", "GET /other 404", "GET /missing 404"]
    );
    assert_eq!(
        find(LogQuery {
            contains: Some("get".into()),
            ..Default::default()
        })
        .await,
        ["panic: get lost"]
    );
    // A number field and a string field compare as text; every condition must match.
    let status = |value: &str| vec![("status".to_string(), value.to_string())];
    assert_eq!(
        find(LogQuery {
            host: web1(),
            fields: status("404"),
            ..Default::default()
        })
        .await,
        ["GET /missing 404", "panic: get lost", "POST /form 404"]
    );
    let mut both = status("404");
    both.push(("method".into(), "POST".into()));
    assert_eq!(
        find(LogQuery {
            fields: both,
            ..Default::default()
        })
        .await,
        ["POST /form 404"]
    );
    // Only top-level fields, whole: no match inside a nested object or across a newline.
    let field = |name: &str, value: &str| vec![(name.to_string(), value.to_string())];
    assert_eq!(
        find(LogQuery {
            fields: field("a=b", "c"),
            ..Default::default()
        })
        .await,
        ["odd fields"]
    );
    assert!(
        find(LogQuery {
            fields: field("a", "b=c"),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        find(LogQuery {
            fields: field("ok", "true"),
            ..Default::default()
        })
        .await,
        ["odd fields"]
    );
    assert_eq!(
        find(LogQuery {
            fields: field("multi", "x\nstatus=404"),
            ..Default::default()
        })
        .await,
        ["odd fields"]
    );
    let absent = vec![("nothing".to_string(), "x".to_string())];
    assert!(
        find(LogQuery {
            fields: absent,
            ..Default::default()
        })
        .await
        .is_empty()
    );
    // Like-pattern characters are plain text.
    assert!(
        find(LogQuery {
            contains: Some("%".into()),
            ..Default::default()
        })
        .await
        .is_empty()
    );
}

pub async fn cursor_pages_return_each_record_once(ctx: Ctx) {
    // 25 records, several at one time: paging must order ties by id.
    let lines: Vec<Value> = (0..25u64)
        .map(|i| {
            record(
                "app",
                F1,
                i * 10,
                1000.0 + (i / 4) as f64,
                &format!("line {i}"),
                json!({}),
            )
        })
        .collect();
    let (records, _) = checked(lines, vec![]);
    ctx.db.store_logs("web1", &records, &[]).await.unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = ctx
            .db
            .query_logs(&LogQuery {
                host: Some("web1".into()),
                after,
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.time, last.id));
        seen.extend(page.into_iter().map(|r| r.message));
    }
    let expected: Vec<String> = (0..25).map(|i| format!("line {i}")).collect();
    assert_eq!(seen, expected);
}

pub async fn retention_deletes_the_oldest_by_age_and_size(ctx: Ctx) {
    let now = 1_000_000.0;
    let lines: Vec<Value> = (0..10u64)
        .map(|i| {
            record(
                "app",
                F1,
                i * 100,
                now - 1000.0 + i as f64 * 100.0,
                &"x".repeat(98),
                json!({}),
            )
        })
        .collect();
    // One batch per record: retention deletes whole chunks (one per batch and file).
    for line in lines {
        let (records, _) = checked(vec![line], vec![]);
        ctx.db.store_logs("web1", &records, &[]).await.unwrap();
    }
    // 98 bytes of message and `{}` per record.
    assert_eq!(ctx.db.log_bytes().await.unwrap(), 1000);
    let kept = |db: polaris::db::Db| async move {
        let all = db
            .query_logs(&LogQuery {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        all.into_iter().map(|r| r.offset).collect::<Vec<_>>()
    };
    // Times are now-1000 .. now-100: older than 550 s are the first five.
    let pruned = ctx
        .db
        .prune_logs(
            LogRetention {
                max_age: Some(550),
                max_bytes: None,
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!((pruned.by_age, pruned.by_size), (5, 0));
    assert_eq!(kept(ctx.db.clone()).await, [500, 600, 700, 800, 900]);
    // At most 250 bytes: the oldest go until three records' 300 bytes are down to 200.
    let pruned = ctx
        .db
        .prune_logs(
            LogRetention {
                max_age: None,
                max_bytes: Some(250),
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!(pruned.by_size, 3);
    assert_eq!(kept(ctx.db.clone()).await, [800, 900]);
    assert_eq!(ctx.db.log_bytes().await.unwrap(), 200);
    // Within both limits nothing more goes.
    let pruned = ctx
        .db
        .prune_logs(
            LogRetention {
                max_age: Some(550),
                max_bytes: Some(250),
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!((pruned.by_age, pruned.by_size), (0, 0));

    // A chunk goes by age when its newest record is older than `max_age`, whole: a batch with
    // records 900 s and 10 s old is kept until both are older.
    let (records, _) = checked(
        vec![
            record("app", F2, 0, now - 900.0, "old", json!({})),
            record("app", F2, 10, now - 10.0, "young", json!({})),
        ],
        vec![],
    );
    ctx.db.store_logs("web1", &records, &[]).await.unwrap();
    let age = |max_age| LogRetention {
        max_age: Some(max_age),
        max_bytes: None,
    };
    assert_eq!(ctx.db.prune_logs(age(550), now).await.unwrap().by_age, 0);
    assert_eq!(kept(ctx.db.clone()).await, [0, 800, 900, 10]);
    // Records 100 s old and older go: the chunk of 800 and 900 (by_age counts records).
    assert_eq!(ctx.db.prune_logs(age(5), now).await.unwrap().by_age, 4);
    assert!(kept(ctx.db.clone()).await.is_empty());
    assert_eq!(ctx.db.log_bytes().await.unwrap(), 0);
}

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

/// SQLite's log ingest rate: batches of 2,000 nginx-combined lines (~136 bytes, 8 fields),
/// read and checked as `POST /api/v1/logs` reads and checks them and stored as it stores them
/// (one compressed chunk per batch); prints MiB/s of messages and the database's size per GiB
/// of lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: cargo test --release -p polaris --test db -- --ignored log_ingest_rate"]
pub async fn log_ingest_rate() {
    async fn db_connection(url: &str) -> sqlx::SqliteConnection {
        use sqlx::Connection;
        sqlx::SqliteConnection::connect(url).await.unwrap()
    }
    let scratch = crate::common::Scratch::new(polaris::db::Backend::Sqlite)
        .await
        .unwrap();
    let db = polaris::db::Db::connect(&scratch.url).await.unwrap();
    db.migrate().await.unwrap();
    let line = |n: u64| {
        format!(
            "192.0.2.{} - - [04/Dec/2025:10:00:00 +0000] \"GET /item/{n} HTTP/1.1\" 200 {} \
             \"https://example.com/\" \"Mozilla/5.0 (X11; Linux x86_64)\"",
            n % 250,
            n % 10_000
        )
    };
    let (rounds, per_batch) = (50u64, 2000u64);
    let mut bytes = 0usize;
    // The bodies are made first, so only reading, checking and storing are timed (and profiled).
    let bodies: Vec<Vec<u8>> = (0..rounds)
        .map(|round| {
            let records: Vec<Value> = (0..per_batch)
                .map(|i| {
                    let n = round * per_batch + i;
                    let message = line(n);
                    bytes += message.len();
                    record("nginx", F1, n * 200, 1_764_842_400.0 + n as f64 / 1000.0, &message,
                        json!({"remote_addr": format!("192.0.2.{}", n % 250), "method": "GET",
                            "path": format!("/item/{n}"), "status": 200, "bytes": n % 10_000,
                            "referer": "https://example.com/", "agent": "Mozilla/5.0", "protocol": "HTTP/1.1"}))
                })
                .collect();
            serde_json::to_vec(&json!({"records": records})).unwrap()
        })
        .collect();
    let mut elapsed = std::time::Duration::ZERO;
    let mut checking = std::time::Duration::ZERO;
    for body in &bodies {
        let started = std::time::Instant::now();
        let checked = parse_batch(body).unwrap();
        checking += started.elapsed();
        let count = db.store_logs("web1", &checked.records, &[]).await.unwrap();
        elapsed += started.elapsed();
        assert_eq!(count.stored, per_batch);
    }
    let mib = bytes as f64 / (1 << 20) as f64;
    println!(
        "log ingest on SQLite: {} records, {mib:.1} MiB of messages in {:.2} s ({:.2} s parsing \
         and checking): {:.1} MiB/s, {:.0} records/s",
        rounds * per_batch,
        elapsed.as_secs_f64(),
        checking.as_secs_f64(),
        mib / elapsed.as_secs_f64(),
        (rounds * per_batch) as f64 / elapsed.as_secs_f64()
    );
    // Queries: every record page by page (1,000 a page), and the last second's records.
    let started = std::time::Instant::now();
    let (mut pages, mut seen, mut after) = (0u32, 0u64, None);
    loop {
        let page = db
            .query_logs(&LogQuery {
                host: Some("web1".into()),
                after,
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.time, last.id));
        pages += 1;
        seen += page.len() as u64;
    }
    let paging = started.elapsed();
    assert_eq!(seen, rounds * per_batch);
    let end = 1_764_842_400.0 + (rounds * per_batch) as f64 / 1000.0;
    let started = std::time::Instant::now();
    let recent = db
        .query_logs(&LogQuery {
            from: Some(end - 1.0),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let last_second = started.elapsed();
    assert_eq!(recent.len(), 1000);
    println!(
        "queries: {pages} pages of 1,000 in {:.2} s ({:.1} ms a page); the last second's 1,000 \
         records in {:.1} ms",
        paging.as_secs_f64(),
        paging.as_secs_f64() * 1000.0 / f64::from(pages.max(1)),
        last_second.as_secs_f64() * 1000.0
    );
    // The database's size (checkpointed, so the WAL is in the file) per GiB of lines (messages
    // and their newlines).
    let path = scratch.url.trim_start_matches("sqlite://").to_string();
    let mut checkpoint = db_connection(&scratch.url).await;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut checkpoint)
        .await
        .unwrap();
    drop(db);
    let size = std::fs::metadata(&path).unwrap().len()
        + std::fs::metadata(format!("{path}-wal")).map_or(0, |m| m.len());
    let lines = (bytes as u64 + rounds * per_batch) as f64;
    println!(
        "database: {:.1} MiB, {:.3} GiB per GiB of lines",
        size as f64 / (1 << 20) as f64,
        size as f64 / lines
    );
    scratch.remove().await;
}
