//! The installed services under systemd: the Debian 12 root with the packages installed is
//! booted with `systemd-nspawn` in a network namespace of its own (only its loopback), the
//! enabled units start, the operator gives the agents the Polaris CA and an enrollment token,
//! and Polaris sees the agents: the BootAgent's host in `/api/v1/hosts`, a command answered
//! through gearman's mutual-TLS link, the host's `/var/log/dpkg.log` shipped by logagent, and
//! secureagent's baseline accepted and a changed `/etc/motd` found and listed.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The host name the booted root gets (its `/etc/hostname`).
const HOST: &str = "deb12-host";

/// A booted root; powered off (and waited for) when dropped.
struct Container {
    nspawn: Child,
    /// The container's PID 1 (systemd), as this machine numbers it.
    leader: u32,
}

impl Container {
    fn boot(root: &Path, console: &Path) -> Container {
        let console = File::create(console).unwrap();
        let mut nspawn = Command::new("systemd-nspawn")
            // No host systemd or machined here: neither a scope nor a registration.
            .args(["--quiet", "--boot", "--register=no", "--keep-unit"])
            .args(["--private-network", "--console=pipe", "--directory"])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(console.try_clone().unwrap())
            .stderr(console)
            .spawn()
            .expect("start systemd-nspawn");
        // nspawn starts the container's init as its own child.
        let deadline = Instant::now() + Duration::from_secs(30);
        let leader = loop {
            if let Some(pid) = child_named(nspawn.id(), "systemd") {
                break pid;
            }
            if let Ok(Some(status)) = nspawn.try_wait() {
                panic!("systemd-nspawn ended ({status}) before systemd started");
            }
            assert!(Instant::now() < deadline, "no systemd in the container");
            std::thread::sleep(Duration::from_millis(100));
        };
        Container { nspawn, leader }
    }

    /// Runs `script` with `sh` inside the container (all its namespaces).
    fn sh(&self, script: &str) -> Output {
        Command::new("nsenter")
            .args(["-t", &self.leader.to_string(), "-a", "sh", "-c", script])
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output()
            .expect("nsenter")
    }

    fn ok(&self, script: &str) -> String {
        super::succeeded(self.sh(script), script, "the container")
    }

    /// `curl` of this machine in the container's network namespace, against its Polaris.
    fn api(&self, ca: &Path, token: &str, path: &str, body: Option<&str>) -> serde_json::Value {
        let mut curl = Command::new("nsenter");
        curl.args([
            "-t",
            &self.leader.to_string(),
            "-n",
            "curl",
            "-sS",
            "--cacert",
        ])
        .arg(ca)
        .args(["-H", &format!("Authorization: Bearer {token}")]);
        if let Some(body) = body {
            curl.args(["-H", "Content-Type: application/json", "--data", body]);
        }
        let out = curl
            .arg(format!("https://127.0.0.1:8080{path}"))
            .output()
            .expect("curl");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            serde_json::json!({
                "curl": String::from_utf8_lossy(&out.stdout),
                "stderr": String::from_utf8_lossy(&out.stderr),
            })
        })
    }

    /// Waits until `check` holds, or fails with `what` and the services' journal.
    fn wait_for(&self, what: &str, secs: u64, mut check: impl FnMut() -> Result<(), String>) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let Err(last) = check() else { return };
            if Instant::now() > deadline {
                let journal = self.sh(
                    "journalctl --no-pager -n 80 -u polaris -u bootagent -u gearman -u logagent \
                     -u secureagent",
                );
                panic!(
                    "{what}: {last}\njournal:\n{}",
                    String::from_utf8_lossy(&journal.stdout)
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // nspawn's SIGTERM asks the container's systemd to power off.
        let _ = Command::new("kill")
            .args(["-TERM", &self.nspawn.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.nspawn.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
    }
}

/// The process named `name` whose parent is `parent`.
fn child_named(parent: u32, name: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
            let field = |key: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(key))
                    .map(str::trim)
                    .map(str::to_string)
            };
            (field("Name:")? == name && field("PPid:")? == parent.to_string()).then_some(pid)
        })
}

/// Boots `root` (the four packages installed, nothing configured yet) and checks that the
/// services run under systemd and that Polaris sees the agents once the operator has done
/// what the README says. Leaves the root as an operator would after powering it off, less
/// the two files the operator added to `/etc/cargo`.
pub fn services_start_and_polaris_sees_the_agents(root: &Path, work: &Path) {
    std::fs::write(root.join("etc/hostname"), format!("{HOST}\n")).unwrap();
    let console = work.join("console.log");
    let container = Container::boot(root, &console);

    // Polaris, nodus and secureagent (which reports nowhere until it is told) start at boot
    // from their enabled units (Type=notify: active means ready); the BootAgent and gearman
    // refuse to start without the Polaris CA.
    container.wait_for("polaris, nodus and secureagent active", 90, || {
        let out = container.sh("systemctl is-active polaris nodus secureagent");
        let states = String::from_utf8_lossy(&out.stdout).to_string();
        (states.split_whitespace().collect::<Vec<_>>() == ["active"; 3])
            .then_some(())
            .ok_or(states)
    });
    let states = String::from_utf8_lossy(
        &container
            .sh("systemctl is-active bootagent gearman logagent")
            .stdout,
    )
    .to_string();
    assert!(
        !states.lines().any(|state| state == "active"),
        "an agent ran without a CA: {states}"
    );

    // What an operator does (README, "Installing from packages"): pin the CA, give the
    // BootAgent a one-time enrollment token, point both agents at Polaris, restart them.
    container.ok("set -e
         cp /var/lib/polaris/pki/ca.pem /etc/cargo/ca.pem
         (umask 077; runuser -u polaris -- polaris enroll -c /etc/cargo/polaris.toml \
            >/etc/cargo/enroll_token)
         sed -i -e 's|^svrlist = .*|svrlist = \"127.0.0.1:8080\"|' \
            -e 's|^# enroll_token_file = .*|enroll_token_file = \"/etc/cargo/enroll_token\"|' \
            /etc/cargo/bootagent.conf
         sed -i 's|^server = .*|server = \"127.0.0.1\"|' /etc/cargo/gearman.conf
         sed -i 's|^polaris = .*|polaris = \"https://127.0.0.1:8080\"|' /etc/cargo/logagent.conf
         systemctl reset-failed
         systemctl restart bootagent gearman");

    let ca = root.join("var/lib/polaris/pki/ca.pem");
    let token = std::fs::read_to_string(root.join("var/lib/polaris/admin_token")).unwrap();
    let token = token.trim();
    // The BootAgent enrolled and reported the host.
    container.wait_for("the BootAgent's host online in /api/v1/hosts", 90, || {
        let view = container.api(&ca, token, &format!("/api/v1/hosts/{HOST}"), None);
        (view["hostname"] == HOST && view["status"] == "online")
            .then_some(())
            .ok_or(view.to_string())
    });
    // gearman linked with the host's enrolled identity and runs a command from the REST API.
    let command = serde_json::json!({
        "hosts": [HOST], "method": "sync.bash", "cmd": "echo from-systemd"
    })
    .to_string();
    container.wait_for("a command answered through gearman", 90, || {
        let answer = container.api(&ca, token, "/api/v1/commands", Some(&command));
        let result = &answer["response"][0];
        (result["retcode"] == wire::retcode::NORMAL_TERMINATION
            && result["data"] == "from-systemd\n")
            .then_some(())
            .ok_or(answer.to_string())
    });
    // logagent, once the host is enrolled (its check needs the host's certificate), ships the
    // host's /var/log/*.log: dpkg's log of the packages' own installation reaches Polaris.
    container.ok("systemctl reset-failed logagent; systemctl restart logagent");
    container.wait_for(
        "logagent's sources in /api/v1/hosts/{h}/log-sources",
        90,
        || {
            let sources = container.api(
                &ca,
                token,
                &format!("/api/v1/hosts/{HOST}/log-sources"),
                None,
            );
            sources
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["name"] == "var-log" && s["files"].as_u64() > Some(0))
                .then_some(())
                .ok_or(sources.to_string())
        },
    );
    container.wait_for("dpkg.log's lines in /api/v1/logs", 90, || {
        let page = container.api(
            &ca,
            token,
            &format!("/api/v1/logs?host={HOST}&source=var-log&contains=polaris-logagent"),
            None,
        );
        page["records"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| {
                r["path"] == "/var/log/dpkg.log"
                    && r["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("install polaris-logagent"))
            })
            .then_some(())
            .ok_or(page.to_string())
    });
    integrity_reported(&container, &ca, token);
    let states =
        container.ok("systemctl is-active polaris bootagent gearman nodus logagent secureagent");
    assert_eq!(
        states.split_whitespace().collect::<Vec<_>>(),
        ["active"; 6],
        "{states}"
    );
    // Logging goes to the journal by default.
    let journal = container.ok("journalctl --no-pager -u gearman -o cat");
    assert!(
        !journal.trim().is_empty(),
        "gearman logged nothing to the journal"
    );

    drop(container);
    for file in ["etc/cargo/ca.pem", "etc/cargo/enroll_token"] {
        std::fs::remove_file(root.join(file)).unwrap();
    }
}

/// secureagent, pointed at Polaris with the host's enrolled certificate (README, "Installing
/// from packages"): the operator's `--init` over the packaged rules makes Polaris accept the
/// baseline's digest, and a line added to `/etc/motd` is found by the next `--check` (AIDE's
/// exit bit 4) and listed by Polaris as the host's finding.
fn integrity_reported(container: &Container, ca: &Path, token: &str) {
    container.ok("set -e
         sed -i -e 's|^polaris = .*|polaris = \"https://127.0.0.1:8080\"|' \
            -e 's|^# ca = .*|ca = \"/etc/cargo/ca.pem\"|' /etc/cargo/secureagent.conf
         systemctl restart secureagent
         secureagent -C /etc/cargo/secureagent.conf --init >/dev/null");
    let digest = container.ok("cat /var/lib/cargo/secureagent/baseline.db.sha256");
    let host = container.api(ca, token, &format!("/api/v1/integrity/hosts/{HOST}"), None);
    let accepted = host["accepted_digest"].as_str().unwrap_or_default();
    assert!(
        !accepted.is_empty() && digest.contains(accepted),
        "{host}\nbaseline.db.sha256: {digest}"
    );
    let check = container.sh("echo 'changed by the packages test' >>/etc/motd
         secureagent -C /etc/cargo/secureagent.conf --check");
    let text = String::from_utf8_lossy(&check.stdout);
    let code = check.status.code().unwrap_or(-1);
    assert!(
        (0..8).contains(&code) && code & 4 == 4 && text.contains("/etc/motd"),
        "secureagent --check exited {code}:\n{text}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let host = container.api(ca, token, &format!("/api/v1/integrity/hosts/{HOST}"), None);
    assert!(
        host["last_report"]["kind"] == "check" && host["baseline_ok"] == true,
        "{host}"
    );
    let page = container.api(
        ca,
        token,
        &format!("/api/v1/integrity/findings?host={HOST}"),
        None,
    );
    assert!(
        page["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f["path"] == "/etc/motd" && f["attribute"] == "sha256"),
        "{page}"
    );
}
