//! The swarm's agent: answers `sync.bash` at once (no process); for `plugin.install` and
//! `plugin.upgrade` it downloads the release from Polaris's package server as gearman does
//! (the same `fetch` crate: the pinned CA, the package login, the checksum) into a scratch
//! folder and deletes it (no load); other `plugin.*` commands are answered as done. Results
//! stay in memory until Polaris acknowledges them, exactly like gearman's outbox but without
//! gearman.db.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gearman::link::Link;
use tokio::sync::Notify;
use wire::agent::{AgentMessage, Refused, Request};
use wire::{Command, CommandResult, ExecStatus, retcode};

/// One simulated agent.
#[derive(Default)]
pub struct FakeAgent {
    next_seq: AtomicU64,
    outbox: Mutex<BTreeMap<u64, AgentMessage>>,
    changed: Notify,
    downloads: Option<Arc<Downloads>>,
}

/// How the swarm's agents download plugin releases (shared by all of them).
pub struct Downloads {
    /// gearman's downloader: Polaris's CA pinned, the package server's login.
    pub fetcher: fetch::Fetcher,
    /// Where a release is written, checked and deleted.
    pub scratch: PathBuf,
}

impl FakeAgent {
    /// An agent that downloads the releases it is told to install.
    pub fn downloading(downloads: Arc<Downloads>) -> FakeAgent {
        FakeAgent {
            downloads: Some(downloads),
            ..FakeAgent::default()
        }
    }

    /// Downloads and checks a release (then deletes it): its answer.
    async fn install(&self, release: &wire::plugins::PluginRelease) -> CommandResult {
        let Some(downloads) = self.downloads.clone() else {
            return CommandResult::success(
                format!("installed {} {}", release.name, release.version).into(),
            );
        };
        let (url, checksum) = (release.url.clone(), release.checksum.clone());
        let done = tokio::task::spawn_blocking(move || {
            downloads
                .fetcher
                .fetch(&url, Some(&checksum), &downloads.scratch)
                .map(drop)
        })
        .await;
        match done {
            Ok(Ok(())) => CommandResult::success(
                format!("installed {} {}", release.name, release.version).into(),
            ),
            Ok(Err(e)) => CommandResult::failed(retcode::FAILED, format!("not installed: {e}")),
            Err(e) => CommandResult::failed(retcode::FAILED, format!("download task: {e}")),
        }
    }

    fn keep(&self, result: CommandResult) {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(mut outbox) = self.outbox.lock() {
            outbox.insert(seq, AgentMessage::Result { seq, result });
        }
        self.changed.notify_waiters();
    }
}

impl Link for FakeAgent {
    async fn handle(&self, request: Request) {
        let result = match &request.command {
            Command::SyncBash(_) => {
                let mut ok = CommandResult::success(serde_json::Value::String(String::new()));
                ok.exec = ExecStatus {
                    exit_status: Some(0),
                    duration_ms: Some(0),
                    ..ExecStatus::default()
                };
                ok
            }
            Command::PluginInstall(release) | Command::PluginUpgrade(release) => {
                self.install(release).await
            }
            Command::PluginRemove(_)
            | Command::PluginStart(_)
            | Command::PluginStop(_)
            | Command::PluginConfigure(_) => CommandResult::success("done".into()),
            _ => CommandResult::code(retcode::NO_SUCH_METHOD),
        }
        .with_id(request.id);
        self.keep(result);
    }

    fn refuse(&self, refused: Refused) {
        self.keep(refused.error.into_result().with_id(refused.id));
    }

    fn pending(&self, after: u64, limit: usize) -> Vec<AgentMessage> {
        match self.outbox.lock() {
            Ok(outbox) => outbox
                .range(after + 1..)
                .take(limit)
                .map(|(_, m)| m.clone())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn ack(&self, seq: u64) {
        if let Ok(mut outbox) = self.outbox.lock() {
            outbox.remove(&seq);
        }
    }

    fn outbox_changed(&self) -> &Notify {
        &self.changed
    }
}
