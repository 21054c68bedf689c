//! [`LoadedPlugin`]: the safe handle through which agents call a plugin.
//!
//! Every call goes through the SDK's entry points, which catch panics on the plugin's side;
//! here the results become [`CallError`]s that carry the plugin's retcode.

use std::path::{Path, PathBuf};

use abi_stable::std_types::{RSlice, RStr};
use plugin_api::abi::PluginModRef;
use plugin_api::{InitContext, PluginError, PluginInfo, Roles, ValueList, codes};

use crate::loader::LoadError;

/// An error returned by a plugin call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("plugin `{plugin}`: {message}")]
pub struct CallError {
    /// The plugin's name.
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

/// A plugin loaded from a file; cheap to clone (the library stays mapped for the process).
#[derive(Clone)]
pub struct LoadedPlugin {
    path: PathBuf,
    module: PluginModRef,
    info: PluginInfo,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish()
    }
}

impl LoadedPlugin {
    pub(crate) fn new(path: PathBuf, module: PluginModRef) -> Result<Self, LoadError> {
        let info = (module.describe())();
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
        Ok(LoadedPlugin { path, module, info })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The plugin's self-description.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether it implements every role in `roles`.
    pub fn has_role(&self, roles: Roles) -> bool {
        self.info.roles.contains(roles)
    }

    /// Creates (or re-creates) the plugin's instance.
    pub fn init(&self, ctx: &InitContext) -> Result<(), CallError> {
        self.check((self.module.init())(ctx).into_result())
    }

    /// Drops the plugin's instance after letting it clean up.
    pub fn shutdown(&self) -> Result<(), CallError> {
        self.check((self.module.shutdown())().into_result())
    }

    /// Role *info*: the JSON text answering `getinfo.<name>` with `args`.
    pub fn call_info(&self, args: &str) -> Result<String, CallError> {
        self.check((self.module.info())(RStr::from_str(args)).into_result())
            .map(String::from)
    }

    /// Role *read*: one round of values.
    pub fn read(&self) -> Result<Vec<ValueList>, CallError> {
        self.check((self.module.read())().into_result())
            .map(Vec::from)
    }

    /// Role *write*: one batch of values.
    pub fn write(&self, values: &[ValueList]) -> Result<(), CallError> {
        self.check((self.module.write())(RSlice::from_slice(values)).into_result())
    }

    /// Role *write*: flush buffered values.
    pub fn flush(&self) -> Result<(), CallError> {
        self.check((self.module.flush())().into_result())
    }

    fn check<T>(&self, result: Result<T, PluginError>) -> Result<T, CallError> {
        result.map_err(|e| CallError {
            plugin: self.info.name.to_string(),
            code: e.code,
            message: e.message.into(),
        })
    }
}
