//! Methods answered by the running agent (`sync.bash`, `async.bash`, `task.*`, `cron.*`,
//! `daemon.*`, `plugin.*`): the request goes over gearman's local unix socket and the agent's
//! result object is printed as one line of JSON, the same object Polaris returns per host.
//! `daemon.init` and the `plugin.*` methods take their fields as one JSON object in `-a`
//! (`gearctl -c plugin.stop -a '{"agent":"nodus","name":"cpu"}'`).
//!
//! Exit codes: 0 success, 1 the method failed, 3 no agent listening, 4 no permission: the
//! socket file refused the connection, or the agent refused this user (it answers 3031
//! `Unauthorized` to anyone but root, its own user and its `socket_group`; the agent runs
//! commands as any user).

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;

use serde_json::{Map, Value};
use wire::agent::Request;
use wire::{Command, CommandError, CommandResult, Resp};

/// The command-line flags a method's parameters come from.
#[derive(Debug, Default)]
pub struct Flags {
    /// `--cmd`.
    pub cmd: Option<String>,
    /// `-t`.
    pub timeout: Option<u64>,
    /// `-u`.
    pub user: Option<String>,
    /// `-g`.
    pub group: Option<String>,
    /// `-a`: the method's `args`, or for `daemon.init` and `plugin.*` its fields as one JSON
    /// object.
    pub args: Option<String>,
}

/// Whether `method` takes its fields as one JSON object in `-a`.
fn takes_json(method: &str) -> bool {
    method == "daemon.init" || (method.starts_with("plugin.") && method != "plugin.list")
}

/// The typed command of `method` with the given flags; a flag the method does not take is
/// 3021 naming it, an unknown method 3022.
pub fn request(method: &str, flags: Flags) -> Result<Request, CommandError> {
    let mut fields = Map::new();
    if takes_json(method) {
        let text = flags.args.as_deref().unwrap_or("{}");
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(init)) => fields = init,
            _ => {
                return Err(CommandError::InvalidParams(format!(
                    "`{method}` takes its fields as one JSON object in `-a`"
                )));
            }
        }
    } else if let Some(args) = flags.args.filter(|a| !a.is_empty()) {
        // `-a ""` is no arguments (scripts pass it for methods that take none).
        fields.insert("args".into(), Value::String(args));
    }
    for (key, value) in [
        ("cmd", flags.cmd),
        ("user", flags.user),
        ("group", flags.group),
    ] {
        if let Some(value) = value {
            fields.insert(key.into(), Value::String(value));
        }
    }
    if let Some(timeout) = flags.timeout {
        fields.insert("timeout".into(), Value::from(timeout));
    }
    let command = Command::from_fields(method, fields)?;
    Ok(Request {
        id: String::new(),
        command,
    })
}

/// Prints a result object refused before it reached the agent; exit status 1.
pub fn print(result: &CommandResult) -> ExitCode {
    match serde_json::to_string(result) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("gearctl: cannot print the result: {e}"),
    }
    ExitCode::FAILURE
}

/// Sends `request` to the agent at `socket` and prints its answer.
pub fn run(socket: &Path, request: &Request) -> ExitCode {
    let stream = match UnixStream::connect(socket) {
        Ok(stream) => stream,
        Err(e) => {
            let (code, why) = match e.kind() {
                std::io::ErrorKind::PermissionDenied => (4, "permission denied"),
                _ => (3, "no running gearman agent"),
            };
            eprintln!("gearctl: {why} at {} ({e})", socket.display());
            return ExitCode::from(code);
        }
    };
    match exchange(stream, request) {
        Ok(result) => {
            match serde_json::to_string(&result) {
                Ok(text) => println!("{text}"),
                Err(e) => eprintln!("gearctl: cannot print the result: {e}"),
            }
            if result.retcode == wire::retcode::UNAUTHORIZED {
                eprintln!("gearctl: {} ({})", result.message, socket.display());
                return ExitCode::from(4);
            }
            if result.resp == Resp::Success {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("gearctl: talking to the agent at {}: {e}", socket.display());
            ExitCode::from(3)
        }
    }
}

/// Sends `request` to the agent at `socket` and returns its answer (no agent: the error).
pub fn ask(socket: &Path, request: &Request) -> std::io::Result<CommandResult> {
    exchange(UnixStream::connect(socket)?, request)
}

fn exchange(mut stream: UnixStream, request: &Request) -> std::io::Result<CommandResult> {
    let mut line = serde_json::to_string(request).map_err(std::io::Error::other)?;
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer)?;
    if answer.is_empty() {
        return Err(std::io::Error::other("the agent closed the connection"));
    }
    serde_json::from_str(&answer).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_the_typed_command_or_its_refusal() {
        let sync = request(
            "sync.bash",
            Flags {
                cmd: Some("ls".into()),
                timeout: Some(10),
                ..Flags::default()
            },
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&sync).unwrap(),
            r#"{"id":"","method":"sync.bash","cmd":"ls","timeout":10}"#
        );
        let init = request(
            "daemon.init",
            Flags {
                args: Some(
                    r#"{"name":"mon","version":"1","url":"/p.tgz","start":"./s","stop":"kill:TERM"}"#
                        .into(),
                ),
                ..Flags::default()
            },
        )
        .unwrap();
        assert_eq!(init.command.method(), "daemon.init");
        let empty_args = Flags {
            args: Some(String::new()),
            ..Flags::default()
        };
        assert_eq!(
            request("daemon.list", empty_args).unwrap().command,
            Command::DaemonList
        );
        let stop = request(
            "plugin.stop",
            Flags {
                args: Some(r#"{"agent":"nodus","name":"cpu"}"#.into()),
                ..Flags::default()
            },
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&stop).unwrap(),
            r#"{"id":"","method":"plugin.stop","agent":"nodus","name":"cpu"}"#
        );
        assert_eq!(
            request("plugin.list", Flags::default()).unwrap().command,
            Command::PluginList
        );
        for (method, flags, code) in [
            ("reboot", Flags::default(), 3022),
            (
                "task.list",
                Flags {
                    args: Some("x".into()),
                    ..Flags::default()
                },
                3021,
            ),
            ("sync.bash", Flags::default(), 3021),
            (
                "task.list",
                Flags {
                    cmd: Some("ls".into()),
                    ..Flags::default()
                },
                3021,
            ),
            (
                "daemon.init",
                Flags {
                    args: Some("mon".into()),
                    ..Flags::default()
                },
                3021,
            ),
            (
                "plugin.stop",
                Flags {
                    args: Some("cpu".into()),
                    ..Flags::default()
                },
                3021,
            ),
            (
                "plugin.remove",
                Flags {
                    args: Some(r#"{"agent":"nodus","name":"cpu","instance":"x"}"#.into()),
                    ..Flags::default()
                },
                3021,
            ),
        ] {
            let failure = request(method, flags).unwrap_err();
            assert_eq!(failure.retcode(), code, "{method}: {failure:?}");
        }
    }
}
