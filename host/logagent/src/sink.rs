//! Where batches go. [`Sink`] is the contract: `send` returns only once the receiver has
//! acknowledged the whole batch (then, and only then, the agent commits its offsets).
//! [`PolarisSink`] posts `wire::logs::LogBatch` JSON to `<polaris>/api/v1/logs` over HTTPS
//! with the host's client certificate (mutual TLS, the ureq agent of `fetch`) and expects a
//! `wire::logs::LogAck`. [`backoff`] is the wait between tries while a sink fails.

use std::io::Read as _;
use std::time::Duration;

use wire::logs::{LogAck, LogBatch};

use crate::config::Config;

/// Longest acknowledgement body read.
const MAX_ACK_BYTES: u64 = 64 * 1024;

/// A receiver of batches.
pub trait Sink {
    /// Delivers `batch`; `Ok` means the receiver holds all of it.
    fn send(&mut self, batch: &LogBatch) -> anyhow::Result<LogAck>;
}

/// Polaris's `POST /api/v1/logs`.
pub struct PolarisSink {
    agent: ureq::Agent,
    url: String,
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
        let agent = fetch::http_agent_with_identity(
            concat!("logagent/", env!("CARGO_PKG_VERSION")),
            config.ca.as_deref(),
            Duration::from_secs(config.timeout_s.max(1)),
            0,
            identity,
        )
        .map_err(|e| anyhow::anyhow!("Polaris client: {e}"))?;
        Ok(PolarisSink {
            agent,
            url: format!("{}/api/v1/logs", config.polaris.trim_end_matches('/')),
        })
    }
}

impl Sink for PolarisSink {
    fn send(&mut self, batch: &LogBatch) -> anyhow::Result<LogAck> {
        let body = serde_json::to_vec(batch)?;
        let mut response = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(&body[..])
            .map_err(|e| anyhow::anyhow!("POST {}: {e}", self.url))?;
        let status = response.status();
        let mut text = String::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_ACK_BYTES)
            .read_to_string(&mut text)
            .map_err(|e| anyhow::anyhow!("POST {}: reading the answer: {e}", self.url))?;
        if !status.is_success() {
            anyhow::bail!("POST {}: HTTP {status}: {}", self.url, text.trim());
        }
        serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("POST {}: not a LogAck ({e}): {text}", self.url))
    }
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
