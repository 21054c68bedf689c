//! Plugins managed from Polaris, end to end over real HTTPS and real agent links (wss with each
//! host's client certificate): inventories the agents send are stored, replaced and queried;
//! plugin releases are checked at upload (names, ELF, size, signature, a version never
//! replaced) and served by the package server; rollouts run as single-host commands within
//! `max_concurrency`, stop once more than `max_errors` hosts failed, and two replicas on one
//! database never exceed `max_concurrency` together. The agents are played by the test over the
//! real protocol; the `.so` uploaded is a real shared object of this machine (its libc), which
//! Polaris only checks and stores, never loads.

mod catalogue;
#[path = "../common/mod.rs"]
mod common;
mod inventory;
mod rollouts;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::agents::{Agent, Certs, Server};
use common::{BACKENDS, Scratch};
use serde_json::{Value, json};
use wire::agent::ServerMessage;
use wire::plugins::{
    AgentPlugins, InstanceReport, InstanceState, PluginAgent, PluginInventory, PluginReport,
    SkippedFile,
};
use wire::{Command, CommandResult};

/// The package server's user (`{SHA}` line, as `htpasswd -s` writes it) and password.
const PKG_USER: &str = "boot";
const PKG_PASSWORD: &str = "sha-secret";
const PKG_HTPASSWD: &str = "boot:{SHA}KkPcK3XYeA35EhWhKYmaCyAgadY=\n";

/// The parts of a multipart upload: (name, bytes).
type Parts = Vec<(&'static str, Vec<u8>)>;

/// How long a rollout may take here (generous: not a speed test).
const ROLLOUT_PATIENCE: Duration = Duration::from_secs(90);

/// A package root with its htpasswd, and the `[packages]` section naming them (after the
/// `[agents]` keys of `Server::start`).
fn packages(dir: &std::path::Path) -> String {
    std::fs::create_dir_all(dir.join("packages")).unwrap();
    std::fs::write(dir.join("htpasswd"), PKG_HTPASSWD).unwrap();
    format!(
        "[packages]\nroot = {:?}\nhtpasswd = {:?}\n",
        dir.join("packages"),
        dir.join("htpasswd")
    )
}

/// A real shared object: the libc this test runs with.
fn shared_object() -> Vec<u8> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let path = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("/libc.so") || p.contains("/libc-"))
        .expect("libc is mapped");
    std::fs::read(path).unwrap()
}

fn manifest(name: &str, version: &str) -> Vec<u8> {
    json!({"agent": "nodus", "name": name, "version": version, "abi": "2.0.0",
        "roles": ["read", "info"]})
    .to_string()
    .into_bytes()
}

fn instance(name: &str, state: InstanceState, reason: Option<&str>) -> InstanceReport {
    InstanceReport {
        name: name.into(),
        state,
        reason: reason.map(str::to_owned),
        options: serde_json::from_value(json!({"URL": "https://m/write", "Password": "***"}))
            .unwrap(),
    }
}

fn report(name: &str, version: &str, instances: Vec<InstanceReport>) -> PluginReport {
    PluginReport {
        name: name.into(),
        version: version.into(),
        abi: "2.1.0".into(),
        roles: vec!["read".into()],
        file: format!("/usr/lib/cargo/nodus/{name}.so"),
        digest: format!("SHA256:{}", "c".repeat(64)),
        schema: Vec::new(),
        instances,
    }
}

fn inventory(plugins: Vec<PluginReport>, skipped: Vec<SkippedFile>) -> PluginInventory {
    PluginInventory {
        agents: vec![AgentPlugins {
            agent: PluginAgent::Nodus,
            error: None,
            plugins,
            skipped,
            cut: 0,
        }],
    }
}

/// A server on a fresh database of `backend` (`None` when it is not configured), with a
/// package server in `dir` and `extra` configuration after it.
async fn on(
    backend: polaris::db::Backend,
    certs: &Certs,
    dir: &std::path::Path,
    extra: &str,
) -> Option<(Server, Scratch)> {
    let scratch = Scratch::new(backend).await?;
    let config = format!("{}{extra}", packages(dir));
    Some((Server::start(&scratch.url, certs, &config).await, scratch))
}

/// Polls `path` until `done` holds (or panics after `limit`).
async fn poll(
    server: &Server,
    path: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = tokio::time::Instant::now();
    loop {
        let (status, body) = server.call("GET", path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        if done(&body) {
            return body;
        }
        assert!(started.elapsed() < limit, "{path}: gave up waiting: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until a rollout is finished.
async fn finished(server: &Server, id: &str) -> Value {
    poll(
        server,
        &format!("/api/v1/rollouts/{id}"),
        ROLLOUT_PATIENCE,
        |r| !r["finished"].is_null(),
    )
    .await
}

/// Host states of a rollout view, in order.
fn host_states(rollout: &Value) -> Vec<(String, String)> {
    rollout["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["hostname"].as_str().unwrap().to_owned(),
                h["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}
