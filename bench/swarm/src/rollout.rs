//! `swarm --rollout`: a plugin release rolled out to the N agents through Polaris's catalogue
//! and rollouts (issue 14). The release is a real shared object (this process's libc, which
//! nobody loads): each swarm agent downloads it from Polaris's package server as gearman
//! does (pinned CA, package login, checksum) and answers `plugin.install` without loading it,
//! so this measures Polaris's side: the scheduler's rounds, one single-host command per host,
//! the dispatcher, the package server's downloads and the result writer, `max_concurrency`
//! hosts at a time.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::measure::{Api, TOKEN, cpu_seconds, rss_kb};

/// One line of the report.
pub struct Row {
    max_concurrency: u32,
    seconds: f64,
    succeeded: u64,
    failures: u64,
    server_cpu: f64,
    rss_mb: f64,
}

/// Prints the report's header.
pub fn print_header() {
    println!(
        "{:>7} {:>8} {:>14} {:>10} {:>9} {:>13} {:>13}",
        "agents", "max conc", "to done s", "succeeded", "failures", "server CPU s", "server RSS MB"
    );
}

impl Row {
    /// Prints the line for `n` agents.
    pub fn print(&self, n: usize) {
        println!(
            "{n:>7} {:>8} {:>14.2} {:>10} {:>9} {:>13.2} {:>13.1}",
            self.max_concurrency,
            self.seconds,
            self.succeeded,
            self.failures,
            self.server_cpu,
            self.rss_mb
        );
    }
}

/// The libc this process runs with: a real ELF shared object to upload.
fn shared_object() -> anyhow::Result<Vec<u8>> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let path = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("/libc.so") || p.contains("/libc-"))
        .context("libc is not mapped")?;
    Ok(std::fs::read(path)?)
}

/// Uploads the release `swarm-plugin` 1.0.0 (once; again is answered as stored).
fn upload(api: &Api) -> anyhow::Result<()> {
    let boundary = "swarm-rollout-boundary";
    let manifest = json!({"agent": "nodus", "name": "swarm-plugin", "version": "1.0.0",
        "abi": "2.0.0", "roles": ["read"]});
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"manifest\"\r\n\r\n{manifest}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.so\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&shared_object()?);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut response = api
        .client
        .post(format!("https://{}/api/v1/plugins", api.http))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .content_type(format!("multipart/form-data; boundary={boundary}"))
        .send(&body[..])
        .context("POST /api/v1/plugins")?;
    let status = response.status().as_u16();
    if status != 201 && status != 200 {
        anyhow::bail!(
            "upload answered {status}: {}",
            response.body_mut().read_to_string()?
        );
    }
    Ok(())
}

/// Rolls the release out to `hosts`, `max_concurrency` at a time; waits until it is done.
pub fn run(api: &Api, hosts: &[String], max_concurrency: u32) -> anyhow::Result<Row> {
    upload(api)?;
    let cpu_before = cpu_seconds(api.pid)?;
    let started = Instant::now();
    let created: Value = api
        .client
        .post(format!("https://{}/api/v1/rollouts", api.http))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .send_json(
            json!({"action": "install", "agent": "nodus", "plugin": "swarm-plugin",
            "version": "1.0.0", "hosts": hosts, "max_concurrency": max_concurrency,
            "max_errors": hosts.len()}),
        )
        .context("POST /api/v1/rollouts")?
        .body_mut()
        .read_json()?;
    let id = created["id"]
        .as_str()
        .with_context(|| format!("no rollout id in {created}"))?
        .to_owned();
    let deadline = started + Duration::from_secs(3600);
    let done = loop {
        // The list view: counts without the N hosts.
        let list: Value = api
            .client
            .get(format!("https://{}/api/v1/rollouts?limit=10", api.http))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .call()?
            .body_mut()
            .read_json()?;
        let mine = list
            .as_array()
            .and_then(|l| l.iter().find(|r| r["id"] == id.as_str()))
            .cloned()
            .unwrap_or(Value::Null);
        if !mine["finished"].is_null() {
            break mine;
        }
        if Instant::now() > deadline {
            anyhow::bail!("the rollout did not finish in an hour: {mine}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let seconds = started.elapsed().as_secs_f64();
    let counts = &done["counts"];
    let succeeded = counts["succeeded"].as_u64().unwrap_or(0);
    Ok(Row {
        max_concurrency,
        seconds,
        succeeded,
        failures: hosts.len() as u64 - succeeded,
        server_cpu: cpu_seconds(api.pid)? - cpu_before,
        rss_mb: rss_kb(api.pid)? as f64 / 1024.0,
    })
}
