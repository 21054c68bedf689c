//! The running agent: loads the configured plugins, gives each configured instance
//! (`http/primary`, `cpu`) a [`Worker`] and a thread (`reader` or `writer`), and carries out the
//! control socket's requests, which name instances (`install` and `configure` have files of
//! their own; both end in [`Agent::put_in_place`]).
//!
//! Writers start before readers so the first values have somewhere to go; at shutdown readers
//! stop first and writers get one last chance to write their queues. Requests that change what
//! runs (install, configure, load, remove, stop, start) are carried out one at a time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use plugin_api::{InitContext, Roles};
use plugin_host::{Instance, LoadedPlugin, Registry};
use wire::control::{PluginStatus, Request, Response};

use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::managed::Managed;
use crate::queue::WriteQueue;
use crate::skipped::Skipped;
use crate::trial::{Candidate, Tried};
use crate::worker::{ReadSettings, Worker};
use crate::{configure, install, plugins, reader, writer};

/// How long a retired or removed instance's thread gets to end before it is left to finish
/// alone.
const JOIN_LIMIT: Duration = Duration::from_secs(5);

struct Running {
    worker: Arc<Worker>,
    thread: Option<JoinHandle<()>>,
}

/// The running agent.
pub struct Agent {
    /// The configuration file with `managed.json` applied, as read at start.
    config: Config,
    /// The plugin directory: `load` and `plugin_install` take files from here only.
    plugin_dir: PathBuf,
    dispatcher: Arc<Dispatcher>,
    registry: Mutex<Registry>,
    running: Mutex<BTreeMap<String, Running>>,
    /// What the control socket changed, as saved in `managed.json` (kept current).
    managed: Mutex<Managed>,
    /// Why configured plugins, instances or offered files are not running.
    skipped: Mutex<Skipped>,
    /// Held by each request that changes what runs, so they never interleave.
    changing: Mutex<()>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Agent {
    /// Loads every configured plugin (`config` with `managed` applied) and starts each
    /// configured instance. One that cannot be loaded or initialised is logged, listed as
    /// skipped and left out; the others run.
    pub fn start(
        config: Config,
        managed: Managed,
        dispatcher: Arc<Dispatcher>,
        dir: &Path,
    ) -> Arc<Agent> {
        let loaded = plugins::load_configured(dir, &config.plugin_names());
        let mut skipped = Skipped::default();
        for failed in &loaded.failed {
            let name = &failed.plugin;
            tracing::error!(plugin = %name, "Plugin `{name}` not started: {failed}.");
            skipped.not_started(name, &failed.file, failed.reason.clone());
        }
        let agent = Arc::new(Agent {
            config,
            plugin_dir: dir.to_path_buf(),
            dispatcher,
            registry: Mutex::new(loaded.registry),
            running: Mutex::new(BTreeMap::new()),
            managed: Mutex::new(managed),
            skipped: Mutex::new(skipped),
            changing: Mutex::new(()),
        });
        let instances: Vec<(LoadedPlugin, String)> = {
            let registry = locked(&agent.registry);
            agent
                .config
                .instances()
                .into_iter()
                .filter_map(|i| Some((registry.get(i.plugin)?.clone(), i.id.to_string())))
                .collect()
        };
        let (writers, readers): (Vec<_>, Vec<_>) = instances
            .into_iter()
            .partition(|(p, _)| p.has_role(Roles::WRITE));
        for (plugin, id) in writers.into_iter().chain(readers) {
            if let Err(reason) = agent.launch(plugin.clone(), &id) {
                tracing::error!(plugin = %id, "Plugin `{id}` not started: {reason}.");
                locked(&agent.skipped).not_started(&id, plugin.path(), reason);
            }
        }
        agent
    }

    /// The configuration in force at start (file plus `managed.json`).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The plugin directory.
    pub fn plugin_dir(&self) -> &Path {
        &self.plugin_dir
    }

    /// Holds off every other request that changes what runs, for as long as it is kept.
    pub fn changing(&self) -> MutexGuard<'_, ()> {
        locked(&self.changing)
    }

    /// The registry of loaded plugins.
    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        locked(&self.registry)
    }

    /// What the control socket changed (save it with [`Agent::save_managed`]).
    pub fn managed(&self) -> MutexGuard<'_, Managed> {
        locked(&self.managed)
    }

    /// The skipped reasons.
    pub fn skipped(&self) -> MutexGuard<'_, Skipped> {
        locked(&self.skipped)
    }

    /// Saves `managed` to `managed.json` and keeps it as the state in force.
    pub fn save_managed(&self, managed: Managed) -> Result<(), String> {
        managed.save(&crate::managed::file(&self.config))?;
        *self.managed() = managed;
        Ok(())
    }

    /// The options of instance `id` when nothing runs to take them from: those set through
    /// the control socket, else the configured ones.
    pub fn options_for(&self, id: &str) -> Vec<(String, String)> {
        match self.managed().options.get(id) {
            Some(options) => crate::managed::option_pairs(options).unwrap_or_default(),
            None => self.config.options_of(id),
        }
    }

    /// The instances a library's `plugin` is made as when it is installed: those it runs as
    /// now, with the options they run with (stopped ones stay stopped); else those the
    /// configuration names; else one named after the plugin.
    pub fn candidates_for(&self, plugin: &LoadedPlugin) -> Vec<Candidate> {
        let running: Vec<Candidate> = self
            .running()
            .values()
            .filter(|r| r.worker.plugin().name() == plugin.name())
            .map(|r| Candidate {
                plugin: plugin.clone(),
                id: r.worker.name().to_string(),
                options: r.worker.options().to_vec(),
                stopped: r.worker.is_stopped(),
            })
            .collect();
        if !running.is_empty() {
            return running;
        }
        self.instance_ids(plugin)
            .into_iter()
            .map(|id| Candidate {
                plugin: plugin.clone(),
                options: self.options_for(&id),
                id,
                stopped: false,
            })
            .collect()
    }

    /// The instances `plugin` runs as: those configured, or one named after it.
    fn instance_ids(&self, plugin: &LoadedPlugin) -> Vec<String> {
        let ids: Vec<String> = self
            .config
            .instances()
            .into_iter()
            .filter(|i| i.plugin == plugin.name())
            .map(|i| i.id.to_string())
            .collect();
        if ids.is_empty() {
            vec![plugin.name().to_string()]
        } else {
            ids
        }
    }

    /// The init context of instance `id` with `options`: those and the host facts nodus passes.
    pub fn context_for(&self, id: &str, options: &[(String, String)]) -> InitContext {
        plugins::context_with(&self.config, id, self.dispatcher.hostname(), options)
    }

    /// How long the check of a new instance `id` may take (see `trial`).
    pub fn check_limit(&self, id: &str) -> Duration {
        crate::trial::limit_for(self.config.timeout_of(id))
    }

    /// A worker for a made `instance` (named by its label) with its context and options: read
    /// settings for a read plugin, a queue for a write plugin, from the configuration.
    pub fn worker_for(
        &self,
        instance: Instance,
        ctx: InitContext,
        options: Vec<(String, String)>,
    ) -> Arc<Worker> {
        let id = instance.label().to_string();
        let plugin = instance.plugin().clone();
        let read = plugin.has_role(Roles::READ).then(|| ReadSettings {
            base: self.config.interval_of(&id),
            timeout: self.config.timeout_of(&id),
            max: self.config.max_read_interval,
        });
        let queue = plugin.has_role(Roles::WRITE).then(|| {
            WriteQueue::new(
                self.config.write_queue_limit_high,
                self.config.write_queue_limit_low,
            )
        });
        Arc::new(Worker::new(instance, ctx, options, read, queue))
    }

    /// Checks the options of instance `id` of `plugin`, creates it and starts its thread.
    fn launch(&self, plugin: LoadedPlugin, id: &str) -> Result<(), String> {
        let options = self.options_for(id);
        let wrong = plugin.check_options(id, &options);
        if !wrong.is_empty() {
            return Err(wrong.join("; "));
        }
        let ctx = self.context_for(id, &options);
        let instance = plugin
            .instantiate(id, &ctx)
            .map_err(|e| crate::trial::reason("init", &e))?;
        let worker = self.worker_for(instance, ctx, options);
        if worker.plugin().has_role(Roles::WRITE) {
            self.dispatcher.add_writer(worker.clone());
        }
        let thread = self.spawn_thread(&worker, Instant::now());
        self.running()
            .insert(id.to_string(), Running { worker, thread });
        Ok(())
    }

    /// Starts the thread of `worker` (a read plugin's first read `due` then).
    fn spawn_thread(&self, worker: &Arc<Worker>, due: Instant) -> Option<JoinHandle<()>> {
        let name = worker.name().to_string();
        if worker.plugin().has_role(Roles::WRITE) {
            let (w, batch) = (worker.clone(), self.config.write_batch);
            let retry_max = Duration::from_secs_f64(self.config.write_retry_max);
            spawn(&format!("write-{name}"), move || {
                writer::run(w, batch, retry_max)
            })
        } else if worker.read_settings().is_some() {
            let (w, d) = (worker.clone(), self.dispatcher.clone());
            spawn(&format!("read-{name}"), move || reader::run(w, d, due))
        } else {
            None
        }
    }

    /// Puts a checked instance in place of the one of the same name, if any, which retires:
    /// a writer takes over the fan-out in one step and then its predecessor's queue (values
    /// queued and the unconfirmed batch, ahead of its own: handed over, not flushed, so none
    /// is lost even when the destination is down); the predecessor is flushed and shut down.
    /// A reader's check read is dispatched and its next read is due one interval after it.
    pub fn put_in_place(&self, tried: Tried) {
        let Tried { worker, first_read } = tried;
        let id = worker.name().to_string();
        let is_writer = worker.plugin().has_role(Roles::WRITE);
        let old = self.running().insert(
            id.clone(),
            Running {
                worker: worker.clone(),
                thread: None,
            },
        );
        if is_writer {
            self.dispatcher.replace_writer(worker.clone());
        } else {
            self.dispatcher.remove_writer(&id);
        }
        if let Some(mut old) = old {
            old.worker.retire();
            let ended = old.thread.take().is_none_or(|t| join_within(t, JOIN_LIMIT));
            if is_writer {
                worker.hand_over(old.worker.take_queued());
            }
            let retire = move || {
                let _ = old.worker.instance().flush();
                let _ = old.worker.instance().shutdown();
            };
            if ended {
                retire();
            } else {
                // Still inside a call: it is shut down when that call returns.
                spawn(&format!("retire-{id}"), retire);
            }
        }
        let mut due = Instant::now();
        if let Some(first) = first_read {
            let interval = worker.read_settings().map_or(0.0, |r| r.base);
            let accepted = self
                .dispatcher
                .dispatch(&id, first.lists, first.time, interval);
            worker.record(first.started, accepted, None);
            due = first.started + Duration::from_secs_f64(interval);
        }
        let thread = self.spawn_thread(&worker, due);
        if let Some(entry) = self.running().get_mut(&id) {
            entry.thread = thread;
        }
        self.skipped().started(worker.plugin().name());
    }

    fn running(&self) -> MutexGuard<'_, BTreeMap<String, Running>> {
        locked(&self.running)
    }

    /// The worker of instance `name`.
    pub fn worker(&self, name: &str) -> Result<Arc<Worker>, Response> {
        self.running()
            .get(name)
            .map(|r| r.worker.clone())
            .ok_or_else(|| Response::error(format!("no plugin named `{name}` is loaded")))
    }

    /// The names of the instances plugin `plugin` runs as, sorted.
    pub fn instances_of(&self, plugin: &str) -> Vec<String> {
        self.running()
            .values()
            .filter(|r| r.worker.plugin().name() == plugin)
            .map(|r| r.worker.name().to_string())
            .collect()
    }

    /// Carries out one control request.
    pub fn handle(&self, request: Request) -> Response {
        let result = match request {
            Request::PluginList => return self.list(),
            Request::PluginStop { name } => {
                let _one = self.changing();
                self.worker(&name).and_then(|w| act(&w, Worker::stop))
            }
            Request::PluginStart { name } => {
                let _one = self.changing();
                self.worker(&name).and_then(|w| act(&w, Worker::start))
            }
            Request::PluginRemove { name } => self.remove(&name),
            Request::PluginLoad { path } => self.load(Path::new(&path)),
            Request::PluginInstall {
                path,
                installed_as,
                version,
            } => install::handle(self, &path, &installed_as, version.as_deref()),
            Request::InstanceConfigure {
                plugin,
                instance,
                options,
            } => configure::handle(self, &plugin, instance.as_deref(), &options),
        };
        result.unwrap_or_else(|refusal| refusal)
    }

    /// Every instance's status, and what is skipped.
    fn list(&self) -> Response {
        let plugins: Vec<PluginStatus> =
            self.running().values().map(|r| r.worker.status()).collect();
        let mut loaded: Vec<PathBuf> = plugins.iter().map(|p| PathBuf::from(&p.file)).collect();
        loaded.extend(self.registry().plugins().map(|p| p.path().to_path_buf()));
        Response {
            skipped: self.skipped().list(&self.plugin_dir, &loaded),
            ..Response::ok(plugins)
        }
    }

    fn remove(&self, name: &str) -> Result<Response, Response> {
        let _one = self.changing();
        let mut entry = self
            .running()
            .remove(name)
            .ok_or_else(|| Response::error(format!("no plugin named `{name}` is loaded")))?;
        let status = entry.worker.status();
        self.dispatcher.remove_writer(name);
        entry.worker.remove();
        if let Some(thread) = entry.thread.take() {
            // A read stuck in the plugin would block here; the thread is left to finish alone.
            join_within(thread, JOIN_LIMIT);
        }
        let _ = entry.worker.instance().shutdown();
        let plugin = entry.worker.plugin().name().to_string();
        if self.instances_of(&plugin).is_empty() {
            // Its last instance: `load` may bring the plugin back from a file.
            self.registry().remove(&plugin);
            self.forget_installed(&plugin);
        }
        tracing::info!(plugin = %name, "Plugin `{name}` removed.");
        Ok(Response::ok(vec![PluginStatus {
            state: "removed".into(),
            ..status
        }]))
    }

    /// A plugin installed through the socket lost its last instance: it is no longer loaded
    /// at start, and the options set for its instances are forgotten.
    fn forget_installed(&self, plugin: &str) {
        let mut managed = self.managed().clone();
        if !managed.plugins.remove(plugin) {
            return;
        }
        let prefix = format!("{plugin}/");
        managed
            .options
            .retain(|id, _| id != plugin && !id.starts_with(&prefix));
        if let Err(e) = self.save_managed(managed) {
            tracing::error!(plugin = %plugin, "Plugin `{plugin}` removed, but {e}.");
        }
    }

    fn load(&self, path: &Path) -> Result<Response, Response> {
        let _one = self.changing();
        let path = crate::paths::in_plugin_dir(&self.plugin_dir, path).map_err(|why| {
            tracing::warn!("Plugin load refused: {why}");
            Response::error(why)
        })?;
        let plugins = self.registry().load_file(&path).map_err(|e| {
            self.skipped().refused(&path, e.to_string());
            Response::error(format!("{}: {e}", path.display()))
        })?;
        let mut started = Vec::new();
        let mut refused = Vec::new();
        for plugin in plugins {
            for id in self.instance_ids(&plugin) {
                match self.launch(plugin.clone(), &id) {
                    Ok(()) => {
                        tracing::info!(plugin = %id, "Plugin `{id}` loaded from {}.", path.display());
                        self.skipped().started(plugin.name());
                        started.extend(self.worker(&id).ok().map(|w| w.status()));
                    }
                    Err(reason) => {
                        self.skipped()
                            .refused(&path, format!("instance `{id}`: {reason}"));
                        refused.push(format!("plugin `{id}` from {}: {reason}", path.display()))
                    }
                }
            }
            if self.instances_of(plugin.name()).is_empty() {
                self.registry().remove(plugin.name());
            }
        }
        if refused.is_empty() {
            Ok(Response::ok(started))
        } else {
            Err(Response::error(refused.join("; ")))
        }
    }

    /// Stops every plugin: readers first, then writers (which write what they still hold).
    pub fn shutdown(&self) {
        let entries: Vec<(String, Running)> =
            std::mem::take(&mut *self.running()).into_iter().collect();
        let (writers, readers): (Vec<_>, Vec<_>) = entries
            .into_iter()
            .partition(|(_, r)| r.worker.plugin().has_role(Roles::WRITE));
        for (_, mut entry) in readers.into_iter().chain(writers) {
            entry.worker.remove();
            if let Some(thread) = entry.thread.take() {
                join_within(thread, JOIN_LIMIT);
            }
            let _ = entry.worker.instance().shutdown();
        }
    }
}

fn act(worker: &Worker, f: impl Fn(&Worker) -> Result<(), String>) -> Result<Response, Response> {
    f(worker).map_err(|e| Response::error(format!("plugin `{}`: {e}", worker.name())))?;
    Ok(Response::ok(vec![worker.status()]))
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Option<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.chars().take(15).collect())
        .spawn(f)
        .map_err(|e| tracing::error!("cannot start thread {name}: {e}"))
        .ok()
}

/// Joins `thread` if it ends within `limit` (true); otherwise leaves it running detached.
fn join_within(thread: JoinHandle<()>, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while !thread.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let ended = thread.is_finished();
    if ended {
        let _ = thread.join();
    }
    ended
}
