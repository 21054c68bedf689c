//! Methods answered by the running agent (`sync.bash`, `async.bash`, `task.*`, `cron.*`): the
//! request goes over gearman's local unix socket and the agent's result object is printed as
//! one line of JSON, the same object Polaris returns per host.
//!
//! Exit codes: 0 success, 1 the method failed, 3 no agent listening, 4 no permission: the
//! socket file refused the connection, or the agent refused this user (it answers 3031
//! `Unauthorized` to anyone but root, its own user and its `socket_group`; the agent runs
//! commands as any user).

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;

use wire::agent::Request;
use wire::{CommandResult, Resp};

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
