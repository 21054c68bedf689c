//! The BootAgent installing agents shipped as OS packages, against a real Polaris and the
//! host's real dpkg: a `.deb` from the package server is installed and runs; an upgrade whose
//! start command exits at once, one whose dependency is missing and one while another program
//! holds dpkg's lock all leave the previous package installed and running; a good upgrade and
//! an uninstall (purge) work; a package the host already has is not taken over; an `.rpm` job
//! is refused on a host without rpm. Run as root (dpkg); skipped loudly otherwise.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::boot::{Boot, Server, alive, wait_for};
use serde_json::json;

/// Upper bound of any wait for the fleet to act (a broken run, not a timing check).
const LIMIT: Duration = Duration::from_secs(60);
/// The toy package's name in dpkg's database (unique to this test).
const PACKAGE: &str = "polaris-test-sleeper";

const SLEEPER: &str = "#!/bin/sh\necho \"greeting=$GREETING\" > greeting.txt\nexec sleep 1000\n";
const CRASHER: &str = "#!/bin/sh\necho 'this version is broken' >&2\nexit 3\n";

/// Removes the toy package from the host.
fn purge() {
    let _ = Command::new("dpkg")
        .args(["--purge", PACKAGE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Purges the toy package when dropped (also when the test fails half-way).
struct PurgeGuard;

impl Drop for PurgeGuard {
    fn drop(&mut self) {
        purge();
    }
}

/// Why this machine cannot run the dpkg tests, if it cannot.
fn no_dpkg() -> Option<&'static str> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root (dpkg installs need root; CI runs as root)");
    }
    let missing = |tool: &str| Command::new(tool).arg("--version").output().is_err();
    if missing("dpkg") || missing("dpkg-deb") || missing("dpkg-query") {
        return Some("dpkg not installed (apt-get install -y dpkg)");
    }
    None
}

/// Builds `polaris-test-sleeper_<version>_all.deb` with the real `dpkg-deb --build`: its
/// `run.sh` at `/usr/lib/polaris-test-sleeper/` is the agent (`Polaris-Start`).
fn deb(dir: &Path, version: &str, script: &str, depends: Option<&str>) -> (PathBuf, String) {
    let root = dir.join(format!("deb-{version}"));
    let lib = root.join(format!("usr/lib/{PACKAGE}"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("run.sh"), script).unwrap();
    let depends = depends.map_or(String::new(), |d| format!("Depends: {d}\n"));
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\n\
             Maintainer: Polaris tests <tests@polaris.invalid>\n{depends}\
             Description: Polaris BootAgent test agent\n\
             Polaris-Start: /usr/lib/{PACKAGE}/run.sh\n"
        ),
    )
    .unwrap();
    for path in [&root, &root.join("DEBIAN"), &lib, &lib.join("run.sh")] {
        let _ = Command::new("chmod").arg("755").arg(path).status();
    }
    let out = dir.join(format!("{PACKAGE}_{version}_all.deb"));
    let built = Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&root)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "dpkg-deb: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let sum = Command::new("sha256sum").arg(&out).output().unwrap();
    let hex = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    (out, format!("SHA256:{hex}"))
}

/// What dpkg says of the toy package: `install ok installed 1.0`, or `None` when it knows
/// nothing of it.
fn dpkg_says() -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status} ${Version}", PACKAGE])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A server and one BootAgent reporting to it, registered.
fn fleet(dir: &Path, hostname: &str) -> (Server, Boot) {
    let server = Server::start(&dir.join("polaris"));
    let boot = Boot::start(&dir.join("boot"), hostname, &server, "");
    wait_for(
        LIMIT,
        "the host registers",
        || boot.log(),
        || (!server.host(hostname).is_null()).then_some(()),
    );
    (server, boot)
}

/// Creates job `spec` and waits for its result: (errcode, message).
fn run_job(server: &Server, boot: &Boot, spec: serde_json::Value) -> (u64, String) {
    let id = server.job(&boot.hostname, spec);
    wait_for(
        LIMIT,
        &format!("result of job {id}"),
        || format!("bootagent log:\n{}", boot.log()),
        || server.job_result(&id),
    )
}

/// Waits until the admin API shows the agent `sleeper` with `status` and `version`.
fn wait_reported(server: &Server, boot: &Boot, status: &str, version: &str) {
    let want = (status.to_string(), version.to_string());
    wait_for(
        LIMIT,
        &format!("sleeper reported {status} {version}"),
        || format!("host: {}", server.host(&boot.hostname)),
        || (server.agent(&boot.hostname, "sleeper").as_ref() == Some(&want)).then_some(()),
    );
}

fn job(action: &str, url: &str, checksum: &str) -> serde_json::Value {
    json!({ "action": action, "name": "sleeper", "url": url, "checksum": checksum,
            "env": { "GREETING": "hello" } })
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Holds dpkg's frontend lock (an fcntl lock, as dpkg takes it) until dropped.
struct DpkgLock(std::process::Child);

impl DpkgLock {
    fn hold() -> Option<DpkgLock> {
        let script = "import fcntl,sys\nf=open('/var/lib/dpkg/lock-frontend','a')\n\
                      fcntl.lockf(f,fcntl.LOCK_EX)\nprint('locked',flush=True)\nsys.stdin.read()\n";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take()?)
            .read_line(&mut line)
            .ok()?;
        assert_eq!(line.trim(), "locked");
        Some(DpkgLock(child))
    }
}

impl Drop for DpkgLock {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_deb_installs_with_dpkg_and_a_failed_upgrade_puts_the_previous_package_back() {
    if let Some(why) = no_dpkg() {
        eprintln!("SKIPPED: {why}; no .deb install test");
        return;
    }
    let _purge = PurgeGuard;
    purge(); // a run that was killed may have left it installed
    assert_eq!(dpkg_says(), None, "{PACKAGE} is not installed at the start");
    let dir = tempfile::tempdir().unwrap();
    let (server, boot) = fleet(dir.path(), "boot-deb");
    let publish = |file: &Path| server.publish(file, "sleeper");

    // 1.0: installed by dpkg, run and watched by the BootAgent, reported.
    let (v1, sum1) = deb(dir.path(), "1.0", SLEEPER, None);
    let (errcode, message) = run_job(&server, &boot, job("install", &publish(&v1), &sum1));
    assert_eq!((errcode, message.as_str()), (0, "installed sleeper 1.0"));
    assert_eq!(dpkg_says().as_deref(), Some("install ok installed 1.0"));
    wait_reported(&server, &boot, "running", "1.0");
    let pid = boot.agent_pid("sleeper").expect("pid recorded");
    assert!(alive(pid), "the agent's process {pid} runs");
    let folder = boot.agent_dir("sleeper").join("1.0");
    let greeting = std::fs::read_to_string(folder.join("greeting.txt")).unwrap();
    assert_eq!(
        greeting.trim(),
        "greeting=hello",
        "the job's env reached it"
    );
    // The verified package is kept, privately, to put back after a failed upgrade.
    assert_eq!(
        std::fs::read(folder.join("package.deb")).unwrap(),
        std::fs::read(&v1).unwrap()
    );
    assert_eq!(mode(&folder.join("package.deb")), 0o600);
    assert_eq!(mode(&folder), 0o700);

    // 2.0 installs but exits at once: rolled back, dpkg has 1.0 again and it runs.
    let (v2, sum2) = deb(dir.path(), "2.0", CRASHER, None);
    let (errcode, message) = run_job(&server, &boot, job("upgrade", &publish(&v2), &sum2));
    assert_ne!(errcode, 0, "{message}");
    assert!(message.starts_with("rolled back to 1.0: 2.0 "), "{message}");
    assert!(message.contains("this version is broken"), "{message}");
    assert_eq!(dpkg_says().as_deref(), Some("install ok installed 1.0"));
    assert_eq!(boot.current("sleeper").as_deref(), Some("1.0"));
    assert!(!boot.agent_dir("sleeper").join("2.0").exists());
    wait_reported(&server, &boot, "running", "1.0");
    let pid = boot.agent_pid("sleeper").expect("pid recorded");
    assert!(alive(pid), "1.0 runs again");

    // 3.0 depends on a package the host lacks: dpkg fails, the host is put back, and 1.0
    // never stopped.
    let (v3, sum3) = deb(
        dir.path(),
        "3.0",
        SLEEPER,
        Some("polaris-test-no-such-package"),
    );
    let (errcode, message) = run_job(&server, &boot, job("upgrade", &publish(&v3), &sum3));
    assert_ne!(errcode, 0, "{message}");
    assert!(
        message.starts_with("3.0 was not installed: `dpkg --install")
            && message.contains("polaris-test-no-such-package")
            && message.ends_with(&format!("{PACKAGE} 1.0 was installed again")),
        "{message}"
    );
    assert_eq!(dpkg_says().as_deref(), Some("install ok installed 1.0"));
    assert_eq!(boot.agent_pid("sleeper"), Some(pid));
    assert!(alive(pid), "1.0 ({pid}) was not stopped");
    assert!(!boot.agent_dir("sleeper").join("3.0").exists());

    // 4.0 while another program holds dpkg's lock: refused by dpkg, nothing changed; once
    // the lock is free the same job's package upgrades.
    let (v4, sum4) = deb(dir.path(), "4.0", SLEEPER, None);
    let url4 = publish(&v4);
    match DpkgLock::hold() {
        Some(lock) => {
            let (errcode, message) = run_job(&server, &boot, job("upgrade", &url4, &sum4));
            drop(lock);
            assert_ne!(errcode, 0, "{message}");
            assert!(
                message.contains("lock")
                    && message.ends_with(&format!("{PACKAGE} 1.0 is installed as before")),
                "{message}"
            );
            assert_eq!(dpkg_says().as_deref(), Some("install ok installed 1.0"));
            assert!(alive(pid), "1.0 ({pid}) was not stopped");
        }
        None => eprintln!(
            "SKIPPED: python3 not installed (apt-get install -y python3); no dpkg lock case"
        ),
    }
    let (errcode, message) = run_job(&server, &boot, job("upgrade", &url4, &sum4));
    assert_eq!(
        (errcode, message.as_str()),
        (0, "upgraded to 4.0 (from 1.0)")
    );
    assert_eq!(dpkg_says().as_deref(), Some("install ok installed 4.0"));
    wait_reported(&server, &boot, "running", "4.0");
    assert!(!alive(pid), "1.0 was stopped");
    let pid = boot.agent_pid("sleeper").expect("pid recorded");

    // uninstall: stopped and purged.
    let (errcode, message) = run_job(
        &server,
        &boot,
        json!({ "action": "uninstall", "name": "sleeper" }),
    );
    assert_eq!((errcode, message.as_str()), (0, "uninstalled sleeper"));
    assert_eq!(dpkg_says(), None, "purged");
    assert!(!Path::new(&format!("/usr/lib/{PACKAGE}")).exists());
    assert!(!alive(pid));
    assert!(!boot.agent_dir("sleeper").exists());

    // A package the host has, installed by hand, is not taken over (nor removed).
    let by_hand = Command::new("dpkg")
        .arg("--install")
        .arg(&v1)
        .output()
        .unwrap();
    assert!(
        by_hand.status.success(),
        "{}",
        String::from_utf8_lossy(&by_hand.stderr)
    );
    let (errcode, message) = run_job(&server, &boot, job("install", &publish(&v1), &sum1));
    assert_ne!(errcode, 0, "{message}");
    assert_eq!(
        message,
        format!(
            "`{PACKAGE}` 1.0 is already installed on this host, not by the BootAgent: remove \
             it first (dpkg --purge {PACKAGE}); nothing done"
        )
    );
    assert_eq!(dpkg_says().as_deref(), Some("install ok installed 1.0"));
    assert!(server.agent(&boot.hostname, "sleeper").is_none());
}

#[test]
fn an_rpm_job_is_refused_on_a_host_without_rpm() {
    if Command::new("rpm").arg("--version").output().is_ok() {
        eprintln!("SKIPPED: rpm is installed here; the refusal needs a host without it");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (server, boot) = fleet(dir.path(), "boot-rpm");
    let file = dir.path().join("BasicAgent-1.5.6.rpm");
    std::fs::write(&file, "not looked at").unwrap();
    let url = server.publish(&file, "BasicAgent");
    let spec = json!({ "action": "install", "name": "BasicAgent", "url": url,
                       "checksum": format!("SHA256:{}", "0".repeat(64)) });
    let (errcode, message) = run_job(&server, &boot, spec);
    assert_ne!(errcode, 0, "{message}");
    assert!(
        message.starts_with(".rpm packages need `rpm`, which this host does not have")
            && message.ends_with("; nothing done"),
        "{message}"
    );
    assert!(!boot.agent_dir("BasicAgent").exists());
    assert!(server.agent(&boot.hostname, "BasicAgent").is_none());
}
