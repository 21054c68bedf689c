//! The agents' side of issue 12, tried as a local attacker would: a non-root user on
//! gearman's socket (refused by the file mode, and by the agent's `SO_PEERCRED` check when the
//! file is opened up; let in as a member of `socket_group`), the modes of gearman's state, a
//! daemon's environment (nothing of gearman's own), a `daemon.init` from a remote URL without
//! a checksum, `nodusctl plugin load` of a file outside nodus's plugin directory, and
//! world-writable or foreign-owned `.so` files, which a root agent refuses with the reason.
//! The tests run as root (as the agents do); the other user is `nobody` through `setpriv`.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use e2e::fleet::{Gearman, Polaris};
use serde_json::{Value, json};

const NOBODY: u32 = 65534;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Whether this test runs as root (`/proc/self` belongs to the effective user).
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `gearctl -s <socket> -c task.list` as `nobody` (uid and gid 65534, no other group).
fn gearctl_as_nobody(agent: &Gearman) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(e2e::bin("gearctl"))
        .arg("-s")
        .arg(agent.dir.join("gearman.sock"))
        .args(["-c", "task.list"])
        .output()
        .expect("run setpriv")
}

fn answer(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

fn wait_socket(agent: &Gearman) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !agent.ctl(&["-c", "task.list"]).status.success() {
        assert!(
            Instant::now() < deadline,
            "gearman's socket did not answer:\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn gearman_refuses_local_users_it_does_not_know_and_keeps_its_state_private() {
    if !is_root() {
        eprintln!("SKIPPED: needs root (to be root and nobody)");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    // nobody must be able to reach the socket's folder: only the socket itself keeps it out.
    chmod(work.path(), 0o755);
    let polaris = Polaris::start(&work.path().join("polaris"));
    let agent = Gearman::start(
        &work.path().join("g"),
        "hardened-host",
        &polaris.agents,
        &polaris.ca,
        "",
    );
    wait_socket(&agent);
    let socket = agent.dir.join("gearman.sock");

    // The socket is born 0600: nobody is refused by the file system (exit 4).
    assert_eq!(mode(&socket), 0o600);
    let out = gearctl_as_nobody(&agent);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("permission denied"),
        "{out:?}"
    );

    // Opened up by mistake, the agent itself refuses: one 3031 line, exit 4, nothing run.
    chmod(&socket, 0o666);
    let out = gearctl_as_nobody(&agent);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let refused = answer(&out);
    assert_eq!(refused["retcode"], 3031, "{out:?}");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Unauthorized: permission denied: uid 65534 (nobody)"),
        "{message}"
    );
    assert!(agent.log().contains("uid 65534"), "{}", agent.log());
    // Root still is served.
    let out = agent.ctl(&["-c", "task.list"]);
    assert!(out.status.success(), "{out:?}");

    // State: folder 0700, the database and its WAL 0600.
    let state = agent.dir.join("state");
    assert_eq!(mode(&state), 0o700);
    for file in ["gearman.db", "gearman.db-wal"] {
        assert_eq!(mode(&state.join(file)), 0o600, "{file}");
    }
    assert_eq!(mode(&state.join("tasks")), 0o700);

    // A group given in `socket_group` is let in: nobody is in nogroup (65534).
    let grouped = Gearman::start(
        &work.path().join("g2"),
        "hardened-host-2",
        &polaris.agents,
        &polaris.ca,
        "socket_group = \"65534\"",
    );
    wait_socket(&grouped);
    let socket = grouped.dir.join("gearman.sock");
    assert_eq!(mode(&socket), 0o660);
    assert_eq!(std::fs::metadata(&socket).unwrap().gid(), NOBODY);
    let out = gearctl_as_nobody(&grouped);
    assert!(out.status.success(), "{out:?}\n{}", grouped.log());
    assert_eq!(answer(&out)["resp"], "success");
}

#[test]
fn daemons_get_a_clean_environment_and_remote_packages_need_a_checksum() {
    let work = tempfile::tempdir().unwrap();
    let polaris = Polaris::start(&work.path().join("polaris"));
    // The harness starts gearman with GEARMAN_PLUGIN_DIR and GEARMAN_LOG in its environment.
    let agent = Gearman::start(
        &work.path().join("g"),
        "env-host",
        &polaris.agents,
        &polaris.ca,
        "",
    );
    wait_socket(&agent);
    let src = work.path().join("pkg");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("run.sh"), "#!/bin/sh\nexec sleep 100000\n").unwrap();
    chmod(&src.join("run.sh"), 0o755);
    let tarball = work.path().join("envy-1.0.tar.gz");
    let made = Command::new("tar")
        .arg("czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&src)
        .arg("run.sh")
        .status()
        .unwrap();
    assert!(made.success());

    let init = |def: Value| -> Value {
        let out = agent.ctl(&["-c", "daemon.init", "-a", &def.to_string()]);
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    };
    let def = json!({
        "name": "envy", "version": "1.0", "url": format!("file://{}", tarball.display()),
        "start": "./run.sh", "stop": "kill:TERM", "start_delay": 1,
        "env": { "GREETING": "hello" },
    });
    assert_eq!(init(def)["resp"], "success");
    let out = agent.ctl(&["-c", "daemon.start", "-a", "envy"]);
    let started: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pid = started["data"]["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("{started}\n{}", agent.log()));
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let vars: Vec<String> = environ
        .split(|b| *b == 0)
        .filter(|kv| !kv.is_empty())
        .map(|kv| String::from_utf8_lossy(kv).into_owned())
        .collect();
    assert!(vars.contains(&"GREETING=hello".to_string()), "{vars:?}");
    assert!(
        vars.contains(&"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()),
        "{vars:?}"
    );
    for leaked in ["GEARMAN_PLUGIN_DIR", "GEARMAN_LOG", "CARGO", "HOME"] {
        assert!(
            !vars.iter().any(|v| v.starts_with(&format!("{leaked}="))),
            "{leaked} reached the daemon: {vars:?}"
        );
    }
    let out = agent.ctl(&["-c", "daemon.remove", "-a", "envy"]);
    assert!(out.status.success(), "{out:?}");

    // A package from a server, without its checksum: refused, nothing written.
    let refused = init(json!({
        "name": "remote", "version": "1.0", "url": "http://127.0.0.1:9/remote-1.0.tgz",
        "start": "./run.sh", "stop": "kill:TERM",
    }));
    assert_eq!(refused["retcode"], 3021, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`checksum` (SHA256:<64 hex digits>) is required"),
        "{refused}"
    );
    let out = agent.ctl(&["-c", "daemon.status", "-a", "remote"]);
    assert_eq!(answer(&out)["retcode"], 3033, "{out:?}");
    // And names that are paths.
    let out = agent.ctl(&["-c", "daemon.remove", "-a", "../../g"]);
    assert_eq!(answer(&out)["retcode"], 3021, "{out:?}");
    assert!(agent.dir.join("state/gearman.db").is_file());
}

#[test]
fn a_root_agent_refuses_plugins_others_could_have_written() {
    if !is_root() {
        eprintln!("SKIPPED: needs root (the check applies to root agents)");
        return;
    }
    let built = e2e::built_plugin("kernel");
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o755);
    for name in ["libkernel.so", "world.so", "foreign.so"] {
        std::fs::copy(&built, dir.path().join(name)).unwrap();
        chmod(&dir.path().join(name), 0o755);
    }
    chmod(&dir.path().join("world.so"), 0o666);
    std::os::unix::fs::chown(dir.path().join("foreign.so"), Some(NOBODY), None).unwrap();
    let out = Command::new(e2e::bin("gearctl"))
        .arg("-d")
        .arg(dir.path())
        .args(["-l", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
    let listing = listing["agents"][0].clone();
    let loaded: Vec<&str> = listing["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["file"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(loaded.len(), 1, "{listing}");
    assert!(loaded[0].ends_with("libkernel.so"), "{listing}");
    let reason = |file: &str| -> String {
        listing["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["file"].as_str().is_some_and(|f| f.ends_with(file)))
            .and_then(|s| s["reason"].as_str())
            .unwrap_or_else(|| panic!("{file} not skipped: {listing}"))
            .to_string()
    };
    assert!(
        reason("world.so").contains("writable by group or others (mode 0666)"),
        "{listing}"
    );
    assert!(
        reason("foreign.so").contains("owned by uid 65534"),
        "{listing}"
    );

    // The table says the same.
    let out = Command::new(e2e::bin("gearctl"))
        .arg("-d")
        .arg(dir.path())
        .arg("-l")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("world.so: refused: "), "{text}");

    // A world-writable folder makes even a good file suspect.
    chmod(dir.path(), 0o777);
    let out = Command::new(e2e::bin("gearctl"))
        .arg("-d")
        .arg(dir.path())
        .args(["-l", "--json"])
        .output()
        .unwrap();
    let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listing["agents"][0]["plugins"], json!([]), "{listing}");
    chmod(dir.path(), 0o755);
}

#[test]
fn nodus_loads_plugins_from_its_plugin_directory_only() {
    let nodus = e2e::nodus::Nodus::start_with(|_| "[plugin.load]\n".to_string(), &["load"], &[]);
    let outside = std::env::temp_dir().join(format!("x-{}.so", std::process::id()));
    std::fs::copy(e2e::built_plugin("uptime"), &outside).unwrap();
    for asked in [
        outside.display().to_string(),
        format!("{}/../x.so", nodus.path("plugins").display()),
    ] {
        let out = nodus.ctl(&["plugin", "load", &asked]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{asked}: {stderr}");
        assert!(stderr.contains("load refused"), "{stderr}");
        assert!(
            stderr.contains("only from its plugin directory"),
            "{stderr}"
        );
    }
    let _ = std::fs::remove_file(&outside);
    let names: Vec<String> = nodus
        .list()
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, ["load"]);
    // Its own directory is fine: by name.
    std::fs::copy(e2e::built_plugin("uptime"), nodus.path("plugins/uptime.so")).unwrap();
    let out = nodus.ctl(&["plugin", "load", "uptime"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        nodus.log()
    );
    assert!(nodus.plugin("uptime").is_some());
    // And the socket is the agent's own (root's).
    assert_eq!(mode(&nodus.path("nodus.sock")), 0o600);
}
