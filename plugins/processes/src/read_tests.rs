use super::*;
use plugin_api::Plugin;
use plugin_api::types_db::TypesDb;
use std::path::PathBuf;

fn base(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(case)
}

fn fixture(case: &str, names: &[&str]) -> Result<Processes, PluginError> {
    let options: Vec<(&str, &str)> = names.iter().map(|name| ("Process", *name)).collect();
    let mut p = Processes::init(&InitContext::rooted_at(&base(case)).with_options(&options))?;
    // The units the fixtures were written for.
    p.read.ticks_per_second = 100;
    p.read.page_size = 4096;
    Ok(p)
}

/// Reads snapshot `testdata/<case>/<proc>`, checking every list against types.db.
fn read(p: &mut Processes, case: &str, proc: &str) -> Vec<(String, Vec<f64>)> {
    p.proc_root = base(case).join(proc);
    let db = TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap();
    let lists = p.read().unwrap();
    db.check_all(&lists).unwrap();
    lists
        .iter()
        .map(|vl| {
            (
                vl.identifier(),
                vl.values.iter().map(|v| v.as_f64()).collect(),
            )
        })
        .collect()
}

fn get<'a>(lists: &'a [(String, Vec<f64>)], id: &str) -> Option<&'a [f64]> {
    lists
        .iter()
        .find(|(i, _)| i == id)
        .map(|(_, v)| v.as_slice())
}

#[test]
fn states_and_forks() {
    let mut p = fixture("collect", &[]).unwrap();
    let got = read(&mut p, "collect", "proc1");
    let want: Vec<(String, Vec<f64>)> = [
        ("processes/ps_state-running", 1.0),
        ("processes/ps_state-sleeping", 2.0),
        ("processes/ps_state-zombies", 1.0),
        ("processes/ps_state-stopped", 1.0),
        ("processes/ps_state-paging", 0.0),
        ("processes/ps_state-blocked", 1.0),
        ("processes/fork_rate", 5010.0),
    ]
    .iter()
    .map(|(id, v)| (id.to_string(), vec![*v]))
    .collect();
    // kthreadd is idle (I): collectd counts it in no state.
    assert_eq!(got, want);
    let lists = p.read().unwrap();
    assert!(matches!(lists[6].values[0], Value::Derive(5010)));
}

#[test]
fn process_groups_accumulate_like_collectd() {
    let mut p = fixture("collect", &["nginx", "systemd", "absent", "nginx"]).unwrap();
    let first = read(&mut p, "collect", "proc0");
    // The first read records the counters: CPU time and faults start at 0, I/O is not known yet.
    assert_eq!(
        get(&first, "processes-nginx/ps_count"),
        Some(&[2.0, 3.0][..])
    );
    assert_eq!(
        get(&first, "processes-nginx/ps_cputime"),
        Some(&[0.0, 0.0][..])
    );
    assert_eq!(
        get(&first, "processes-nginx/ps_pagefaults"),
        Some(&[0.0, 0.0][..])
    );
    assert_eq!(get(&first, "processes-nginx/io_octets"), None);
    assert_eq!(first.len(), 6 + 8 * 3 + 1);

    let got = read(&mut p, "collect", "proc1");
    let nginx: Vec<(String, Vec<f64>)> = got
        .iter()
        .filter(|(id, _)| id.starts_with("processes-nginx/"))
        .cloned()
        .collect();
    let want: Vec<(String, Vec<f64>)> = [
        ("ps_vm", vec![80_000_000.0]),
        ("ps_rss", vec![900.0 * 4096.0]),
        ("ps_data", vec![1700.0 * 1024.0]),
        ("ps_code", vec![9600.0 * 1024.0]),
        ("ps_stacksize", vec![264.0 * 1024.0]),
        // pid 100: +50 and +10 ticks; pid 102 is new and adds all of its 3 and 2 ticks.
        ("ps_cputime", vec![530_000.0, 120_000.0]),
        ("ps_count", vec![2.0, 3.0]),
        ("ps_pagefaults", vec![530.0, 2.0]),
        ("io_octets", vec![5100.0, 5200.0]),
        ("io_ops", vec![51.0, 52.0]),
        ("disk_octets", vec![4096.0, 4096.0]),
    ]
    .into_iter()
    .map(|(t, v)| (format!("processes-nginx/{t}"), v))
    .collect();
    assert_eq!(nginx, want);

    assert_eq!(
        get(&got, "processes-systemd/ps_cputime"),
        Some(&[100_000.0, 50_000.0][..])
    );
    assert_eq!(
        get(&got, "processes-systemd/ps_pagefaults"),
        Some(&[100.0, 0.0][..])
    );
    assert_eq!(
        get(&got, "processes-systemd/disk_octets"),
        Some(&[50.0, 60.0][..])
    );
    assert_eq!(
        get(&got, "processes-absent/ps_count"),
        Some(&[0.0, 0.0][..])
    );
    assert_eq!(
        get(&got, "processes-absent/ps_cputime"),
        Some(&[0.0, 0.0][..])
    );
    assert_eq!(got.len(), 6 + 11 + 11 + 8 + 1);
    let ids: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids[6], "processes-nginx/ps_vm");
    assert_eq!(ids[ids.len() - 1], "processes/fork_rate");

    // Reading the same snapshot again adds nothing: the sums stay.
    let again = read(&mut p, "collect", "proc1");
    assert_eq!(
        get(&again, "processes-nginx/ps_cputime"),
        Some(&[530_000.0, 120_000.0][..])
    );
    assert_eq!(
        get(&again, "processes-nginx/io_ops"),
        Some(&[51.0, 52.0][..])
    );
}

#[test]
fn parsers() {
    let (comm, state, f) =
        parse_stat("77 (a) (b)) R 1 77 77 0 -1 0 11 0 12 0 5 6 0 0 20 0 3 0 99 1000 10 0 0 0 0 0")
            .unwrap();
    assert_eq!((comm.as_str(), state), ("a) (b)", 'R'));
    assert_eq!((f.minflt, f.majflt, f.utime, f.stime), (11, 12, 5, 6));
    assert_eq!((f.threads, f.vsize, f.rss_pages), (3, 1000, 10));
    assert_eq!(parse_stat("12 (short) S 1 2"), None);
    assert_eq!(
        status_value("VmStk:\t  132 kB\nThreads:\t4\n", "Threads"),
        Some(4)
    );
    assert_eq!(status_value("VmStk:\t  132 kB\n", "VmStk"), Some(132));
    assert_eq!(status_value("rchar: 5\n", "wchar"), None);
    assert_eq!(parse_forks("ctxt 5\nprocesses 42\n"), Some(42));
    assert_eq!(parse_forks("processes\n"), None);
}

#[test]
fn errors() {
    for bad in ["", "a-name-longer-than-15"] {
        let err = fixture("collect", &[bad]).err().unwrap();
        assert_eq!(err.code, plugin_api::codes::INVALID_PARAMS, "{bad}");
    }
    let mut p = fixture("nowhere", &[]).unwrap();
    let err = p.read().unwrap_err();
    assert_eq!(err.code, plugin_api::codes::FAILED);
    assert!(err.message.contains("nowhere/proc"), "{}", err.message);
    // A proc tree without a stat file: no fork count, the read fails naming the file.
    let mut p = fixture("collect", &[]).unwrap();
    p.proc_root = base("collect");
    let err = p.read().unwrap_err();
    assert!(err.message.contains("stat"), "{}", err.message);
}

#[test]
fn the_real_system_passes_types_db() {
    let ctx = InitContext::rooted_at(Path::new("/")).with_options(&[("Process", "init")]);
    let mut plugin = Processes::init(&ctx).unwrap();
    let db = TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap();
    for _ in 0..2 {
        let lists = plugin.read().unwrap();
        db.check_all(&lists).unwrap();
        assert!(lists.len() >= 7);
    }
}

#[test]
fn running_is_procs_running_of_proc_stat() {
    // One process in state R, but /proc/stat says 3 tasks are runnable (the reader, caught
    // running, rarely shows R itself): like collectd, running is `procs_running`.
    let mut p = fixture("running", &[]).unwrap();
    let got = read(&mut p, "running", "proc");
    let state = |name: &str| get(&got, &format!("processes/ps_state-{name}")).map(|v| v[0]);
    assert_eq!(state("running"), Some(3.0));
    assert_eq!(state("sleeping"), Some(2.0));
    assert_eq!(state("zombies"), Some(1.0));
    assert_eq!(state("stopped"), Some(1.0));
    // collectd 5.12 counts blocked processes (state D) itself; `procs_blocked` is not used.
    assert_eq!(state("blocked"), Some(1.0));
    assert_eq!(get(&got, "processes/fork_rate"), Some(&[7000.0][..]));

    // Without a `procs_running` line the processes seen in state R are counted.
    let got = read(&mut p, "running", "old-kernel");
    assert_eq!(
        get(&got, "processes/ps_state-running").map(|v| v[0]),
        Some(1.0)
    );
    assert_eq!(
        parse_proc_stat(b"processes 5\nprocs_running 2\n").running,
        Some(2)
    );
    assert_eq!(parse_proc_stat(b"procs_running\n").running, None);
}
