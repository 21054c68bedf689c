//! `cron.add`, `cron.list`, `cron.remove`, firing and restarts, against a real `gearman.db`
//! and real task runners (the test binary, see `tasks::tests::test_exe`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde_json::Value;
use wire::params::{CronAdd, CronRef};
use wire::{Resp, retcode};

use super::timer::{Fire, take_due};
use super::{Cron, Entry, Schedule};
use crate::store::{Outgoing, Store};
use crate::tasks::Tasks;

struct Fixture {
    dir: tempfile::TempDir,
    exe: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let exe = crate::tasks::tests::test_exe(dir.path());
        Fixture { dir, exe }
    }

    /// The agent's view of the state directory, as after a (re)start.
    fn open(&self) -> (Arc<Store>, Arc<Tasks>, Arc<Cron>) {
        let store = Store::open(&self.dir.path().join("gearman.db")).unwrap();
        let tasks = Tasks::open(
            store.clone(),
            self.dir.path(),
            self.exe.clone(),
            Duration::from_millis(500),
        )
        .unwrap();
        let cron = Cron::start(store.clone(), tasks.clone());
        (store, tasks, cron)
    }
}

fn adding(args: &str, cmd: Option<&str>) -> CronAdd {
    CronAdd {
        args: args.into(),
        cmd: cmd.map(Into::into),
        ..CronAdd::default()
    }
}

fn removing(id: &str) -> CronRef {
    CronRef { args: id.into() }
}

fn add(cron: &Cron, schedule: &str, cmd: &str) -> String {
    let result = cron.add(&adding(schedule, Some(cmd)));
    assert_eq!(result.resp, Resp::Success, "{result:?}");
    let data = result.data.unwrap();
    data["cron_id"].as_str().unwrap().to_string()
}

fn listed(cron: &Cron) -> Vec<Value> {
    let result = cron.list();
    assert_eq!(result.resp, Resp::Success, "{result:?}");
    result.data.unwrap().as_array().unwrap().clone()
}

/// The scheduled times of the cron runs of `cron_id` that tasks started.
fn runs(store: &Store, cron_id: &str) -> Vec<i64> {
    store.with_conn(|conn| {
        let mut stmt = conn
            .prepare("SELECT scheduled FROM tasks WHERE cron_id = ?1 ORDER BY scheduled")
            .unwrap();
        stmt.query_map([cron_id], |row| row.get(0))
            .unwrap()
            .collect::<Result<Vec<i64>, _>>()
            .unwrap()
    })
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

#[tokio::test(flavor = "multi_thread")]
async fn add_answers_the_id_and_the_next_fire_time() {
    let fixture = Fixture::new();
    let (_store, _tasks, cron) = fixture.open();
    let result = cron.add(&adding("0 0 0 25 12 ?", Some("echo merry")));
    assert_eq!(result.retcode, retcode::NORMAL_TERMINATION, "{result:?}");
    let data = result.data.unwrap();
    assert!(!data["cron_id"].as_str().unwrap().is_empty());
    // The next Christmas midnight, UTC.
    let now = Utc::now();
    let this_year = Utc.with_ymd_and_hms(now.year(), 12, 25, 0, 0, 0).unwrap();
    let expected = if this_year > now {
        this_year
    } else {
        Utc.with_ymd_and_hms(now.year() + 1, 12, 25, 0, 0, 0)
            .unwrap()
    };
    assert_eq!(time(data["next"].as_str().unwrap()), expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn add_takes_a_whole_crontab_line_and_list_shows_it() {
    let fixture = Fixture::new();
    let (_store, _tasks, cron) = fixture.open();
    let result = cron.add(&adding("0 30 2 * * MON-FRI root echo  nightly", None));
    assert_eq!(result.resp, Resp::Success, "{result:?}");
    let id = result.data.unwrap()["cron_id"]
        .as_str()
        .unwrap()
        .to_string();
    let all = listed(&cron);
    assert_eq!(all.len(), 1);
    let entry = &all[0];
    assert_eq!(entry["cron_id"], id.as_str());
    assert_eq!(entry["schedule"], "0 30 2 * * MON-FRI");
    assert_eq!(entry["user"], "root");
    assert_eq!(entry["cmd"], "echo  nightly");
    assert_eq!(entry["timeout"], 120);
    assert!(entry["last_fire"].is_null());
    let next = time(entry["next"].as_str().unwrap());
    assert!(next > Utc::now());
    assert_eq!(next.format("%H:%M:%S").to_string(), "02:30:00");
    assert!(
        next.weekday().number_from_monday() <= 5,
        "{next} is not a weekday"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn add_rejects_bad_requests_with_3021_and_a_reason() {
    let fixture = Fixture::new();
    let (_store, _tasks, cron) = fixture.open();
    let user = |user: &str| CronAdd {
        user: Some(user.into()),
        ..adding("0 0 * * * *", Some("true"))
    };
    for (req, needle) in [
        (adding("61 * * * * *", Some("true")), "second field `61`"),
        (adding("0 ? * * * *", Some("true")), "`?` is only allowed"),
        (adding("0 0 0 1 1 * 2030", Some("true")), "has 7 fields"),
        (adding("", Some("true")), "schedule in `args`"),
        (adding("0 0 0 30 2 *", Some("true")), "never fires"),
        (adding("0 6 * * * root", None), "a user and a command"),
        (user("no-such-user-gearman"), "no-such-user-gearman"),
        (
            CronAdd {
                user: Some("nobody".into()),
                ..adding("0 6 * * * root ls", None)
            },
            "runs as `root` but `user` is `nobody`",
        ),
    ] {
        let result = cron.add(&req);
        assert_eq!(
            result.retcode,
            retcode::INVALID_PARAMS,
            "{req:?}: {result:?}"
        );
        assert!(
            result.message.contains(needle),
            "{req:?}: {}",
            result.message
        );
    }
    assert!(listed(&cron).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn remove_forgets_the_entry_and_unknown_ids_are_3033() {
    let fixture = Fixture::new();
    let (_store, _tasks, cron) = fixture.open();
    let unknown = cron.remove(&removing("nope"));
    assert_eq!(unknown.retcode, retcode::NOT_FOUND);
    assert_eq!(unknown.message, "Not found");
    let missing = cron.remove(&removing(" "));
    assert_eq!(missing.retcode, retcode::INVALID_PARAMS);

    let keep = add(&cron, "0 0 * * * *", "true");
    let gone = add(&cron, "0 0 8-10 * * *", "true");
    let removed = cron.remove(&removing(&gone));
    assert_eq!(removed.resp, Resp::Success, "{removed:?}");
    let again = cron.remove(&removing(&gone));
    assert_eq!(again.retcode, retcode::NOT_FOUND);
    let ids: Vec<Value> = listed(&cron).iter().map(|e| e["cron_id"].clone()).collect();
    assert_eq!(ids, [Value::from(keep.clone())]);

    // Gone from gearman.db too.
    drop(cron);
    let (_store, _tasks, cron) = fixture.open();
    let ids: Vec<Value> = listed(&cron).iter().map(|e| e["cron_id"].clone()).collect();
    assert_eq!(ids, [Value::from(keep)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_survive_a_restart() {
    let fixture = Fixture::new();
    let (_store, _tasks, cron) = fixture.open();
    let req = CronAdd {
        user: Some("root".into()),
        group: Some("root".into()),
        timeout: Some(7),
        ..adding("0 0 0 * * 5#3", Some("echo third friday"))
    };
    assert_eq!(cron.add(&req).resp, Resp::Success);
    let before = listed(&cron);
    drop(cron);
    let (_store, _tasks, cron) = fixture.open();
    let after = listed(&cron);
    assert_eq!(after, before);
    assert_eq!(after[0]["group"], "root");
    assert_eq!(after[0]["timeout"], 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_second_entry_fires_once_per_second_and_reports_its_runs() {
    let fixture = Fixture::new();
    let (store, _tasks, cron) = fixture.open();
    let id = add(&cron, "* * * * * *", "echo tick");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let fired = runs(&store, &id);
    assert!(fired.len() >= 3, "only {fired:?}");
    // One run per scheduled second, no second skipped or repeated.
    for pair in fired.windows(2) {
        assert_eq!(pair[1] - pair[0], 1, "{fired:?}");
    }
    let last_fire = time(listed(&cron)[0]["last_fire"].as_str().unwrap());
    assert!(last_fire.timestamp() >= *fired.last().unwrap());

    // The runs end up in the outbox as cron.run with the scheduled time.
    let begun = Instant::now();
    let reported = loop {
        let pending = store.outbox_pending(0, 1000).unwrap();
        let reported: BTreeMap<i64, i32> = pending
            .into_iter()
            .filter_map(|(_, item)| match item {
                Outgoing::CronRun(run) if run.cron_id == id => {
                    Some((run.scheduled, run.result.exec.exit_status.unwrap_or(-1)))
                }
                _ => None,
            })
            .collect();
        if reported.len() >= fired.len() || begun.elapsed() > Duration::from_secs(10) {
            break reported;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for scheduled in &fired {
        assert_eq!(
            reported.get(scheduled),
            Some(&0),
            "{scheduled} in {reported:?}"
        );
    }

    // Removed: no more fires.
    assert_eq!(cron.remove(&removing(&id)).resp, Resp::Success);
    let count = runs(&store, &id).len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(runs(&store, &id).len(), count);
}

#[tokio::test(flavor = "multi_thread")]
async fn missed_fires_are_not_replayed_after_a_restart() {
    let fixture = Fixture::new();
    let (store, _tasks, cron) = fixture.open();
    let id = add(&cron, "0 0 * * * *", "true");
    drop(cron);
    // As if the agent last fired two hours ago and was down since.
    let two_hours_ago = (Utc::now().timestamp() / 3600 - 2) * 3600;
    store.with_conn(|conn| {
        conn.execute("UPDATE cron SET last_fire = ?1", [two_hours_ago])
            .unwrap()
    });
    let (store, _tasks, cron) = fixture.open();
    let restarted = Utc::now();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let entry = &listed(&cron)[0];
    assert!(time(entry["next"].as_str().unwrap()) > restarted);
    assert_eq!(
        entry["last_fire"].as_str().map(time).unwrap().timestamp(),
        two_hours_ago
    );
    // Nothing ran for the missed top of the hour(s) -- unless the test straddles one.
    let fired = runs(&store, &id);
    assert!(
        fired.iter().all(|t| *t >= restarted.timestamp()),
        "{fired:?}"
    );
}

fn entry(spec: &str, next: DateTime<Utc>) -> Entry {
    Entry {
        id: "e".into(),
        schedule: Schedule::parse(spec).unwrap(),
        user: "root".into(),
        group: None,
        cmd: "true".into(),
        timeout: 120,
        created: 0,
        last_fire: None,
        next: Some(next),
    }
}

#[test]
fn a_late_entry_fires_once_then_moves_past_now() {
    let now = Utc.with_ymd_and_hms(2024, 2, 27, 10, 0, 30).unwrap();
    let late = Utc.with_ymd_and_hms(2024, 2, 27, 10, 0, 20).unwrap();
    let mut entries = BTreeMap::from([("e".to_string(), entry("* * * * * *", late))]);
    let fired = take_due(&mut entries, now);
    assert_eq!(
        fired,
        [Fire {
            cron_id: "e".into(),
            scheduled: late.timestamp()
        }]
    );
    let e = &entries["e"];
    assert_eq!(e.last_fire, Some(late.timestamp()));
    assert_eq!(
        e.next,
        Some(Utc.with_ymd_and_hms(2024, 2, 27, 10, 0, 31).unwrap())
    );
    // Asked again at the same instant: nothing is due, so nothing fires twice.
    assert!(take_due(&mut entries, now).is_empty());
}

#[test]
fn an_entry_not_yet_due_does_not_fire() {
    let now = Utc.with_ymd_and_hms(2024, 2, 27, 10, 0, 30).unwrap();
    let next = Utc.with_ymd_and_hms(2024, 2, 27, 11, 0, 0).unwrap();
    let mut entries = BTreeMap::from([("e".to_string(), entry("0 0 * * * *", next))]);
    assert!(take_due(&mut entries, now).is_empty());
    assert_eq!(super::timer::earliest(&entries), Some(next));
    assert_eq!(take_due(&mut entries, next).len(), 1);
}
