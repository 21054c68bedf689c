//! The safe side of the ABI: the traits a plugin implements and the entry points that
//! [`crate::export_plugin!`] generates from them.
//!
//! Every entry point runs the plugin's code inside [`guard`] (`catch_unwind`), so a panic
//! becomes a [`PluginError`] with code [`codes::PANICKED`] and never unwinds into the host.
//! A plugin has one instance per loaded `.so`, created by `init` and dropped by `shutdown`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use abi_stable::prefix_type::WithMetadata;
use abi_stable::std_types::{RErr, ROk, RResult, RSlice, RStr, RString, RVec};

use crate::abi::{
    ConfigEntry, InitContext, PluginError, PluginInfo, PluginMod, PluginModRef, Roles,
};
use crate::codes;
use crate::values::ValueList;

/// What every plugin implements: its description, and how it starts and stops.
pub trait Plugin: Sized + Send + 'static {
    /// Unique plugin name (`getinfo.<NAME>`, collectd's plugin name).
    const NAME: &'static str;
    /// The plugin's version; usually `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;
    /// One line for listings.
    const DESCRIPTION: &'static str;
    /// Option keys that `init` accepts; the host refuses others before calling `init`.
    const CONFIG_KEYS: &'static [&'static str] = &[];

    /// Creates the instance from the options and host facts in `ctx`.
    fn init(ctx: &InitContext) -> Result<Self, PluginError>;

    /// Cleans up before the instance is dropped.
    fn shutdown(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
}

/// Role *info*: answers `getinfo.<name>` with a JSON document.
pub trait InfoPlugin: Plugin {
    /// Answers one call; `args` is the raw `-a` string (see [`crate::args`]).
    fn info(&mut self, args: &str) -> Result<serde_json::Value, PluginError>;
}

/// Role *read*: collects values like a collectd read callback.
pub trait ReadPlugin: Plugin {
    /// Collects one round of values.
    fn read(&mut self) -> Result<Vec<ValueList>, PluginError>;
}

/// Role *write*: receives values like a collectd write callback.
pub trait WritePlugin: Plugin {
    /// Writes a batch; on error the host keeps the batch and retries later.
    fn write(&mut self, values: &[ValueList]) -> Result<(), PluginError>;

    /// Pushes out anything buffered.
    fn flush(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
}

/// Where a plugin keeps its one instance; implemented by [`crate::export_plugin!`].
#[doc(hidden)]
pub trait InstanceSlot: Plugin {
    fn slot() -> &'static Mutex<Option<Self>>;
}

impl InitContext {
    /// The values of option `key` (case-insensitive, as in collectd), in order.
    pub fn options<'a, 'k>(&'a self, key: &'k str) -> impl Iterator<Item = &'a str> + use<'a, 'k> {
        self.options
            .iter()
            .filter(move |e| e.key.eq_ignore_ascii_case(key))
            .map(|e| e.value.as_str())
    }

    /// The last value of option `key`, if given.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options(key).last()
    }

    /// A host fact such as `hostname` or `proc_root`.
    pub fn host_fact(&self, key: &str) -> Option<&str> {
        self.host
            .iter()
            .rev()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    }

    /// Where `/proc` is (`proc_root`, default `/proc`).
    pub fn proc_root(&self) -> PathBuf {
        PathBuf::from(self.host_fact("proc_root").unwrap_or("/proc"))
    }

    /// Where `/sys` is (`sys_root`, default `/sys`).
    pub fn sys_root(&self) -> PathBuf {
        PathBuf::from(self.host_fact("sys_root").unwrap_or("/sys"))
    }

    /// Where `/etc` is (`etc_root`, default `/etc`).
    pub fn etc_root(&self) -> PathBuf {
        PathBuf::from(self.host_fact("etc_root").unwrap_or("/etc"))
    }

    /// A context for tests: no options, and the host facts `proc_root`, `sys_root` and
    /// `etc_root` set to `base/proc`, `base/sys` and `base/etc`.
    ///
    /// `base` is a fixture tree such as `testdata/<case>`; a subfolder it lacks is fine, the
    /// plugin just finds no files there.
    ///
    /// ```
    /// # use std::path::Path;
    /// # use plugin_api::InitContext;
    /// let ctx = InitContext::rooted_at(Path::new("testdata/basic"));
    /// assert_eq!(ctx.proc_root(), Path::new("testdata/basic/proc"));
    /// ```
    pub fn rooted_at(base: &Path) -> InitContext {
        let fact = |key: &str, dir: &str| ConfigEntry {
            key: key.into(),
            value: base.join(dir).to_string_lossy().as_ref().into(),
        };
        InitContext {
            options: RVec::new(),
            host: vec![
                fact("proc_root", "proc"),
                fact("sys_root", "sys"),
                fact("etc_root", "etc"),
            ]
            .into(),
        }
    }
}

/// Runs `f`, turning a panic into a [`PluginError`] with code [`codes::PANICKED`].
pub fn guard<T>(f: impl FnOnce() -> Result<T, PluginError>) -> RResult<T, PluginError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => ROk(value),
        Ok(Err(err)) => RErr(err),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_string());
            RErr(PluginError::new(
                codes::PANICKED,
                format!("plugin panicked: {what}"),
            ))
        }
    }
}

fn lock<T>(slot: &'static Mutex<Option<T>>) -> MutexGuard<'static, Option<T>> {
    // A panic inside a call poisons the lock; the instance is still the best we have.
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn with_instance<T: InstanceSlot, R>(
    f: impl FnOnce(&mut T) -> Result<R, PluginError>,
) -> RResult<R, PluginError> {
    guard(|| match lock(T::slot()).as_mut() {
        Some(instance) => f(instance),
        None => Err(PluginError::new(
            codes::UNSUPPORTED,
            format!("plugin `{}` is not initialised", T::NAME),
        )),
    })
}

fn describe<T: Plugin>(roles: Roles) -> PluginInfo {
    PluginInfo {
        name: T::NAME.into(),
        version: T::VERSION.into(),
        abi_version: crate::ABI_VERSION.into(),
        description: T::DESCRIPTION.into(),
        roles,
        config_keys: T::CONFIG_KEYS.iter().map(|k| RString::from(*k)).collect(),
    }
}

extern "C" fn init<T: InstanceSlot>(ctx: &InitContext) -> RResult<(), PluginError> {
    guard(|| {
        let mut slot = lock(T::slot());
        if let Some(mut old) = slot.take() {
            old.shutdown()?;
        }
        *slot = Some(T::init(ctx)?);
        Ok(())
    })
}

extern "C" fn shutdown<T: InstanceSlot>() -> RResult<(), PluginError> {
    guard(|| match lock(T::slot()).take() {
        Some(mut instance) => instance.shutdown(),
        None => Ok(()),
    })
}

/// Entry point of role *info*.
pub extern "C" fn info<T: InstanceSlot + InfoPlugin>(
    args: RStr<'_>,
) -> RResult<RString, PluginError> {
    with_instance::<T, _>(|p| {
        let doc = p.info(args.as_str())?;
        serde_json::to_string(&doc)
            .map(RString::from)
            .map_err(|e| PluginError::failed(format!("cannot encode the answer as JSON: {e}")))
    })
}

/// Entry point of role *read*.
pub extern "C" fn read<T: InstanceSlot + ReadPlugin>() -> RResult<RVec<ValueList>, PluginError> {
    with_instance::<T, _>(|p| p.read().map(RVec::from))
}

/// Entry point of role *write*.
pub extern "C" fn write<T: InstanceSlot + WritePlugin>(
    values: RSlice<'_, ValueList>,
) -> RResult<(), PluginError> {
    with_instance::<T, _>(|p| p.write(values.as_slice()))
}

/// Entry point of role *write* (flush).
pub extern "C" fn flush<T: InstanceSlot + WritePlugin>() -> RResult<(), PluginError> {
    with_instance::<T, _>(|p| p.flush())
}

fn unsupported(role: &str) -> PluginError {
    PluginError::new(
        codes::UNSUPPORTED,
        format!("this plugin has no {role} role"),
    )
}

extern "C" fn no_info(_: RStr<'_>) -> RResult<RString, PluginError> {
    RErr(unsupported("info"))
}
extern "C" fn no_read() -> RResult<RVec<ValueList>, PluginError> {
    RErr(unsupported("read"))
}
extern "C" fn no_write(_: RSlice<'_, ValueList>) -> RResult<(), PluginError> {
    RErr(unsupported("write"))
}
extern "C" fn no_flush() -> RResult<(), PluginError> {
    RErr(unsupported("write"))
}

/// A root module for `T` with no role entry points yet; [`crate::export_plugin!`] fills them in.
#[doc(hidden)]
pub fn base_module<T: InstanceSlot>(describe_fn: extern "C" fn() -> PluginInfo) -> PluginMod {
    PluginMod {
        describe: describe_fn,
        init: init::<T>,
        shutdown: shutdown::<T>,
        info: no_info,
        read: no_read,
        write: no_write,
        flush: no_flush,
    }
}

/// Describes `T` with the given roles (called from the generated `describe`).
#[doc(hidden)]
pub fn describe_as<T: Plugin>(roles: Roles) -> PluginInfo {
    match catch_unwind(|| describe::<T>(roles)) {
        Ok(info) => info,
        // An empty name makes the host refuse the plugin with a clear reason.
        Err(_) => PluginInfo {
            name: RString::new(),
            version: RString::new(),
            abi_version: crate::ABI_VERSION.into(),
            description: "describe() panicked".into(),
            roles: Roles(0),
            config_keys: RVec::new(),
        },
    }
}

/// Leaks `module` into the prefix reference the host receives.
#[doc(hidden)]
pub fn into_root_module(module: PluginMod) -> PluginModRef {
    let leaked: &'static WithMetadata<PluginMod> = Box::leak(Box::new(WithMetadata::new(module)));
    PluginModRef(leaked.static_as_prefix())
}

/// Exports `$plugin` as this `.so`'s plugin, with the listed roles (`info`, `read`, `write`).
///
/// ```ignore
/// plugin_api::export_plugin!(Kernel, roles: [info]);
/// ```
/// Call it once per `cdylib`. The roles listed must match the traits implemented
/// ([`crate::InfoPlugin`], [`crate::ReadPlugin`], [`crate::WritePlugin`]).
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty, roles: [$($role:ident),+ $(,)?]) => {
        impl $crate::sdk::InstanceSlot for $plugin {
            fn slot() -> &'static ::std::sync::Mutex<::std::option::Option<Self>> {
                static SLOT: ::std::sync::Mutex<::std::option::Option<$plugin>> =
                    ::std::sync::Mutex::new(::std::option::Option::None);
                &SLOT
            }
        }

        const _: () = {
            extern "C" fn describe() -> $crate::abi::PluginInfo {
                $crate::sdk::describe_as::<$plugin>(
                    $crate::abi::Roles(0) $(| $crate::__plugin_role!(bit $role))+,
                )
            }

            fn root_module() -> $crate::abi::PluginModRef {
                #[allow(unused_mut)]
                let mut module = $crate::sdk::base_module::<$plugin>(describe);
                $( $crate::__plugin_role!(set module, $plugin, $role); )+
                $crate::sdk::into_root_module(module)
            }

            extern "C" fn erased_root_module() -> $crate::abi_stable::library::RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(root_module)
            }

            // The symbol abi_stable's loader looks up (its ROOT_MODULE_LOADER_NAME; a test in
            // plugin-api checks the two agree).
            #[unsafe(export_name = "_1as_0lib_1header_0root_bmodule_bloader")]
            static LIB_HEADER: $crate::abi_stable::library::LibHeader = unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<$crate::abi::PluginModRef>(
                    erased_root_module,
                    $crate::abi_stable::library::CheckTypeLayout::Yes,
                )
            };
        };
    };
}

/// Internal helper of [`export_plugin!`]: the bit and the entry points of one role.
#[doc(hidden)]
#[macro_export]
macro_rules! __plugin_role {
    (bit info) => {
        $crate::abi::Roles::INFO
    };
    (bit read) => {
        $crate::abi::Roles::READ
    };
    (bit write) => {
        $crate::abi::Roles::WRITE
    };
    (set $m:ident, $plugin:ty, info) => {
        $m.info = $crate::sdk::info::<$plugin>;
    };
    (set $m:ident, $plugin:ty, read) => {
        $m.read = $crate::sdk::read::<$plugin>;
    };
    (set $m:ident, $plugin:ty, write) => {
        $m.write = $crate::sdk::write::<$plugin>;
        $m.flush = $crate::sdk::flush::<$plugin>;
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_name_matches_abi_stable() {
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }

    #[test]
    fn guard_turns_a_panic_into_an_error() {
        let result: RResult<(), PluginError> = guard(|| panic!("boom"));
        let err = result.into_result().unwrap_err();
        assert_eq!(err.code, codes::PANICKED);
        assert!(err.message.contains("boom"), "{}", err.message);
    }

    #[test]
    fn options_are_case_insensitive_and_repeatable() {
        let ctx = InitContext {
            options: vec![
                crate::ConfigEntry {
                    key: "Interface".into(),
                    value: "eth0".into(),
                },
                crate::ConfigEntry {
                    key: "interface".into(),
                    value: "lo".into(),
                },
            ]
            .into(),
            host: RVec::new(),
        };
        assert_eq!(ctx.options("INTERFACE").collect::<Vec<_>>(), ["eth0", "lo"]);
        assert_eq!(ctx.option("interface"), Some("lo"));
        assert_eq!(ctx.proc_root(), PathBuf::from("/proc"));
    }

    #[test]
    fn rooted_at_relocates_proc_sys_and_etc() {
        let ctx = InitContext::rooted_at(Path::new("/fixtures/case"));
        assert_eq!(ctx.proc_root(), PathBuf::from("/fixtures/case/proc"));
        assert_eq!(ctx.sys_root(), PathBuf::from("/fixtures/case/sys"));
        assert_eq!(ctx.etc_root(), PathBuf::from("/fixtures/case/etc"));
        assert_eq!(ctx.host.len(), 3);
        assert!(ctx.options.is_empty());
        assert_eq!(ctx.host_fact("hostname"), None);
    }
}
