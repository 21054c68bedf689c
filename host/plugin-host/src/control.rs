//! A client of nodus's control socket ([`wire::control`]) for the programs that manage nodus's
//! plugins without being `nodusctl`: gearman (inventory, `plugin.*` for `agent: nodus`) and
//! `gearctl -l`. One request per connection, one JSON line each way, every step bounded by a
//! timeout and the answer by a size, so a hung or absent nodus costs its caller at most the
//! timeout and never memory. Blocking: call it from a blocking thread in async code.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use wire::control::{Request, Response};

/// The longest answer read (a `plugin_list` of many instances with their schemas).
pub const MAX_ANSWER: u64 = 4 << 20;

/// Sends `request` to the nodus listening at `socket` and returns its answer; `timeout` bounds
/// the connection, the write and the wait for the answer. The error is one line naming the
/// socket, for an inventory's `error` or a command's message.
pub fn call(socket: &Path, request: &Request, timeout: Duration) -> Result<Response, String> {
    let shown = socket.display();
    let stream = UnixStream::connect(socket).map_err(|e| format!("no nodus at {shown}: {e}"))?;
    let talk = || -> std::io::Result<String> {
        stream.set_write_timeout(Some(timeout))?;
        stream.set_read_timeout(Some(timeout))?;
        let mut line = serde_json::to_string(request).map_err(std::io::Error::other)?;
        line.push('\n');
        (&stream).write_all(line.as_bytes())?;
        let mut answer = String::new();
        BufReader::new((&stream).take(MAX_ANSWER)).read_line(&mut answer)?;
        Ok(answer)
    };
    let answer = talk().map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => format!(
            "nodus at {shown} did not answer within {} s",
            timeout.as_secs_f64()
        ),
        _ => format!("nodus at {shown}: {e}"),
    })?;
    if answer.is_empty() {
        return Err(format!("nodus at {shown} closed without answering"));
    }
    serde_json::from_str(&answer).map_err(|e| format!("nodus at {shown} answered nonsense: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn a_silent_or_absent_nodus_costs_the_timeout_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("nodus.sock");
        let err = call(&socket, &Request::PluginList, Duration::from_secs(1)).unwrap_err();
        assert!(err.starts_with("no nodus at "), "{err}");

        // Listening, accepting, never answering.
        let listener = UnixListener::bind(&socket).unwrap();
        let held = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
        let err = call(&socket, &Request::PluginList, Duration::from_millis(300)).unwrap_err();
        assert!(err.contains("did not answer within 0.3 s"), "{err}");
        drop(held.join());
    }

    #[test]
    fn one_line_out_one_line_back() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("nodus.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            let answer = serde_json::to_string(&Response::error("no plugin `x`")).unwrap();
            (&stream)
                .write_all(format!("{answer}\n").as_bytes())
                .unwrap();
            line
        });
        let request = Request::PluginStop { name: "x".into() };
        let answer = call(&socket, &request, Duration::from_secs(5)).unwrap();
        assert!(!answer.ok);
        assert_eq!(answer.error.as_deref(), Some("no plugin `x`"));
        assert_eq!(
            server.join().unwrap(),
            "{\"command\":\"plugin_stop\",\"name\":\"x\"}\n"
        );
    }
}
