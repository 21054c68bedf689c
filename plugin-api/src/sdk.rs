//! The safe side of the ABI: the traits a plugin implements, the [`InitContext`] accessors,
//! and [`guard`], the `catch_unwind` every entry point of [`crate::export`] runs the plugin in.
//!
//! A panic becomes a [`PluginError`] with code [`codes::PANICKED`] and never unwinds into the
//! host. Each `init` makes a new, independent instance; `shutdown` ends one.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use abi_stable::std_types::{RErr, ROk, RResult, RVec};

use crate::abi::{ConfigEntry, InitContext, PluginError};
use crate::codes;
use crate::schema::OptionSpec;
use crate::values::ValueList;

/// What every plugin implements: its description, and how it starts and stops.
pub trait Plugin: Sized + Send + 'static {
    /// Unique plugin name (`getinfo.<NAME>`, collectd's plugin name).
    const NAME: &'static str;
    /// The plugin's version; usually `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;
    /// One line for listings.
    const DESCRIPTION: &'static str;
    /// The options `init` accepts, typed and documented. The agents refuse any other option,
    /// and a value of the wrong type, before calling `init`; the SDK adds the default of every
    /// option not given to the context `init` receives.
    const OPTIONS: &'static [OptionSpec] = &[];

    /// Creates an instance from the options and host facts in `ctx`; an agent may create
    /// several instances with different options.
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

#[cfg(test)]
mod tests {
    use super::*;

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
