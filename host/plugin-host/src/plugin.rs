//! [`LoadedPlugin`], one plugin of a loaded library (its description and its `init`), and
//! [`Instance`], one running instance of it: the safe handles through which agents call plugins.
//!
//! Every call goes through the SDK's guarded entry points, which catch panics on the plugin's
//! side; here the results become [`CallError`]s that carry the plugin's retcode.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use abi_stable::std_types::{RResult, RSlice, RStr};
use plugin_api::abi::{PluginDescriptor, PluginInstanceBox};
use plugin_api::schema::check_options;
use plugin_api::{InitContext, OptionSchema, PluginError, PluginInfo, Roles, ValueList, codes};

use crate::loader::LoadError;

/// An error returned by a plugin call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("plugin `{plugin}`: {message}")]
pub struct CallError {
    /// The plugin's name (or instance name, `http/primary`).
    pub plugin: String,
    /// The retcode (see `plugin_api::codes`).
    pub code: u32,
    /// The plugin's message.
    pub message: String,
}

impl CallError {
    /// Whether the plugin panicked (the SDK caught it).
    pub fn is_panic(&self) -> bool {
        self.code == codes::PANICKED
    }
}

type InitFn = extern "C" fn(&InitContext) -> RResult<PluginInstanceBox, PluginError>;

/// What the loader learnt about a library file, shared by the plugins it holds.
#[derive(Debug)]
pub(crate) struct Library {
    /// `SHA256:<hex>` of the file's bytes, computed once from the file checked before `dlopen`.
    pub(crate) digest: String,
    /// The plugin-api version the library was built against, from abi_stable's header.
    pub(crate) abi: String,
}

/// A plugin of a loaded library; cheap to clone (the library stays mapped for the process).
#[derive(Clone)]
pub struct LoadedPlugin {
    path: PathBuf,
    info: PluginInfo,
    init: InitFn,
    library: Arc<Library>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("path", &self.path)
            .field("info", &self.info)
            .field("digest", &self.library.digest)
            .field("abi", &self.library.abi)
            .finish()
    }
}

impl LoadedPlugin {
    pub(crate) fn new(
        path: PathBuf,
        descriptor: PluginDescriptor,
        library: Arc<Library>,
    ) -> Result<Self, LoadError> {
        let info = descriptor.info;
        let name = info.name.as_str();
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid {
            return Err(LoadError::BadDescription(format!(
                "plugin name `{name}` is empty or not made of [A-Za-z0-9_.-] ({})",
                info.description
            )));
        }
        Ok(LoadedPlugin {
            path,
            info,
            init: descriptor.init,
            library,
        })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The plugin's self-description.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The options it accepts.
    pub fn options(&self) -> &[OptionSchema] {
        &self.info.options
    }

    /// The file it was loaded from (or, after [`LoadedPlugin::installed_as`], the name that
    /// file was installed under).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `SHA256:<hex>` of the library file, computed once when it was loaded, from the bytes
    /// checked before `dlopen`.
    pub fn digest(&self) -> &str {
        &self.library.digest
    }

    /// The plugin-api version the library was built against (`2.0.0`), as abi_stable's
    /// header of the library gives it.
    pub fn abi(&self) -> &str {
        &self.library.abi
    }

    /// This plugin, listed under `path`: a library loaded from a staged file (a new name, so
    /// that a changed file is really loaded) and then renamed into place is reported under the
    /// name it was installed as.
    pub fn installed_as(&self, path: &Path) -> LoadedPlugin {
        LoadedPlugin {
            path: path.to_path_buf(),
            ..self.clone()
        }
    }

    /// Whether it implements every role in `roles`.
    pub fn has_role(&self, roles: Roles) -> bool {
        self.info.roles.contains(roles)
    }

    /// Every problem with `options` (`(key, value)`, a repeated key once per value) against
    /// the plugin's schema, each one line naming `label` (the plugin or instance name).
    pub fn check_options(&self, label: &str, options: &[(String, String)]) -> Vec<String> {
        check_options(label, &self.info.options, options)
    }

    /// Creates a new instance from `ctx`, named `label` in errors (`http/primary`).
    pub fn instantiate(&self, label: &str, ctx: &InitContext) -> Result<Instance, CallError> {
        let boxed = self.init_box(label, ctx)?;
        Ok(Instance {
            plugin: self.clone(),
            label: label.to_string(),
            inner: Mutex::new(Some(boxed)),
        })
    }

    fn init_box(&self, label: &str, ctx: &InitContext) -> Result<PluginInstanceBox, CallError> {
        (self.init)(ctx)
            .into_result()
            .map_err(|e| call_error(label, e))
    }
}

fn call_error(label: &str, e: PluginError) -> CallError {
    CallError {
        plugin: label.to_string(),
        code: e.code,
        message: e.message.into(),
    }
}

/// One instance of a plugin: created by [`LoadedPlugin::instantiate`], shut down by
/// [`Instance::shutdown`], created again by [`Instance::restart`]. Calls are serialised.
pub struct Instance {
    plugin: LoadedPlugin,
    label: String,
    inner: Mutex<Option<PluginInstanceBox>>,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("label", &self.label)
            .field("plugin", &self.plugin)
            .finish()
    }
}

impl Instance {
    /// The plugin it is an instance of.
    pub fn plugin(&self) -> &LoadedPlugin {
        &self.plugin
    }

    /// Its name in messages: the instance name (`http/primary`) or the plugin's.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn lock(&self) -> MutexGuard<'_, Option<PluginInstanceBox>> {
        // A call panics only on the plugin's side, where the SDK catches it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn call<T>(
        &self,
        f: impl FnOnce(&mut PluginInstanceBox) -> RResult<T, PluginError>,
    ) -> Result<T, CallError> {
        match self.lock().as_mut() {
            Some(instance) => f(instance)
                .into_result()
                .map_err(|e| call_error(&self.label, e)),
            None => Err(CallError {
                plugin: self.label.clone(),
                code: codes::UNSUPPORTED,
                message: format!("`{}` is stopped", self.label),
            }),
        }
    }

    /// Whether it has a live instance (not shut down).
    pub fn is_running(&self) -> bool {
        self.lock().is_some()
    }

    /// Role *info*: the JSON text answering `getinfo.<name>` with `args`.
    pub fn call_info(&self, args: &str) -> Result<String, CallError> {
        self.call(|i| i.info(RStr::from_str(args)))
            .map(String::from)
    }

    /// Role *read*: one round of values.
    pub fn read(&self) -> Result<Vec<ValueList>, CallError> {
        self.call(|i| i.read()).map(Vec::from)
    }

    /// Role *write*: one batch of values.
    pub fn write(&self, values: &[ValueList]) -> Result<(), CallError> {
        self.call(|i| i.write(RSlice::from_slice(values)))
    }

    /// Role *write*: flush buffered values.
    pub fn flush(&self) -> Result<(), CallError> {
        self.call(|i| i.flush())
    }

    /// Lets the instance clean up and drops it; later calls fail with 3025 until a restart.
    pub fn shutdown(&self) -> Result<(), CallError> {
        let taken = self.lock().take();
        match taken {
            Some(mut instance) => instance
                .shutdown()
                .into_result()
                .map_err(|e| call_error(&self.label, e)),
            None => Ok(()),
        }
    }

    /// Shuts down the current instance, if any, and creates a fresh one from `ctx`.
    pub fn restart(&self, ctx: &InitContext) -> Result<(), CallError> {
        let _ = self.shutdown();
        let fresh = self.plugin.init_box(&self.label, ctx)?;
        *self.lock() = Some(fresh);
        Ok(())
    }
}
