//! The seed's literal command messages (design document, "Gearman" 1.1, 2 and 3), kept as
//! text: the tests of every hop (wire, Polaris, gearman) prove that they pass unchanged, and the
//! OpenAPI document shows them as examples.

/// 1.1: a `sync.bash` request.
pub const SYNC_BASH: &str = r#"{ "id": "x", "method": "sync.bash", "cmd": "ls", "timeout": 10,
     "user": "root", "group": "root" }"#;
/// 1.1: the success answer.
pub const SYNC_BASH_SUCCESS: &str = r#"{ "id": "x", "resp": "success", "retcode": 2, "message": "Normal termination", "data": "..." }"#;
/// 1.1: the failure answer.
pub const SYNC_BASH_FAILED: &str =
    r#"{ "id": "x", "resp": "failed", "retcode": 3021, "message": "Invalid params" }"#;
/// 2: a `getinfo.users` request.
pub const GETINFO_USERS: &str = r#"{ "id": "x", "method": "getinfo.users", "args": "" }"#;
/// 3: a `daemon.init` request, every field of the seed.
pub const DAEMON_INIT: &str = r#"{ "id": "x", "method": "daemon.init", "name": "plugin_name", "version": "1.0.1",
  "url": "http://your/monitor.rpm", "precheck": "/path/check", "precheck_retries": 3,
  "start": "/path/start", "start_delay": 10,
  "stop": "/path/stop", "stop_timeout": 10, "check": "process", "check_interval": 10,
  "user": "...", "group": "...", "pidfile": "/var/run/program.pid", "socket": "/var/run/program.sock",
  "env": { "PATH": "/usr/bin:/usr/sbin" }, "limits": { "hits": 5, "cpu": "5%", "memory": "100M" } }"#;
/// The REST API's fan-out request (seed "REST API").
pub const REST_REQUEST: &str = r#"{ "id": "2719cb14", "hosts": ["eccb24a7", "b19ffa7e"], "method": "sync.bash", "cmd": "ls" }"#;
