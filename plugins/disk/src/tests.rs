use super::*;
use plugin_api::types_db::TypesDb;
use std::path::Path;

fn base(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(case)
}

fn fixture(case: &str, options: &[(&str, &str)]) -> Result<Disk, PluginError> {
    Disk::init(&InitContext::rooted_at(&base(case)).with_options(options))
}

/// Reads snapshot `proc<n>` of the case with `disk`.
fn read(disk: &mut Disk, case: &str, n: usize) -> Vec<ValueList> {
    disk.proc_root = base(case).join(format!("proc{n}"));
    let lists = disk.read().unwrap();
    let db = TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap();
    db.check_all(&lists).unwrap();
    lists
}

fn flat(lists: &[ValueList]) -> Vec<(String, Vec<f64>)> {
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

fn id(s: &str, v: &[f64]) -> (String, Vec<f64>) {
    (s.to_string(), v.to_vec())
}

#[test]
fn every_used_disk_from_the_first_read() {
    let mut disk = fixture("basic", &[]).unwrap();
    let got = flat(&read(&mut disk, "basic", 0));
    assert_eq!(
        got,
        [
            // loop0: no operations at all, left out. disk_time starts with the average since
            // boot: 10 s * 2000 ms / 1000 reads, 10 s * 1000 ms / 500 writes.
            id(
                "disk-sda/disk_octets",
                &[80_000.0 * 512.0, 40_000.0 * 512.0]
            ),
            id("disk-sda/disk_ops", &[1000.0, 500.0]),
            id("disk-sda/disk_time", &[20.0, 20.0]),
            id("disk-sda/disk_merged", &[100.0, 50.0]),
            id("disk-sda/disk_io_time", &[1500.0, 3000.0]),
            id(
                "disk-sda1/disk_octets",
                &[72_000.0 * 512.0, 36_000.0 * 512.0]
            ),
            id("disk-sda1/disk_ops", &[900.0, 450.0]),
            id("disk-sda1/disk_time", &[20.0, 20.0]),
            id("disk-sda1/disk_io_time", &[1400.0, 2700.0]),
            // An old-style partition line: 4 counters only.
            id("disk-hda1/disk_octets", &[20.0 * 512.0, 40.0 * 512.0]),
            id("disk-hda1/disk_ops", &[10.0, 30.0]),
        ]
    );
    let got = flat(&read(&mut disk, "basic", 1));
    assert_eq!(
        got,
        [
            // disk_time is collectd's running sum of interval * (time / ops) per read:
            // 20 + 10 * 300/100 = 50 for reads, 20 + 10 * 250/100 = 45 for writes.
            id(
                "disk-sda/disk_octets",
                &[88_000.0 * 512.0, 48_000.0 * 512.0]
            ),
            id("disk-sda/disk_ops", &[1100.0, 600.0]),
            id("disk-sda/disk_time", &[50.0, 45.0]),
            id("disk-sda/disk_merged", &[110.0, 60.0]),
            id("disk-sda/pending_operations", &[2.0]),
            id("disk-sda/disk_io_time", &[1600.0, 3400.0]),
            // sda1: never merged, never anything in flight: no disk_merged or pending_operations.
            id(
                "disk-sda1/disk_octets",
                &[79_200.0 * 512.0, 43_200.0 * 512.0]
            ),
            id("disk-sda1/disk_ops", &[990.0, 540.0]),
            id("disk-sda1/disk_time", &[20.0 + 22.0, 20.0 + 20.0]),
            id("disk-sda1/disk_io_time", &[1500.0, 2900.0]),
            // sdb is new in this snapshot.
            id("disk-sdb/disk_octets", &[40.0 * 512.0, 0.0]),
            id("disk-sdb/disk_ops", &[5.0, 0.0]),
            id("disk-sdb/disk_time", &[2.0, 0.0]),
            id("disk-sdb/disk_io_time", &[1.0, 1.0]),
            id("disk-hda1/disk_octets", &[22.0 * 512.0, 44.0 * 512.0]),
            id("disk-hda1/disk_ops", &[11.0, 33.0]),
        ]
    );
    let got = flat(&read(&mut disk, "basic", 2));
    assert_eq!(
        got,
        [
            // A 14-field line (kernels before 4.18); nothing moved, pending stays reported.
            id(
                "disk-sda/disk_octets",
                &[88_000.0 * 512.0, 48_000.0 * 512.0]
            ),
            id("disk-sda/disk_ops", &[1100.0, 600.0]),
            id("disk-sda/disk_time", &[50.0, 45.0]),
            id("disk-sda/disk_merged", &[110.0, 60.0]),
            id("disk-sda/pending_operations", &[0.0]),
            id("disk-sda/disk_io_time", &[1600.0, 3400.0]),
            id("disk-sdb/disk_octets", &[48.0 * 512.0, 0.0]),
            id("disk-sdb/disk_ops", &[6.0, 0.0]),
            id("disk-sdb/disk_time", &[2.0 + 10.0, 0.0]),
            id("disk-sdb/disk_io_time", &[2.0, 2.0]),
        ]
    );
    // Gone disks are forgotten: sda1 coming back starts its disk_time sum afresh.
    assert!(!disk.disks.contains_key("sda1"));
    let got = flat(&read(&mut disk, "basic", 1));
    assert!(
        got.contains(&id("disk-sda1/disk_time", &[20.0, 20.0])),
        "{got:?}"
    );
}

#[test]
fn selection() {
    let names = |options: &[(&str, &str)]| {
        let mut disk = fixture("basic", options).unwrap();
        let mut names: Vec<String> = read(&mut disk, "basic", 0)
            .iter()
            .map(|vl| vl.plugin_instance.to_string())
            .collect();
        names.dedup();
        names
    };
    assert_eq!(names(&[("Disk", "sda"), ("Disk", "hda1")]), ["sda", "hda1"]);
    assert_eq!(
        names(&[("Disk", "sda"), ("IgnoreSelected", "true")]),
        ["sda1", "hda1"]
    );
}

#[test]
fn time_scales_with_interval_and_counters_wrap() {
    assert_eq!(time_incr(300, 100, 10.0), 30);
    assert_eq!(time_incr(1, 3, 10.0), 3);
    assert_eq!(time_incr(1, 3, 1.0), 0);
    assert_eq!(counter_diff(5, 7), 2);
    assert_eq!(counter_diff(u64::from(u32::MAX) - 1, 3), 5);
    assert_eq!(counter_diff(1 << 40, 3), 3);
}

#[test]
fn errors() {
    let err = fixture("basic", &[("Disk", "/sd[a-z]/")]).err().unwrap();
    assert_eq!(err.code, plugin_api::codes::INVALID_PARAMS);
    let err = fixture("basic", &[("IgnoreSelected", "sometimes")])
        .err()
        .unwrap();
    assert_eq!(err.code, plugin_api::codes::INVALID_PARAMS);
    let err = fixture("nowhere", &[]).unwrap().read().unwrap_err();
    assert_eq!(err.code, plugin_api::codes::FAILED);
    assert!(
        err.message.contains("nowhere/proc/diskstats"),
        "{}",
        err.message
    );
    let mut disk = fixture("garbage", &[]).unwrap();
    assert!(disk.read().unwrap().is_empty());
    assert!(parse_diskstats("8 0 sda 1 2 3\n8 0 sdb x y z w v u t s r q p o n\n").is_empty());
}

#[test]
fn the_real_system_passes_types_db() {
    let ctx = InitContext::rooted_at(Path::new("/")).with_options(&[("IgnoreSelected", "false")]);
    let mut plugin = Disk::init(&ctx).unwrap();
    let db = TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap();
    for _ in 0..2 {
        db.check_all(&plugin.read().unwrap()).unwrap();
    }
}
