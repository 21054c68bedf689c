//! End-to-end: `gearctl -c getinfo.processes` compared with `ps`, `id` and `/proc`, on a
//! `sleep` child this test starts with a distinctive argument.

use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use e2e::run;
use serde_json::Value;

/// A `sleep` child, killed and reaped when dropped (also when an assertion fails).
struct Sleeper {
    child: Child,
    arg: String,
}

impl Sleeper {
    /// Starts `sleep 30.000<unique>` and waits until it has exec'd and sleeps.
    fn start(tag: u32) -> Sleeper {
        // sleep accepts a fractional duration; the digits make the command line unique.
        let arg = format!("30.0{}{:05}", std::process::id(), tag);
        let child = Command::new("sleep")
            .arg(&arg)
            .spawn()
            .expect("spawn sleep");
        let sleeper = Sleeper { child, arg };
        let pid = sleeper.pid();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
            if cmdline.ends_with(format!("{}\0", sleeper.arg).as_bytes())
                && state == Some(Some('S'))
            {
                return sleeper;
            }
            assert!(
                Instant::now() < deadline,
                "sleep {pid} never started sleeping"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn processes(data: &Value) -> &Vec<Value> {
    data["processes"]
        .as_array()
        .unwrap_or_else(|| panic!("no processes array: {data}"))
}

fn pids(data: &Value) -> Vec<u64> {
    processes(data)
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect()
}

#[test]
fn child_is_reported_like_ps_sees_it() {
    let sleeper = Sleeper::start(1);
    let pid = sleeper.pid();
    let data = e2e::getinfo("processes", &format!("-p {pid}"));
    assert_eq!(pids(&data), [u64::from(pid)], "{data}");
    let p = &processes(&data)[0];

    assert_eq!(p["ppid"], std::process::id(), "{p}");
    assert_eq!(
        p["cmdline"],
        serde_json::json!(["sleep", sleeper.arg]),
        "{p}"
    );
    assert_eq!(p["command"], "sleep");
    assert_eq!(p["user"], run("id", &["-un"]));
    assert_eq!(p["uid"].as_u64(), run("id", &["-u"]).parse().ok());
    assert_eq!(p["state"], "S");
    assert_eq!(p["state_name"], "sleeping");

    // ps: resident KiB, virtual KiB, threads, seconds since start.
    let ps = run(
        "ps",
        &["-o", "rss=,vsz=,nlwp=,etimes=", "-p", &pid.to_string()],
    );
    let f: Vec<u64> = ps.split_whitespace().map(|v| v.parse().unwrap()).collect();
    assert_eq!(p["rss_bytes"].as_u64(), Some(f[0] * 1024), "ps: {ps}");
    assert_eq!(
        p["vsize_bytes"].as_u64().map(|v| v / 1024),
        Some(f[1]),
        "ps: {ps}"
    );
    assert_eq!(p["threads"].as_u64(), Some(f[2]), "ps: {ps}");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let started = p["start_time"].as_u64().expect("start_time");
    assert!(
        now.abs_diff(started + f[3]) <= 2,
        "start {started} + elapsed {} vs now {now}",
        f[3]
    );
    let cpu = p["cpu_time_seconds"].as_f64().expect("cpu_time_seconds");
    assert!((0.0..1.0).contains(&cpu), "sleep used {cpu} s of CPU");
}

#[test]
fn name_and_user_filters_find_the_child() {
    let sleeper = Sleeper::start(2);
    let pid = u64::from(sleeper.pid());

    // The text is also in the command line of gearctl itself, which is listed too.
    let data = e2e::getinfo("processes", &format!("-n {}", sleeper.arg));
    assert!(pids(&data).contains(&pid), "{data}");
    for p in processes(&data) {
        let cmdline: Vec<&str> = p["cmdline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(cmdline.join(" ").contains(&sleeper.arg), "{p}");
        assert!(p["pid"] == pid || p["command"] == "gearctl", "{p}");
    }

    let me = run("id", &["-un"]);
    let data = e2e::getinfo("processes", &format!("-u {me} -n sleep"));
    assert!(pids(&data).contains(&pid), "{data}");
    assert!(
        processes(&data).iter().all(|p| p["user"] == me.as_str()),
        "{data}"
    );

    let uid = run("id", &["-u"]);
    let data = e2e::getinfo(
        "processes",
        &format!("-u {uid} -p {pid} -p {}", std::process::id()),
    );
    assert_eq!(
        pids(&data),
        [
            u64::from(std::process::id()).min(pid),
            u64::from(std::process::id()).max(pid)
        ]
    );
}

#[test]
fn full_listing_agrees_with_ps_on_init_and_sorts() {
    let data = e2e::getinfo("processes", "");
    let list = pids(&data);
    assert!(list.windows(2).all(|w| w[0] < w[1]), "sorted by pid");
    assert!(
        list.contains(&u64::from(std::process::id())),
        "the test itself is listed"
    );
    assert_eq!(data["matched"].as_u64(), Some(list.len() as u64));

    let init = processes(&data)
        .iter()
        .find(|p| p["pid"] == 1)
        .expect("pid 1");
    assert_eq!(init["command"], run("ps", &["-o", "comm=", "-p", "1"]));
    assert_eq!(init["user"], run("ps", &["-o", "user=", "-p", "1"]));
    assert_eq!(init["ppid"], 0);

    let top = e2e::getinfo("processes", "-s rss -l 3");
    let rss: Vec<u64> = processes(&top)
        .iter()
        .map(|p| p["rss_bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(rss.len(), 3.min(list.len()));
    assert!(rss.windows(2).all(|w| w[0] >= w[1]), "{rss:?}");
}

#[test]
fn bad_arguments_are_invalid_params() {
    e2e::assert_invalid_params("processes", "-u nosuchuser");
    e2e::assert_invalid_params("processes", "-p abc");
    e2e::assert_invalid_params("processes", "-s memory");
    e2e::assert_invalid_params("processes", "-l 0");
    e2e::assert_invalid_params("processes", "-x");
}
