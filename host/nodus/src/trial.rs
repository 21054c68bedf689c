//! Making a new instance and checking that it answers before it replaces anything
//! (`plugin_install`, `instance_configure`): its options against the schema, its `init`, and for
//! a read plugin one first read, all within a time limit. A write plugin's `init` is the whole
//! check (a write would send values somewhere for real).
//!
//! `init` and the first read run on a thread of their own: one that hangs costs that thread,
//! not the control socket's answer; when it ends after the limit, the instance it made is shut
//! down there. The first read's values are kept and dispatched once the instance is in place,
//! so the check read is a real read, not a lost one.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use plugin_api::{Roles, ValueList};
use plugin_host::{CallError, Instance, LoadedPlugin};

use crate::agent::Agent;
use crate::dispatch::now;
use crate::worker::Worker;

/// The shortest and longest time an instance gets to answer its check (`init` plus the first
/// read); within them, the instance's read timeout (default its interval).
pub const CHECK_LIMITS: (f64, f64) = (5.0, 20.0);

/// An instance to make.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The plugin, from the library being installed (or the running one, for new options).
    pub plugin: LoadedPlugin,
    /// Its name: `http/primary`, or the plugin's name.
    pub id: String,
    /// Its options, `(key, value)` as given.
    pub options: Vec<(String, String)>,
    /// The instance it replaces is stopped on purpose: the new one is checked (`init` only)
    /// and stays stopped.
    pub stopped: bool,
}

/// The first read of a new read instance, kept until it is in place.
pub struct FirstRead {
    /// What it read.
    pub lists: Vec<ValueList>,
    /// Unix time of the read.
    pub time: f64,
    /// When the read began (the next is due one interval later).
    pub started: Instant,
}

/// A checked instance, ready to take its place.
pub struct Tried {
    /// Its worker, not yet started (stopped when its predecessor was).
    pub worker: Arc<Worker>,
    /// For a read plugin that is not stopped: its first read.
    pub first_read: Option<FirstRead>,
}

impl Tried {
    /// Lets it go unused: its plugin is shut down.
    pub fn discard(self) {
        let _ = self.worker.instance().shutdown();
    }
}

/// Makes and checks every candidate, in order; at the first that fails, those made are shut
/// down and the reason comes back, one line naming the instance.
pub fn try_all(agent: &Agent, candidates: Vec<Candidate>) -> Result<Vec<Tried>, String> {
    let mut tried: Vec<Tried> = Vec::new();
    for candidate in candidates {
        match try_one(agent, candidate) {
            Ok(t) => tried.push(t),
            Err(reason) => {
                tried.into_iter().for_each(Tried::discard);
                return Err(reason);
            }
        }
    }
    Ok(tried)
}

fn try_one(agent: &Agent, candidate: Candidate) -> Result<Tried, String> {
    let Candidate {
        plugin,
        id,
        options,
        stopped,
    } = candidate;
    let wrong = plugin.check_options(&id, &options);
    if !wrong.is_empty() {
        return Err(wrong.join("; "));
    }
    let ctx = agent.context_for(&id, &options);
    let read = plugin.has_role(Roles::READ) && !stopped;
    let limit = agent.check_limit(&id);
    let (tx, rx) = mpsc::channel();
    let (thread_plugin, thread_id, thread_ctx) = (plugin.clone(), id.clone(), ctx.clone());
    std::thread::Builder::new()
        .name(format!("check-{id}").chars().take(15).collect())
        .spawn(move || {
            let outcome = check(&thread_plugin, &thread_id, &thread_ctx, read);
            // Nobody waits any more (the limit passed): the instance is not needed.
            if let Err(mpsc::SendError(Ok((instance, _)))) = tx.send(outcome) {
                let _ = instance.shutdown();
            }
        })
        .map_err(|e| format!("cannot start a thread to check instance `{id}`: {e}"))?;
    let (instance, first_read) = match rx.recv_timeout(limit) {
        Ok(outcome) => outcome.map_err(|why| format!("{why} (instance `{id}`)"))?,
        Err(_) => {
            let what = if read { "init and first read" } else { "init" };
            return Err(format!(
                "{what} gave no answer within {} s (instance `{id}`)",
                limit.as_secs_f64()
            ));
        }
    };
    let worker = agent.worker_for(instance, ctx, options);
    if stopped {
        let _ = worker.stop();
    }
    Ok(Tried { worker, first_read })
}

/// `init`, then (for `read`) one read: the instance and the read, or the reason.
fn check(
    plugin: &LoadedPlugin,
    id: &str,
    ctx: &plugin_api::InitContext,
    read: bool,
) -> Result<(Instance, Option<FirstRead>), String> {
    let instance = plugin
        .instantiate(id, ctx)
        .map_err(|e| reason("init", &e))?;
    if !read {
        return Ok((instance, None));
    }
    let started = Instant::now();
    let time = now();
    match instance.read() {
        Ok(lists) => Ok((
            instance,
            Some(FirstRead {
                lists,
                time,
                started,
            }),
        )),
        Err(e) => {
            let _ = instance.shutdown();
            Err(reason("first read", &e))
        }
    }
}

/// `init panicked: <message>` / `first read failed: <message>`, on one line.
pub fn reason(what: &str, error: &CallError) -> String {
    let message = error
        .message
        .strip_prefix("plugin panicked: ")
        .unwrap_or(&error.message)
        .replace(['\n', '\r'], " ");
    let how = if error.is_panic() {
        "panicked"
    } else {
        "failed"
    };
    format!("{what} {how}: {message}")
}

/// How long instance checks may take for a read timeout of `timeout` seconds.
pub fn limit_for(timeout: f64) -> Duration {
    Duration::from_secs_f64(timeout.clamp(CHECK_LIMITS.0, CHECK_LIMITS.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_one_line_and_say_what_failed() {
        let panic = CallError {
            plugin: "rollout".into(),
            code: plugin_api::codes::PANICKED,
            message: "plugin panicked: broken\non purpose".into(),
        };
        assert_eq!(reason("init", &panic), "init panicked: broken on purpose");
        let failed = CallError {
            plugin: "ticker".into(),
            code: plugin_api::codes::FAILED,
            message: "read 1 fails".into(),
        };
        assert_eq!(
            reason("first read", &failed),
            "first read failed: read 1 fails"
        );
    }

    #[test]
    fn the_check_limit_follows_the_read_timeout_within_bounds() {
        assert_eq!(limit_for(0.1), Duration::from_secs(5));
        assert_eq!(limit_for(12.0), Duration::from_secs(12));
        assert_eq!(limit_for(3600.0), Duration::from_secs(20));
    }
}
