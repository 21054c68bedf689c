//! A small passive-mode FTP client for `ftp://` package URLs (RFC 959 with EPSV from RFC 2428):
//! log in (anonymous unless the URL names a user), binary type, `EPSV`/`PASV`, `RETR`, and
//! stream the data connection to the caller. Enough for vsftpd, ProFTPD and Pure-FTPd serving
//! files.
//!
//! The data connection goes to the control connection's address with the port from the reply
//! (the address in a `227` reply is ignored, as curl does by default: it is often a private
//! address behind NAT, and trusting it lets a server aim the client elsewhere).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::url::{percent_decode, split_userinfo};

/// The parts of an `ftp://` URL.
#[derive(Debug, Clone, PartialEq)]
pub struct FtpUrl {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (default 21).
    pub port: u16,
    /// User (default `anonymous`).
    pub user: String,
    /// Password (default `anonymous@`).
    pub password: String,
    /// Path of the file, percent-decoded, with its leading `/`.
    pub path: String,
}

/// Parses `ftp://[user[:password]@]host[:port]/path`; user and password are percent-decoded.
/// Messages show the URL without its credentials.
pub fn parse_url(url: &str) -> Result<FtpUrl, String> {
    let (url, credentials) = split_userinfo(url)?;
    let rest = url
        .strip_prefix("ftp://")
        .ok_or_else(|| format!("`{url}` is not an ftp:// URL"))?;
    let (hostport, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (user, password) =
        credentials.unwrap_or_else(|| ("anonymous".to_string(), "anonymous@".to_string()));
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("`{url}`: unclosed `[`"))?;
        (host.to_string(), after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| format!("`{url}`: bad port `{p}`"))?,
        None => 21,
    };
    if host.is_empty() || path.len() <= 1 {
        return Err(format!("`{url}` needs a host and a file path"));
    }
    Ok(FtpUrl {
        host,
        port,
        user,
        password,
        path: percent_decode(path)?,
    })
}

/// An open control connection.
struct Control {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    peer: SocketAddr,
}

impl Control {
    /// Reads one (possibly multi-line) reply: its code and text.
    fn reply(&mut self) -> std::io::Result<(u16, String)> {
        let mut text = String::new();
        let mut first = String::new();
        self.reader.read_line(&mut first)?;
        let code: u16 = first
            .get(..3)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| bad(format!("not an FTP reply: {:?}", first.trim_end())))?;
        text.push_str(first.trim_end());
        if first.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{code} ");
            loop {
                let mut line = String::new();
                if self.reader.read_line(&mut line)? == 0 {
                    return Err(bad("connection closed inside a reply".into()));
                }
                text.push('\n');
                text.push_str(line.trim_end());
                if line.starts_with(&end) {
                    break;
                }
            }
        }
        Ok((code, text))
    }

    /// Sends a command and reads its reply.
    fn command(&mut self, line: &str) -> std::io::Result<(u16, String)> {
        self.writer.write_all(format!("{line}\r\n").as_bytes())?;
        self.reply()
    }

    /// Sends a command whose reply must have a code in `ok`.
    fn expect(&mut self, line: &str, ok: &[u16]) -> std::io::Result<String> {
        let (code, text) = self.command(line)?;
        if ok.contains(&code) {
            Ok(text)
        } else {
            let shown = if line.starts_with("PASS") {
                "PASS ****"
            } else {
                line
            };
            Err(bad(format!("`{shown}` answered: {text}")))
        }
    }
}

fn bad(message: String) -> std::io::Error {
    std::io::Error::other(message)
}

/// The port in a `229 (|||port|)` reply.
fn epsv_port(text: &str) -> Option<u16> {
    let inner = text.split('(').nth(1)?.split(')').next()?;
    inner.trim_matches('|').parse().ok()
}

/// The port in a `227 ... (h1,h2,h3,h4,p1,p2)` reply: the last two of the six numbers after
/// the reply code.
fn pasv_port(text: &str) -> Option<u16> {
    let numbers: Vec<u16> = text
        .get(3..)?
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().ok())
        .collect::<Option<_>>()?;
    if numbers.len() < 6 {
        return None;
    }
    let (p1, p2) = (numbers[numbers.len() - 2], numbers[numbers.len() - 1]);
    (p1 < 256 && p2 < 256).then_some(p1 * 256 + p2)
}

/// A file being retrieved: read it to the end. The end is reported only once the server has
/// confirmed the transfer (226/250), so a cut transfer is an error, not a short file.
pub struct Transfer {
    control: Control,
    /// The data connection, until it has been read to its end.
    data: Option<TcpStream>,
}

impl Read for Transfer {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(data) = self.data.as_mut() else {
            return Ok(0);
        };
        let n = data.read(buf)?;
        if n == 0 && !buf.is_empty() {
            // Closed by the server: the reply on the control connection says whether all of
            // the file was sent.
            self.data = None;
            let (code, text) = self.control.reply()?;
            if code != 226 && code != 250 {
                return Err(bad(format!("transfer not confirmed: {text}")));
            }
            let _ = self.control.command("QUIT");
        }
        Ok(n)
    }
}

/// Logs in and starts retrieving the file of `url`; `timeout` bounds connecting and each
/// read or write.
pub fn open(url: &FtpUrl, timeout: Duration) -> std::io::Result<Transfer> {
    let addr = (url.host.as_str(), url.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| bad(format!("{} has no address", url.host)))?;
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut control = Control {
        reader: BufReader::new(stream.try_clone()?),
        writer: stream,
        peer: addr,
    };
    let (code, text) = control.reply()?;
    if code != 220 {
        return Err(bad(format!("server greeting: {text}")));
    }
    let (code, text) = control.command(&format!("USER {}", url.user))?;
    match code {
        230 => {}
        331 | 332 => {
            control.expect(&format!("PASS {}", url.password), &[230, 202])?;
        }
        _ => return Err(bad(format!("USER answered: {text}"))),
    }
    control.expect("TYPE I", &[200])?;
    let port = match control.command("EPSV")? {
        (229, text) => epsv_port(&text),
        _ => {
            let text = control.expect("PASV", &[227])?;
            pasv_port(&text)
        }
    }
    .ok_or_else(|| bad("no port in the passive-mode reply".into()))?;
    let data_addr = SocketAddr::new(control.peer.ip(), port);
    let data = TcpStream::connect_timeout(&data_addr, timeout)?;
    data.set_read_timeout(Some(timeout))?;
    control.expect(&format!("RETR {}", url.path), &[125, 150])?;
    Ok(Transfer {
        control,
        data: Some(data),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_defaults() {
        let url = parse_url("ftp://127.0.0.1:2121/pkg/a%20b.tar.gz").unwrap();
        assert_eq!(url.host, "127.0.0.1");
        assert_eq!(url.port, 2121);
        assert_eq!(url.user, "anonymous");
        assert_eq!(url.path, "/pkg/a b.tar.gz");
        let url = parse_url("ftp://bob:s%3Acret@[::1]/x").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 21));
        assert_eq!(
            (url.user.as_str(), url.password.as_str()),
            ("bob", "s:cret")
        );
        assert!(parse_url("ftp://host/").is_err());
        assert!(parse_url("ftp://host/a%0d%0aDELE%20x").is_err());
    }

    #[test]
    fn urls_carry_their_credentials() {
        let url = parse_url("ftp://pkg:p%40ss@files.example:2121/BasicAgent/BasicAgent-1.5.6.tgz")
            .unwrap();
        assert_eq!(
            url,
            FtpUrl {
                host: "files.example".into(),
                port: 2121,
                user: "pkg".into(),
                password: "p@ss".into(),
                path: "/BasicAgent/BasicAgent-1.5.6.tgz".into(),
            }
        );
        let url = parse_url("ftp://bob@h/x").unwrap();
        assert_eq!((url.user.as_str(), url.password.as_str()), ("bob", ""));
        let err = parse_url("ftp://u:secret@h:99999/x").unwrap_err();
        assert!(err.contains("bad port") && !err.contains("secret"), "{err}");
    }

    #[test]
    fn passive_ports_are_read() {
        assert_eq!(
            epsv_port("229 Entering Extended Passive Mode (|||40123|)"),
            Some(40123)
        );
        assert_eq!(
            pasv_port("227 Entering Passive Mode (127,0,0,1,156,123)."),
            Some(156 * 256 + 123)
        );
        assert_eq!(pasv_port("227 =127,0,0,1,4,1"), Some(1025));
        assert_eq!(pasv_port("227 nothing"), None);
    }
}
