//! gearman's side of the link: requests from Polaris go to the [`Agent`]'s method table, and
//! every result goes through `gearman.db`'s outbox, so a result that finishes while the link is
//! down is sent after the next connect and forgotten only when Polaris acknowledges it.

use std::sync::Arc;

use tokio::sync::Notify;
use wire::agent::{AgentMessage, Request};

use crate::agent::Agent;
use crate::link::Link;
use crate::store::Outgoing;

/// The [`Link`] of a real agent.
pub struct AgentLink(pub Arc<Agent>);

impl Link for AgentLink {
    async fn handle(&self, request: Request) {
        let result = self.0.handle(request).await;
        if let Err(e) = self.0.store().outbox_push(&Outgoing::Result(result)) {
            tracing::error!("cannot keep a result in gearman.db: {e:#}");
        }
    }

    fn pending(&self, after: u64, limit: usize) -> Vec<AgentMessage> {
        match self.0.store().outbox_pending(after, limit) {
            Ok(items) => items
                .into_iter()
                .map(|(seq, item)| match item {
                    Outgoing::Result(result) => AgentMessage::Result { seq, result },
                    Outgoing::CronRun(run) => AgentMessage::CronRun { seq, run },
                })
                .collect(),
            Err(e) => {
                tracing::error!("cannot read the outbox: {e:#}");
                Vec::new()
            }
        }
    }

    fn ack(&self, seq: u64) {
        if let Err(e) = self.0.store().outbox_ack(seq) {
            tracing::error!("cannot drop acknowledged result {seq}: {e:#}");
        }
    }

    fn outbox_changed(&self) -> &Notify {
        self.0.store().outbox_changed()
    }
}
