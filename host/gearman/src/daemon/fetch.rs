//! Installs a daemon's package: fetched from its `url` (http/https through ureq with rustls,
//! ftp through a small passive-mode client, `file://` or a plain path), unpacked when it is a
//! tarball (`.tar.gz`, `.tgz`, `.tar`), else kept under its file name, into
//! `<daemons>/<name>/<version>/`. The folder appears by a rename, complete or not at all.
//! Blocking: call it on a blocking thread.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};

/// Largest package accepted (4 GiB, the package server's limit).
const MAX_BYTES: u64 = 4 << 30;
const TIMEOUT: Duration = Duration::from_secs(60);

/// Installs `url` into `dir` unless `dir` exists already. Returns whether it downloaded.
pub fn install(url: &str, dir: &Path) -> anyhow::Result<bool> {
    if dir.is_dir() {
        return Ok(false);
    }
    let parent = dir.parent().context("the install folder has no parent")?;
    fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    let tmp = parent.join(format!(".install-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    let result = fetch_into(url, &tmp).and_then(|()| {
        fs::rename(&tmp, dir).with_context(|| format!("move the package to {}", dir.display()))
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result.map(|()| true)
}

fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    match path
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
    {
        Some(name) => name.to_string(),
        None => "package".into(),
    }
}

fn fetch_into(url: &str, dir: &Path) -> anyhow::Result<()> {
    let name = file_name(url);
    let download = dir.join(format!(".{name}.part"));
    {
        let mut out = fs::File::create(&download)?;
        let mut input = open(url)?;
        let n = io::copy(&mut input.by_ref().take(MAX_BYTES + 1), &mut out)
            .with_context(|| format!("download {url}"))?;
        if n > MAX_BYTES {
            bail!("{url} is larger than 4 GiB");
        }
        out.sync_all()?;
    }
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
        let file = fs::File::open(&download)?;
        unpack(flate2::read::GzDecoder::new(file), dir)
            .with_context(|| format!("unpack {name}"))?;
        fs::remove_file(&download)?;
    } else if lower.ends_with(".tar") {
        unpack(fs::File::open(&download)?, dir).with_context(|| format!("unpack {name}"))?;
        fs::remove_file(&download)?;
    } else {
        fs::rename(&download, dir.join(&name))?;
    }
    Ok(())
}

fn unpack(reader: impl Read, dir: &Path) -> io::Result<()> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    // `unpack` refuses entries that would land outside `dir`.
    archive.unpack(dir)
}

fn open(url: &str) -> anyhow::Result<Box<dyn Read>> {
    if url.starts_with("http://") || url.starts_with("https://") {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(3600)))
            .timeout_connect(Some(TIMEOUT))
            .build()
            .into();
        let response = agent
            .get(url)
            .call()
            .with_context(|| format!("GET {url}"))?;
        Ok(Box::new(response.into_body().into_reader()))
    } else if let Some(rest) = url.strip_prefix("ftp://") {
        ftp_get(rest).with_context(|| format!("FTP {url}"))
    } else {
        let path = PathBuf::from(url.strip_prefix("file://").unwrap_or(url));
        if !path.is_absolute() {
            bail!("unsupported url `{url}` (http, https, ftp, file or an absolute path)");
        }
        Ok(Box::new(
            fs::File::open(&path).with_context(|| format!("open {}", path.display()))?,
        ))
    }
}

/// A passive-mode binary RETR of `[user[:password]@]host[:port]/path`.
fn ftp_get(rest: &str) -> anyhow::Result<Box<dyn Read>> {
    let (authority, path) = rest.split_once('/').ok_or_else(|| anyhow!("no path"))?;
    let (creds, hostport) = match authority.rsplit_once('@') {
        Some((c, h)) => (Some(c), h),
        None => (None, authority),
    };
    let (user, pass) = match creds.map(|c| c.split_once(':').unwrap_or((c, ""))) {
        Some((u, p)) => (percent_decode(u), percent_decode(p)),
        None => ("anonymous".to_string(), "gearman@".to_string()),
    };
    let addr = if hostport
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        hostport.to_string()
    } else {
        format!("{hostport}:21")
    };
    let sock = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| anyhow!("cannot resolve {addr}"))?;
    let stream = TcpStream::connect_timeout(&sock, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    let mut ctl = Ftp {
        reader: BufReader::new(stream.try_clone()?),
        writer: stream,
    };
    ctl.expect(&[220])?;
    match ctl.command(&format!("USER {user}"))? {
        230 => {}
        331 => {
            ctl.command(&format!("PASS {pass}")).and_then(|c| {
                if c == 230 {
                    Ok(c)
                } else {
                    Err(anyhow!("login refused ({c})"))
                }
            })?;
        }
        c => bail!("login refused ({c})"),
    }
    ctl.command("TYPE I")?;
    let (code, line) = ctl.command_line("PASV")?;
    if code != 227 {
        bail!("PASV refused: {line}");
    }
    let data_addr = parse_pasv(&line, sock.ip())?;
    let data = TcpStream::connect_timeout(&data_addr, TIMEOUT)?;
    data.set_read_timeout(Some(TIMEOUT))?;
    let path = percent_decode(path);
    let (code, line) = ctl.command_line(&format!("RETR /{path}"))?;
    if code != 150 && code != 125 {
        bail!("RETR /{path}: {line}");
    }
    // The control connection is kept open until the data is read.
    Ok(Box::new(FtpData { data, _ctl: ctl }))
}

struct Ftp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Ftp {
    fn read_reply(&mut self) -> anyhow::Result<(u16, String)> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let code: u16 = line
            .get(..3)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| anyhow!("bad reply `{}`", line.trim()))?;
        // Multi-line replies: "123-..." up to "123 ...".
        if line.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{code} ");
            loop {
                let mut more = String::new();
                if self.reader.read_line(&mut more)? == 0 || more.starts_with(&end) {
                    break;
                }
            }
        }
        Ok((code, line.trim().to_string()))
    }

    fn expect(&mut self, codes: &[u16]) -> anyhow::Result<()> {
        let (code, line) = self.read_reply()?;
        if codes.contains(&code) {
            Ok(())
        } else {
            Err(anyhow!("unexpected reply: {line}"))
        }
    }

    fn command_line(&mut self, cmd: &str) -> anyhow::Result<(u16, String)> {
        self.writer.write_all(format!("{cmd}\r\n").as_bytes())?;
        self.read_reply()
    }

    fn command(&mut self, cmd: &str) -> anyhow::Result<u16> {
        Ok(self.command_line(cmd)?.0)
    }
}

struct FtpData {
    data: TcpStream,
    _ctl: Ftp,
}

impl Read for FtpData {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.data.read(buf)
    }
}

/// `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`; the host is taken from the control
/// connection (servers behind NAT announce private addresses).
fn parse_pasv(line: &str, host: std::net::IpAddr) -> anyhow::Result<std::net::SocketAddr> {
    let inner = line
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(i, _)| i)
        .ok_or_else(|| anyhow!("bad PASV reply `{line}`"))?;
    let nums: Vec<u16> = inner
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    if nums.len() != 6 {
        bail!("bad PASV reply `{line}`");
    }
    Ok(std::net::SocketAddr::new(host, nums[4] * 256 + nums[5]))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(n) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(n);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tarball_is_unpacked_into_the_version_folder_once() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("run.sh"), "#!/bin/sh\nexec sleep 1000\n").unwrap();
        let tarball = dir.path().join("pkg-1.0.tar.gz");
        let ok = std::process::Command::new("tar")
            .arg("czf")
            .arg(&tarball)
            .arg("-C")
            .arg(&src)
            .arg("run.sh")
            .status()
            .unwrap();
        assert!(ok.success());
        let target = dir.path().join("daemons/pkg/1.0");
        assert!(install(&format!("file://{}", tarball.display()), &target).unwrap());
        assert!(target.join("run.sh").is_file());
        assert!(
            !install(tarball.to_str().unwrap(), &target).unwrap(),
            "installed once"
        );
        let err = install("file:///no/such/file.tgz", &dir.path().join("x/1")).unwrap_err();
        assert!(format!("{err:#}").contains("/no/such/file.tgz"));
        assert!(!dir.path().join("x/1").exists());
    }

    #[test]
    fn pasv_replies_and_names() {
        let host = "10.0.0.1".parse().unwrap();
        let addr = parse_pasv("227 Entering Passive Mode (127,0,0,1,19,137)", host).unwrap();
        assert_eq!(addr.to_string(), "10.0.0.1:5001");
        assert_eq!(file_name("http://h/a/b/monitor.rpm?x=1"), "monitor.rpm");
        assert_eq!(percent_decode("a%20b"), "a b");
    }
}
