//! `polaris dev`, the README's run command: the server on SQLite in a folder of the working
//! directory; its BootAgent installs gearman, nodus, logagent and secureagent from the server's
//! own package server, nodus posts metrics to it, gearman runs a command sent through the REST
//! API, logagent ships the server's own log back to it and secureagent reports its integrity
//! checks of the dev folder's packages.

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// An HTTPS GET trusting the dev CA of `state`; returns (status, body).
fn get(state: &Path, addr: &str, path: &str, auth: &str) -> (u16, String) {
    let agent = devpki::client(&state.join("pki/ca.pem"), None).expect("https client");
    let mut response = agent
        .get(format!("https://{addr}{path}"))
        .header("Authorization", auth)
        .call()
        .expect("GET from polaris dev");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `polaris dev` in `work` on free ports; returns it and its HTTPS address.
fn start_dev(work: &Path) -> (Dev, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let agents_addr = format!("127.0.0.1:{}", free_port());
    let dev = Dev(Command::new(e2e::bin("polaris"))
        .args(["dev", "--listen", &addr, "--agents-listen", &agents_addr])
        .current_dir(work)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    (dev, addr)
}

/// Pids of the processes running a program from below `dir`.
fn programs_under(dir: &Path) -> Vec<(u32, String)> {
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return Vec::new();
    };
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse().ok()?;
            let exe = std::fs::read_link(entry.path().join("exe")).ok()?;
            exe.starts_with(&dir)
                .then(|| (pid, exe.display().to_string()))
        })
        .collect()
}

#[test]
fn dev_mode_serves_and_runs_nodus_against_itself() {
    let work = tempfile::tempdir().unwrap();
    let (mut dev, addr) = start_dev(work.path());
    let child = &mut dev.0;
    let state = work.path().join("polaris-dev");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !state.join("admin_token").exists() || TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "polaris dev did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let token = std::fs::read_to_string(state.join("admin_token")).unwrap();
    let bearer = format!("Bearer {}", token.trim());
    let (status, _) = get(&state, &addr, "/api/v1/hosts", &bearer);
    assert_eq!(status, 200);
    // The secrets of the dev folder are the owner's only.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &str| {
        std::fs::metadata(state.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700);
    assert_eq!(mode("admin_token"), 0o600);
    assert_eq!(mode("pki"), 0o700);
    assert_eq!(mode("pki/ca.key"), 0o600);
    for entry in std::fs::read_dir(state.join("pki")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with("server-") {
            assert_eq!(
                mode(&format!("pki/{name}")),
                0o600,
                "{name} holds the server key"
            );
        }
    }

    // nodus, installed by the BootAgent, reads at start and posts here: its load values arrive.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let query = format!(
        "/api/v1/metrics/query?host={}&plugin=load&type=load&dsname=shortterm&step=1",
        host.trim()
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = get(&state, &addr, &query, &bearer);
        assert_eq!(status, 200, "{body}");
        let series: serde_json::Value = serde_json::from_str(&body).unwrap();
        if series[0]["points"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no metrics from nodus: {body}\n{}",
            std::fs::read_to_string(state.join("bootagent.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // gearman, installed by the BootAgent too, connects over TLS and runs a command sent
    // through the REST API.
    let deadline = Instant::now() + Duration::from_secs(120);
    let answer = loop {
        let (_, answer) = devpki::post(
            &devpki::client(&state.join("pki/ca.pem"), None).unwrap(),
            &format!("https://{addr}/api/v1/commands"),
            &serde_json::json!({
                "hosts": [host.trim()], "method": "sync.bash", "cmd": "echo dev-ok"
            }),
            Some(token.trim()),
        )
        .unwrap();
        if answer["response"][0]["retcode"] == 2 || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(
        answer["response"][0]["data"],
        "dev-ok\n",
        "{answer}\n{}",
        std::fs::read_to_string(state.join("bootagent.log")).unwrap_or_default()
    );
    // The BootAgent reports both agents running from their packages (at its next step).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(
            &state,
            &addr,
            &format!("/api/v1/hosts/{}", host.trim()),
            &bearer,
        );
        assert_eq!(status, 200, "{body}");
        let view: serde_json::Value = serde_json::from_str(&body).unwrap();
        let running = |name: &str| {
            view["agents"]
                .as_array()
                .and_then(|a| a.iter().find(|a| a["name"] == name))
                .is_some_and(|a| a["status"] == "running")
        };
        if running("gearman") && running("nodus") && running("logagent") && running("secureagent") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "agents not reported running: {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // gearman reports the host's plugins, its nodus's included (asked over nodus's socket).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get(
            &state,
            &addr,
            &format!("/api/v1/hosts/{}/plugins", host.trim()),
            &bearer,
        );
        assert_eq!(status, 200, "{body}");
        let view: serde_json::Value = serde_json::from_str(&body).unwrap();
        let nodus_load = view["agents"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["agent"] == "nodus"))
            .and_then(|a| a["plugins"].as_array())
            .and_then(|p| p.iter().find(|p| p["name"] == "load"))
            .cloned();
        if nodus_load.is_some_and(|p| p["instances"][0]["state"] == "running") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nodus's plugins not in the inventory: {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // logagent, installed by the BootAgent too, ships Polaris's own log file here: the line
    // this server logs when its agent listener starts arrives as a record, time and level parsed.
    let host_name = host.trim();
    let deadline = Instant::now() + Duration::from_secs(120);
    let record = loop {
        let (status, body) = get(
            &state,
            &addr,
            &format!("/api/v1/logs?host={host_name}&source=polaris&contains=wss%3A%2F%2F"),
            &bearer,
        );
        assert_eq!(status, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        if let Some(record) = page["records"].as_array().and_then(|r| r.first()) {
            break record.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no record of polaris.log: {body}\nlogagent's log:\n{}",
            std::fs::read_to_string(state.join("boot/logs/logagent.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let own_log = std::fs::read_to_string(state.join("polaris.log")).unwrap();
    let message = record["message"].as_str().unwrap();
    assert!(
        message.starts_with("Agents: wss://") && own_log.contains(message),
        "{record}\npolaris.log:\n{own_log}"
    );
    assert_eq!(record["fields"]["level"], "INFO", "{record}");
    assert_eq!(
        record["time_from_read"], false,
        "the line's own time: {record}"
    );
    assert!(
        record["path"]
            .as_str()
            .unwrap()
            .ends_with("polaris-dev/polaris.log"),
        "{record}"
    );
    // ... and its sources are listed for the host: Polaris's log, the BootAgent's, the agents'.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get(
            &state,
            &addr,
            &format!("/api/v1/hosts/{host_name}/log-sources"),
            &bearer,
        );
        assert_eq!(status, 200, "{body}");
        let sources: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut names: Vec<&str> = sources
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["name"].as_str())
            .collect();
        names.sort();
        let files = |name: &str| {
            sources
                .as_array()
                .and_then(|a| a.iter().find(|s| s["name"] == name))
                .and_then(|s| s["files"].as_u64())
                .unwrap_or(0)
        };
        // gearman's, nodus's, logagent's and secureagent's own files under boot/logs/.
        if names == ["agents", "bootagent", "polaris"] && files("agents") >= 4 {
            break;
        }
        assert!(Instant::now() < deadline, "log sources: {body}");
        std::thread::sleep(Duration::from_millis(250));
    }

    // secureagent, installed by the BootAgent too, writes its first baseline of the dev
    // folder's packages (no baseline yet: --init-if-missing), which Polaris accepts, then checks
    // on its schedule: the host's integrity state shows a check that used that baseline.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = get(&state, &addr, "/api/v1/integrity/hosts", &bearer);
        assert_eq!(status, 200, "{body}");
        let hosts: serde_json::Value = serde_json::from_str(&body).unwrap();
        let ours = hosts
            .as_array()
            .and_then(|a| a.iter().find(|h| h["host"] == host_name))
            .cloned();
        if let Some(view) = ours.filter(|v| v["last_report"]["kind"] == "check") {
            let digest = std::fs::read_to_string(state.join("secureagent/baseline.db.sha256"))
                .unwrap_or_default();
            let accepted = view["accepted_digest"].as_str().unwrap_or("none");
            assert!(
                digest.contains(accepted),
                "{view}\nbaseline.db.sha256: {digest}"
            );
            assert_eq!(view["baseline_ok"], true, "{view}");
            // The package root and its four agents' tarballs (with their signatures).
            assert!(view["last_report"]["entries"].as_u64() >= Some(5), "{view}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no integrity check of the dev host: {body}\nsecureagent's log:\n{}",
            std::fs::read_to_string(state.join("boot/logs/secureagent.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    let password = std::fs::read_to_string(state.join("package_password")).unwrap();
    let basic = format!(
        "Basic {}",
        base64_encode(&format!("dev:{}", password.trim()))
    );
    let (status, body) = get(&state, &addr, "/packages/", &basic);
    assert_eq!(status, 200);
    assert!(body.contains("Index of /packages/"), "{body}");

    // The BootAgent enrolled: its key is private, and the agents use that identity.
    assert_eq!(mode("identity/host.key"), 0o600);
    // Without a client certificate the agent endpoints refuse; with the host's they answer
    // only for the host it names.
    let anonymous = devpki::client(&state.join("pki/ca.pem"), None).unwrap();
    let report = serde_json::json!({"hostname": host.trim(), "version": "x", "uptime": 1,
        "timestamp": 1, "step": 600});
    let url = format!("https://{addr}/agent/status");
    let (status, _) = devpki::post(&anonymous, &url, &report, None).unwrap();
    assert_eq!(status, 401);

    // SIGTERM: polaris dev stops its agents (those the BootAgent installed too) and exits.
    let installed_gearman = std::fs::read_to_string(state.join("boot/state.json")).unwrap();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let state_doc: serde_json::Value = serde_json::from_str(&installed_gearman).unwrap();
    let pid = state_doc
        .pointer("/state/agents/gearman/pid")
        .or_else(|| state_doc.pointer("/agents/gearman/pid"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or_else(|| panic!("no gearman pid in {state_doc}"));
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    let stopped_by = Instant::now() + Duration::from_secs(10);
    while proc_dir.exists() && Instant::now() < stopped_by {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!proc_dir.exists(), "gearman {pid} outlived polaris dev");
    assert_eq!(
        programs_under(&state),
        Vec::new(),
        "programs of the dev folder outlived it"
    );
    let mut printed = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut printed)
        .unwrap();
    assert!(
        printed.contains("curl --cacert") && printed.contains("https://"),
        "{printed}"
    );
}

/// SIGTERM at any moment of the start leaves no agent running: as soon as the dev folder has
/// its secrets (packing and enrollment still ahead), and one second after the BootAgent started the gearman it installed (the moment that once
/// left an orphan gearman with its socket open).
#[test]
fn sigterm_during_start_leaves_no_agent() {
    for moment in ["folder made", "gearman just started"] {
        let work = tempfile::tempdir().unwrap();
        let (mut dev, _addr) = start_dev(work.path());
        let state = work.path().join("polaris-dev");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let ready = match moment {
                "folder made" => state.join("admin_token").exists(),
                _ => programs_under(&state)
                    .iter()
                    .any(|(_, exe)| exe.ends_with("/gearman")),
            };
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "{moment}: never reached");
            std::thread::sleep(Duration::from_millis(20));
        }
        if moment != "folder made" {
            std::thread::sleep(Duration::from_secs(1));
        }
        Command::new("kill")
            .args(["-TERM", &dev.0.id().to_string()])
            .status()
            .unwrap();
        let exited = dev.0.wait().unwrap();
        assert!(
            exited.success(),
            "{moment}: polaris dev exited with {exited}"
        );
        assert_eq!(
            programs_under(&state),
            Vec::new(),
            "{moment}: programs of the dev folder outlived polaris dev"
        );
    }
}

/// `polaris dev`, stopped with SIGTERM (so that it stops the agents it installed) even when an
/// assertion fails half-way.
struct Dev(std::process::Child);

impl Drop for Dev {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Standard base64 (RFC 4648) of `text`, for a Basic auth header.
fn base64_encode(text: &str) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
