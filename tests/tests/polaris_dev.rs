//! `polaris dev`, the README's run command: the server on SQLite in a folder of the working
//! directory; its BootAgent installs gearman and nodus from the server's own package server,
//! nodus posts metrics to it and gearman runs a command sent through the REST API.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A plain HTTP GET; returns (status, body).
fn get(addr: &str, path: &str, auth: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to polaris dev");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn dev_mode_serves_and_runs_nodus_against_itself() {
    let work = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let agents_addr = format!("127.0.0.1:{}", free_port());
    let mut dev = Dev(Command::new(e2e::bin("polaris"))
        .args(["dev", "--listen", &addr, "--agents-listen", &agents_addr])
        .current_dir(work.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    let child = &mut dev.0;
    let state = work.path().join("polaris-dev");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !state.join("admin_token").exists() || TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "polaris dev did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let token = std::fs::read_to_string(state.join("admin_token")).unwrap();
    let bearer = format!("Bearer {}", token.trim());
    let (status, _) = get(&addr, "/api/v1/hosts", &bearer);
    assert_eq!(status, 200);

    // nodus, installed by the BootAgent, reads at start and posts here: its load values arrive.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let query = format!(
        "/api/v1/metrics/query?host={}&plugin=load&type=load&dsname=shortterm&step=1",
        host.trim()
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = get(&addr, &query, &bearer);
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
        let answer: serde_json::Value = ureq::post(&format!("http://{addr}/api/v1/commands"))
            .header("Authorization", &bearer)
            .send_json(serde_json::json!({
                "hosts": [host.trim()], "method": "sync.bash", "cmd": "echo dev-ok"
            }))
            .unwrap()
            .body_mut()
            .read_json()
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
        let (status, body) = get(&addr, &format!("/api/v1/hosts/{}", host.trim()), &bearer);
        assert_eq!(status, 200, "{body}");
        let view: serde_json::Value = serde_json::from_str(&body).unwrap();
        let running = |name: &str| {
            view["agents"]
                .as_array()
                .and_then(|a| a.iter().find(|a| a["name"] == name))
                .is_some_and(|a| a["status"] == "running")
        };
        if running("gearman") && running("nodus") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "agents not reported running: {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let password = std::fs::read_to_string(state.join("package_password")).unwrap();
    let basic = format!(
        "Basic {}",
        base64_encode(&format!("dev:{}", password.trim()))
    );
    let (status, body) = get(&addr, "/packages/", &basic);
    assert_eq!(status, 200);
    assert!(body.contains("Index of /packages/"), "{body}");

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
    let mut printed = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut printed)
        .unwrap();
    assert!(
        printed.contains("curl -H 'Authorization: Bearer"),
        "{printed}"
    );
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
