//! `daemon.*` through the agent's method table: init validation, the lifecycle of a packaged
//! daemon, and adoption by a new agent on the same state directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use wire::{Resp, retcode};

use crate::agent::{Agent, AgentOptions};
use crate::tasks::tests::test_exe;

fn open(dir: &Path) -> Arc<Agent> {
    Agent::open(AgentOptions {
        state_dir: dir.to_path_buf(),
        plugin_dir: dir.join("no-plugins"),
        exe: test_exe(dir),
        kill_grace: Duration::from_millis(500),
        plugins: crate::plugins::PluginOptions {
            nodus_socket: dir.join("no-nodus.sock"),
            nodus_plugin_dir: dir.join("nodus-plugins"),
            release_key: None,
            downloads: Default::default(),
        },
    })
    .unwrap()
}

fn call(method: &str, args: Option<&str>) -> Value {
    let mut frame = json!({"id": "t", "method": method});
    if let Some(args) = args {
        frame["args"] = json!(args);
    }
    frame
}

/// A `daemon.init` request in the seed's shape (fields at the top level).
fn init(name: &str, url: &str, start: &str, more: Value) -> Value {
    let mut text = json!({
        "id": "i", "method": "daemon.init", "name": name, "version": "1.0", "url": url,
        "start": start, "stop": "kill:TERM", "start_delay": 0, "stop_timeout": 2,
        "check": "process", "check_interval": 1,
    });
    if let (Some(base), Value::Object(more)) = (text.as_object_mut(), more) {
        base.extend(more);
    }
    text
}

/// A tarball with `run.sh` (sleeps) in `dir`; returns its file:// url.
pub(super) fn package(dir: &Path) -> String {
    let src = dir.join("pkg-src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("run.sh"), "#!/bin/sh\nexec sleep 1000\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(src.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let tarball: PathBuf = dir.join("sleeper-1.0.tar.gz");
    let ok = std::process::Command::new("tar")
        .arg("czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&src)
        .arg("run.sh")
        .status()
        .unwrap();
    assert!(ok.success());
    format!("file://{}", tarball.display())
}

fn data(result: &wire::CommandResult) -> &Value {
    assert_eq!(result.resp, Resp::Success, "{result:?}");
    result.data.as_ref().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn init_validates_the_seed_fields_and_only_writes_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let agent = open(dir.path());
    let mut missing = init("x", "file:///nowhere.tgz", "sleep 1", json!({}));
    missing.as_object_mut().unwrap().remove("stop");
    let result = agent.handle_frame(missing).await;
    assert_eq!(result.retcode, retcode::INVALID_PARAMS);
    assert!(result.message.contains("`stop`"), "{result:?}");

    let long = init(&"n".repeat(65), "file:///x.tgz", "sleep 1", json!({}));
    assert_eq!(
        agent.handle_frame(long).await.retcode,
        retcode::INVALID_PARAMS
    );
    let bad_limits = init(
        "x",
        "file:///x.tgz",
        "sleep 1",
        json!({"limits": {"cpu": "lots"}}),
    );
    assert_eq!(
        agent.handle_frame(bad_limits).await.retcode,
        retcode::INVALID_PARAMS
    );

    // The url is not fetched and nothing starts: init only writes the table.
    let ok = agent
        .handle_frame(init("x", "file:///nowhere.tgz", "sleep 1", json!({})))
        .await;
    assert_eq!(data(&ok)["name"], "x");
    let status = agent.handle_frame(call("daemon.status", Some("x"))).await;
    assert_eq!(data(&status)["status"], "stoped");
    assert!(!dir.path().join("daemons/x").exists());

    // Only the seed's fields: `args` is not one of them.
    let with_args = json!({"id": "a", "method": "daemon.init", "name": "y", "version": "2",
        "url": "file:///y.tgz", "start": "sleep 1", "stop": "process:kill $SUPERVISE_PID",
        "args": "{}"});
    let refused = agent.handle_frame(with_args.clone()).await;
    assert_eq!(refused.retcode, retcode::INVALID_PARAMS);
    assert!(refused.message.contains("args"), "{refused:?}");
    let mut y = with_args;
    y.as_object_mut().unwrap().remove("args");
    assert_eq!(agent.handle_frame(y).await.resp, Resp::Success);
    let list = agent.handle_frame(call("daemon.list", None)).await;
    let names: Vec<&str> = data(&list)
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["x", "y"]);

    let unknown = agent.handle_frame(call("daemon.start", Some("nope"))).await;
    assert_eq!(unknown.retcode, retcode::NOT_FOUND);
    let no_name = agent.handle_frame(call("daemon.stop", None)).await;
    assert_eq!(no_name.retcode, retcode::INVALID_PARAMS);

    // Names that are paths are refused by every method, before anything is looked up.
    std::fs::create_dir_all(dir.path().join("keep")).unwrap();
    for method in [
        "daemon.start",
        "daemon.stop",
        "daemon.restart",
        "daemon.status",
        "daemon.remove",
    ] {
        for name in ["..", "/", "a/../../keep", "../daemons"] {
            let refused = agent.handle_frame(call(method, Some(name))).await;
            assert_eq!(refused.retcode, retcode::INVALID_PARAMS, "{method} {name}");
            assert!(refused.message.contains("daemon name `"), "{refused:?}");
        }
    }
    let escaping = agent
        .handle_frame(init("../x", "file:///x.tgz", "sleep 1", json!({})))
        .await;
    assert_eq!(escaping.retcode, retcode::INVALID_PARAMS);
    assert!(dir.path().join("keep").is_dir() && dir.path().join("gearman.db").is_file());

    // A remote package needs its checksum.
    let remote = agent
        .handle_frame(init("r", "http://pkg.example/r.tgz", "sleep 1", json!({})))
        .await;
    assert_eq!(remote.retcode, retcode::INVALID_PARAMS);
    assert!(
        remote
            .message
            .contains("`checksum` (SHA256:<64 hex digits>) is required"),
        "{remote:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_packaged_daemon_starts_stops_restarts_and_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let agent = open(dir.path());
    let url = package(dir.path());
    let result = agent
        .handle_frame(init(
            "sleeper",
            &url,
            "./run.sh",
            json!({"env": {"GREETING": "hi"}}),
        ))
        .await;
    assert_eq!(result.resp, Resp::Success, "{result:?}");

    let started = agent
        .handle_frame(call("daemon.start", Some("sleeper")))
        .await;
    let view = data(&started);
    assert_eq!(view["state"], "running", "{view}");
    let pid = view["pid"].as_u64().unwrap();
    // It runs from the unpacked version folder.
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
    assert!(cwd.ends_with("daemons/sleeper/1.0"), "{}", cwd.display());
    // With its `env` over a clean environment: nothing of this test process's gets through.
    // Read once `run.sh` has exec'd `sleep`: while a process execs, its environ reads empty.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default() != "sleep\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "run.sh never exec'd sleep"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let keys: Vec<String> = environ
        .split(|b| *b == 0)
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            String::from_utf8_lossy(kv)
                .split('=')
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    for key in &keys {
        assert!(
            ["PATH", "LANG", "LC_ALL", "TZ", "PWD", "GREETING"].contains(&key.as_str()),
            "{key} inherited: {keys:?}"
        );
    }
    assert!(environ.split(|b| *b == 0).any(|kv| kv == b"GREETING=hi"));

    let again = agent
        .handle_frame(call("daemon.start", Some("sleeper")))
        .await;
    assert_eq!(
        data(&again)["pid"].as_u64(),
        Some(pid),
        "never started twice"
    );

    let restarted = agent
        .handle_frame(call("daemon.restart", Some("sleeper")))
        .await;
    let new_pid = data(&restarted)["pid"].as_u64().unwrap();
    assert_ne!(new_pid, pid);

    let stopped = agent
        .handle_frame(call("daemon.stop", Some("sleeper")))
        .await;
    assert_eq!(data(&stopped)["status"], "stoped");
    assert!(
        !Path::new(&format!("/proc/{new_pid}")).exists() || {
            let stat = std::fs::read_to_string(format!("/proc/{new_pid}/stat")).unwrap_or_default();
            stat.contains(") Z")
        }
    );

    let removed = agent
        .handle_frame(call("daemon.remove", Some("sleeper")))
        .await;
    assert_eq!(removed.resp, Resp::Success);
    let gone = agent
        .handle_frame(call("daemon.status", Some("sleeper")))
        .await;
    assert_eq!(gone.retcode, retcode::NOT_FOUND);
    assert!(!dir.path().join("daemons/sleeper").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_url_fails_the_start_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let agent = open(dir.path());
    let req = init("broken", "file:///no/such/pkg.tgz", "sleep 1", json!({}));
    assert_eq!(agent.handle_frame(req).await.resp, Resp::Success);
    let result = agent
        .handle_frame(call("daemon.start", Some("broken")))
        .await;
    assert_eq!(result.retcode, retcode::FAILED);
    assert!(result.message.contains("/no/such/pkg.tgz"), "{result:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_agent_adopts_the_running_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let url = package(dir.path());
    let pid = {
        let agent = open(dir.path());
        agent
            .handle_frame(init("kept", &url, "./run.sh", json!({})))
            .await;
        let started = agent.handle_frame(call("daemon.start", Some("kept"))).await;
        data(&started)["pid"].as_u64().unwrap()
    };
    let agent = open(dir.path());
    let status = agent
        .handle_frame(call("daemon.status", Some("kept")))
        .await;
    assert_eq!(data(&status)["pid"].as_u64(), Some(pid));
    assert_eq!(data(&status)["status"], "running");
    agent
        .handle_frame(call("daemon.remove", Some("kept")))
        .await;
}
