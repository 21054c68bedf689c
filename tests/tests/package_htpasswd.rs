//! The package server of a running Polaris accepts every hash Apache's `htpasswd` writes on
//! Linux (`-B` bcrypt, `-m` apr1, `-s` {SHA}, `-2` SHA-256-crypt, `-5` SHA-512-crypt, `-d`
//! crypt), as Apache does: the right password downloads a package, a wrong one gets 401. A
//! plain-text line (`-p`) is refused, with a log line that says so. The file is written by the
//! real `htpasswd` (Debian package apache2-utils).

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2e::server::ServerProcess;

const TOKEN: &str = "htpasswd-admin-token-0123456789";
const PACKAGE: &[u8] = b"a package's bytes\n";

/// `htpasswd -b [-c] <flag> <file> <user> <password>`.
fn add_user(htpasswd: &Path, file: &Path, flag: &str, user: &str, password: &str) {
    let mut command = Command::new(htpasswd);
    command.arg("-b");
    if !file.exists() {
        command.arg("-c");
    }
    let out = command
        .args([flag])
        .arg(file)
        .args([user, password])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "htpasswd {flag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `GET url` with Basic credentials: (status, body).
fn download(agent: &ureq::Agent, url: &str, user: &str, password: &str) -> (u16, Vec<u8>) {
    let basic = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
    let mut response = agent
        .get(url)
        .header("Authorization", &basic)
        .call()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_vec().unwrap())
}

#[test]
fn every_hash_htpasswd_writes_on_linux_logs_in_and_plain_text_does_not() {
    let Some(htpasswd) = e2e::tools::htpasswd() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    // One user per flag, each with a password of its own (the -d one within crypt's 8 bytes).
    let users = [
        ("-B", "bcrypt", "bcrypt-pw"),
        ("-m", "apr1", "apr1-pw"),
        ("-s", "sha1", "sha1-pw"),
        ("-2", "sha256", "sha256-pw"),
        ("-5", "sha512", "sha512-pw"),
        ("-d", "crypt", "crypt-pw"),
    ];
    for (flag, user, password) in users {
        add_user(&htpasswd, &file, flag, user, password);
    }
    add_user(&htpasswd, &file, "-p", "plain", "plain-pw");
    let lines = std::fs::read_to_string(&file).unwrap();
    for prefix in ["$2y$", "$apr1$", "{SHA}", "$5$", "$6$"] {
        assert!(lines.contains(&format!(":{prefix}")), "{lines}");
    }
    assert!(lines.contains("plain:plain-pw\n"), "{lines}");

    std::fs::create_dir_all(dir.path().join("packages/pool")).unwrap();
    std::fs::write(dir.path().join("packages/pool/agent.tar.gz"), PACKAGE).unwrap();
    let packages = format!(
        "[packages]\nroot = {:?}\nhtpasswd = {file:?}\nlogin_failures = 1000\n",
        dir.path().join("packages"),
    );
    let server = ServerProcess::start(&dir.path().join("polaris"), TOKEN, &packages);
    let agent = devpki::client(&server.ca, None).unwrap();
    let url = format!("https://{}/packages/pool/agent.tar.gz", server.http);

    for (flag, user, password) in users {
        assert_eq!(
            download(&agent, &url, user, password),
            (200, PACKAGE.to_vec()),
            "htpasswd {flag}: {lines}\n{}",
            server.log()
        );
        assert_eq!(
            // Wrong within the first 8 bytes, all crypt (-d) reads.
            download(&agent, &url, user, &format!("x{password}")).0,
            401,
            "htpasswd {flag}, wrong password"
        );
        assert_eq!(
            download(&agent, &url, user, "").0,
            401,
            "htpasswd {flag}, empty password"
        );
    }
    assert_eq!(download(&agent, &url, "plain", "plain-pw").0, 401);
    let log = server.log();
    assert!(
        log.contains("password in plain text (htpasswd -p) refused") && log.contains("plain"),
        "{log}"
    );
}
