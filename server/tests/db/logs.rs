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
pub fn record(
    source: &str,
    file: &str,
    offset: u64,
    time: f64,
    message: &str,
    fields: Value,
) -> Value {
    json!({"source": source, "file": file, "offset": offset, "path": format!("/var/log/{source}.log"),
        "time": time, "message": message, "fields": fields})
}

pub fn checked(
    records: Vec<Value>,
    sources: Vec<Value>,
) -> (Vec<NewLogRecord<'static>>, Vec<NewSourceState>) {
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

pub const F1: &str = "00000000000000a1";
pub const F2: &str = "00000000000000b2";

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
    assert_eq!(
        log_file_rows(&ctx.url).await,
        1,
        "F1 has chunks left: its row stays"
    );
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
    assert_eq!(log_file_rows(&ctx.url).await, 2);
    assert_eq!(ctx.db.prune_logs(age(5), now).await.unwrap().by_age, 4);
    assert!(kept(ctx.db.clone()).await.is_empty());
    assert_eq!(ctx.db.log_bytes().await.unwrap(), 0);
    // The files none of whose records are left are forgotten (their lock rows), and a resend
    // of a forgotten file's records is stored again, once.
    assert_eq!(log_file_rows(&ctx.url).await, 0);
    let (records, _) = checked(
        vec![record("app", F2, 10, now - 10.0, "young", json!({}))],
        vec![],
    );
    let count = ctx.db.store_logs("web1", &records, &[]).await.unwrap();
    assert_eq!((count.stored, count.duplicates), (1, 0));
    let count = ctx.db.store_logs("web1", &records, &[]).await.unwrap();
    assert_eq!((count.stored, count.duplicates), (0, 1));
    assert_eq!(log_file_rows(&ctx.url).await, 1);
}

/// The rows of `log_files` (one per file generation an ingest locked).
async fn log_file_rows(url: &str) -> i64 {
    use sqlx::Connection as _;
    macro_rules! count {
        ($conn:ty) => {{
            let mut conn = <$conn>::connect(url).await.unwrap();
            sqlx::query_scalar("SELECT COUNT(*) FROM log_files")
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }};
    }
    match polaris::db::Backend::of_url(url).unwrap() {
        polaris::db::Backend::Sqlite => count!(sqlx::SqliteConnection),
        polaris::db::Backend::MySql => count!(sqlx::MySqlConnection),
        polaris::db::Backend::Postgres => count!(sqlx::PgConnection),
    }
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
