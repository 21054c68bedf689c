//! The syslog writer: every record as one RFC 5424 message over TCP (RFC 6587 octet-counting
//! framing, or LF-terminated), TLS optional (rustls, RFC 5425), to any syslog server.
//!
//! "Acknowledged" here means written and flushed to the socket: plain syslog has no
//! application-level acknowledgement, so a batch counts as delivered once the kernel took all
//! of it. Delivery is at-least-once: a batch whose write fails is written again in full on a
//! new connection. A connection that drops after the flush may lose what still sat in the
//! kernel's buffers (ours or the server's); before each batch the socket is checked for a
//! close from the server, which narrows that window but cannot close it. RELP would (an
//! acknowledgement per message) and is not built.
//!
//! A message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME - - [logagent@32473 file=".." offset=".."
//! path=".."] MSG`. PRI is the record's own facility and severity when it carries them as
//! numeric `facility` and `severity` fields (as the `syslog` format gives them), else the configured facility with severity `info` (`err` for a record
//! whose numeric `status` field is 500..=599, as nginx/apache 5xx). TIMESTAMP is the record's
//! time in UTC with microseconds. APP-NAME is `app_name` if configured, else the source's name,
//! cut to printable US-ASCII and 48 bytes. The SD-ID uses 32473, the private enterprise number
//! RFC 5612 reserves for documentation: `file` (the generation id) and `offset` name a record
//! once, so a receiver can drop repeats. With LF framing a newline inside a (multiline)
//! record is written as `#012`, the escape rsyslog itself uses for control characters.

use std::io::{BufWriter, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::Deserialize;
use wire::logs::LogAck;

use super::Sink;
use crate::batch::Batch;

mod message;

pub use message::SD_ID;
use message::{Formatter, MAX_APP_NAME, itoa, itoa_buf};

/// Longest HOSTNAME (RFC 5424).
const MAX_HOSTNAME: usize = 255;
/// Bytes buffered before a write to the socket (64 KiB writes cost no more CPU per byte on
/// loopback than 256 KiB ones, and hold less memory).
const WRITE_BUFFER: usize = 64 * 1024;

/// RFC 6587's two ways to delimit messages on a stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    /// `<length> <message>`: any byte may be in a message (the default).
    #[default]
    OctetCounting,
    /// `<message>\n`: newlines in a message are written as `#012`.
    Lf,
}

/// The `[syslog]` table of logagent.conf.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// The server, `host:port`.
    pub address: String,
    /// TLS (RFC 5425) instead of plain TCP.
    #[serde(default)]
    pub tls: bool,
    /// With TLS: the CA that signed the server's certificate (required).
    pub ca: Option<PathBuf>,
    /// With TLS: the name the server's certificate must carry (default: the address's host).
    pub server_name: Option<String>,
    /// With TLS: a client certificate to present (with `key`).
    pub cert: Option<PathBuf>,
    /// Its key.
    pub key: Option<PathBuf>,
    /// `octet-counting` (default) or `lf`.
    #[serde(default)]
    pub framing: Framing,
    /// APP-NAME of every message (default: each record's source name).
    pub app_name: Option<String>,
    /// Facility of records not read from syslog-formatted sources: a name (`user`, `daemon`,
    /// `local0`..`local7`, ...) or a number 0..=23.
    #[serde(default = "default_facility")]
    pub facility: String,
    /// HOSTNAME of every message (default: this machine's name).
    pub hostname: Option<String>,
    /// Seconds to wait for the connection and for each write.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u64,
}

fn default_facility() -> String {
    "user".into()
}
fn default_timeout_s() -> u64 {
    30
}

const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

impl SyslogConfig {
    /// Checks the values `-t` can check without connecting.
    pub fn check(&self) -> Result<(), String> {
        split_address(&self.address)?;
        self.facility_code()?;
        if self.tls && self.ca.is_none() {
            return Err("[syslog] tls = true needs `ca` (the server's CA)".into());
        }
        if !self.tls && (self.ca.is_some() || self.cert.is_some() || self.key.is_some()) {
            return Err("[syslog] ca, cert and key are for tls = true".into());
        }
        if self.cert.is_some() != self.key.is_some() {
            return Err("[syslog] cert and key go together".into());
        }
        if self.timeout_s == 0 {
            return Err("[syslog] timeout_s must be > 0".into());
        }
        Ok(())
    }

    fn facility_code(&self) -> Result<u8, String> {
        let f = self.facility.as_str();
        FACILITIES
            .iter()
            .position(|n| *n == f)
            .map(|i| i as u8)
            .or_else(|| f.parse::<u8>().ok().filter(|n| *n < 24))
            .ok_or_else(|| format!("[syslog] facility `{f}` is not a syslog facility"))
    }
}

fn split_address(address: &str) -> Result<(&str, u16), String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("[syslog] address `{address}` is not host:port"))?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("[syslog] address `{address}`: bad port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("[syslog] address `{address}` has no host"));
    }
    Ok((host, port))
}

/// The open connection.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => &s.sock,
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// The syslog writer (see the module's documentation).
pub struct SyslogSink {
    config: SyslogConfig,
    facility: u8,
    hostname: String,
    app_name: Option<String>,
    tls: Option<Arc<rustls::ClientConfig>>,
    conn: Option<BufWriter<Conn>>,
    formatter: Formatter,
}

impl SyslogSink {
    /// A writer for `config` (checked; the CA and client identity read now). It connects at
    /// the first batch.
    pub fn new(config: &SyslogConfig) -> anyhow::Result<SyslogSink> {
        config.check().map_err(anyhow::Error::msg)?;
        let tls = if config.tls {
            Some(tls_config(config)?)
        } else {
            None
        };
        let hostname = config.hostname.clone().unwrap_or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_default()
        });
        Ok(SyslogSink {
            facility: config.facility_code().map_err(anyhow::Error::msg)?,
            hostname: header_field(&hostname, MAX_HOSTNAME),
            app_name: config
                .app_name
                .as_deref()
                .map(|a| header_field(a, MAX_APP_NAME)),
            config: config.clone(),
            tls,
            conn: None,
            formatter: Formatter::default(),
        })
    }

    fn connect(&self) -> anyhow::Result<BufWriter<Conn>> {
        let (host, port) = split_address(&self.config.address).map_err(anyhow::Error::msg)?;
        let timeout = Duration::from_secs(self.config.timeout_s);
        let mut last = None;
        let mut stream = None;
        for addr in (host, port)
            .to_socket_addrs()
            .with_context(|| format!("resolve {}", self.config.address))?
        {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let stream = match (stream, last) {
            (Some(s), _) => s,
            (None, Some(e)) => return Err(e).context(format!("connect {}", self.config.address)),
            (None, None) => anyhow::bail!("{} resolves to no address", self.config.address),
        };
        stream.set_write_timeout(Some(timeout))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        let conn = match &self.tls {
            None => Conn::Plain(stream),
            Some(tls) => {
                let name = self
                    .config
                    .server_name
                    .as_deref()
                    .unwrap_or(host)
                    .to_string();
                let name = ServerName::try_from(name.clone())
                    .map_err(|e| anyhow::anyhow!("TLS name `{name}`: {e}"))?;
                let mut client = rustls::ClientConnection::new(tls.clone(), name)?;
                let mut stream = stream;
                while client.is_handshaking() {
                    client
                        .complete_io(&mut stream)
                        .with_context(|| format!("TLS handshake with {}", self.config.address))?;
                }
                Conn::Tls(Box::new(rustls::StreamOwned::new(client, stream)))
            }
        };
        Ok(BufWriter::with_capacity(WRITE_BUFFER, conn))
    }

    /// Writes and flushes every record of `batch` on the open connection.
    fn write_batch(&mut self, batch: &Batch) -> std::io::Result<()> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(std::io::Error::other("not connected"));
        };
        for record in &batch.records {
            let app = self.app_name.as_deref();
            let message = self.formatter.format(
                record,
                self.facility,
                &self.hostname,
                app,
                self.config.framing,
            );
            if self.config.framing == Framing::OctetCounting {
                let mut len = itoa_buf();
                conn.write_all(itoa(message.len() as u64, &mut len))?;
                conn.write_all(b" ")?;
                conn.write_all(message)?;
            } else {
                conn.write_all(message)?;
                conn.write_all(b"\n")?;
            }
        }
        conn.flush()
    }
}

/// Whether the server closed the connection, checked before each batch without blocking. A
/// syslog server sends nothing on its own, so on plain TCP any readable byte or end of stream
/// means it is going away; over TLS, what arrives is handed to rustls (TLS 1.3 session
/// tickets come after the handshake) and only a close (close_notify, end of stream, an
/// error) counts.
fn closed_by_peer(conn: &mut BufWriter<Conn>) -> bool {
    let tcp = conn.get_ref().tcp();
    if tcp.set_nonblocking(true).is_err() {
        return true;
    }
    let closed = match conn.get_mut() {
        Conn::Plain(tcp) => {
            let mut byte = [0u8; 1];
            !matches!(tcp.peek(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        }
        Conn::Tls(stream) => loop {
            match stream.conn.read_tls(&mut stream.sock) {
                Ok(0) => break true,
                Ok(_) => match stream.conn.process_new_packets() {
                    Ok(state) if state.peer_has_closed() => break true,
                    Ok(_) => continue,
                    Err(_) => break true,
                },
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
                Err(_) => break true,
            }
        },
    };
    let _ = conn.get_ref().tcp().set_nonblocking(false);
    closed
}

impl Sink for SyslogSink {
    fn name(&self) -> &str {
        "syslog"
    }

    fn send(&mut self, batch: &Batch) -> anyhow::Result<LogAck> {
        if self.conn.as_mut().is_some_and(closed_by_peer) {
            tracing::info!(
                "syslog server {} closed the connection; reconnecting.",
                self.config.address
            );
            self.conn = None;
        }
        if self.conn.is_none() {
            self.conn = Some(self.connect()?);
        }
        if let Err(e) = self.write_batch(batch) {
            // What was written may be partial: the whole batch goes again on a new connection.
            self.conn = None;
            return Err(e).context(format!("write to syslog server {}", self.config.address));
        }
        Ok(LogAck {
            stored: batch.records.len() as u64,
            duplicates: 0,
        })
    }

    fn wants_status(&self) -> bool {
        false
    }
}

fn tls_config(config: &SyslogConfig) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = config.ca.as_deref().context("[syslog] tls needs `ca`")?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(ca).with_context(|| format!("read {}", ca.display()))?
    {
        roots
            .add(cert.with_context(|| format!("bad certificate in {}", ca.display()))?)
            .with_context(|| format!("unusable CA certificate in {}", ca.display()))?;
    }
    if roots.is_empty() {
        anyhow::bail!("no certificate in CA file {}", ca.display());
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match (&config.cert, &config.key) {
        (Some(cert), Some(key)) => {
            let certs = read_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("no private key in {}", key.display()))?;
            builder
                .with_client_auth_cert(certs, key)
                .context("[syslog] client certificate and key do not fit")?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("read {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("bad certificate in {}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("no certificate in {}", path.display());
    }
    Ok(certs)
}

/// A header field (HOSTNAME, APP-NAME): printable US-ASCII only (others dropped), at most
/// `max` bytes, `-` when empty.
fn header_field(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if out.is_empty() {
        out.push('-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_checks() {
        let config = |text: &str| toml::from_str::<SyslogConfig>(text).map_err(|e| e.to_string());
        assert!(config("address = \"h:514\"\nbogus = 1").is_err());
        assert!(
            config("address = \"h:514\"\nframing = \"lf\"")
                .unwrap()
                .check()
                .is_ok()
        );
        assert!(config("address = \"h:514\"\nframing = \"octets\"").is_err());
        assert!(config("address = \"h\"").unwrap().check().is_err());
        assert!(
            config("address = \"h:514\"\ntls = true")
                .unwrap()
                .check()
                .is_err()
        );
        assert!(
            config("address = \"h:514\"\nfacility = \"local9\"")
                .unwrap()
                .check()
                .is_err()
        );
        assert_eq!(
            config("address = \"h:1\"\nfacility = \"local7\"")
                .unwrap()
                .facility_code(),
            Ok(23)
        );
    }
}
