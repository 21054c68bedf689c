use super::*;
use plugin_api::types_db::TypesDb;

fn base(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(case)
}

fn ctx(case: &str, options: &[(&str, &str)]) -> InitContext {
    InitContext::rooted_at(&base(case)).with_options(options)
}

/// The file systems of the `basic` fixture, instead of statvfs(3).
fn fake_stat(path: &Path) -> io::Result<FsStats> {
    let s = |blocks, bfree, bavail, frsize, files, ffree, favail| FsStats {
        blocks,
        bfree,
        bavail,
        frsize,
        files,
        ffree,
        favail,
    };
    Ok(match path.to_str().unwrap_or("") {
        "/" | "/var/lib/docker" => s(1000, 300, 250, 4096, 100, 40, 40),
        "/proc" | "/sys" => s(0, 0, 0, 4096, 0, 0, 0),
        "/boot/efi" => s(500, 400, 400, 512, 0, 0, 0),
        "/run" => s(408_115, 408_000, 408_000, 4096, 1000, 900, 900),
        // Inconsistent counts: collectd raises bfree and blocks to bavail.
        "/mnt/my disk" => s(100, 200, 250, 1024, 10, 5, 5),
        _ => return Err(io::Error::from(io::ErrorKind::PermissionDenied)),
    })
}

fn read(case: &str, options: &[(&str, &str)]) -> Vec<(String, f64)> {
    let mut df = Df::init(&ctx(case, options)).unwrap();
    df.stat = Box::new(fake_stat);
    checked(df.read().unwrap())
}

fn checked(lists: Vec<ValueList>) -> Vec<(String, f64)> {
    let db = TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap();
    db.check_all(&lists).unwrap();
    lists
        .iter()
        .map(|vl| (vl.identifier(), vl.values[0].as_f64()))
        .collect()
}

fn id(s: &str, v: f64) -> (String, f64) {
    (s.to_string(), v)
}

#[test]
fn every_real_file_system_once() {
    let got = read("basic", &[]);
    assert_eq!(
        got,
        [
            id("df-root/df_complex-free", 250.0 * 4096.0),
            id("df-root/df_complex-reserved", 50.0 * 4096.0),
            id("df-root/df_complex-used", 700.0 * 4096.0),
            id("df-boot-efi/df_complex-free", 400.0 * 512.0),
            id("df-boot-efi/df_complex-reserved", 0.0),
            id("df-boot-efi/df_complex-used", 100.0 * 512.0),
            id("df-run/df_complex-free", 408_000.0 * 4096.0),
            id("df-run/df_complex-reserved", 0.0),
            id("df-run/df_complex-used", 115.0 * 4096.0),
            id("df-var-lib-docker/df_complex-free", 250.0 * 4096.0),
            id("df-var-lib-docker/df_complex-reserved", 50.0 * 4096.0),
            id("df-var-lib-docker/df_complex-used", 700.0 * 4096.0),
            id("df-mnt-my disk/df_complex-free", 250.0 * 1024.0),
            id("df-mnt-my disk/df_complex-reserved", 0.0),
            id("df-mnt-my disk/df_complex-used", 0.0),
        ]
    );
}

#[test]
fn by_device_dedups_devices() {
    let got = read("basic", &[("ReportByDevice", "true")]);
    let mut names: Vec<&str> = got
        .iter()
        .map(|(id, _)| id.split('/').next().unwrap_or(""))
        .collect();
    names.dedup();
    assert_eq!(names, ["df-vda1", "df-vda15", "df-tmpfs", "df-sdb1"]);
}

#[test]
fn percentages_and_inodes() {
    let got = read(
        "basic",
        &[
            ("MountPoint", "/"),
            ("ReportInodes", "true"),
            ("ValuesPercentage", "true"),
        ],
    );
    assert_eq!(
        got[3..],
        [
            id("df-root/percent_bytes-free", 25.0),
            id("df-root/percent_bytes-reserved", 5.0),
            id("df-root/percent_bytes-used", 70.0),
            id("df-root/percent_inodes-free", 40.0),
            id("df-root/percent_inodes-reserved", 0.0),
            id("df-root/percent_inodes-used", 60.0),
            id("df-root/df_inodes-free", 40.0),
            id("df-root/df_inodes-reserved", 0.0),
            id("df-root/df_inodes-used", 60.0),
        ]
    );
    let got = read(
        "basic",
        &[
            ("MountPoint", "/boot/efi"),
            ("ReportInodes", "true"),
            ("ValuesAbsolute", "false"),
            ("ValuesPercentage", "true"),
        ],
    );
    // vfat has no inodes: no inode lists.
    assert_eq!(
        got,
        [
            id("df-boot-efi/percent_bytes-free", 80.0),
            id("df-boot-efi/percent_bytes-reserved", 0.0),
            id("df-boot-efi/percent_bytes-used", 20.0),
        ]
    );
}

#[test]
fn selections() {
    let names = |options: &[(&str, &str)]| {
        let mut names: Vec<String> = read("basic", options)
            .into_iter()
            .map(|(id, _)| id.split('/').next().unwrap_or("").to_string())
            .collect();
        names.dedup();
        names
    };
    assert_eq!(
        names(&[("Device", "/dev/vda1")]),
        ["df-root", "df-var-lib-docker"]
    );
    assert_eq!(
        names(&[
            ("FSType", "tmpfs"),
            ("FSType", "vfat"),
            ("IgnoreSelected", "true")
        ]),
        ["df-root", "df-var-lib-docker", "df-mnt-my disk"]
    );
    assert_eq!(names(&[("MountPoint", "/mnt/my disk")]), ["df-mnt-my disk"]);
}

#[test]
fn old_proc_without_self() {
    let got = read("oldproc", &[]);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].0, "df-root/df_complex-free");
}

#[test]
fn a_mount_point_that_is_not_utf8_spoils_only_itself() {
    // `/mnt/caf\xe9` (Latin-1) used to fail the whole read ("stream did not contain valid
    // UTF-8"); now it is one more mount whose statvfs fails, and `/` is reported.
    let got = read("latin1", &[]);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].0, "df-root/df_complex-free");
}

#[test]
fn the_real_system_passes_types_db() {
    let ctx = ctx(
        "basic",
        &[("ReportInodes", "true"), ("ValuesPercentage", "true")],
    )
    .with_host_fact("proc_root", "/proc");
    let got = checked(Df::init(&ctx).unwrap().read().unwrap());
    if let Ok(st) = statvfs(Path::new("/"))
        && st.blocks > 0
        && got.iter().any(|(id, _)| id.starts_with("df-root/"))
    {
        let used = got
            .iter()
            .find(|(id, _)| id == "df-root/df_complex-used")
            .map(|(_, v)| *v);
        assert!(used.is_some_and(|v| v > 0.0), "{got:?}");
    }
}

#[test]
fn errors() {
    for (key, value) in [
        ("MountPoint", "/^\\/mnt/"),
        ("FSType", ""),
        ("ReportInodes", "sure"),
    ] {
        let err = Df::init(&ctx("basic", &[(key, value)])).err().unwrap();
        assert_eq!(err.code, plugin_api::codes::INVALID_PARAMS, "{key}");
    }
    let err = Df::init(&ctx("nowhere", &[])).unwrap().read().unwrap_err();
    assert_eq!(err.code, plugin_api::codes::FAILED);
    assert!(
        err.message.contains("nowhere/proc/mounts"),
        "{}",
        err.message
    );
}
