//! The running agent: loads the configured plugins, gives each a [`Worker`] and a thread
//! (`reader` or `writer`), and carries out the control socket's requests.
//!
//! Writers start before readers so the first values have somewhere to go; at shutdown readers
//! stop first and writers get one last chance to write their queues.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use plugin_api::{InitContext, Roles};
use plugin_host::{LoadedPlugin, Registry};
use wire::control::{PluginStatus, Request, Response};

use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::plugins;
use crate::queue::WriteQueue;
use crate::worker::{ReadSettings, Worker};
use crate::{reader, writer};

struct Running {
    worker: Arc<Worker>,
    thread: Option<JoinHandle<()>>,
}

/// The running agent.
pub struct Agent {
    config: Config,
    /// The plugin directory: `load` takes files from here only.
    plugin_dir: PathBuf,
    dispatcher: Arc<Dispatcher>,
    registry: Mutex<Registry>,
    running: Mutex<BTreeMap<String, Running>>,
}

impl Agent {
    /// Loads and starts every configured plugin. A plugin that cannot be loaded or initialised
    /// is logged and left out; the others run.
    pub fn start(config: Config, dispatcher: Arc<Dispatcher>, dir: &Path) -> Arc<Agent> {
        let names: Vec<String> = config.plugin.keys().cloned().collect();
        let loaded = plugins::load_configured(dir, &names);
        for (name, reason) in &loaded.failed {
            tracing::error!(plugin = %name, "Plugin `{name}` not started: {reason}.");
        }
        let agent = Arc::new(Agent {
            config,
            plugin_dir: dir.to_path_buf(),
            dispatcher,
            registry: Mutex::new(loaded.registry),
            running: Mutex::new(BTreeMap::new()),
        });
        let plugins: Vec<LoadedPlugin> = {
            let registry = agent.registry.lock().unwrap_or_else(|e| e.into_inner());
            registry.plugins().map(|(p, _)| p.clone()).collect()
        };
        let (writers, readers): (Vec<_>, Vec<_>) =
            plugins.into_iter().partition(|p| p.has_role(Roles::WRITE));
        for plugin in writers.into_iter().chain(readers) {
            if let Err(reason) = agent.launch(plugin.clone()) {
                tracing::error!(plugin = %plugin.name(), "Plugin `{}` not started: {reason}.", plugin.name());
            }
        }
        agent
    }

    /// The init context of `name`: its configured options and the host facts nodus passes.
    fn context(&self, name: &str) -> InitContext {
        plugins::context(&self.config, name, self.dispatcher.hostname())
    }

    /// Initialises `plugin` and starts its thread.
    fn launch(&self, plugin: LoadedPlugin) -> Result<(), String> {
        let name = plugin.name().to_string();
        let options = self.config.options_of(&name);
        plugins::check_option_keys(&plugin, &options)?;
        let ctx = self.context(&name);
        plugin
            .init(&ctx)
            .map_err(|e| format!("init failed: {}", e.message))?;
        let read = plugin.has_role(Roles::READ).then(|| ReadSettings {
            base: self.config.interval_of(&name),
            timeout: self.config.timeout_of(&name),
            max: self.config.max_read_interval,
        });
        let queue = plugin.has_role(Roles::WRITE).then(|| {
            WriteQueue::new(
                self.config.write_queue_limit_high,
                self.config.write_queue_limit_low,
            )
        });
        let is_writer = queue.is_some();
        let worker = Arc::new(Worker::new(plugin, ctx, read, queue));
        let thread = if is_writer {
            self.dispatcher.add_writer(worker.clone());
            let (w, batch) = (worker.clone(), self.config.write_batch);
            let retry_max = Duration::from_secs_f64(self.config.write_retry_max);
            spawn(&format!("write-{name}"), move || {
                writer::run(w, batch, retry_max)
            })
        } else if read.is_some() {
            let (w, d) = (worker.clone(), self.dispatcher.clone());
            spawn(&format!("read-{name}"), move || reader::run(w, d))
        } else {
            None
        };
        self.running().insert(name, Running { worker, thread });
        Ok(())
    }

    fn running(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn worker(&self, name: &str) -> Result<Arc<Worker>, Response> {
        self.running()
            .get(name)
            .map(|r| r.worker.clone())
            .ok_or_else(|| Response::error(format!("no plugin named `{name}` is loaded")))
    }

    /// Carries out one control request.
    pub fn handle(&self, request: Request) -> Response {
        let result = match request {
            Request::PluginList => return Response::ok(self.statuses()),
            Request::PluginStop { name } => self.worker(&name).and_then(|w| act(&w, Worker::stop)),
            Request::PluginStart { name } => {
                self.worker(&name).and_then(|w| act(&w, Worker::start))
            }
            Request::PluginRemove { name } => self.remove(&name),
            Request::PluginLoad { path } => self.load(Path::new(&path)),
        };
        result.unwrap_or_else(|refusal| refusal)
    }

    fn statuses(&self) -> Vec<PluginStatus> {
        self.running().values().map(|r| r.worker.status()).collect()
    }

    fn remove(&self, name: &str) -> Result<Response, Response> {
        let mut entry = self
            .running()
            .remove(name)
            .ok_or_else(|| Response::error(format!("no plugin named `{name}` is loaded")))?;
        let status = entry.worker.status();
        self.dispatcher.remove_writer(name);
        entry.worker.remove();
        if let Some(thread) = entry.thread.take() {
            // A read stuck in the plugin would block here; the thread is left to finish alone.
            join_within(thread, Duration::from_secs(5));
        }
        let mut registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = registry.remove(name) {
            tracing::warn!(plugin = %name, "removing plugin `{name}`: {e}");
        }
        tracing::info!(plugin = %name, "Plugin `{name}` removed.");
        Ok(Response::ok(vec![PluginStatus {
            state: "removed".into(),
            ..status
        }]))
    }

    fn load(&self, path: &Path) -> Result<Response, Response> {
        let path = in_plugin_dir(&self.plugin_dir, path).map_err(|why| {
            tracing::warn!("Plugin load refused: {why}");
            Response::error(why)
        })?;
        let plugin = {
            let mut registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
            registry
                .load_file(&path)
                .cloned()
                .map_err(|e| Response::error(format!("{}: {e}", path.display())))?
        };
        let name = plugin.name().to_string();
        if let Err(reason) = self.launch(plugin) {
            let mut registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
            let _ = registry.remove(&name);
            return Err(Response::error(format!(
                "plugin `{name}` from {}: {reason}",
                path.display()
            )));
        }
        tracing::info!(plugin = %name, "Plugin `{name}` loaded from {}.", path.display());
        self.worker(&name).map(|w| Response::ok(vec![w.status()]))
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
                join_within(thread, Duration::from_secs(5));
            }
            let _ = entry.worker.plugin().shutdown();
        }
    }
}

/// The file `load` may take for `asked`: a bare name (`csv`, `csv.so`, `libcsv.so`) is looked
/// up in `dir`; a path must be in `dir` (or a folder under it) once its folder is resolved
/// (`..` and symlinked folders followed). The file itself may be a symlink someone with write
/// access to `dir` put there (the plugin host then checks the file it points to). Anything else
/// is refused with the reason: whoever may use the control socket must not be able to make
/// nodus map code from anywhere.
fn in_plugin_dir(dir: &Path, asked: &Path) -> Result<PathBuf, String> {
    let text = asked.to_string_lossy();
    let refused = |why: &str| {
        format!(
            "load refused: `{text}` {why}; nodus loads plugins only from its plugin directory {} \
             (put the file there, then load it by name)",
            dir.display()
        )
    };
    let canonical_dir = dir
        .canonicalize()
        .map_err(|e| refused(&format!("cannot be checked ({e})")))?;
    if asked.components().count() == 1 && !asked.has_root() && text != ".." && text != "." {
        let stem = text.trim_end_matches(".so").replace('-', "_");
        return [
            text.to_string(),
            format!("{text}.so"),
            format!("lib{stem}.so"),
        ]
        .into_iter()
        .map(|name| canonical_dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| refused("is not a file there"));
    }
    let (Some(parent), Some(name)) = (asked.parent(), asked.file_name()) else {
        return Err(refused("is not a file"));
    };
    let folder = parent
        .canonicalize()
        .map_err(|e| refused(&format!("cannot be resolved ({e})")))?;
    if !folder.starts_with(&canonical_dir) {
        return Err(refused("is outside it"));
    }
    Ok(folder.join(name))
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

/// Joins `thread` if it ends within `limit`; otherwise leaves it running detached.
fn join_within(thread: JoinHandle<()>, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    while !thread.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if thread.is_finished() {
        let _ = thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_takes_files_from_the_plugin_dir_only() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("plugins");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for file in ["libcsv.so", "sub/x.so"] {
            std::fs::write(dir.join(file), "").unwrap();
        }
        std::fs::write(root.path().join("evil.so"), "").unwrap();
        std::os::unix::fs::symlink(root.path(), dir.join("up")).unwrap();
        let canonical = dir.canonicalize().unwrap();
        for name in ["csv", "libcsv.so"] {
            assert_eq!(
                in_plugin_dir(&dir, Path::new(name)).unwrap(),
                canonical.join("libcsv.so")
            );
        }
        assert_eq!(
            in_plugin_dir(&dir, &dir.join("sub/x.so")).unwrap(),
            canonical.join("sub/x.so")
        );
        let outside = [
            root.path().join("evil.so"),
            dir.join("../evil.so"),
            dir.join("up/evil.so"),
            PathBuf::from("/tmp/x.so"),
            PathBuf::from("evil"),
            PathBuf::from(".."),
        ];
        for asked in outside {
            let err = in_plugin_dir(&dir, &asked).unwrap_err();
            assert!(err.starts_with("load refused: `"), "{err}");
            assert!(err.contains("only from its plugin directory"), "{err}");
        }
    }
}
