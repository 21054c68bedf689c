//! From a read plugin to the write queues: stamp each value list (host, time, interval), check
//! it against types.db, and hand a copy to every write plugin's queue.
//!
//! A list that does not fit its data set is dropped and counted; the reason is logged once per
//! plugin and type, so a broken plugin does not flood the log.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use plugin_api::ValueList;
use plugin_api::types_db::TypesDb;

use crate::worker::Worker;

/// Stamps, checks and fans out value lists.
pub struct Dispatcher {
    hostname: String,
    types_db: TypesDb,
    writers: RwLock<Vec<Arc<Worker>>>,
    reported: Mutex<HashSet<(String, String)>>,
    rejected: AtomicU64,
}

/// Seconds since the Unix epoch, as a float.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

impl Dispatcher {
    /// A dispatcher for `hostname` with no writers yet.
    pub fn new(hostname: String, types_db: TypesDb) -> Self {
        Dispatcher {
            hostname,
            types_db,
            writers: RwLock::new(Vec::new()),
            reported: Mutex::new(HashSet::new()),
            rejected: AtomicU64::new(0),
        }
    }

    /// The host name stamped on values.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The types.db in use.
    pub fn types_db(&self) -> &TypesDb {
        &self.types_db
    }

    /// Adds a write plugin's worker to the fan-out.
    pub fn add_writer(&self, worker: Arc<Worker>) {
        self.writers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(worker);
    }

    /// Puts `worker` in the fan-out in place of the writer of the same name, if any, in one
    /// step: every value list dispatched goes to exactly one of the two.
    pub fn replace_writer(&self, worker: Arc<Worker>) {
        let mut writers = self.writers.write().unwrap_or_else(|e| e.into_inner());
        writers.retain(|w| w.name() != worker.name());
        writers.push(worker);
    }

    /// Removes a write plugin's worker from the fan-out.
    pub fn remove_writer(&self, name: &str) {
        self.writers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|w| w.name() != name);
    }

    /// Fills in what the plugin left empty: host, time (`time`), interval.
    pub fn stamp(&self, lists: &mut [ValueList], time: f64, interval: f64) {
        for vl in lists {
            if vl.host.is_empty() {
                vl.host = self.hostname.as_str().into();
            }
            if vl.time <= 0.0 {
                vl.time = time;
            }
            if vl.interval <= 0.0 {
                vl.interval = interval;
            }
        }
    }

    /// Keeps the lists that fit types.db; logs (once per plugin/type) and counts the others.
    pub fn check(&self, plugin: &str, lists: Vec<ValueList>) -> Vec<ValueList> {
        lists
            .into_iter()
            .filter(|vl| match self.types_db.check(vl) {
                Ok(_) => true,
                Err(mismatch) => {
                    self.rejected.fetch_add(1, Ordering::Relaxed);
                    let key = (plugin.to_string(), vl.type_.to_string());
                    if self.reported.lock().unwrap_or_else(|e| e.into_inner()).insert(key) {
                        tracing::warn!(
                            plugin,
                            identifier = %vl.identifier(),
                            "Value list does not match types.db, dropped: {mismatch}. (Logged once per plugin and type.)"
                        );
                    }
                    false
                }
            })
            .collect()
    }

    /// Stamps, checks and queues the lists of one read; returns how many were accepted.
    pub fn dispatch(
        &self,
        plugin: &str,
        mut lists: Vec<ValueList>,
        time: f64,
        interval: f64,
    ) -> usize {
        self.stamp(&mut lists, time, interval);
        let accepted = self.check(plugin, lists);
        let count = accepted.len();
        if count > 0 {
            for writer in self
                .writers
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
            {
                writer.enqueue(&accepted);
            }
        }
        count
    }

    /// Value lists dropped for not matching types.db.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}
