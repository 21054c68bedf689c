//! The release as a user gets it: `cargo xtask dist` is run for real (the portable build with
//! cargo-zigbuild, the layout check, the Debian packages), then the packages are checked with
//! the tools Debian has (`dpkg-deb`, `lintian`, `systemd-analyze`) and installed into a fresh
//! Debian 12 root made by `debootstrap`, where the installed programs run from their installed
//! paths, and removal and purge leave what Debian's policy says.
//!
//! Each test prints a loud `SKIPPED` line and returns where a tool is missing (`.ci/run`
//! installs them all) or where it cannot run here (not root: no chroot).

mod boot;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn skip(why: &str) {
    eprintln!("SKIPPED: {why}");
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The folder `cargo xtask dist` wrote, made once per test run; `None` after a SKIPPED line
/// when cargo-zigbuild is not installed.
fn dist() -> Option<&'static Path> {
    static DIST: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIST.get_or_init(|| {
        if !have("cargo-zigbuild") || !have("dpkg-deb") {
            skip(
                "cargo-zigbuild or dpkg-deb is not installed (pip install ziglang cargo-zigbuild)",
            );
            return None;
        }
        let out = root().join("target/dist-test");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // Its own target folder: the portable build is another target and profile than the
        // tests' debug build, and must not wait on that folder's lock.
        run(Command::new(cargo)
            .current_dir(root())
            .args(["run", "--quiet", "-p", "xtask", "--", "dist", "--out"])
            .arg(&out)
            .args(["--target-dir", "target/dist-build"]));
        Some(out)
    })
    .as_deref()
}

fn debs(dist: &Path) -> Vec<PathBuf> {
    let mut debs: Vec<PathBuf> = std::fs::read_dir(dist)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    debs.sort();
    debs
}

/// Every package, extracted once into `<dist>/extracted/<package>`.
fn extracted(dist: &Path) -> PathBuf {
    static DONE: OnceLock<PathBuf> = OnceLock::new();
    DONE.get_or_init(|| {
        let dir = dist.join("extracted");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for deb in debs(dist) {
            let name = deb
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".deb", "");
            run(Command::new("dpkg-deb")
                .arg("-x")
                .arg(&deb)
                .arg(dir.join(name)));
        }
        dir
    })
    .clone()
}

fn files_under(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, found);
        } else {
            found.push(path);
        }
    }
}

#[test]
fn every_shipped_program_and_plugin_starts_on_glibc_2_17() {
    let Some(dist) = dist() else { return };
    let mut files = Vec::new();
    files_under(&extracted(dist), &mut files);
    let elves: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| std::fs::read(f).is_ok_and(|d| d.starts_with(b"\x7fELF")))
        .collect();
    let names: Vec<String> = elves
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "polaris",
        "bootagent",
        "gearman",
        "gearctl",
        "nodus",
        "nodusctl",
        "mkpkg",
        "logagent",
        "logagentctl",
        "secureagent",
        "cpu.so",
        "kernel.so",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not shipped: {names:?}"
        );
    }
    let out = Command::new(root().join("packaging/check-floor.sh"))
        .args(["--floor", "2.17"])
        .args(&elves)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    assert!(out.status.success(), "above the floor:\n{report}");
    // The check itself fails on what this machine's own toolchain links (glibc 2.34+ here).
    let own = Command::new(root().join("packaging/check-floor.sh"))
        .arg(std::env::current_exe().unwrap())
        .output()
        .unwrap();
    assert!(
        !own.status.success(),
        "the floor check passed a binary linked against this machine's glibc"
    );
}

#[test]
fn the_packages_hold_the_design_documents_paths() {
    let Some(dist) = dist() else { return };
    let dir = extracted(dist);
    let contents = |package: &str| -> Vec<String> {
        let base = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{package}_"))
            })
            .unwrap_or_else(|| panic!("no package {package}"));
        let mut files = Vec::new();
        files_under(&base, &mut files);
        files
            .iter()
            .map(|f| format!("/{}", f.strip_prefix(&base).unwrap().display()))
            .collect()
    };
    let gearman = contents("polaris-gearman");
    let nodus = contents("polaris-nodus");
    let polaris = contents("polaris");
    let logagent = contents("polaris-logagent");
    let secureagent = contents("polaris-secureagent");
    for path in [
        "/usr/bin/gearman",
        "/usr/bin/gearctl",
        "/etc/cargo/gearman.conf",
        "/lib/systemd/system/gearman.service",
        "/usr/lib/cargo/gearman/kernel.so",
        "/usr/share/man/man1/gearman.1.gz",
        "/usr/share/man/man5/gearman.conf.5.gz",
        "/usr/share/bash-completion/completions/gearctl",
    ] {
        assert!(
            gearman.contains(&path.to_string()),
            "{path} not in polaris-gearman: {gearman:#?}"
        );
    }
    for path in [
        "/usr/bin/nodus",
        "/usr/bin/nodusctl",
        "/etc/cargo/nodus.conf",
        "/usr/lib/cargo/nodus/cpu.so",
        "/usr/lib/cargo/nodus/http.so",
        "/usr/share/cargo/nodus/types.db",
        "/lib/systemd/system/nodus.service",
    ] {
        assert!(
            nodus.contains(&path.to_string()),
            "{path} not in polaris-nodus: {nodus:#?}"
        );
    }
    for path in [
        "/usr/bin/logagent",
        "/usr/bin/logagentctl",
        "/etc/cargo/logagent.conf",
        "/lib/systemd/system/logagent.service",
        "/usr/share/man/man1/logagent.1.gz",
        "/usr/share/man/man1/logagentctl.1.gz",
        "/usr/share/man/man5/logagent.conf.5.gz",
        "/usr/share/bash-completion/completions/logagentctl",
    ] {
        assert!(
            logagent.contains(&path.to_string()),
            "{path} not in polaris-logagent: {logagent:#?}"
        );
    }
    assert!(
        !logagent.iter().any(|p| p.starts_with("/usr/lib/cargo/")),
        "logagent has no plugins: {logagent:#?}"
    );
    for path in [
        "/usr/bin/secureagent",
        "/etc/cargo/secureagent.conf",
        "/etc/cargo/secureagent.rules",
        "/lib/systemd/system/secureagent.service",
        "/usr/share/man/man1/secureagent.1.gz",
        "/usr/share/man/man5/secureagent.conf.5.gz",
        "/usr/share/bash-completion/completions/secureagent",
        "/usr/share/zsh/vendor-completions/_secureagent",
    ] {
        assert!(
            secureagent.contains(&path.to_string()),
            "{path} not in polaris-secureagent: {secureagent:#?}"
        );
    }
    // Plugins go to the agent whose role they have, and only there.
    assert!(
        !gearman
            .iter()
            .any(|p| p.ends_with("/load.so") || p.ends_with("/csv.so"))
    );
    assert!(!nodus.iter().any(|p| p.ends_with("/kernel.so")));
    assert!(polaris.contains(&"/etc/cargo/polaris.toml".to_string()));
    // The platform overview, in the package every host has.
    assert!(contents("polaris-bootagent").contains(&"/usr/share/man/man7/cargo.7.gz".to_string()));
    // The configurations are conffiles.
    let conffiles = run(Command::new("dpkg-deb")
        .args(["-I"])
        .arg(
            debs(dist)
                .iter()
                .find(|d| d.to_string_lossy().contains("polaris-nodus_"))
                .unwrap(),
        )
        .arg("conffiles"));
    assert_eq!(
        String::from_utf8_lossy(&conffiles.stdout).trim(),
        "/etc/cargo/nodus.conf"
    );
    // secureagent's rules are the operator's too: a conffile beside its configuration.
    let conffiles = run(Command::new("dpkg-deb")
        .args(["-I"])
        .arg(
            debs(dist)
                .iter()
                .find(|d| d.to_string_lossy().contains("polaris-secureagent_"))
                .unwrap(),
        )
        .arg("conffiles"));
    assert_eq!(
        String::from_utf8_lossy(&conffiles.stdout).trim(),
        "/etc/cargo/secureagent.conf\n/etc/cargo/secureagent.rules"
    );
    // Sums and tarballs of the release are there too.
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    for name in [
        "gearman-",
        "nodus-",
        "logagent-",
        "secureagent-",
        "polaris-nodus_",
        "polaris-logagent_",
        "polaris-secureagent_",
    ] {
        assert!(
            sums.lines().any(|l| l.contains(name)),
            "{name} not in SHA256SUMS:\n{sums}"
        );
    }
}

#[test]
fn lintian_finds_nothing_unexplained() {
    let Some(dist) = dist() else { return };
    if !have("lintian") {
        return skip("lintian is not installed (apt-get install lintian)");
    }
    let out = Command::new("lintian")
        .args(["--no-tag-display-limit", "--display-info"])
        .args(debs(dist))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    println!("lintian:\n{report}{}", String::from_utf8_lossy(&out.stderr));
    let problems: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
        .collect();
    assert!(
        problems.is_empty(),
        "lintian errors or warnings:\n{}",
        problems.join("\n")
    );
}

/// A fresh Debian 12 root (`debootstrap --variant=minbase bookworm`), made for this test.
fn debian_root(dir: &Path) -> PathBuf {
    let root = dir.join("bookworm");
    run(Command::new("debootstrap")
        .args(["--variant=minbase", "bookworm"])
        .arg(&root)
        .arg("http://deb.debian.org/debian"));
    root
}

/// Runs `script` with `sh` in `root` (chroot), in a mount namespace of its own with `/proc`
/// mounted, so nothing stays mounted when it ends.
fn in_root(root: &Path, script: &str) -> Output {
    Command::new("unshare")
        .args(["--mount", "--fork", "sh", "-c"])
        .arg(format!(
            "mount -t proc proc {0}/proc && exec chroot {0} /bin/sh -c \"$0\"",
            root.display()
        ))
        .arg(script)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .unwrap()
}

fn ok_in_root(root: &Path, script: &str) -> String {
    succeeded(in_root(root, script), script, "the Debian 12 root")
}

/// What `script` printed (stdout, then stderr), after checking that it succeeded in `place`.
fn succeeded(out: Output, script: &str, place: &str) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "`{script}` failed in {place}:\n{text}"
    );
    text
}

/// The paths a package installed, from `dpkg -L`, without folders.
fn package_files(root: &Path, package: &str) -> Vec<String> {
    ok_in_root(root, &format!("dpkg -L {package}"))
        .lines()
        .filter(|p| p.starts_with('/') && !root.join(&p[1..]).is_dir())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_packages_install_run_and_leave_cleanly_in_a_fresh_debian_12() {
    let Some(dist) = dist() else { return };
    if !is_root() || !have("debootstrap") || !have("unshare") {
        return skip("needs root, debootstrap and unshare (apt-get install debootstrap)");
    }
    let work = tempfile::tempdir_in(root().join("target")).unwrap();
    let root = debian_root(work.path());
    let debs_dir = root.join("tmp/debs");
    std::fs::create_dir_all(&debs_dir).unwrap();
    for deb in debs(dist) {
        std::fs::copy(&deb, debs_dir.join(deb.file_name().unwrap())).unwrap();
    }
    // systemd (for its `systemd-analyze` and the maintainer scripts' unit handling) and man-db,
    // as a Debian 12 server has them; from Debian's mirror.
    ok_in_root(
        &root,
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
         --no-install-recommends systemd man-db >/dev/null",
    );
    ok_in_root(&root, "dpkg -i /tmp/debs/*.deb");
    let packages = [
        "polaris",
        "polaris-bootagent",
        "polaris-gearman",
        "polaris-nodus",
        "polaris-logagent",
        "polaris-secureagent",
    ];
    let installed = ok_in_root(
        &root,
        "dpkg-query -W -f '${Package} ${Status}\\n' 'polaris*'",
    );
    for package in packages {
        assert!(
            installed.contains(&format!("{package} install ok installed")),
            "{package}: {installed}"
        );
    }

    // The installed programs run from their installed paths with the shipped configuration.
    let check = ok_in_root(&root, "nodus -t");
    assert!(check.contains("Success"), "nodus -t: {check}");
    let test_read = ok_in_root(&root, "nodus -T");
    assert!(
        test_read.lines().any(|l| l.contains(" load(3/3) ")),
        "nodus -T read no load: {test_read}"
    );
    let kernel = ok_in_root(&root, "gearctl -c getinfo.kernel");
    assert!(
        kernel.contains("\"retcode\":0") || kernel.contains("\"resp\":\"success\""),
        "{kernel}"
    );
    let token = ok_in_root(&root, "stat -c '%a %U' /var/lib/polaris/admin_token");
    assert_eq!(token.trim(), "600 polaris", "the generated admin token");
    ok_in_root(
        &root,
        "runuser -u polaris -- polaris check-config -c /etc/cargo/polaris.toml",
    );
    // The agents' own checks (their units' ExecStartPre) refuse to start a host that has no
    // Polaris CA yet, and say which file to put there.
    for agent in ["bootagent", "gearman", "logagent"] {
        let out = in_root(&root, &format!("{agent} -t -C /etc/cargo/{agent}.conf"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "{agent} -t: {text}");
        assert!(
            text.contains("Failed!!!") && text.contains("/etc/cargo/ca.pem"),
            "{agent} -t: {text}"
        );
    }
    // secureagent needs no CA until it is told where Polaris is: its check parses the
    // packaged rules (each printed) and passes.
    let check = ok_in_root(&root, "secureagent -t -C /etc/cargo/secureagent.conf");
    assert!(
        check.contains("Success") && check.contains("/usr/bin"),
        "secureagent -t: {check}"
    );
    let users = ok_in_root(&root, "id nodus && id polaris");
    assert!(users.contains("nodus") && users.contains("polaris"));
    // Every unit passes `systemd-analyze verify` where it is installed (its ExecStart= programs
    // and Documentation= man pages found), and the services are enabled (the link's target is
    // absolute inside the root, so the link itself is looked at).
    for unit in [
        "polaris",
        "bootagent",
        "gearman",
        "nodus",
        "logagent",
        "secureagent",
    ] {
        let out = ok_in_root(
            &root,
            &format!("systemd-analyze verify /lib/systemd/system/{unit}.service 2>&1"),
        );
        assert!(
            out.trim().is_empty(),
            "systemd-analyze verify {unit}.service:\n{out}"
        );
        assert!(
            root.join(format!(
                "etc/systemd/system/multi-user.target.wants/{unit}.service"
            ))
            .symlink_metadata()
            .is_ok(),
            "{unit}.service is not enabled"
        );
    }
    // Every man page renders (man's own warnings on) where man looks for it.
    let pages: Vec<String> = packages
        .iter()
        .flat_map(|p| package_files(&root, p))
        .filter(|p| p.starts_with("/usr/share/man/"))
        .collect();
    for page in &pages {
        let out = ok_in_root(
            &root,
            &format!("MANWIDTH=80 man --warnings -l {page} 2>&1 >/dev/null"),
        );
        assert!(out.trim().is_empty(), "man -l {page}: {out}");
    }
    let pages = pages.join("\n");
    assert!(
        pages.contains("nodus.conf.5.gz")
            && pages.contains("gearctl.1.gz")
            && pages.contains("cargo.7.gz")
            && pages.contains("logagent.conf.5.gz")
            && pages.contains("secureagent.conf.5.gz"),
        "{pages}"
    );

    // The services start under systemd and Polaris sees the agents, where systemd can run in a
    // container here (systemd-nspawn, from Debian's systemd-container).
    if have("systemd-nspawn") && have("nsenter") && have("curl") {
        boot::services_start_and_polaris_sees_the_agents(&root, work.path());
    } else {
        skip("systemd-nspawn, nsenter or curl missing: the services were not started");
    }

    // Removal leaves nothing of a package but its conffiles; purge takes those too.
    let mut shipped = Vec::new();
    for package in packages {
        shipped.extend(package_files(&root, package));
    }
    let conffiles: Vec<&String> = shipped.iter().filter(|p| p.starts_with("/etc/")).collect();
    assert!(!conffiles.is_empty());
    ok_in_root(&root, &format!("dpkg -r {}", packages.join(" ")));
    for path in &shipped {
        let exists = root.join(&path[1..]).exists();
        if path.starts_with("/etc/") {
            assert!(exists, "the conffile {path} went with dpkg -r");
        } else {
            assert!(!exists, "{path} is left after dpkg -r");
        }
    }
    ok_in_root(&root, &format!("dpkg -P {}", packages.join(" ")));
    for path in &shipped {
        assert!(
            !root.join(&path[1..]).exists(),
            "{path} is left after dpkg -P"
        );
    }
    // ... and what the services wrote while they ran.
    for dir in [
        "etc/cargo",
        "var/lib/polaris",
        "usr/lib/cargo",
        "var/lib/cargo",
        "var/log/cargo",
    ] {
        assert!(!root.join(dir).exists(), "/{dir} is left after dpkg -P");
    }
}
