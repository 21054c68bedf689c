//! A small passive-mode FTP client for `ftp://` package URLs (RFC 959 with EPSV from RFC 2428):
//! log in (anonymous unless the URL names a user), binary type, `EPSV`/`PASV`, `RETR`, and stream
//! the data connection to the caller. Enough for vsftpd, ProFTPD and Pure-FTPd serving files.
//!
//! The data connection goes to the control connection's address with the port from the reply
//! (the address in a `227` reply is ignored, as curl does by default: it is often a private
//! address behind NAT, and trusting it lets a server aim the client elsewhere).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The parts of an `ftp://` URL.
#[derive(Debug, Clone, PartialEq)]
pub struct FtpUrl {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (default 21).
    pub port: u16,
    /// User (default `anonymous`).
    pub user: String,
    /// Password (default `bootagent@`).
    pub password: String,
    /// Path of the file, percent-decoded, with its leading `/`.
    pub path: String,
}

/// Parses `ftp://[user[:password]@]host[:port]/path`.
pub fn parse_url(url: &str) -> Result<FtpUrl, String> {
    let rest = url
        .strip_prefix("ftp://")
        .ok_or_else(|| format!("`{url}` is not an ftp:// URL"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        Some(info) => match info.split_once(':') {
            Some((u, p)) => (decode(u)?, decode(p)?),
            None => (decode(info)?, String::new()),
        },
        None => ("anonymous".to_string(), "bootagent@".to_string()),
    };
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
        path: decode(path)?,
    })
}

/// Percent-decoding of URL parts.
fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in `{text}`"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let out = String::from_utf8(out).map_err(|_| format!("`{text}` is not UTF-8"))?;
    if out.contains(['\r', '\n', '\0']) {
        return Err(format!("`{text}` holds a line break or NUL"));
    }
    Ok(out)
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

/// Retrieves the file of `url`, handing each chunk to `sink`. The server's reply after the
/// transfer must confirm it (226/250), so a cut transfer is an error, not a short file.
pub fn retrieve(
    url: &FtpUrl,
    timeout: Duration,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<u64> {
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
    let mut data = TcpStream::connect_timeout(&data_addr, timeout)?;
    data.set_read_timeout(Some(timeout))?;
    control.expect(&format!("RETR {}", url.path), &[125, 150])?;
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = data.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sink(&buf[..n])?;
        total += n as u64;
    }
    drop(data);
    let (code, text) = control.reply()?;
    if code != 226 && code != 250 {
        return Err(bad(format!("transfer not confirmed: {text}")));
    }
    let _ = control.command("QUIT");
    Ok(total)
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
