//! Which entries are due, and the one tokio task that sleeps until the earliest of them.
//!
//! The bookkeeping ([`take_due`], [`earliest`]) is pure so it is tested without clocks or
//! processes; [`run`] only sleeps, wakes and hands due entries to [`super::Cron::fire`].

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::{Cron, Entry};

/// The longest single sleep: a wall-clock step (NTP, an operator's `date -s`) is noticed
/// within this time, since tokio sleeps on the monotonic clock.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// One fire: the entry and the scheduled time (Unix seconds) it fires for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fire {
    pub(crate) cron_id: String,
    pub(crate) scheduled: i64,
}

/// Takes every entry whose next fire time is at or before `now`: records that time as its
/// `last_fire` and moves `next` past `now`. An entry late by several fire times (the agent was
/// busy or the machine slept) fires once, for the earliest of them, like cron.
pub(crate) fn take_due(entries: &mut BTreeMap<String, Entry>, now: DateTime<Utc>) -> Vec<Fire> {
    let mut due = Vec::new();
    for entry in entries.values_mut() {
        let Some(next) = entry.next.filter(|next| *next <= now) else {
            continue;
        };
        due.push(Fire {
            cron_id: entry.id.clone(),
            scheduled: next.timestamp(),
        });
        entry.last_fire = Some(next.timestamp());
        entry.next = entry.schedule.next_after(now.max(next));
    }
    due
}

/// The earliest next fire time of all entries.
pub(crate) fn earliest(entries: &BTreeMap<String, Entry>) -> Option<DateTime<Utc>> {
    entries.values().filter_map(|entry| entry.next).min()
}

/// The timer loop: fire what is due, sleep until the earliest next fire time or a wake-up
/// (`cron.add`, `cron.remove`), repeat. Ends once the [`Cron`] is dropped.
pub(crate) async fn run(cron: Weak<Cron>, wake: Arc<Notify>) {
    loop {
        let sleep = {
            let Some(cron) = cron.upgrade() else { return };
            let now = Utc::now();
            let next = cron.fire_due(now);
            match next {
                Some(next) => (next - now)
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .min(MAX_SLEEP),
                None => MAX_SLEEP,
            }
        };
        // Fire times are whole seconds; waking a little late keeps `now >= next`.
        let sleep = sleep + Duration::from_millis(5);
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            () = wake.notified() => {}
        }
    }
}
