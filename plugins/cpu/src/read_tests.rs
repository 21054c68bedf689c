use super::*;
use plugin_api::Plugin;
use plugin_api::types_db::TypesDb;
use std::path::PathBuf;

fn base(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(case)
}

fn fixture(case: &str, options: &[(&str, &str)]) -> Result<Cpu, PluginError> {
    Cpu::init(&InitContext::rooted_at(&base(case)).with_options(options))
}

/// Reads `testdata/<case>/<proc>` (a snapshot such as `proc0`), checking every list.
fn read(cpu: &mut Cpu, case: &str, proc: &str) -> Vec<(String, f64)> {
    cpu.proc_root = base(case).join(proc);
    let db = TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap();
    let lists = cpu.read().unwrap();
    db.check_all(&lists).unwrap();
    lists
        .iter()
        .map(|vl| (vl.identifier(), vl.values[0].as_f64()))
        .collect()
}

/// Both snapshots of `stat2`; the lists of the second read.
fn two_reads(options: &[(&str, &str)]) -> Vec<(String, f64)> {
    let mut cpu = fixture("stat2", options).unwrap();
    read(&mut cpu, "stat2", "proc0");
    read(&mut cpu, "stat2", "proc1")
}

fn assert_close(got: &[(String, f64)], want: &[(&str, f64)]) {
    let ids: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
    let want_ids: Vec<&str> = want.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, want_ids);
    for ((id, g), (_, w)) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-9, "{id}: {g} != {w}");
    }
}

#[test]
fn derive_jiffies_by_state_then_cpu() {
    let mut cpu = fixture("stat2", &[]).unwrap();
    let got = read(&mut cpu, "stat2", "proc0");
    // Raw jiffies from the first read on; guest is not reported (and so not subtracted).
    assert_close(
        &got,
        &[
            ("cpu-0/cpu-user", 1000.0),
            ("cpu-1/cpu-user", 1000.0),
            ("cpu-0/cpu-system", 500.0),
            ("cpu-1/cpu-system", 500.0),
            ("cpu-0/cpu-wait", 150.0),
            ("cpu-1/cpu-wait", 150.0),
            ("cpu-0/cpu-nice", 50.0),
            ("cpu-1/cpu-nice", 50.0),
            ("cpu-0/cpu-interrupt", 0.0),
            ("cpu-1/cpu-interrupt", 0.0),
            ("cpu-0/cpu-softirq", 25.0),
            ("cpu-1/cpu-softirq", 25.0),
            ("cpu-0/cpu-steal", 5.0),
            ("cpu-1/cpu-steal", 5.0),
            ("cpu-0/cpu-idle", 10000.0),
            ("cpu-1/cpu-idle", 10000.0),
        ],
    );
    let lists = cpu.read().unwrap();
    assert!(matches!(lists[0].values[0], Value::Derive(1000)));
    assert_eq!(lists[0].type_, "cpu");
}

#[test]
fn guest_states_are_subtracted_when_reported() {
    let mut cpu = fixture("stat2", &[("ReportGuestState", "true")]).unwrap();
    let got = read(&mut cpu, "stat2", "proc1");
    let get = |id: &str| got.iter().find(|(i, _)| i == id).map(|(_, v)| *v);
    assert_eq!(get("cpu-0/cpu-user"), Some(1300.0 - 260.0));
    assert_eq!(get("cpu-0/cpu-nice"), Some(70.0 - 15.0));
    assert_eq!(get("cpu-0/cpu-guest"), Some(260.0));
    assert_eq!(get("cpu-0/cpu-guest_nice"), Some(15.0));
    let mut cpu = fixture(
        "stat2",
        &[
            ("ReportGuestState", "true"),
            ("SubtractGuestState", "false"),
        ],
    )
    .unwrap();
    let got = read(&mut cpu, "stat2", "proc1");
    assert_eq!(got[0], ("cpu-0/cpu-user".to_string(), 1300.0));
}

#[test]
fn percent_per_cpu_from_the_second_read() {
    let mut cpu = fixture("stat2", &[("ValuesPercentage", "true")]).unwrap();
    assert!(read(&mut cpu, "stat2", "proc0").is_empty());
    let got = read(&mut cpu, "stat2", "proc1");
    // Each CPU spent 1000 jiffies between the snapshots.
    assert_close(
        &got,
        &[
            ("cpu-0/percent-user", 30.0),
            ("cpu-0/percent-system", 10.0),
            ("cpu-0/percent-wait", 5.0),
            ("cpu-0/percent-nice", 2.0),
            ("cpu-0/percent-interrupt", 1.0),
            ("cpu-0/percent-softirq", 1.5),
            ("cpu-0/percent-steal", 0.5),
            ("cpu-0/percent-idle", 50.0),
            ("cpu-1/percent-user", 10.0),
            ("cpu-1/percent-system", 10.0),
            ("cpu-1/percent-wait", 2.5),
            ("cpu-1/percent-nice", 0.0),
            ("cpu-1/percent-interrupt", 0.0),
            ("cpu-1/percent-softirq", 2.5),
            ("cpu-1/percent-steal", 0.0),
            ("cpu-1/percent-idle", 75.0),
        ],
    );
    let sum: f64 = got[..8].iter().map(|(_, v)| v).sum();
    assert!((sum - 100.0).abs() < 1e-9);
}

#[test]
fn percent_with_guest_states() {
    let got = two_reads(&[("ValuesPercentage", "true"), ("ReportGuestState", "true")]);
    let cpu0: Vec<(String, f64)> = got[..10].to_vec();
    assert_close(
        &cpu0,
        &[
            ("cpu-0/percent-user", 24.0),
            ("cpu-0/percent-system", 10.0),
            ("cpu-0/percent-wait", 5.0),
            ("cpu-0/percent-nice", 1.5),
            ("cpu-0/percent-interrupt", 1.0),
            ("cpu-0/percent-softirq", 1.5),
            ("cpu-0/percent-steal", 0.5),
            ("cpu-0/percent-guest", 6.0),
            ("cpu-0/percent-guest_nice", 0.5),
            ("cpu-0/percent-idle", 50.0),
        ],
    );
}

#[test]
fn aggregated_and_active() {
    // ReportByCpu false: one set for the whole machine (implies percentages, as in collectd).
    let got = two_reads(&[("ReportByCpu", "false")]);
    assert_close(
        &got,
        &[
            ("cpu/percent-user", 20.0),
            ("cpu/percent-system", 10.0),
            ("cpu/percent-wait", 3.75),
            ("cpu/percent-nice", 1.0),
            ("cpu/percent-interrupt", 0.5),
            ("cpu/percent-softirq", 2.0),
            ("cpu/percent-steal", 0.25),
            ("cpu/percent-idle", 62.5),
        ],
    );
    let got = two_reads(&[("ReportByState", "false")]);
    assert_close(
        &got,
        &[
            ("cpu-0/percent-active", 50.0),
            ("cpu-1/percent-active", 25.0),
        ],
    );
    let got = two_reads(&[
        ("ReportByState", "false"),
        ("ReportByCpu", "false"),
        ("ReportNumCpu", "true"),
    ]);
    assert_close(&got, &[("cpu/count", 2.0), ("cpu/percent-active", 37.5)]);
}

#[test]
fn old_kernel_lines_and_cpu_count() {
    let mut cpu = fixture("stat_old", &[("ReportNumCpu", "yes")]).unwrap();
    let got = read(&mut cpu, "stat_old", "proc");
    // No steal field; cpu3's line is too short; the count is the highest CPU number plus one.
    assert_eq!(got[0], ("cpu/count".to_string(), 3.0));
    assert_eq!(got.len(), 1 + 2 * 7);
    assert!(
        !got.iter()
            .any(|(id, _)| id.contains("steal") || id.contains("cpu-3"))
    );
    assert_eq!(got[2], ("cpu-2/cpu-user".to_string(), 200.0));
}

#[test]
fn a_counter_going_down_gives_no_percentage() {
    let mut cpu = fixture("stat2", &[("ValuesPercentage", "true")]).unwrap();
    read(&mut cpu, "stat2", "proc1");
    let got = read(&mut cpu, "stat2", "proc0");
    // Every counter of proc0 is lower or equal: only the unchanged ones count (0 of 0 is NaN).
    assert!(got.is_empty(), "{got:?}");
}

#[test]
fn errors() {
    let err = fixture("stat2", &[("ValuesPercentage", "half")])
        .err()
        .unwrap();
    assert_eq!(err.code, plugin_api::codes::INVALID_PARAMS);
    let mut cpu = fixture("missing", &[]).unwrap();
    let err = cpu.read().unwrap_err();
    assert_eq!(err.code, plugin_api::codes::FAILED);
    assert!(err.message.contains("missing/proc/stat"), "{}", err.message);
}

#[test]
fn the_real_system_passes_types_db() {
    let ctx = InitContext::rooted_at(Path::new("/"));
    let mut plugin = Cpu::init(&ctx).unwrap();
    let db = TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap();
    for _ in 0..2 {
        let lists = plugin.read().unwrap();
        db.check_all(&lists).unwrap();
        assert!(!lists.is_empty());
    }
}
