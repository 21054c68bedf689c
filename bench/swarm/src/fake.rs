//! The swarm's agent: answers `sync.bash` at once (no process), keeps results in memory until
//! Polaris acknowledges them, exactly like gearman's outbox but without gearman.db.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use gearman::link::Link;
use tokio::sync::Notify;
use wire::agent::{AgentMessage, Request};
use wire::{CommandResult, ExecStatus, retcode};

/// One simulated agent.
#[derive(Default)]
pub struct FakeAgent {
    next_seq: AtomicU64,
    outbox: Mutex<BTreeMap<u64, AgentMessage>>,
    changed: Notify,
}

impl Link for FakeAgent {
    async fn handle(&self, request: Request) {
        let result = if request.method == "sync.bash" {
            let mut ok = CommandResult::success(serde_json::Value::String(String::new()));
            ok.exec = ExecStatus {
                exit_status: Some(0),
                duration_ms: Some(0),
                ..ExecStatus::default()
            };
            ok
        } else {
            CommandResult::code(retcode::NO_SUCH_METHOD)
        }
        .with_id(request.id);
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(mut outbox) = self.outbox.lock() {
            outbox.insert(seq, AgentMessage::Result { seq, result });
        }
        self.changed.notify_waiters();
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
