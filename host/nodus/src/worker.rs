//! [`Worker`]: one plugin in the running agent, shared by its thread (see `reader` and
//! `writer`) and the control socket. It holds the plugin's run state, counters and, for write
//! plugins, the queue; a condition variable wakes the thread on new values, stop, start or
//! removal.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use plugin_api::{InitContext, Roles, ValueList};
use plugin_host::LoadedPlugin;
use wire::control::{PluginStatus, QueueStatus};

use crate::queue::WriteQueue;

/// Whether the plugin is being called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// Initialised and called on schedule.
    Running,
    /// Shut down by `nodusctl plugin stop`; values for a stopped writer keep queueing.
    Stopped,
    /// Taken out of the agent (`nodusctl plugin remove` or agent shutdown): the thread ends.
    Removed,
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
    /// The queue (write plugins).
    pub queue: Option<WriteQueue>,
}

/// One plugin in the running agent.
pub struct Worker {
    plugin: LoadedPlugin,
    ctx: InitContext,
    read: Option<ReadSettings>,
    state: Mutex<State>,
    wake: Condvar,
}

impl Worker {
    /// A running worker for an initialised plugin. `queue` is given for write plugins.
    pub fn new(
        plugin: LoadedPlugin,
        ctx: InitContext,
        read: Option<ReadSettings>,
        queue: Option<WriteQueue>,
    ) -> Self {
        let interval = read.map(|r| r.base).unwrap_or(0.0);
        Worker {
            plugin,
            ctx,
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
                queue,
            }),
            wake: Condvar::new(),
        }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        self.plugin.name()
    }

    /// The plugin.
    pub fn plugin(&self) -> &LoadedPlugin {
        &self.plugin
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
        if state.run == Run::Removed {
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
        self.plugin.shutdown().map_err(|e| e.to_string())
    }

    /// Resumes a stopped plugin: `init` again with its context, then running.
    pub fn start(&self) -> Result<(), String> {
        if self.lock().run != Run::Stopped {
            return Ok(());
        }
        self.plugin.init(&self.ctx).map_err(|e| e.to_string())?;
        let mut state = self.lock();
        state.run = Run::Running;
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

    /// Records the outcome of one call.
    pub fn record(&self, started: Instant, values: usize, error: Option<String>) {
        let mut state = self.lock();
        state.calls += 1;
        state.values += values as u64;
        state.last_call = Some(crate::dispatch::now());
        state.last_call_ms = Some(started.elapsed().as_secs_f64() * 1e3);
        if let Some(error) = error {
            state.errors += 1;
            state.last_error = Some(error);
        }
    }

    /// What `nodusctl plugin list` shows of this plugin.
    pub fn status(&self) -> PluginStatus {
        let info = self.plugin.info();
        let state = self.lock();
        PluginStatus {
            name: self.name().to_string(),
            version: info.version.to_string(),
            roles: info.roles.names().into_iter().map(str::to_string).collect(),
            state: match state.run {
                Run::Running => "running",
                Run::Stopped => "stopped",
                Run::Removed => "removed",
            }
            .to_string(),
            file: self.plugin.path().display().to_string(),
            base_interval: self.read.map(|r| r.base),
            interval: self.read.map(|_| state.interval),
            last_read: state
                .last_call
                .filter(|_| self.plugin.has_role(Roles::READ)),
            last_read_ms: state
                .last_call_ms
                .filter(|_| self.plugin.has_role(Roles::READ)),
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
