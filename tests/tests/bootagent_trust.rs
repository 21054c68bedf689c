//! The BootAgent's trust, against real servers: it pins the Polaris CA, so a real second TLS
//! server with a certificate of another CA (DNS spoofing, a man in the middle) gets neither
//! its enrollment token nor a report, and it refuses plain `http://` servers unless told it is
//! in a lab.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::bin;
use e2e::boot::Server;

/// Writes a BootAgent configuration (`extra` appended) and runs `bootagent -f` for `seconds`,
/// then stops it; returns its exit status if it ended by itself, and its log.
fn run_bootagent(
    dir: &Path,
    config: &str,
    seconds: u64,
) -> (Option<std::process::ExitStatus>, String) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("bootagent.conf"), config).unwrap();
    let mut child = Command::new(bin("bootagent"))
        .args(["-f", "-C"])
        .arg(dir.join("bootagent.conf"))
        .arg("-L")
        .arg(dir.join("bootagent.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut ended = None;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            ended = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Reaps it either way (killing a process that already ended changes nothing).
    let _ = child.kill();
    let _ = child.wait();
    let mut log = std::fs::read_to_string(dir.join("bootagent.log")).unwrap_or_default();
    if let Some(mut stderr) = child.stderr.take() {
        use std::io::Read as _;
        let _ = stderr.read_to_string(&mut log);
    }
    (ended, log)
}

#[test]
fn a_server_whose_certificate_is_not_from_the_pinned_ca_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ours = Server::start(&dir.path().join("ours"));
    let rogue = Server::start(&dir.path().join("rogue"));
    // The token is a real one of our server; the address is the rogue's.
    let token = ours.enroller().token(1).unwrap();
    let boot = dir.path().join("boot");
    let config = format!(
        "svrlist = \"https://{}\"\nca = \"{}\"\nenroll_token = \"{token}\"\nidentity_dir = \"{}\"\n\
         step = 1\nhostname = \"pinned-host\"\nstate_dir = \"{}\"\ntimeout = 5\n",
        rogue.http,
        ours.ca.display(),
        boot.join("identity").display(),
        boot.join("state").display(),
    );
    let (ended, log) = run_bootagent(&boot, &config, 6);
    assert!(
        ended.is_none(),
        "the BootAgent gave up instead of retrying: {log}"
    );
    assert!(
        log.contains("enrollment failed") && log.contains("certificate"),
        "no certificate error in the log: {log}"
    );
    assert!(
        !boot.join("identity/host.pem").exists(),
        "enrolled with the rogue"
    );
    assert_eq!(
        rogue.host("pinned-host"),
        serde_json::Value::Null,
        "the rogue heard of the host"
    );
    assert!(
        !rogue.log().contains("pinned-host"),
        "the rogue saw the host's request:\n{}",
        rogue.log()
    );
    // The same token still enrolls with the real server: the rogue never received it.
    let config = config.replace(&rogue.http, &ours.http);
    let (_, log) = run_bootagent(&boot, &config, 8);
    assert!(boot.join("identity/host.pem").exists(), "{log}");
    assert_ne!(ours.host("pinned-host"), serde_json::Value::Null, "{log}");
}

#[test]
fn plain_http_servers_need_the_lab_switch() {
    let dir = tempfile::tempdir().unwrap();
    let base = "svrlist = \"http://127.0.0.1:9\"\nca = \"/nonexistent/ca.pem\"\nstep = 1\n";
    let config = format!("{base}state_dir = {:?}\n", dir.path().join("state"));
    let (ended, log) = run_bootagent(dir.path(), &config, 10);
    let ended = ended.expect("the BootAgent started with an http:// server");
    assert!(!ended.success());
    assert!(log.contains("insecure"), "{log}");
    // Without a pinned CA it does not start either.
    let config = format!(
        "svrlist = \"127.0.0.1:9\"\nstate_dir = {:?}\n",
        dir.path().join("state")
    );
    let (ended, log) = run_bootagent(dir.path(), &config, 10);
    assert!(!ended.expect("started without a CA").success(), "{log}");
    assert!(log.contains("ca"), "{log}");
}
