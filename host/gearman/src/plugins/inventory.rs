//! The host's plugin inventory: gearman's own plugins and nodus's (asked over its socket, with
//! a timeout; a nodus that cannot be asked is the `error` of its entry). [`Inventory::build`]
//! answers `plugin.list`; [`Inventory::refresh`] has a background task build a fresh one and
//! publish it, and the link sends every published inventory to Polaris
//! (`AgentMessage::Plugins`). Refreshes asked for while one runs are folded into one more, so
//! a slow nodus never piles up requests and the link never waits for it.

use std::sync::Arc;

use plugin_host::inventory::nodus_plugins;
use tokio::sync::{Notify, watch};
use wire::plugins::{AgentPlugins, PluginAgent, PluginInventory};

use super::nodus::NodusPlugins;
use crate::info::InfoPlugins;

/// The latest inventory (none before the first is built), for whoever sends it.
pub type Latest = watch::Receiver<Option<Arc<PluginInventory>>>;

/// Builds and publishes the host's plugin inventory.
pub struct Inventory {
    own: Arc<InfoPlugins>,
    nodus: NodusPlugins,
    latest: watch::Sender<Option<Arc<PluginInventory>>>,
    /// Wakes the refresh task; a wake-up given while it works is kept for one more round.
    wake: Arc<Notify>,
}

impl Inventory {
    /// An inventory of `own` and the nodus at `nodus`, with its refresh task (call inside a
    /// tokio runtime); the first inventory is built at once.
    pub fn start(own: Arc<InfoPlugins>, nodus: NodusPlugins) -> Arc<Inventory> {
        let (latest, _) = watch::channel(None);
        let inventory = Arc::new(Inventory {
            own,
            nodus,
            latest,
            wake: Arc::new(Notify::new()),
        });
        let weak = Arc::downgrade(&inventory);
        let wake = inventory.wake.clone();
        tokio::spawn(async move {
            loop {
                wake.notified().await;
                // The agent is gone: so is the task.
                let Some(inventory) = weak.upgrade() else {
                    return;
                };
                let fresh = inventory.build().await;
                inventory.latest.send_replace(Some(Arc::new(fresh)));
            }
        });
        inventory.refresh();
        inventory
    }

    /// gearman's plugins and nodus's, now.
    pub async fn build(&self) -> PluginInventory {
        let own = self.own.clone();
        let own = async {
            tokio::task::spawn_blocking(move || own.inventory())
                .await
                .unwrap_or_else(|e| AgentPlugins {
                    agent: PluginAgent::Gearman,
                    error: Some(format!("the listing stopped: {e}")),
                    plugins: Vec::new(),
                    skipped: Vec::new(),
                    cut: 0,
                })
        };
        let nodus = async { nodus_plugins(self.nodus.list().await) };
        let (own, nodus) = tokio::join!(own, nodus);
        PluginInventory {
            agents: vec![own, nodus],
        }
    }

    /// Asks for a fresh inventory to be built and published; returns at once.
    pub fn refresh(&self) {
        self.wake.notify_one();
    }

    /// Sees every inventory published from now on (and the latest one).
    pub fn subscribe(&self) -> Latest {
        self.latest.subscribe()
    }
}
