//! The syslog writer against a real rsyslog (Debian's `rsyslog` and `rsyslog-gnutls`,
//! installed here when missing and root; the test is skipped, saying so, only when neither is
//! possible): rsyslogd runs in the foreground on its own configuration with an imtcp listener
//! on a free 127.0.0.1 port (plain TCP, and TLS with the `gtls` driver and a CA made by
//! `openssl`), writing every message's PRI, HOSTNAME, APP-NAME, STRUCTURED-DATA and MSG to a
//! file. Every line of the files logagent reads must arrive exactly once with its fields, and
//! a multiline record as one message.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Receiver, Setup, append, lines, set};

/// A running rsyslogd, stopped when dropped.
struct Rsyslog {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether rsyslogd (and its gtls driver) can run here, installing them when root.
fn rsyslog_available() -> bool {
    let have = || {
        Path::new("/usr/sbin/rsyslogd").exists()
            && Path::new("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so").exists()
    };
    if have() {
        return true;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: rsyslog and rsyslog-gnutls are not installed and this is not root");
        return false;
    }
    // The test runner runs tests as processes side by side: one installs, the others wait
    // for it (apt's own lock refuses a second apt-get instead of waiting).
    let lock = std::fs::File::create(std::env::temp_dir().join("logagent-tests-rsyslog.lock"))
        .expect("the install lock file");
    lock.lock().expect("the install lock");
    if have() {
        return true;
    }
    // Like /work/shared/peers/rsyslog.sh: no service started by the package.
    let _ = std::fs::write("/usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n");
    let _ = Command::new("chmod")
        .args(["+x", "/usr/sbin/policy-rc.d"])
        .status();
    let status = Command::new("apt-get")
        .args([
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "rsyslog",
            "rsyslog-gnutls",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    let _ = std::fs::remove_file("/usr/sbin/policy-rc.d");
    assert!(
        status.is_ok_and(|s| s.success()) && have(),
        "installing rsyslog failed (root, so this is an error, not a skip)"
    );
    true
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Makes a CA and a certificate for 127.0.0.1 signed by it, in `dir`; the CA file's path.
fn make_certs(dir: &Path) -> PathBuf {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=logagent test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName = IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    dir.join("ca.pem")
}

impl Rsyslog {
    /// rsyslogd in `dir` listening on a free port (TLS when `tls`), writing to `dir/out.log`.
    fn start(dir: &Path, tls: bool) -> Rsyslog {
        Rsyslog::start_on(dir, tls, free_port())
    }

    /// The same on `port`.
    fn start_on(dir: &Path, tls: bool, port: u16) -> Rsyslog {
        let out = dir.join("out.log");
        std::fs::create_dir_all(dir.join("work")).unwrap();
        let d = dir.display();
        let (global_tls, input_tls) = if tls {
            make_certs(dir);
            (
                format!(
                    "global(DefaultNetstreamDriverCAFile=\"{d}/ca.pem\" \
                     DefaultNetstreamDriverCertFile=\"{d}/server.pem\" \
                     DefaultNetstreamDriverKeyFile=\"{d}/server.key\")\n"
                ),
                " streamDriver.name=\"gtls\" streamDriver.mode=\"1\" \
                 streamDriver.authMode=\"anon\""
                    .to_string(),
            )
        } else {
            (String::new(), String::new())
        };
        let conf = format!(
            "global(workDirectory=\"{d}/work\" maxMessageSize=\"256k\")\n{global_tls}\
             module(load=\"imtcp\")\n\
             template(name=\"fields\" type=\"string\" \
             string=\"%pri%|%hostname%|%app-name%|%timereported:::date-rfc3339%|%structured-data%|%msg%\\n\")\n\
             ruleset(name=\"out\") {{ action(type=\"omfile\" file=\"{}\" template=\"fields\") }}\n\
             input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"out\"{input_tls})\n",
            out.display()
        );
        std::fs::write(dir.join("rsyslog.conf"), conf).unwrap();
        let child = Command::new("/usr/sbin/rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("rsyslogd.err")).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let err = std::fs::read_to_string(dir.join("rsyslogd.err")).unwrap_or_default();
            assert!(Instant::now() < deadline, "rsyslogd never listened: {err}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Rsyslog { child, port, out }
    }

    /// Stops it with SIGTERM (it writes what it holds) and waits.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// The lines rsyslog wrote, split into their fields.
    fn messages(&self) -> Vec<Message> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|line| {
                let f: Vec<&str> = line.splitn(6, '|').collect();
                assert_eq!(f.len(), 6, "not six fields: {line}");
                Message {
                    pri: f[0].to_string(),
                    hostname: f[1].to_string(),
                    app: f[2].to_string(),
                    time: f[3].to_string(),
                    sd: f[4].to_string(),
                    msg: f[5].trim_start().to_string(),
                }
            })
            .collect()
    }

    /// Waits (up to two minutes) until every one of `want` arrived; the messages by text.
    fn wait_for(
        &self,
        want: &[String],
        agent_log: impl Fn() -> String,
    ) -> BTreeMap<String, Vec<Message>> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let mut by_msg: BTreeMap<String, Vec<Message>> = BTreeMap::new();
            for m in self.messages() {
                by_msg.entry(m.msg.clone()).or_default().push(m);
            }
            let missing = want.iter().filter(|w| !by_msg.contains_key(*w)).count();
            if missing == 0 {
                return by_msg;
            }
            if Instant::now() >= deadline {
                let log = agent_log();
                panic!(
                    "{missing} messages never reached rsyslog; agent log: {}",
                    &log[log.len().saturating_sub(3000)..]
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[derive(Debug, Clone)]
struct Message {
    pri: String,
    hostname: String,
    app: String,
    time: String,
    sd: String,
    msg: String,
}

/// The `offset` parameter of our SD element.
fn sd_offset(sd: &str) -> u64 {
    let start = sd.find("offset=\"").expect("offset in SD") + 8;
    let end = start + sd[start..].find('"').unwrap();
    sd[start..end].parse().unwrap()
}

const JAVA: &str = "[[source]]\nname = \"java\"\npath = \"LOGS/java.log\"\nformat = \"regex\"\n\
    pattern = '(?s)^(?P<ts>\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d) (?P<message>.*)'\n\
    timestamp_field = \"ts\"\ntimestamp_format = \"%Y-%m-%d %H:%M:%S\"\n\
    multiline_start = '^\\d{4}-'\nmultiline_flush_ms = 300\n";

fn write_java(logs: &Path) {
    append(
        &logs.join("java.log"),
        &[
            "2026-12-04 10:20:30 boom".to_string(),
            "  at A.b(A.java:1)".to_string(),
            "  at C.d(C.java:2)".to_string(),
            "2026-12-04 10:20:31 after".to_string(),
        ],
    );
}

/// `plain` and the two java records' messages (the trace with rsyslog's `#012`).
fn with_java(plain: &[String]) -> Vec<String> {
    let mut all = plain.to_vec();
    all.push(TRACE.to_string());
    all.push("after".to_string());
    all
}

/// The stack trace as rsyslog writes it: one message, newlines as `#012`.
const TRACE: &str = "boom#012  at A.b(A.java:1)#012  at C.d(C.java:2)";

/// What both tests check in what rsyslog wrote: each line once, with its fields.
fn check(by_msg: &BTreeMap<String, Vec<Message>>, plain: &[String], pri: &str) {
    for (i, line) in plain.iter().enumerate() {
        let got = &by_msg[line];
        assert_eq!(got.len(), 1, "{line} arrived {} times", got.len());
        let m = &got[0];
        assert_eq!(
            (m.pri.as_str(), m.hostname.as_str(), m.app.as_str()),
            (pri, "testhost", "app")
        );
        assert!(m.sd.starts_with("[logagent@32473 file=\""), "{}", m.sd);
        // Every line is 14 bytes ("plain-0000000\n"): the offset names it.
        assert_eq!(sd_offset(&m.sd), i as u64 * 14, "{m:?}");
    }
    // The stack trace is one message, its newlines as rsyslog writes control characters.
    let got = by_msg.get(TRACE).unwrap_or_else(|| {
        panic!(
            "no single message for the trace; got {:?}",
            by_msg.keys().rev().take(4).collect::<Vec<_>>()
        )
    });
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].app, "java");
    assert!(
        got[0].time.starts_with("2026-12-04T10:20:30"),
        "{:?}",
        got[0]
    );
    assert_eq!(sd_offset(&got[0].sd), 0);
    assert!(by_msg.contains_key("after"));
}

#[test]
fn every_line_reaches_rsyslog_once_over_tcp_with_octet_counting() {
    if !rsyslog_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rsyslog = Rsyslog::start(dir.path(), false);
    let setup = Setup::new(
        "",
        &format!(
            "[[source]]\nname = \"app\"\npath = \"LOGS/app.log\"\n{JAVA}\
             [syslog]\naddress = \"127.0.0.1:{}\"\nhostname = \"testhost\"\nfacility = \"local3\"\n",
            rsyslog.port
        ),
    );
    let plain = lines("plain", 0..20_000);
    append(&setup.logs.join("app.log"), &plain[..10_000]);
    write_java(&setup.logs);
    let agent = setup.start();
    std::thread::sleep(Duration::from_millis(500));
    append(&setup.logs.join("app.log"), &plain[10_000..]);
    let by_msg = rsyslog.wait_for(&with_java(&plain), || setup.log());
    check(&by_msg, &plain, "158");
    // Every line once, and nothing else but the two java records.
    assert_eq!(rsyslog.messages().len(), plain.len() + 2);
    assert!(!setup.log().contains("closed the connection"));
    // The server goes away and comes back on the same port: what was written meanwhile
    // arrives (at least once: plain syslog has no acknowledgement), and the agent goes on.
    let port = rsyslog.port;
    rsyslog.stop();
    let more = lines("more", 0..3000);
    append(&setup.logs.join("app.log"), &more);
    std::thread::sleep(Duration::from_secs(2));
    let rsyslog = Rsyslog::start_on(dir.path(), false, port);
    rsyslog.wait_for(&more, || setup.log());
    let log = setup.log();
    assert!(
        log.contains("not acknowledged"),
        "the outage was not seen: {log}"
    );
    agent.stop();
}

#[test]
fn polaris_and_rsyslog_over_tls_with_lf_framing_each_take_every_line_once() {
    if !rsyslog_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rsyslog = Rsyslog::start(dir.path(), true);
    let receiver = Receiver::start();
    let setup = Setup::new(
        &receiver.url,
        &format!(
            "[[source]]\nname = \"app\"\npath = \"LOGS/app.log\"\n{JAVA}\
             [syslog]\naddress = \"127.0.0.1:{}\"\ntls = true\nca = \"{}\"\n\
             framing = \"lf\"\nhostname = \"testhost\"\n",
            rsyslog.port,
            dir.path().join("ca.pem").display()
        ),
    );
    let plain = lines("plain", 0..5_000);
    append(&setup.logs.join("app.log"), &plain);
    write_java(&setup.logs);
    let agent = setup.start();
    let by_msg = rsyslog.wait_for(&with_java(&plain), || setup.log());
    check(&by_msg, &plain, "14");
    receiver.wait_for(&set(&plain));
    receiver.assert_once();
    assert_eq!(rsyslog.messages().len(), plain.len() + 2);
    // One TLS connection served every batch (what the server sends after the handshake, TLS
    // 1.3 session tickets, is not taken for a close).
    let log = setup.log();
    assert!(!log.contains("closed the connection"), "{log}");
    agent.stop();
}
