//! The headline: on the peer script's scenario (`peers/aide.sh`: rule `p+u+g+s+m+i+sha256`,
//! 14 changes: 3 appended, 2 rewritten in place with size and mtime kept, 3 chmod, 2 deleted,
//! 4 added), secureagent reports the same entries, in the same sections, with the same changed
//! attributes as AIDE (`/usr/bin/aide`, installed by `.ci/run`; skipped loudly without it).

mod common;

use std::collections::BTreeSet;
use std::fs::FileTimes;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::process::Command;

use common::Setup;

const AIDE: &str = "/usr/bin/aide";
const RULES: &str = "R = p+u+g+s+m+i+sha256\n/ R\n";

/// A few hundred files in 20 folders, sizes from 40 bytes to 12 kB, and a few symlinks.
fn build_tree(tree: &Path) {
    let mut seed: u64 = 20240601;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    for d in 0..20 {
        let dir = tree.join(format!("d{d:02}"));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for f in 0..15 {
            let size = 40 + (next() % 12_000) as usize;
            let data: Vec<u8> = (0..size).map(|_| next() as u8).collect();
            let name = if f % 5 == 0 {
                dir.join("sub").join(format!("f{f}.dat"))
            } else {
                dir.join(format!("f{f}.txt"))
            };
            std::fs::write(name, data).unwrap();
        }
        std::os::unix::fs::symlink(format!("f{}.txt", 1), dir.join("link")).unwrap();
    }
}

/// The peer script's candidates: single-link regular files over 63 bytes with plain names,
/// sorted as `LC_ALL=C sort` sorts them.
fn candidates(tree: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![tree.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let meta = e.path().symlink_metadata().unwrap();
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() && meta.nlink() == 1 && meta.len() > 63 {
                let rel = e
                    .path()
                    .strip_prefix(tree)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if rel
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._/+-".contains(&b))
                {
                    out.push(rel);
                }
            }
        }
    }
    out.sort();
    out
}

/// Applies the 14 changes; returns `(section, path)` of each.
fn apply_changes(tree: &Path) -> BTreeSet<(String, String)> {
    let cand = candidates(tree);
    let m = cand.len();
    assert!(m >= 20);
    let pick = |k: usize| cand[(2 * k + 1) * m / 20].clone();
    let mut expected = BTreeSet::new();
    for k in 0..3 {
        let f = tree.join(pick(k));
        let mut data = std::fs::read(&f).unwrap();
        data.extend_from_slice(format!("peer-aide: appended line {k}\n").as_bytes());
        std::fs::write(&f, data).unwrap();
        expected.insert(("changed".into(), format!("/{}", pick(k))));
    }
    for k in 3..5 {
        let f = tree.join(pick(k));
        let meta = f.metadata().unwrap();
        let mut data = std::fs::read(&f).unwrap();
        let off = data.len() / 2;
        data[off] = data[off].wrapping_add(1);
        std::fs::write(&f, data).unwrap();
        let times = FileTimes::new()
            .set_accessed(meta.accessed().unwrap())
            .set_modified(meta.modified().unwrap());
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_times(times)
            .unwrap();
        expected.insert(("changed".into(), format!("/{}", pick(k))));
    }
    for k in 5..8 {
        let f = tree.join(pick(k));
        let mode = f.metadata().unwrap().permissions().mode() & 0o7777;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode ^ 0o002)).unwrap();
        expected.insert(("changed".into(), format!("/{}", pick(k))));
    }
    for k in 8..10 {
        std::fs::remove_file(tree.join(pick(k))).unwrap();
        expected.insert(("removed".into(), format!("/{}", pick(k))));
    }
    for k in 0..4 {
        let p = pick(k);
        let dir = Path::new(&p).parent().unwrap();
        let added = dir.join(format!("peer-aide-added-{k}.txt"));
        std::fs::write(tree.join(&added), format!("peer-aide: added file {k}\n")).unwrap();
        expected.insert(("added".into(), format!("/{}", added.display())));
    }
    expected
}

/// `(section, path, changed attributes)`.
type Finding = (String, String, Vec<String>);

/// AIDE's changed attributes from its summary string (`YlZbpugamcinHAXSEC`).
fn aide_attrs(summary: &str) -> Vec<String> {
    let c: Vec<char> = summary.chars().collect();
    let mut out = Vec::new();
    if matches!(c[2], '<' | '>') {
        out.push("size");
    }
    for (i, name) in [
        (4, "perm"),
        (5, "uid"),
        (6, "gid"),
        (8, "mtime"),
        (10, "inode"),
        (12, "sha256"),
    ] {
        if c[i] != '.' && c[i] != ' ' {
            out.push(name);
        }
    }
    out.sort();
    out.into_iter().map(String::from).collect()
}

fn aide_findings(report: &str) -> BTreeSet<Finding> {
    let mut section = "";
    let mut out = BTreeSet::new();
    for line in report.lines() {
        match line {
            "Added entries:" => section = "added",
            "Removed entries:" => section = "removed",
            "Changed entries:" => section = "changed",
            "Detailed information about changes:" => section = "",
            l if l.starts_with("The attributes of the") => section = "",
            l if !section.is_empty() => {
                if let Some((summary, path)) = l.split_once(": /") {
                    let attrs = if section == "changed" {
                        aide_attrs(summary)
                    } else {
                        Vec::new()
                    };
                    out.insert((section.to_string(), format!("/{path}"), attrs));
                }
            }
            _ => {}
        }
    }
    out
}

fn secureagent_findings(report: &serde_json::Value) -> BTreeSet<Finding> {
    let mut out = BTreeSet::new();
    for section in ["added", "removed", "changed"] {
        for e in report[section].as_array().unwrap() {
            let mut attrs: Vec<String> = e["attributes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| x["name"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            attrs.sort();
            out.insert((
                section.to_string(),
                e["path"].as_str().unwrap().to_string(),
                attrs,
            ));
        }
    }
    out
}

#[test]
fn secureagent_reports_what_aide_reports_on_the_peer_scenario() {
    if !Path::new(AIDE).exists() {
        eprintln!("SKIPPED: {AIDE} is not installed (.ci/run installs the aide package)");
        return;
    }
    let setup = Setup::new(RULES);
    build_tree(&setup.tree);
    let aide_db = setup.dir.path().join("aide");
    std::fs::create_dir(&aide_db).unwrap();
    let aide_conf = setup.dir.path().join("aide.conf");
    std::fs::write(
        &aide_conf,
        format!(
            "database_in=file:{db}/aide.db\ndatabase_out=file:{db}/aide.db.new\ndatabase_attrs=sha256\ngzip_dbout=false\nroot_prefix={tree}\nreport_url=stdout\nreport_level=changed_attributes\nlog_level=warning\n{RULES}",
            db = aide_db.display(),
            tree = setup.tree.display()
        ),
    )
    .unwrap();
    let aide = |verb: &str| {
        Command::new(AIDE)
            .arg(format!("--config={}", aide_conf.display()))
            .arg(verb)
            .output()
            .unwrap()
    };
    let init = aide("--init");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    std::fs::rename(aide_db.join("aide.db.new"), aide_db.join("aide.db")).unwrap();
    setup.init();
    // Every change lands in a later second than both databases.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let expected = apply_changes(&setup.tree);
    assert_eq!(expected.len(), 14);

    let check = aide("--check");
    let aide_report = String::from_utf8_lossy(&check.stdout).into_owned();
    let theirs = aide_findings(&aide_report);
    let (report, code) = setup.check();
    let ours = secureagent_findings(&report);
    assert_eq!(ours, theirs, "AIDE's report:\n{aide_report}");
    assert_eq!(code, check.status.code().unwrap(), "the same exit code");
    assert_eq!(code, 7);
    // The 14 are there (the rest are the folders whose mtime changed), with what changed.
    let found: BTreeSet<(String, String)> = ours
        .iter()
        .map(|(s, p, _)| (s.clone(), p.clone()))
        .collect();
    assert!(
        found.is_superset(&expected),
        "missing: {:?}",
        expected.difference(&found).collect::<Vec<_>>()
    );
    for (section, path, attrs) in &ours {
        if section == "changed" && !expected.contains(&(section.clone(), path.clone())) {
            assert_eq!(
                attrs,
                &vec!["mtime".to_string()],
                "{path}: only a folder's mtime"
            );
        }
    }
    // The text report has AIDE's sections and summary lines.
    let text = String::from_utf8_lossy(&setup.run(&["--check"]).stdout).into_owned();
    for line in aide_report
        .lines()
        .filter(|l| l.contains(": /") && (l.starts_with('f') || l.starts_with('d')))
    {
        assert!(
            text.lines().any(|t| t == line),
            "AIDE's line `{line}` is not in secureagent's report:\n{text}"
        );
    }
}
