//! What [`crate::export_plugins!`] generates from the safe traits: a descriptor per plugin, an
//! `init` that builds an [`Instance`] (the [`PluginInstance`] trait object the host holds), and
//! the root module listing them.
//!
//! Every function the host can reach runs the plugin's code inside [`guard`]: `init`, each
//! instance method, `shutdown`, and dropping an instance.

use std::panic::{AssertUnwindSafe, catch_unwind};

use abi_stable::prefix_type::WithMetadata;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RSlice, RStr, RString, RVec};

use crate::abi::{
    InitContext, PluginDescriptor, PluginError, PluginInfo, PluginInstance, PluginInstance_TO,
    PluginInstanceBox, PluginLib, PluginLibRef, Roles,
};
use crate::codes;
use crate::sdk::{Plugin, guard};
use crate::values::ValueList;

/// [`crate::InfoPlugin::info`] of `T`.
pub type InfoFn<T> = fn(&mut T, &str) -> Result<serde_json::Value, PluginError>;
/// [`crate::ReadPlugin::read`] of `T`.
pub type ReadFn<T> = fn(&mut T) -> Result<Vec<ValueList>, PluginError>;
/// [`crate::WritePlugin::write`] of `T`.
pub type WriteFn<T> = fn(&mut T, &[ValueList]) -> Result<(), PluginError>;
/// [`crate::WritePlugin::flush`] of `T`.
pub type FlushFn<T> = fn(&mut T) -> Result<(), PluginError>;

/// The role functions of a plugin type; a role it lacks stays `None`.
#[doc(hidden)]
pub struct RoleFns<T> {
    pub info: Option<InfoFn<T>>,
    pub read: Option<ReadFn<T>>,
    pub write: Option<WriteFn<T>>,
    pub flush: Option<FlushFn<T>>,
}

impl<T> RoleFns<T> {
    /// No role yet; the macro fills in the listed ones.
    pub fn none() -> Self {
        RoleFns {
            info: None,
            read: None,
            write: None,
            flush: None,
        }
    }
}

/// A plugin type exported by [`crate::export_plugins!`]: its roles and their functions.
#[doc(hidden)]
pub trait Exported: Plugin {
    /// The roles listed in the macro.
    const ROLES: Roles;
    /// Their functions.
    fn role_fns() -> RoleFns<Self>;
}

/// One instance of plugin `T` behind the ABI; `None` once shut down.
pub struct Instance<T: Exported> {
    plugin: Option<T>,
    fns: RoleFns<T>,
}

fn unsupported<T: Plugin>(role: &str) -> PluginError {
    PluginError::new(
        codes::UNSUPPORTED,
        format!("plugin `{}` has no {role} role", T::NAME),
    )
}

impl<T: Exported> Instance<T> {
    fn call<R>(
        &mut self,
        f: impl FnOnce(&mut T) -> Result<R, PluginError>,
    ) -> RResult<R, PluginError> {
        guard(|| match self.plugin.as_mut() {
            Some(plugin) => f(plugin),
            None => Err(PluginError::new(
                codes::UNSUPPORTED,
                format!("this instance of plugin `{}` is shut down", T::NAME),
            )),
        })
    }
}

impl<T: Exported> PluginInstance for Instance<T> {
    fn info(&mut self, args: RStr<'_>) -> RResult<RString, PluginError> {
        let info = self.fns.info;
        self.call(|p| {
            let info = info.ok_or_else(|| unsupported::<T>("info"))?;
            let doc = info(p, args.as_str())?;
            serde_json::to_string(&doc)
                .map(RString::from)
                .map_err(|e| PluginError::failed(format!("cannot encode the answer as JSON: {e}")))
        })
    }

    fn read(&mut self) -> RResult<RVec<ValueList>, PluginError> {
        let read = self.fns.read;
        self.call(|p| read.ok_or_else(|| unsupported::<T>("read"))?(p).map(RVec::from))
    }

    fn write(&mut self, values: RSlice<'_, ValueList>) -> RResult<(), PluginError> {
        let write = self.fns.write;
        self.call(|p| write.ok_or_else(|| unsupported::<T>("write"))?(p, values.as_slice()))
    }

    fn flush(&mut self) -> RResult<(), PluginError> {
        let flush = self.fns.flush;
        self.call(|p| flush.ok_or_else(|| unsupported::<T>("write"))?(p))
    }

    fn shutdown(&mut self) -> RResult<(), PluginError> {
        let taken = self.plugin.take();
        guard(|| match taken {
            Some(mut plugin) => plugin.shutdown(),
            None => Ok(()),
        })
    }
}

impl<T: Exported> Drop for Instance<T> {
    /// An instance dropped without `shutdown` (the host always calls it) is dropped here, with
    /// a panic in the plugin's `Drop` caught rather than aborting the host.
    fn drop(&mut self) {
        if let Some(plugin) = self.plugin.take() {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(plugin)));
        }
    }
}

/// `init` of plugin `T`: adds the schema's defaults for options not given, then builds an
/// instance.
extern "C" fn init<T: Exported>(ctx: &InitContext) -> RResult<PluginInstanceBox, PluginError> {
    guard(|| {
        let mut ctx = ctx.clone();
        for spec in T::OPTIONS {
            if let Some(default) = spec.default
                && ctx.option(spec.name).is_none()
            {
                ctx = ctx.with_options(&[(spec.name, default)]);
            }
        }
        let plugin = T::init(&ctx)?;
        let instance = Instance {
            plugin: Some(plugin),
            fns: T::role_fns(),
        };
        Ok(PluginInstance_TO::from_value(instance, TD_Opaque))
    })
}

/// What `T` says about itself, with its roles.
fn describe<T: Plugin>(roles: Roles) -> PluginInfo {
    PluginInfo {
        name: T::NAME.into(),
        version: T::VERSION.into(),
        abi_version: crate::ABI_VERSION.into(),
        description: T::DESCRIPTION.into(),
        roles,
        options: T::OPTIONS.iter().map(|o| o.to_schema()).collect(),
    }
}

/// The descriptor of `T` (called from the generated root module).
#[doc(hidden)]
pub fn descriptor<T: Exported>() -> PluginDescriptor {
    let info = catch_unwind(|| describe::<T>(T::ROLES)).unwrap_or_else(|_| PluginInfo {
        // An empty name makes the host refuse the plugin with a clear reason.
        name: RString::new(),
        version: RString::new(),
        abi_version: crate::ABI_VERSION.into(),
        description: "describe() panicked".into(),
        roles: Roles(0),
        options: RVec::new(),
    });
    PluginDescriptor {
        info,
        init: init::<T>,
    }
}

/// Leaks the root module listing `plugins` into the prefix reference the host receives.
#[doc(hidden)]
pub fn into_root_module(plugins: extern "C" fn() -> RVec<PluginDescriptor>) -> PluginLibRef {
    let leaked: &'static WithMetadata<PluginLib> =
        Box::leak(Box::new(WithMetadata::new(PluginLib { plugins })));
    PluginLibRef(leaked.static_as_prefix())
}

/// Exports the listed plugin types from this `cdylib`, each with its roles (`info`, `read`,
/// `write`). A library may export several plugins; call the macro once per `cdylib`.
///
/// ```ignore
/// plugin_api::export_plugins!(Hello: [info], Ticker: [read]);
/// ```
/// The roles listed must match the traits implemented ([`crate::InfoPlugin`],
/// [`crate::ReadPlugin`], [`crate::WritePlugin`]).
#[macro_export]
macro_rules! export_plugins {
    ($($plugin:ty : [$($role:ident),+ $(,)?]),+ $(,)?) => {
        $(
            impl $crate::export::Exported for $plugin {
                const ROLES: $crate::abi::Roles =
                    $crate::abi::Roles(0 $(| $crate::__plugin_role!(bit $role).0)+);
                fn role_fns() -> $crate::export::RoleFns<Self> {
                    #[allow(unused_mut)]
                    let mut fns = $crate::export::RoleFns::none();
                    $( $crate::__plugin_role!(set fns, $plugin, $role); )+
                    fns
                }
            }
        )+

        const _: () = {
            extern "C" fn plugins() -> $crate::abi_stable::std_types::RVec<$crate::abi::PluginDescriptor> {
                let mut list = $crate::abi_stable::std_types::RVec::new();
                $( list.push($crate::export::descriptor::<$plugin>()); )+
                list
            }

            fn root_module() -> $crate::abi::PluginLibRef {
                $crate::export::into_root_module(plugins)
            }

            extern "C" fn erased_root_module() -> $crate::abi_stable::library::RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(root_module)
            }

            // The symbol abi_stable's loader looks up (its ROOT_MODULE_LOADER_NAME; a test in
            // plugin-api checks the two agree).
            #[unsafe(export_name = "_1as_0lib_1header_0root_bmodule_bloader")]
            static LIB_HEADER: $crate::abi_stable::library::LibHeader = unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<$crate::abi::PluginLibRef>(
                    erased_root_module,
                    $crate::abi_stable::library::CheckTypeLayout::Yes,
                )
            };
        };
    };
}

/// Exports one plugin: `export_plugin!(Kernel, roles: [info])` is
/// `export_plugins!(Kernel: [info])`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty, roles: [$($role:ident),+ $(,)?]) => {
        $crate::export_plugins!($plugin: [$($role),+]);
    };
}

/// Internal helper of [`export_plugins!`]: the bit and the functions of one role.
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
    (set $f:ident, $plugin:ty, info) => {
        $f.info = Some(<$plugin as $crate::InfoPlugin>::info);
    };
    (set $f:ident, $plugin:ty, read) => {
        $f.read = Some(<$plugin as $crate::ReadPlugin>::read);
    };
    (set $f:ident, $plugin:ty, write) => {
        $f.write = Some(<$plugin as $crate::WritePlugin>::write);
        $f.flush = Some(<$plugin as $crate::WritePlugin>::flush);
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::OptionSpec;
    use crate::{InfoPlugin, ReadPlugin, Value};

    #[test]
    fn export_name_matches_abi_stable() {
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }

    /// A plugin whose instances remember their own option, and panic on request.
    struct Echo {
        word: String,
    }

    impl Plugin for Echo {
        const NAME: &'static str = "echo";
        const VERSION: &'static str = "0.1.0";
        const DESCRIPTION: &'static str = "says its Word";
        const OPTIONS: &'static [OptionSpec] =
            &[OptionSpec::string("Word", "what to say").default("hi")];
        fn init(ctx: &InitContext) -> Result<Self, PluginError> {
            Ok(Echo {
                word: ctx.option("word").unwrap_or("").to_string(),
            })
        }
    }

    impl InfoPlugin for Echo {
        fn info(&mut self, args: &str) -> Result<serde_json::Value, PluginError> {
            if args == "panic" {
                panic!("asked to");
            }
            Ok(serde_json::json!(self.word))
        }
    }

    impl Exported for Echo {
        const ROLES: Roles = Roles::INFO;
        fn role_fns() -> RoleFns<Self> {
            let mut fns = RoleFns::none();
            fns.info = Some(<Echo as InfoPlugin>::info);
            fns
        }
    }

    // Only to show a role not listed answers "unsupported".
    impl ReadPlugin for Echo {
        fn read(&mut self) -> Result<Vec<ValueList>, PluginError> {
            Ok(vec![ValueList::new(
                "echo",
                "gauge",
                vec![Value::Gauge(1.0)],
            )])
        }
    }

    #[test]
    fn instances_are_independent_and_guarded() {
        let descriptor = descriptor::<Echo>();
        assert_eq!(descriptor.info.name.as_str(), "echo");
        assert_eq!(descriptor.info.options[0].name.as_str(), "Word");
        let ctx = InitContext::default().with_options(&[("Word", "one")]);
        let mut one = (descriptor.init)(&ctx).into_result().unwrap();
        let mut two = (descriptor.init)(&InitContext::default())
            .into_result()
            .unwrap();
        assert_eq!(one.info(RStr::from("")).unwrap().as_str(), "\"one\"");
        // The schema's default reaches init.
        assert_eq!(two.info(RStr::from("")).unwrap().as_str(), "\"hi\"");
        let panicked = one.info(RStr::from("panic")).into_result().unwrap_err();
        assert_eq!(panicked.code, codes::PANICKED);
        assert!(
            panicked.message.contains("asked to"),
            "{}",
            panicked.message
        );
        let no_read = one.read().into_result().unwrap_err();
        assert_eq!(no_read.code, codes::UNSUPPORTED);
        one.shutdown().unwrap();
        let after = one.info(RStr::from("")).into_result().unwrap_err();
        assert!(after.message.contains("shut down"), "{}", after.message);
        // Shutting one instance down leaves the other working.
        assert_eq!(two.info(RStr::from("")).unwrap().as_str(), "\"hi\"");
    }
}
