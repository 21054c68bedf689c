//! The method table over a real state directory, runner and (when built) plugins.

use std::path::Path;
use std::time::Duration;

use plugin_host::info::call_info_json;
use serde_json::{Value, json};
use wire::{CommandResult, Resp, retcode};

use super::*;
use crate::tasks::tests::test_exe;

fn open(dir: &Path, plugin_dir: PathBuf) -> Arc<Agent> {
    Agent::open(AgentOptions {
        state_dir: dir.to_path_buf(),
        plugin_dir,
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

/// Asks the agent with one frame as a client would send it.
async fn ask(agent: &Agent, frame: Value) -> CommandResult {
    agent.handle_frame(frame).await
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_bash_answers_with_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let agent = open(dir.path(), dir.path().join("no-plugins"));
    let result = ask(
        &agent,
        json!({"id": "x", "method": "sync.bash", "cmd": "echo hello"}),
    )
    .await;
    assert_eq!(result.id.as_deref(), Some("x"));
    assert_eq!(result.resp, Resp::Success);
    assert_eq!(result.data, Some(Value::String("hello\n".into())));

    let bad = json!({"id": "y", "method": "sync.bash", "cmd": "true", "user": "no-such-user-x"});
    let result = ask(&agent, bad).await;
    assert_eq!(
        (result.id.as_deref(), result.retcode),
        (Some("y"), retcode::INVALID_PARAMS)
    );
    // A command that ran and failed is reported as it ended, not as an error.
    let failed = ask(
        &agent,
        json!({"id": "z", "method": "sync.bash", "cmd": "exit 3"}),
    )
    .await;
    assert_eq!(
        (failed.resp, failed.retcode, failed.exec.exit_status),
        (Resp::Failed, retcode::NORMAL_TERMINATION, Some(3))
    );
}

/// The seed's literal messages (1.1 and 3) answered in the seed's shapes.
#[tokio::test(flavor = "multi_thread")]
async fn the_seeds_requests_get_the_seeds_answers() {
    let dir = tempfile::tempdir().unwrap();
    let agent = open(dir.path(), dir.path().join("no-plugins"));
    let frame: Value = serde_json::from_str(wire::seed::SYNC_BASH).unwrap();
    let ran = serde_json::to_value(ask(&agent, frame).await).unwrap();
    let shape: Value = serde_json::from_str(wire::seed::SYNC_BASH_SUCCESS).unwrap();
    for key in ["id", "resp", "retcode", "message"] {
        assert_eq!(ran[key], shape[key], "{key}: {ran}");
    }
    assert!(ran["data"].is_string(), "{ran}");

    let mut bad: Value = serde_json::from_str(wire::seed::SYNC_BASH).unwrap();
    bad["timeout"] = json!(0);
    let refused = serde_json::to_value(ask(&agent, bad).await).unwrap();
    let shape: Value = serde_json::from_str(wire::seed::SYNC_BASH_FAILED).unwrap();
    for key in ["id", "resp", "retcode"] {
        assert_eq!(refused[key], shape[key], "{key}: {refused}");
    }
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid params"),
        "{refused}"
    );

    // daemon.init as the seed writes it (a remote url): the agent asks for the checksum
    // that makes a download safe, naming it; with one, the definition is stored.
    let mut init: Value = serde_json::from_str(wire::seed::DAEMON_INIT).unwrap();
    init["stop"] = json!("kill:TERM");
    init["user"] = json!("root");
    init["group"] = json!("root");
    let result = ask(&agent, init.clone()).await;
    assert_eq!(result.retcode, retcode::INVALID_PARAMS, "{result:?}");
    assert!(result.message.contains("checksum"), "{result:?}");
    init["checksum"] = json!(format!("SHA256:{}", "a".repeat(64)));
    let stored = ask(&agent, init).await;
    assert_eq!(stored.resp, Resp::Success, "{stored:?}");
    assert_eq!(stored.data.unwrap()["name"], "plugin_name");
}

#[tokio::test(flavor = "multi_thread")]
async fn async_bash_then_query_list_and_kill() {
    let dir = tempfile::tempdir().unwrap();
    let agent = open(dir.path(), dir.path().join("no-plugins"));
    let started = ask(
        &agent,
        json!({"id": "a", "method": "async.bash", "cmd": "echo one"}),
    )
    .await;
    let task_id = started.data.as_ref().unwrap()["task_id"]
        .as_str()
        .unwrap()
        .to_string();

    let query = json!({"id": "q", "method": "task.query", "args": task_id});
    let mut view = Value::Null;
    for _ in 0..400 {
        view = ask(&agent, query.clone()).await.data.unwrap();
        if view["state"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(view["state"], "done");
    assert_eq!(view["result"]["data"], "one\n");

    let list = ask(&agent, json!({"id": "l", "method": "task.list"}))
        .await
        .data
        .unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|t| t["task_id"] == task_id.as_str())
    );

    let long = json!({"id": "b", "method": "async.bash", "cmd": "sleep 100"});
    let long_id = ask(&agent, long).await.data.unwrap()["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let killed = ask(
        &agent,
        json!({"id": "k", "method": "task.kill", "args": long_id}),
    )
    .await;
    assert_eq!(killed.resp, Resp::Success, "{killed:?}");
    assert_eq!(killed.data.unwrap()["state"], "killed");

    let unknown = json!({"id": "u", "method": "task.query", "args": "no-such-task"});
    assert_eq!(ask(&agent, unknown).await.retcode, retcode::NOT_FOUND);
    assert_eq!(
        ask(&agent, json!({"id": "m", "method": "task.kill"}))
            .await
            .retcode,
        retcode::INVALID_PARAMS
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_methods_and_missing_plugins_are_no_such_method() {
    let dir = tempfile::tempdir().unwrap();
    let plugin_dir = dir.path().join("plugins");
    std::fs::create_dir(&plugin_dir).unwrap();
    std::fs::write(plugin_dir.join("libbroken.so"), b"not an ELF file").unwrap();
    let agent = open(dir.path(), plugin_dir);
    for method in ["nope", "getinfo.broken", "getinfo.", "sync.bashx"] {
        let result = ask(&agent, json!({"id": "n", "method": method})).await;
        assert_eq!(result.retcode, retcode::NO_SUCH_METHOD, "{method}");
        assert_eq!(result.id.as_deref(), Some("n"));
    }
}

/// With the workspace's plugins built (`cargo build --workspace`), every info plugin found
/// answers through the agent as it answers a direct call.
#[tokio::test(flavor = "multi_thread")]
async fn getinfo_goes_through_the_loaded_plugins() {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug");
    let dir = tempfile::tempdir().unwrap();
    let agent = open(dir.path(), built.clone());
    let Some(name) = agent.info.plugins.names().into_iter().next() else {
        eprintln!("SKIPPED: no info plugin built in {}", built.display());
        return;
    };
    let plugin = plugin_host::Registry::load_named(&built, &name)
        .unwrap()
        .unwrap();
    let instance = plugin
        .instantiate(&name, &plugin_host::context::init_context([]))
        .unwrap();
    let direct = call_info_json(&instance, "").map(|doc| doc.is_object() || doc.is_array());
    let result = ask(
        &agent,
        json!({"id": "g", "method": format!("getinfo.{name}")}),
    )
    .await;
    assert_eq!(result.id.as_deref(), Some("g"));
    match direct {
        Ok(_) => assert_eq!(result.resp, Resp::Success, "{result:?}"),
        Err(e) => assert_eq!(result.retcode, e.code),
    }
}
