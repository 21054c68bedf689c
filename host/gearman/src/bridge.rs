//! gearman's side of the link: requests from Polaris go to the [`Agent`]'s method table, and
//! every result goes through `gearman.db`'s outbox, so a result that finishes while the link is
//! down is sent after the next connect and forgotten only when Polaris acknowledges it. The
//! plugin inventory is not kept: the link sends the latest the agent built.

use std::sync::Arc;

use tokio::sync::Notify;
use wire::agent::{AgentMessage, Refused, Request};

use crate::agent::Agent;
use crate::link::Link;
use crate::store::Outgoing;

/// The [`Link`] of a real agent.
pub struct AgentLink(pub Arc<Agent>);

impl AgentLink {
    /// Puts a result in the outbox, for the link to send until Polaris acknowledges it.
    fn keep(&self, result: wire::CommandResult) {
        if let Err(e) = self.0.store().outbox_push(&Outgoing::Result(result)) {
            tracing::error!("cannot keep a result in gearman.db: {e:#}");
        }
    }
}

impl Link for AgentLink {
    async fn handle(&self, request: Request) {
        let result = self.0.handle(request).await;
        self.keep(result);
    }

    fn refuse(&self, refused: Refused) {
        self.keep(self.0.refuse(refused));
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

    fn plugin_inventory(&self) -> Option<crate::plugins::inventory::Latest> {
        Some(self.0.plugin_inventory())
    }

    fn refresh_plugin_inventory(&self) {
        self.0.refresh_plugin_inventory();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wire::agent::ServerMessage;

    use super::*;
    use crate::agent::AgentOptions;
    use crate::tasks::tests::test_exe;

    /// A frame Polaris sent that this agent cannot run (a newer method, a bad parameter) is
    /// answered through the outbox like any result: the failure object with the frame's id.
    #[tokio::test(flavor = "multi_thread")]
    async fn refused_frames_are_answered_through_the_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let agent = Agent::open(AgentOptions {
            state_dir: dir.path().to_path_buf(),
            plugin_dir: dir.path().join("no-plugins"),
            exe: test_exe(dir.path()),
            kill_grace: Duration::from_millis(500),
            plugins: crate::plugins::PluginOptions {
                nodus_socket: dir.path().join("no-nodus.sock"),
                nodus_plugin_dir: dir.path().join("nodus-plugins"),
                release_key: None,
                downloads: Default::default(),
            },
        })
        .unwrap();
        let link = AgentLink(agent);
        for (id, frame, code) in [
            ("r1", r#"{"id":"r1","method":"reboot.now"}"#, 3022),
            (
                "r2",
                r#"{"id":"r2","method":"sync.bash","cmd":"ls","timout":5}"#,
                3021,
            ),
        ] {
            let ServerMessage::Refused(refused) = ServerMessage::parse(frame).unwrap() else {
                panic!("not refused: {frame}");
            };
            link.refuse(*refused);
            let sent = link.pending(0, 10);
            let answered = sent.iter().any(|message| {
                matches!(message, AgentMessage::Result { result, .. }
                    if result.retcode == code && result.id.as_deref() == Some(id))
            });
            assert!(answered, "{frame}: {sent:?}");
        }
    }
}
