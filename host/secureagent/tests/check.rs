//! `--check` and `--update` beyond AIDE's scenario: growing logs, unreadable files, the
//! agent's own files, the run lock, the baseline's digest.

mod common;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;

use common::{Setup, paths, write};

#[test]
fn a_growing_log_is_not_reported_and_a_truncated_or_rewritten_one_is() {
    let setup = Setup::new("/logs/.*\\.log$ >+sha256+m\n/ p+u+g+s+m+sha256\n");
    write(&setup.path("logs/app.log"), b"line 1\nline 2\n");
    write(&setup.path("logs/cut.log"), b"line 1\nline 2\n");
    write(&setup.path("logs/edit.log"), b"line 1\nline 2\n");
    write(&setup.path("etc/conf"), b"a = 1\n");
    setup.init();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(setup.path("logs/app.log"))
        .unwrap();
    f.write_all(b"line 3\n").unwrap();
    drop(f);
    std::fs::write(setup.path("logs/cut.log"), b"line 1\n").unwrap();
    std::fs::write(setup.path("logs/edit.log"), b"LINE 1\nline 2\nline 3\n").unwrap();
    let (report, code) = setup.check();
    assert_eq!(
        paths(&report, "changed"),
        vec!["/logs/cut.log", "/logs/edit.log"],
        "{report:#}"
    );
    let cut = &report["changed"][0]["attributes"];
    let names: Vec<&str> = cut
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["size", "sha256"],
        "mtime grew, so it is no finding"
    );
    let edit = &report["changed"][1]["attributes"];
    assert_eq!(
        edit[0]["name"], "sha256",
        "grown, but its old prefix differs: {edit}"
    );
    assert_eq!(code, 4);

    // The same appended log under a rule without `growing` is a finding.
    let setup = Setup::new("/ p+s+sha256\n");
    write(&setup.path("app.log"), b"line 1\n");
    setup.init();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(setup.path("app.log"))
        .unwrap();
    f.write_all(b"line 2\n").unwrap();
    drop(f);
    let (report, code) = setup.check();
    assert_eq!(paths(&report, "changed"), vec!["/app.log"]);
    assert_eq!(code, 4);
}

#[test]
fn a_file_the_agent_cannot_read_is_reported_as_unreadable() {
    let setup = Setup::new("/ p+s+sha256\n");
    write(&setup.path("open"), b"anyone\n");
    write(&setup.path("secret"), b"root only\n");
    let root = nix_is_root();
    // Root reads a 0000 file: the agent then runs as nobody, with the tree open to it.
    std::fs::set_permissions(setup.path("secret"), std::fs::Permissions::from_mode(0o000)).unwrap();
    write(&setup.path("private/inside"), b"x\n");
    let private_mode = if root { 0o700 } else { 0o000 };
    std::fs::set_permissions(
        setup.path("private"),
        std::fs::Permissions::from_mode(private_mode),
    )
    .unwrap();
    // nobody may not reach the build's folder (a checkout inside a 0700 folder): it runs a
    // copy of the binary beside the tree, in the folder open to it.
    let copy = setup.dir.path().join("secureagent");
    if root {
        std::fs::set_permissions(setup.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_secureagent"), &copy).unwrap();
    }
    let as_agent = |args: &[&str]| {
        let mut cmd = setup.command(args);
        if root {
            cmd = std::process::Command::new(&copy);
            cmd.arg("-C").arg(&setup.conf).args(args);
            let state = setup.db.parent().unwrap();
            std::fs::create_dir_all(state).unwrap();
            std::os::unix::fs::chown(state, Some(65534), Some(65534)).unwrap();
            cmd.uid(65534).gid(65534);
        }
        output_of_copy(&mut cmd)
    };
    let init = as_agent(&["--init", "--json"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&init.stdout).unwrap();
    assert_eq!(paths(&report, "unreadable"), vec!["/private", "/secret"]);
    let listing = report["unreadable"][0]["error"].as_str().unwrap();
    assert!(
        listing.starts_with("cannot list: Permission denied"),
        "{report}"
    );
    assert!(
        report["unreadable"][1]["error"]
            .as_str()
            .unwrap()
            .contains("ermission denied"),
        "{report}"
    );
    let check = as_agent(&["--check", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(
        paths(&report, "unreadable"),
        vec!["/private", "/secret"],
        "reported on every check"
    );
    assert!(paths(&report, "changed").is_empty(), "{report:#}");
    assert_eq!(check.status.code(), Some(4));
    std::fs::set_permissions(
        setup.path("private"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let text = as_agent(&["--check"]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("/secret: unreadable: Permission denied")
    );
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn the_agents_own_files_are_never_findings_and_update_accepts_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let db = tree.join("var/lib/secureagent/baseline.db");
    let setup = Setup::with_db(dir, tree, db, "/ p+s+m+c+sha256\n");
    write(&setup.path("etc/a"), b"a\n");
    let log = setup.path("var/log/secureagent.log");
    let out = setup.run(&["--init", "-L", log.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = setup.run(&["--check", "--json", "-L", log.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let baseline = std::fs::read_to_string(&setup.db).unwrap();
    assert!(!baseline.contains("/var/lib/secureagent"), "{baseline}");
    assert!(!baseline.contains("secureagent.log"), "{baseline}");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&setup.db), 0o600);
    assert_eq!(mode(setup.db.parent().unwrap()), 0o700);

    write(&setup.path("etc/b"), b"b\n");
    let out = setup.run(&["--update", "-L", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(5), "added /etc/b, changed /etc");
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let stored = std::fs::read_to_string(setup.db.with_extension("db.sha256")).unwrap();
    let digest = stored.split_whitespace().next().unwrap();
    assert!(
        printed.contains(&format!(
            "New baseline written to {}\n SHA256    : {digest}",
            setup.db.display()
        )),
        "{printed}"
    );
    let out = setup.run(&["--check", "--json", "-L", log.to_str().unwrap()]);
    let (report, code): (serde_json::Value, _) = (
        serde_json::from_slice(&out.stdout).unwrap(),
        out.status.code().unwrap(),
    );
    assert_eq!(
        code, 0,
        "the updated baseline holds the new state: {report:#}"
    );
}

#[test]
fn the_baseline_digest_is_stored_printed_and_checked() {
    let setup = Setup::new("/ p+sha256\n");
    write(&setup.path("a"), b"a\n");
    let out = setup.run(&["--init", "--json"]);
    let init: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let digest = init["digest"].as_str().unwrap().to_string();
    assert_eq!(digest.len(), 64);
    let stored = std::fs::read_to_string(setup.db.with_extension("db.sha256")).unwrap();
    assert_eq!(
        stored,
        "{digest}  baseline.db\n".replace("{digest}", &digest)
    );
    let (report, _) = setup.check();
    assert_eq!(report["baseline"]["digest"], digest.as_str());
    assert_eq!(report["baseline"]["stored_digest"], digest.as_str());

    // A baseline swapped behind the agent's back: the report shows both digests.
    let text = std::fs::read_to_string(&setup.db).unwrap();
    std::fs::write(
        &setup.db,
        text.replace("\t1a4\t", "\t1a5\t")
            .replace("\t644\t", "\t600\t"),
    )
    .unwrap();
    let (report, _) = setup.check();
    assert_ne!(
        report["baseline"]["digest"],
        report["baseline"]["stored_digest"]
    );
    let out = setup.run(&["--check"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("DIFFERS from the digest"));

    // A damaged baseline is an I/O error (18) naming the line.
    std::fs::write(&setup.db, "secureagent-baseline 1\n/a\tnot an entry\n").unwrap();
    let out = setup.run(&["--check"]);
    assert_eq!(out.status.code(), Some(18));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_second_run_while_one_holds_the_lock_says_so_and_fails() {
    let setup = Setup::new("/ p\n");
    setup.init();
    let paths = secureagent::db::DbPaths::new(&setup.db);
    let held = secureagent::db::lock(&paths).unwrap();
    let out = setup.run(&["--check"]);
    assert_eq!(out.status.code(), Some(20));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another secureagent run holds"), "{err}");
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    drop(held);
    assert_eq!(setup.run(&["--check"]).status.code(), Some(0));
}

#[test]
fn bad_configuration_and_rules_exit_17_with_the_line() {
    let setup = Setup::new("/ R\n/x NoSuchGroup\n");
    let out = setup.run(&["--check"]);
    assert_eq!(out.status.code(), Some(17));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("line 2: unknown attribute or group `NoSuchGroup`")
    );
    let out = setup.run(&["-t"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Failed!!!"));
}

#[test]
fn extended_attributes_and_acls_are_checked_when_the_rule_asks() {
    let setup = Setup::new("/ p+xattrs+acl\n");
    write(&setup.path("f"), b"f\n");
    let set = |name: &str, value: &[u8]| {
        let path = std::ffi::CString::new(setup.path("f").to_str().unwrap()).unwrap();
        let name = std::ffi::CString::new(name).unwrap();
        // SAFETY: valid C strings and a buffer of the given length.
        unsafe {
            libc::lsetxattr(
                path.as_ptr(),
                name.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        }
    };
    if set("user.origin", b"one") != 0 {
        eprintln!("SKIPPED: the temporary folder's file system has no user xattrs");
        return;
    }
    setup.init();
    assert_eq!(set("user.origin", b"two"), 0);
    let (report, code) = setup.check();
    assert_eq!(code, 4, "{report:#}");
    let attr = &report["changed"][0]["attributes"][0];
    assert_eq!(attr["name"], "xattrs");
    assert_eq!(attr["old"], "user.origin=b25l", "base64 of `one`");
    assert_eq!(attr["new"], "user.origin=dHdv");
    assert_eq!(
        report["changed"][0]["summary"]
            .as_str()
            .unwrap()
            .chars()
            .nth(14),
        Some('X')
    );
}

#[test]
fn aides_r_catches_a_rewrite_that_keeps_size_and_mtime_by_md5_as_md5sum_computes_it() {
    // The built-in `R` (AIDE 0.18's: p+ftype+i+l+n+u+g+s+m+c+md5+X), less ctime, which any
    // rewrite changes: only the content hash can see this one.
    let setup = Setup::new("/ R-c\n");
    write(&setup.path("etc/conf"), b"listen = 127.0.0.1\n");
    setup.init();
    let before = std::fs::metadata(setup.path("etc/conf")).unwrap();
    std::fs::write(setup.path("etc/conf"), b"listen = 10.0.0.99\n").unwrap();
    let mtime = before.modified().unwrap();
    std::fs::File::options()
        .write(true)
        .open(setup.path("etc/conf"))
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let (report, code) = setup.check();
    assert_eq!(paths(&report, "changed"), vec!["/etc/conf"], "{report:#}");
    let attrs = report["changed"][0]["attributes"].as_array().unwrap();
    assert_eq!(attrs.len(), 1, "{attrs:?}");
    assert_eq!(attrs[0]["name"], "md5");
    assert_eq!(code, 4);
    // The new value is the file's MD5 as coreutils' md5sum computes it (base64, as AIDE shows it).
    let out = std::process::Command::new("md5sum")
        .arg(setup.path("etc/conf"))
        .output()
        .unwrap();
    let hex = String::from_utf8_lossy(&out.stdout);
    let bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    use base64::Engine as _;
    assert_eq!(
        attrs[0]["new"].as_str().unwrap(),
        base64::engine::general_purpose::STANDARD.encode(&bytes)
    );
}

/// `cmd`'s output, tried again while its binary is busy: a test running beside this one may
/// fork while the copy's write descriptor is still open, and its child holds that descriptor
/// until it execs ("Text file busy", seen in CI).
fn output_of_copy(cmd: &mut std::process::Command) -> std::process::Output {
    for _ in 0..100 {
        match cmd.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other.unwrap(),
        }
    }
    cmd.output().unwrap()
}
