//! `gearman -t` and `bootagent -t` (what their systemd units run before every start, as
//! collectd's runs `collectd -t`): the shipped example configuration with a CA that exists is
//! `Success`; with the CA missing, as on a host just installed, `Failed!!!` and exit 1 with the
//! file named; a configuration that does not parse fails the same way.

use std::path::Path;
use std::process::Command;

/// `<agent> -t -C <config>`: (exit code, stdout, stderr).
fn check(agent: &str, config: &Path) -> (i32, String, String) {
    let out = Command::new(e2e::bin(agent))
        .arg("-t")
        .arg("-C")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The agent's shipped example with its `ca` line pointing at `ca`.
fn example_with_ca(dir: &Path, agent: &str, ca: &Path) -> std::path::PathBuf {
    let example = e2e::workspace_root().join(format!("host/{agent}/{agent}.conf"));
    let text = std::fs::read_to_string(example).unwrap();
    let line = "ca = \"/etc/cargo/ca.pem\"";
    assert!(text.contains(line), "{agent}.conf lost its `{line}` line");
    let config = dir.join(format!("{agent}.conf"));
    std::fs::write(&config, text.replace(line, &format!("ca = {:?}", ca))).unwrap();
    config
}

fn write_ca(dir: &Path) -> std::path::PathBuf {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, cert.pem()).unwrap();
    ca
}

#[test]
fn the_shipped_configurations_check_out_once_the_ca_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path());
    for agent in ["gearman", "bootagent"] {
        let config = example_with_ca(dir.path(), agent, &ca);
        let (code, stdout, stderr) = check(agent, &config);
        assert_eq!(
            (code, stdout.trim()),
            (0, "Success"),
            "{agent} -t: {stderr}"
        );
    }
}

#[test]
fn a_missing_ca_or_a_broken_file_fails_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-ca.pem");
    for agent in ["gearman", "bootagent"] {
        let config = example_with_ca(dir.path(), agent, &missing);
        let (code, stdout, stderr) = check(agent, &config);
        assert_eq!(
            (code, stdout.trim()),
            (1, "Failed!!!"),
            "{agent} -t: {stderr}"
        );
        assert!(
            stderr.contains("no-such-ca.pem"),
            "{agent} -t names no file: {stderr}"
        );

        std::fs::write(&config, "server = [\n").unwrap();
        let (code, stdout, stderr) = check(agent, &config);
        assert_eq!(
            (code, stdout.trim()),
            (1, "Failed!!!"),
            "{agent} -t: {stderr}"
        );
        assert!(
            stderr.contains(&*config.to_string_lossy()),
            "{agent}: {stderr}"
        );
    }
}
