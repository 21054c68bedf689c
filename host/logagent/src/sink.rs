//! Where batches go. [`Sink`] is the contract: `send` returns only once the receiver has
//! acknowledged the whole batch (then, and only then, the agent commits its offsets).
//! [`PolarisSink`] posts `wire::logs::LogBatch` JSON, its records grouped by file and
//! compressed (`Content-Encoding: zstd`, see `pack`), to `<polaris>/api/v1/logs` over HTTPS
//! with the host's client certificate (mutual TLS, the ureq agent of `fetch`) and expects a
//! `wire::logs::LogAck` acknowledging every record; a batch it refuses for good (HTTP 4xx with
//! retcode 3021, "Invalid params") is a [`Refused`] error, which the agent answers by
//! splitting the batch (see `agent`). [`syslog::SyslogSink`] writes RFC 5424 syslog over TCP or TLS. [`backoff`] is the
//! wait between tries while a sink fails.

use std::io::Read as _;
use std::time::Duration;

use wire::logs::LogAck;

use crate::batch::Batch;
use crate::config::Config;
use crate::pack::Packer;

pub mod syslog;

/// A Polaris connection's receive buffer (headers and an acknowledgement fit).
const INPUT_BUFFER: usize = 16 * 1024;
/// A Polaris connection's send buffer.
const OUTPUT_BUFFER: usize = 32 * 1024;

/// Longest acknowledgement body read.
const MAX_ACK_BYTES: u64 = 64 * 1024;

/// A receiver of batches (owned by the agent's sender thread while it runs).
pub trait Sink: Send {
    /// Its name in logs and errors (`Polaris`, `syslog`).
    fn name(&self) -> &str;

    /// Delivers `batch`; `Ok` means the receiver holds all of it. An error that is (or wraps)
    /// [`Refused`] means the receiver will never take this batch as it is.
    fn send(&mut self, batch: &Batch) -> anyhow::Result<LogAck>;

    /// Whether batches of no records (the sources' states only) are sent to it.
    fn wants_status(&self) -> bool {
        true
    }

    /// Another writer to the same receiver, for another sender thread (`None`: this one
    /// must deliver in order alone).
    fn try_clone(&self) -> Option<Box<dyn Sink>> {
        None
    }

    /// Whether it posts Polaris's packed body ([`crate::pack`]): when every writer does, the
    /// agent writes it while it reads and keeps no records.
    fn wants_packed(&self) -> bool {
        false
    }
}

/// The receiver refused the batch for good (Polaris: HTTP 4xx with retcode 3021): sending it
/// again unchanged would be refused again. Network errors, 5xx, 401 and 403 are not this.
#[derive(Debug, thiserror::Error)]
#[error("refused: {reason}")]
pub struct Refused {
    /// The receiver's reason (Polaris's message).
    pub reason: String,
}

/// Polaris's retcode for "Invalid params".
const INVALID_PARAMS: u64 = 3021;

/// Polaris's `POST /api/v1/logs`.
pub struct PolarisSink {
    agent: ureq::Agent,
    url: String,
    /// Packs the batches that come with records (a part of a refused batch; every batch when
    /// a syslog writer takes them too); made at the first.
    packer: Option<Packer>,
}

impl PolarisSink {
    /// A sink for the configured Polaris, presenting the host's certificate (when the files
    /// exist: a plain `http://` receiver in tests needs none).
    pub fn new(config: &Config) -> anyhow::Result<PolarisSink> {
        if config.polaris.is_empty() {
            anyhow::bail!("no `polaris` URL configured");
        }
        let identity = (config.polaris.starts_with("https://")
            || (config.cert.exists() && config.key.exists()))
        .then_some((config.cert.as_path(), config.key.as_path()));
        let agent = fetch::http_config_with_identity(
            concat!("logagent/", env!("CARGO_PKG_VERSION")),
            config.ca.as_deref(),
            Duration::from_secs(config.timeout_s.max(1)),
            0,
            identity,
        )
        .map_err(|e| anyhow::anyhow!("Polaris client: {e}"))?
        // Each connection's buffers (ureq's default 128 KiB each way): Polaris's answers are
        // a few hundred bytes, and a body goes out in TLS records of 16 KiB.
        .input_buffer_size(INPUT_BUFFER)
        .output_buffer_size(OUTPUT_BUFFER)
        .build()
        .into();
        Ok(PolarisSink {
            agent,
            url: format!("{}/api/v1/logs", config.polaris.trim_end_matches('/')),
            packer: None,
        })
    }

    /// Posts `body`; the acknowledgement, or why there is none.
    fn post(&self, body: &[u8]) -> anyhow::Result<LogAck> {
        let mut response = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Content-Encoding", "zstd")
            .send(body)
            .map_err(|e| anyhow::anyhow!("POST {}: {e}", self.url))?;
        let status = response.status();
        let mut text = String::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_ACK_BYTES)
            .read_to_string(&mut text)
            .map_err(|e| anyhow::anyhow!("POST {}: reading the answer: {e}", self.url))?;
        if status.is_client_error() && ![401, 403, 408, 429].contains(&status.as_u16()) {
            let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            if answer["errcode"].as_u64() == Some(INVALID_PARAMS) {
                let reason = answer["message"]
                    .as_str()
                    .unwrap_or(text.trim())
                    .to_string();
                return Err(anyhow::Error::new(Refused { reason })
                    .context(format!("POST {}: HTTP {status}", self.url)));
            }
        }
        if !status.is_success() {
            anyhow::bail!("POST {}: HTTP {status}: {}", self.url, text.trim());
        }
        serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("POST {}: not a LogAck ({e}): {text}", self.url))
    }
}

impl Sink for PolarisSink {
    fn name(&self) -> &str {
        "Polaris"
    }

    fn wants_packed(&self) -> bool {
        true
    }

    fn try_clone(&self) -> Option<Box<dyn Sink>> {
        Some(Box::new(PolarisSink {
            agent: self.agent.clone(),
            url: self.url.clone(),
            packer: None,
        }))
    }

    fn send(&mut self, batch: &Batch) -> anyhow::Result<LogAck> {
        let n = batch.len() as u64;
        let ack = match &batch.packed {
            Some(packed) => self.post(&packed.body)?,
            None => {
                let packer = match &mut self.packer {
                    Some(packer) => packer,
                    None => self.packer.insert(Packer::new()?),
                };
                for record in &batch.records {
                    packer.push(record)?;
                }
                let mut packed = packer.finish()?;
                packed.end(&batch.sources)?;
                self.post(&packed.body)?
            }
        };
        if ack.stored + ack.duplicates == n {
            return Ok(ack);
        }
        anyhow::bail!(
            "POST {}: Polaris acknowledged {} of {n} records",
            self.url,
            ack.stored + ack.duplicates
        )
    }
}

/// The configured writers: Polaris when `polaris` is set, syslog when `[syslog]` is.
pub fn writers(config: &Config) -> anyhow::Result<Vec<Box<dyn Sink>>> {
    let mut writers: Vec<Box<dyn Sink>> = Vec::new();
    if !config.polaris.is_empty() {
        writers.push(Box::new(PolarisSink::new(config)?));
    }
    if let Some(syslog) = &config.syslog {
        writers.push(Box::new(syslog::SyslogSink::new(syslog)?));
    }
    if writers.is_empty() {
        anyhow::bail!("nowhere to send records: set `polaris`, a [syslog] table, or both");
    }
    Ok(writers)
}

/// The wait before try number `failures + 1`: 1 s doubling up to `max`.
pub fn backoff(failures: u32, max: Duration) -> Duration {
    Duration::from_secs(1u64 << failures.min(16)).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let max = Duration::from_secs(30);
        assert_eq!(backoff(0, max), Duration::from_secs(1));
        assert_eq!(backoff(3, max), Duration::from_secs(8));
        assert_eq!(backoff(40, max), max);
    }
}
