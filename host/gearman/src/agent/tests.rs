//! The method table over a real state directory, runner and (when built) plugins.

use std::time::Duration;

use serde_json::Value;
use wire::{Resp, retcode};

use super::*;
use crate::tasks::tests::test_exe;

fn open(dir: &Path, plugin_dir: PathBuf) -> Arc<Agent> {
    Agent::open(AgentOptions {
        state_dir: dir.to_path_buf(),
        plugin_dir,
        exe: test_exe(dir),
        kill_grace: Duration::from_millis(500),
    })
    .unwrap()
}

fn request(id: &str, method: &str) -> Request {
    Request {
        id: id.into(),
        method: method.into(),
        ..Request::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_bash_answers_with_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let agent = open(dir.path(), dir.path().join("no-plugins"));
    let mut req = request("x", "sync.bash");
    req.cmd = Some("echo hello".into());
    let result = agent.handle(req).await;
    assert_eq!(result.id.as_deref(), Some("x"));
    assert_eq!(result.resp, Resp::Success);
    assert_eq!(result.data, Some(Value::String("hello\n".into())));

    let mut bad = request("y", "sync.bash");
    bad.cmd = Some("true".into());
    bad.user = Some("no-such-user-x".into());
    let result = agent.handle(bad).await;
    assert_eq!(
        (result.id.as_deref(), result.retcode),
        (Some("y"), retcode::INVALID_PARAMS)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn async_bash_then_query_list_and_kill() {
    let dir = tempfile::tempdir().unwrap();
    let agent = open(dir.path(), dir.path().join("no-plugins"));
    let mut req = request("a", "async.bash");
    req.cmd = Some("echo one".into());
    let started = agent.handle(req).await;
    let task_id = started.data.as_ref().unwrap()["task_id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut query = request("q", "task.query");
    query.args = Some(task_id.clone());
    let mut view = Value::Null;
    for _ in 0..400 {
        view = agent.handle(query.clone()).await.data.unwrap();
        if view["state"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(view["state"], "done");
    assert_eq!(view["result"]["data"], "one\n");

    let list = agent.handle(request("l", "task.list")).await.data.unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|t| t["task_id"] == task_id.as_str())
    );

    let mut long = request("b", "async.bash");
    long.cmd = Some("sleep 100".into());
    let long_id = agent.handle(long).await.data.unwrap()["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut kill = request("k", "task.kill");
    kill.args = Some(long_id);
    let killed = agent.handle(kill).await;
    assert_eq!(killed.resp, Resp::Success, "{killed:?}");
    assert_eq!(killed.data.unwrap()["state"], "killed");

    let mut unknown = request("u", "task.query");
    unknown.args = Some("no-such-task".into());
    assert_eq!(agent.handle(unknown).await.retcode, retcode::NOT_FOUND);
    assert_eq!(
        agent.handle(request("m", "task.kill")).await.retcode,
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
        let result = agent.handle(request("n", method)).await;
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
    let Some((name, plugin)) = agent.plugins.iter().next() else {
        eprintln!("SKIPPED: no info plugin built in {}", built.display());
        return;
    };
    let direct = call_info_json(plugin, "").map(|doc| doc.is_object() || doc.is_array());
    let result = agent.handle(request("g", &format!("getinfo.{name}"))).await;
    assert_eq!(result.id.as_deref(), Some("g"));
    match direct {
        Ok(_) => assert_eq!(result.resp, Resp::Success, "{result:?}"),
        Err(e) => assert_eq!(result.retcode, e.code),
    }
}
