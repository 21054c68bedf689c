//! Parsing and printing commands: the seed's literal messages unchanged, every method, the
//! refusals with their retcodes.

use serde_json::{Value, json};

use super::*;
use crate::agent::{Request, ServerMessage};
use crate::seed;

/// Parse → print → parse of a frame gives the same JSON value as the text sent.
fn round_trip(text: &str) -> Request {
    let request: Request = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let printed = serde_json::to_string(&request).unwrap();
    let sent: Value = serde_json::from_str(text).unwrap();
    let back: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(back, sent, "changed on the way");
    request
}

#[test]
fn the_seeds_messages_pass_unchanged() {
    let sync = round_trip(seed::SYNC_BASH);
    let Command::SyncBash(exec) = &sync.command else {
        panic!("{sync:?}")
    };
    assert_eq!((exec.cmd.as_str(), exec.timeout), ("ls", Some(10)));
    let users = round_trip(seed::GETINFO_USERS);
    assert_eq!(
        users.command,
        Command::GetInfo(GetInfo {
            plugin: "users".into(),
            args: Some(String::new())
        })
    );
    assert_eq!(users.command.method(), "getinfo.users");
    let init = round_trip(seed::DAEMON_INIT);
    let Command::DaemonInit(init) = &init.command else {
        panic!("{init:?}")
    };
    assert_eq!(init.name, "plugin_name");
    assert_eq!(init.stop_timeout, Some(10));
    assert_eq!(init.limits.as_ref().unwrap()["cpu"], "5%");
    // The field order of the seed is kept too.
    let printed = serde_json::to_string(&round_trip(seed::SYNC_BASH)).unwrap();
    assert_eq!(
        printed,
        r#"{"id":"x","method":"sync.bash","cmd":"ls","timeout":10,"user":"root","group":"root"}"#
    );
}

#[test]
fn every_method_parses_and_prints_back() {
    let frames = [
        json!({"id": "1", "method": "sync.bash", "cmd": "ls"}),
        json!({"id": "1", "method": "async.bash", "cmd": "sleep 1", "timeout": 3}),
        json!({"id": "1", "method": "task.query", "args": "t1"}),
        json!({"id": "1", "method": "task.list"}),
        json!({"id": "1", "method": "task.kill", "args": "t1"}),
        json!({"id": "1", "method": "cron.add", "args": "*/10 * * * * *", "cmd": "date"}),
        json!({"id": "1", "method": "cron.list"}),
        json!({"id": "1", "method": "cron.remove", "args": "c1"}),
        json!({"id": "1", "method": "daemon.list"}),
        json!({"id": "1", "method": "daemon.start", "args": "mon"}),
        json!({"id": "1", "method": "daemon.stop", "args": "mon"}),
        json!({"id": "1", "method": "daemon.restart", "args": "mon"}),
        json!({"id": "1", "method": "daemon.status", "args": "mon"}),
        json!({"id": "1", "method": "daemon.remove", "args": "mon"}),
        json!({"id": "1", "method": "getinfo.kernel"}),
        json!({"id": "1", "method": "plugin.list"}),
        json!({"id": "1", "method": "plugin.install", "agent": "nodus", "name": "hello",
            "version": "1.0", "url": "http://p/hello.so", "checksum": format!("SHA256:{}", "0".repeat(64))}),
        json!({"id": "1", "method": "plugin.upgrade", "agent": "gearman", "name": "kernel",
            "version": "2.0", "url": "https://p/kernel.so", "checksum": format!("SHA256:{}", "F".repeat(64))}),
        json!({"id": "1", "method": "plugin.remove", "agent": "nodus", "name": "hello"}),
        json!({"id": "1", "method": "plugin.start", "agent": "nodus", "name": "http", "instance": "primary"}),
        json!({"id": "1", "method": "plugin.stop", "agent": "nodus", "name": "cpu"}),
        json!({"id": "1", "method": "plugin.configure", "agent": "nodus", "name": "http",
            "instance": "backup", "options": {"URL": "http://b", "Timeout": 5}}),
    ];
    let mut methods = Vec::new();
    for frame in frames {
        let request = round_trip(&frame.to_string());
        methods.push(request.command.method().into_owned());
    }
    methods.push("daemon.init".into());
    for method in METHODS {
        assert!(methods.iter().any(|m| m == method), "{method} untested");
    }
}

#[test]
fn refusals_name_the_field_and_carry_the_retcode() {
    let cases = [
        (
            json!({"method": "sync.bashx", "cmd": "ls"}),
            3022,
            "sync.bashx",
        ),
        (json!({"method": "getinfo."}), 3022, "getinfo."),
        (json!({"method": "sync.bash"}), 3021, "cmd"),
        (json!({"method": "sync.bash", "cmd": "  "}), 3021, "cmd"),
        (
            json!({"method": "sync.bash", "cmd": "ls", "timeout": 0}),
            3021,
            "timeout",
        ),
        (
            json!({"method": "sync.bash", "cmd": "ls", "timeout": -1}),
            3021,
            "timeout",
        ),
        (
            json!({"method": "sync.bash", "cmd": "ls", "timout": 5}),
            3021,
            "timout",
        ),
        (json!({"method": "getinfo.os", "name": "x"}), 3021, "name"),
        (json!({"method": "task.list", "args": "x"}), 3021, "args"),
        (json!({"method": "task.kill"}), 3021, "args"),
        (
            json!({"method": "cron.remove", "args": " "}),
            3021,
            "cron id",
        ),
        (
            json!({"method": "daemon.stop", "args": ""}),
            3021,
            "daemon name",
        ),
        (json!({"method": 5}), 3021, "method"),
        (json!({"cmd": "ls"}), 3021, "method"),
        (
            json!({"method": "daemon.init", "name": "n".repeat(65), "version": "1", "url": "/u",
                   "start": "s", "stop": "kill:TERM"}),
            3021,
            "`name` is longer than 64",
        ),
        (
            json!({"method": "daemon.init", "name": "n", "version": "1", "url": "/u",
                   "start": "s", "stop": "kill:TERM", "stop_timeout": "10"}),
            3021,
            "stop_timeout",
        ),
        (
            json!({"method": "daemon.init", "name": "n", "version": "1", "url": "/u",
                   "start": "s"}),
            3021,
            "stop",
        ),
    ];
    for (frame, code, names) in cases {
        let Value::Object(map) = frame.clone() else {
            unreachable!()
        };
        let error = Command::from_map(map).expect_err(&frame.to_string());
        assert_eq!(error.retcode(), code, "{frame}: {error}");
        let failure = error.into_result();
        assert!(
            failure.message.contains(names),
            "{frame}: {}",
            failure.message
        );
        let standard = if code == 3022 {
            "No such method"
        } else {
            "Invalid params"
        };
        assert!(failure.message.starts_with(standard), "{}", failure.message);
        // The same refusal reaches the agent as a frame it answers with the id.
        let mut with_id = frame.clone();
        with_id["id"] = json!("r");
        match ServerMessage::parse(&with_id.to_string()).unwrap() {
            ServerMessage::Refused(refused) => {
                assert_eq!((refused.id.as_str(), refused.error.retcode()), ("r", code))
            }
            other => panic!("{with_id} parsed as {other:?}"),
        }
    }
}

#[test]
fn errors_become_the_seeds_failure_objects() {
    let text =
        serde_json::to_string(&CommandError::InvalidParams(String::new()).into_result()).unwrap();
    assert_eq!(
        text,
        r#"{"resp":"failed","retcode":3021,"message":"Invalid params"}"#
    );
    let not_found = CommandError::NotFound("no task `t`".into()).into_result();
    assert_eq!(
        (not_found.retcode, not_found.message.as_str()),
        (3033, "Not found: no task `t`")
    );
    let plugin = CommandError::Other {
        retcode: 3025,
        message: "Unsupported: x".into(),
    };
    assert_eq!(plugin.into_result().retcode, 3025);
}
