//! [`Worker`]: one plugin instance in the running agent, shared by its thread (see `reader` and
//! `writer`) and the control socket. It holds the plugin's run state, counters, the options it
//! runs with and, for write plugins, the queue; a condition variable wakes the thread on new
//! values, stop, start, removal or retirement (a successor took over).

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use plugin_api::{InitContext, Roles, ValueList};
use plugin_host::{Instance, LoadedPlugin};
use serde_json::{Map, Value};
use wire::control::OptionDoc;
use wire::control::{PluginStatus, QueueStatus};

use crate::queue::WriteQueue;

/// Whether the plugin is being called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// Initialised and called on schedule.
    Running,
    /// Shut down by `nodusctl plugin stop`; values for a stopped writer keep queueing.
    Stopped,
    /// Taken out of the agent (`nodusctl plugin remove` or agent shutdown): the thread ends,
    /// a writer's after one last attempt to write its queue.
    Removed,
    /// Replaced by a new instance of the same name (a new version, new options): the thread
    /// ends at once; a writer's queue goes to the successor, unwritten.
    Retired,
}

/// Read settings of a read plugin.
#[derive(Debug, Clone, Copy)]
pub struct ReadSettings {
    /// Configured interval, seconds.
    pub base: f64,
    /// A read taking longer than this is penalised, seconds.
    pub timeout: f64,
    /// Longest penalised interval, seconds.
    pub max: f64,
}

/// Counters and state behind the worker's lock.
#[derive(Debug)]
pub struct State {
    /// Run state.
    pub run: Run,
    /// Interval in force (read plugins).
    pub interval: f64,
    /// Unix time of the last completed call.
    pub last_call: Option<f64>,
    /// Duration of the last call, ms.
    pub last_call_ms: Option<f64>,
    /// Calls made.
    pub calls: u64,
    /// Calls that failed, timed out or panicked.
    pub errors: u64,
    /// Value lists read or written.
    pub values: u64,
    /// The last error message.
    pub last_error: Option<String>,
    /// Whether the last call failed (or timed out).
    pub last_failed: bool,
    /// The queue (write plugins).
    pub queue: Option<WriteQueue>,
}

/// One plugin instance in the running agent.
pub struct Worker {
    instance: Instance,
    ctx: InitContext,
    /// The options it was made with, `(key, value)` as given (a repeated key once per value).
    options: Vec<(String, String)>,
    read: Option<ReadSettings>,
    state: Mutex<State>,
    wake: Condvar,
}

impl Worker {
    /// A running worker for a created instance made with `options` (in `ctx`). `queue` is
    /// given for write plugins.
    pub fn new(
        instance: Instance,
        ctx: InitContext,
        options: Vec<(String, String)>,
        read: Option<ReadSettings>,
        queue: Option<WriteQueue>,
    ) -> Self {
        let interval = read.map(|r| r.base).unwrap_or(0.0);
        Worker {
            instance,
            ctx,
            options,
            read,
            state: Mutex::new(State {
                run: Run::Running,
                interval,
                last_call: None,
                last_call_ms: None,
                calls: 0,
                errors: 0,
                values: 0,
                last_error: None,
                last_failed: false,
                queue,
            }),
            wake: Condvar::new(),
        }
    }

    /// The instance's name (`http/primary`, or the plugin's name).
    pub fn name(&self) -> &str {
        self.instance.label()
    }

    /// The plugin it runs.
    pub fn plugin(&self) -> &LoadedPlugin {
        self.instance.plugin()
    }

    /// The instance, to call.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// The options it runs with, as given.
    pub fn options(&self) -> &[(String, String)] {
        &self.options
    }

    /// Whether it is stopped on purpose.
    pub fn is_stopped(&self) -> bool {
        self.lock().run == Run::Stopped
    }

    /// Read settings, for read plugins.
    pub fn read_settings(&self) -> Option<ReadSettings> {
        self.read
    }

    /// Locks the state.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits on the worker's condition variable for at most `timeout`.
    pub fn wait<'a>(
        &self,
        guard: MutexGuard<'a, State>,
        timeout: Duration,
    ) -> MutexGuard<'a, State> {
        match self.wake.wait_timeout(guard, timeout) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }

    /// Wakes the worker's thread.
    pub fn notify(&self) {
        self.wake.notify_all();
    }

    /// Queues values for a write plugin (ignored for others) and wakes its thread.
    pub fn enqueue(&self, values: &[ValueList]) {
        let mut state = self.lock();
        if matches!(state.run, Run::Removed | Run::Retired) {
            return;
        }
        if let Some(queue) = state.queue.as_mut() {
            queue.push(values.iter().cloned());
            drop(state);
            self.notify();
        }
    }

    /// Pauses the plugin: marks it stopped and calls its `shutdown`.
    pub fn stop(&self) -> Result<(), String> {
        {
            let mut state = self.lock();
            if state.run != Run::Running {
                return Ok(());
            }
            state.run = Run::Stopped;
        }
        self.notify();
        self.instance.shutdown().map_err(|e| e.to_string())
    }

    /// Resumes a stopped plugin: `init` again with its context, then running.
    pub fn start(&self) -> Result<(), String> {
        if self.lock().run != Run::Stopped {
            return Ok(());
        }
        self.instance
            .restart(&self.ctx)
            .map_err(|e| e.to_string())?;
        let mut state = self.lock();
        state.run = Run::Running;
        state.last_failed = false;
        if let Some(read) = self.read {
            state.interval = read.base;
        }
        drop(state);
        self.notify();
        Ok(())
    }

    /// Ends the worker's thread; the caller shuts the plugin down after joining it.
    pub fn remove(&self) {
        self.lock().run = Run::Removed;
        self.notify();
    }

    /// Ends the worker's thread because a successor takes over: no last write; the caller
    /// joins the thread, takes the queue ([`Worker::take_queued`]) and shuts the plugin down.
    pub fn retire(&self) {
        self.lock().run = Run::Retired;
        self.notify();
    }

    /// Everything its write queue holds (the unconfirmed batch in flight included), taken out.
    pub fn take_queued(&self) -> Vec<ValueList> {
        self.lock()
            .queue
            .as_mut()
            .map(WriteQueue::take_all)
            .unwrap_or_default()
    }

    /// Puts a predecessor's queued values before its own (see [`WriteQueue::prepend`]).
    pub fn hand_over(&self, older: Vec<ValueList>) {
        if older.is_empty() {
            return;
        }
        if let Some(queue) = self.lock().queue.as_mut() {
            queue.prepend(older);
        }
        self.notify();
    }

    /// Records the outcome of one call.
    pub fn record(&self, started: Instant, values: usize, error: Option<String>) {
        let mut state = self.lock();
        state.calls += 1;
        state.values += values as u64;
        state.last_call = Some(crate::dispatch::now());
        state.last_call_ms = Some(started.elapsed().as_secs_f64() * 1e3);
        state.last_failed = error.is_some();
        if let Some(error) = error {
            state.errors += 1;
            state.last_error = Some(error);
        }
    }

    /// The options it runs with, by name, as listings show them: a secret option's value
    /// (plugin-api's `secret` type) as `"***"`, a repeated option as an array.
    pub fn configured(&self) -> Map<String, Value> {
        let schema = self.instance.plugin().options();
        let mut shown = Map::new();
        for (key, value) in &self.options {
            let spec = schema.iter().find(|s| s.name.eq_ignore_ascii_case(key));
            let text = Value::from(spec.map_or(value.as_str(), |s| s.shown(value)));
            let repeated = spec.is_some_and(|s| s.repeated);
            match shown.get_mut(key) {
                Some(Value::Array(values)) => values.push(text),
                Some(single) => *single = Value::Array(vec![single.take(), text]),
                None if repeated => {
                    shown.insert(key.clone(), Value::Array(vec![text]));
                }
                None => {
                    shown.insert(key.clone(), text);
                }
            }
        }
        shown
    }

    /// What `nodusctl plugin list` shows of this instance.
    pub fn status(&self) -> PluginStatus {
        let plugin = self.instance.plugin();
        let info = plugin.info();
        let state = self.lock();
        PluginStatus {
            name: self.name().to_string(),
            version: info.version.to_string(),
            roles: info.roles.names().into_iter().map(str::to_string).collect(),
            state: shown_state(&state, self.read).to_string(),
            file: plugin.path().display().to_string(),
            abi: plugin.abi().to_string(),
            digest: plugin.digest().to_string(),
            configured: self.configured(),
            plugin: plugin.name().to_string(),
            options: plugin.options().iter().map(option_doc).collect(),
            base_interval: self.read.map(|r| r.base),
            interval: self.read.map(|_| state.interval),
            last_read: state.last_call.filter(|_| plugin.has_role(Roles::READ)),
            last_read_ms: state.last_call_ms.filter(|_| plugin.has_role(Roles::READ)),
            calls: state.calls,
            errors: state.errors,
            values: state.values,
            queue: state.queue.as_ref().map(|q| {
                let (high, low) = q.limits();
                QueueStatus {
                    len: q.len(),
                    dropped: q.dropped(),
                    high,
                    low,
                }
            }),
            last_error: state.last_error.clone(),
        }
    }
}

/// The state listings show: `stopped` (on purpose), `penalised` while a read plugin's interval
/// is stretched (nodus doubles it after every failed or too slow read, up to
/// `max_read_interval`, and restores it after a good one), `failing` when the last call failed
/// without a stretched interval (a writer retrying, or a reader whose cap leaves no room),
/// else `running`.
pub fn shown_state(state: &State, read: Option<ReadSettings>) -> &'static str {
    match state.run {
        Run::Stopped => "stopped",
        Run::Removed | Run::Retired => "removed",
        Run::Running if read.is_some_and(|r| state.interval > r.base) => "penalised",
        Run::Running if state.last_failed => "failing",
        Run::Running => "running",
    }
}

/// One option of the plugin's schema, as `nodusctl plugin list --json` shows it.
fn option_doc(schema: &plugin_api::OptionSchema) -> OptionDoc {
    OptionDoc {
        name: schema.name.to_string(),
        kind: schema.kind.name().to_string(),
        required: schema.required,
        repeated: schema.repeated,
        default: schema.default.as_ref().map(|d| d.to_string()).into_option(),
        choices: schema.choices.iter().map(|c| c.to_string()).collect(),
        doc: schema.doc.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(run: Run, interval: f64, last_failed: bool) -> State {
        State {
            run,
            interval,
            last_call: None,
            last_call_ms: None,
            calls: 1,
            errors: u64::from(last_failed),
            values: 0,
            last_error: None,
            last_failed,
            queue: None,
        }
    }

    #[test]
    fn listed_state_says_stopped_penalised_failing_or_running() {
        let read = Some(ReadSettings {
            base: 10.0,
            timeout: 10.0,
            max: 60.0,
        });
        assert_eq!(
            shown_state(&state(Run::Running, 10.0, false), read),
            "running"
        );
        // A failed read doubles the interval at once: penalised while it is stretched.
        assert_eq!(
            shown_state(&state(Run::Running, 20.0, true), read),
            "penalised"
        );
        // A reader whose cap leaves no room, or a writer retrying: failing.
        assert_eq!(
            shown_state(&state(Run::Running, 10.0, true), read),
            "failing"
        );
        assert_eq!(
            shown_state(&state(Run::Running, 0.0, true), None),
            "failing"
        );
        assert_eq!(
            shown_state(&state(Run::Stopped, 20.0, true), read),
            "stopped"
        );
        assert_eq!(
            shown_state(&state(Run::Retired, 10.0, false), read),
            "removed"
        );
    }
}
