//! Typed commands end to end (README "Commands"): the seed's literal requests for `sync.bash`,
//! `getinfo.users` and `daemon.init`, posted to a real Polaris and run by a real gearman over
//! TLS, answered in the seed's shapes; what the host got is what was posted (gearman's own
//! view of the daemon shows each field); unknown methods and bad parameters are refused at
//! the API edge with 3022 / 3021, before any host is asked.

use std::time::Duration;

use e2e::fleet::{Gearman, Polaris};
use serde_json::{Value, json};

/// The seed's request `message` for `host`, as a REST body (no `id`: the server picks one).
fn body(message: &str, host: &str) -> Value {
    let mut body: Value = serde_json::from_str(message).unwrap();
    body["hosts"] = json!([host]);
    body.as_object_mut().unwrap().remove("id");
    body
}

#[test]
fn the_seeds_requests_run_on_a_real_agent_and_answer_in_the_seeds_shapes() {
    let work = tempfile::tempdir().unwrap();
    let polaris = Polaris::start(&work.path().join("polaris"));
    let agent = Gearman::start(
        &work.path().join("seed-0"),
        "seed-0",
        &polaris.agents,
        &polaris.ca,
        "",
    );
    polaris.wait_connected(&["seed-0"], Duration::from_secs(30));
    let entry = |answer: &Value| Polaris::by_host(answer)["seed-0"].clone();

    // 1.1: sync.bash as the seed writes it (`ls` as root, timeout 10).
    let answer = polaris.command(body(wire::seed::SYNC_BASH, "seed-0"));
    let ran = entry(&answer);
    let shape: Value = serde_json::from_str(wire::seed::SYNC_BASH_SUCCESS).unwrap();
    for key in ["resp", "retcode", "message"] {
        assert_eq!(ran[key], shape[key], "{key}: {answer}");
    }
    assert!(ran["data"].is_string(), "{ran}");
    // The failure shape: the same request with a timeout of 0 is refused by Polaris itself.
    let mut bad = body(wire::seed::SYNC_BASH, "seed-0");
    bad["timeout"] = json!(0);
    let (status, refused) = polaris.call("POST", "/api/v1/commands", Some(&bad));
    assert_eq!(
        (status, &refused["errcode"]),
        (400, &json!(3021)),
        "{refused}"
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid params"),
        "{refused}"
    );

    // 2: getinfo.users with the seed's empty `args`: the plugin's document, as gearctl
    // prints it for the same call on the same host.
    let answer = polaris.command(body(wire::seed::GETINFO_USERS, "seed-0"));
    let users = entry(&answer);
    let local = agent.ctl(&["-c", "getinfo.users", "-a", ""]);
    let local: Value = serde_json::from_slice(&local.stdout).unwrap();
    assert_eq!(users["resp"], local["resp"], "{users} vs {local}");
    assert_eq!(users["retcode"], local["retcode"], "{users} vs {local}");
    if local["resp"] == "success" {
        assert_eq!(users["retcode"], 2);
        assert_eq!(users["message"], "Normal termination");
        assert_eq!(
            users["data"].as_array().map(Vec::len),
            local["data"].as_array().map(Vec::len),
            "{users}"
        );
    }

    // 3: daemon.init exactly as the seed writes it. The agent asks for the checksum that makes
    // a download safe (a remote `url`), naming it: the request reached it whole.
    let answer = polaris.command(body(wire::seed::DAEMON_INIT, "seed-0"));
    let init = entry(&answer);
    assert_eq!(
        (&init["resp"], &init["retcode"]),
        (&json!("failed"), &json!(3021)),
        "{init}"
    );
    assert!(
        init["message"].as_str().unwrap().contains("checksum"),
        "{init}"
    );
    // With a checksum and a stop form gearman runs, every seed field is stored as sent.
    let mut with_sum = body(wire::seed::DAEMON_INIT, "seed-0");
    with_sum["checksum"] = json!(format!("SHA256:{}", "ab".repeat(32)));
    with_sum["stop"] = json!("kill:TERM");
    with_sum["user"] = json!("root");
    with_sum["group"] = json!("root");
    let answer = polaris.command(with_sum);
    let stored = entry(&answer);
    assert_eq!(stored["resp"], "success", "{answer}");
    assert_eq!(stored["data"]["name"], "plugin_name");
    assert_eq!(stored["data"]["version"], "1.0.1");
    let status = polaris.command(json!({"hosts": ["seed-0"], "method": "daemon.status",
        "args": "plugin_name"}));
    let status = entry(&status);
    assert_eq!(status["data"]["status"], "stoped", "{status}");

    // Refused at the edge: an unknown method (3022), a misspelt field (3021); no host asked.
    for (request, code, word) in [
        (
            json!({"hosts": ["seed-0"], "method": "sync.bsh", "cmd": "ls"}),
            3022,
            "sync.bsh",
        ),
        (
            json!({"hosts": ["seed-0"], "method": "sync.bash", "cmd": "ls", "timout": 5}),
            3021,
            "timout",
        ),
        (
            json!({"hosts": ["seed-0"], "method": "daemon.init", "name": "x"}),
            3021,
            "version",
        ),
    ] {
        let (status, error) = polaris.call("POST", "/api/v1/commands", Some(&request));
        assert_eq!(
            (status, &error["errcode"]),
            (400, &json!(code)),
            "{request}: {error}"
        );
        assert!(error["message"].as_str().unwrap().contains(word), "{error}");
    }
    // An info plugin the host does not have: the host answers 3022 for itself.
    let answer = polaris.command(json!({"hosts": ["seed-0"], "method": "getinfo.nope"}));
    assert_eq!(entry(&answer)["retcode"], 3022, "{answer}");
}
