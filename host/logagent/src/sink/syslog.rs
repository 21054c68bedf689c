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
use crate::batch::{Batch, Record};

/// The SD-ID of the structured data each message carries.
pub const SD_ID: &str = "logagent@32473";
/// Longest APP-NAME (RFC 5424).
const MAX_APP_NAME: usize = 48;
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

/// Formats messages into one reused buffer; the date of the last second is kept.
#[derive(Default)]
pub struct Formatter {
    buf: Vec<u8>,
    second: Option<i64>,
    date: Vec<u8>,
}

impl Formatter {
    /// The RFC 5424 message for `record` (without framing), valid until the next call.
    pub fn format(
        &mut self,
        record: &Record,
        facility: u8,
        hostname: &str,
        app_name: Option<&str>,
        framing: Framing,
    ) -> &[u8] {
        let micros = (record.time * 1e6).round();
        let micros = if micros.is_finite() { micros as i64 } else { 0 };
        let (second, fraction) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
        if self.second != Some(second) {
            self.date.clear();
            let time = chrono::DateTime::from_timestamp(second, 0).unwrap_or_default();
            let _ = write!(self.date, "{}", time.format("%Y-%m-%dT%H:%M:%S"));
            self.second = Some(second);
        }
        let buf = &mut self.buf;
        buf.clear();
        let mut num = itoa_buf();
        buf.push(b'<');
        buf.extend_from_slice(itoa(u64::from(pri(record, facility)), &mut num));
        buf.extend_from_slice(b">1 ");
        buf.extend_from_slice(&self.date);
        buf.push(b'.');
        let digits = itoa(fraction as u64 + 1_000_000, &mut num);
        buf.extend_from_slice(&digits[1..]);
        buf.extend_from_slice(b"Z ");
        buf.extend_from_slice(hostname.as_bytes());
        buf.push(b' ');
        match app_name {
            Some(app) => buf.extend_from_slice(app.as_bytes()),
            None => push_app_name(buf, &record.source),
        }
        buf.extend_from_slice(b" - - [");
        buf.extend_from_slice(SD_ID.as_bytes());
        buf.extend_from_slice(b" file=\"");
        push_param(buf, &record.file);
        buf.extend_from_slice(b"\" offset=\"");
        buf.extend_from_slice(itoa(record.offset, &mut num));
        buf.extend_from_slice(b"\" path=\"");
        push_param(buf, &record.path);
        buf.extend_from_slice(b"\"]");
        if !record.message.is_empty() {
            buf.push(b' ');
            match framing {
                Framing::OctetCounting => buf.extend_from_slice(record.message.as_bytes()),
                Framing::Lf => {
                    for part in record.message.as_bytes().split_inclusive(|b| *b == b'\n') {
                        match part.split_last() {
                            Some((b'\n', head)) => {
                                buf.extend_from_slice(head);
                                buf.extend_from_slice(b"#012");
                            }
                            _ => buf.extend_from_slice(part),
                        }
                    }
                }
            }
        }
        &self.buf
    }
}

/// PRI: the record's own facility and severity (a syslog-formatted source), else `facility`
/// with `info`, or `err` for an HTTP 5xx `status`.
fn pri(record: &Record, facility: u8) -> u8 {
    let field = |name: &str| record.field_u64(name);
    if let (Some(f), Some(s)) = (field("facility"), field("severity"))
        && f < 24
        && s < 8
    {
        return (f * 8 + s) as u8;
    }
    let severity = if field("status").is_some_and(|s| (500..600).contains(&s)) {
        3
    } else {
        6
    };
    facility * 8 + severity
}

fn push_app_name(buf: &mut Vec<u8>, source: &str) {
    let start = buf.len();
    for b in source
        .bytes()
        .filter(u8::is_ascii_graphic)
        .take(MAX_APP_NAME)
    {
        buf.push(b);
    }
    if buf.len() == start {
        buf.push(b'-');
    }
}

/// A PARAM-VALUE: `"`, `\` and `]` escaped with a backslash (RFC 5424, 6.3.3).
fn push_param(buf: &mut Vec<u8>, value: &str) {
    for &b in value.as_bytes() {
        if matches!(b, b'"' | b'\\' | b']') {
            buf.push(b'\\');
        }
        buf.push(b);
    }
}

fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

/// `n` in decimal, written at the end of `buf`.
fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Fields;

    fn record(message: &str) -> Record {
        Record {
            source: "nginx access".into(),
            file: "0123456789abcdef".into(),
            offset: 42,
            path: "/var/log/a\"b]\\.log".into(),
            time: 1_764_806_400.25,
            time_from_read: false,
            message: message.into(),
            fields: Fields::Map(serde_json::Map::new()),
            truncated_bytes: None,
            parse_error: None,
        }
    }

    fn insert(r: &mut Record, name: &str, value: u64) {
        if let Fields::Map(map) = &mut r.fields {
            map.insert(name.into(), value.into());
        }
    }

    #[test]
    fn an_rfc5424_message_with_escaped_structured_data() {
        let mut f = Formatter::default();
        let text = f.format(
            &record("GET / 200"),
            1,
            "web1",
            None,
            Framing::OctetCounting,
        );
        assert_eq!(
            String::from_utf8_lossy(text),
            "<14>1 2025-12-04T00:00:00.250000Z web1 nginxaccess - - [logagent@32473 \
             file=\"0123456789abcdef\" offset=\"42\" path=\"/var/log/a\\\"b\\]\\\\.log\"] GET / 200"
        );
    }

    #[test]
    fn severity_from_syslog_fields_or_http_status_and_lf_escapes_newlines() {
        let mut r = record("a\nb");
        insert(&mut r, "status", 503);
        let mut f = Formatter::default();
        let text =
            String::from_utf8_lossy(f.format(&r, 16, "h", Some("app"), Framing::Lf)).into_owned();
        assert!(text.starts_with("<131>1 "), "{text}");
        assert!(text.ends_with("] a#012b"), "{text}");
        insert(&mut r, "facility", 4);
        insert(&mut r, "severity", 2);
        assert_eq!(pri(&r, 16), 34);
        let line = r#"::1 - - [04/Dec/2026:10:00:00 +0000] "GET / HTTP/1.0" 502 - "-" "W""#;
        let nginx = crate::parse::Format::new("nginx", None, None, None).unwrap();
        let mut spanned = record(line);
        spanned.fields = nginx.parse_owned(line.into()).fields;
        assert!(matches!(spanned.fields, Fields::Combined(_)));
        assert_eq!(pri(&spanned, 16), 131, "a 5xx status read from its span");
    }

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
