//! The stable plugin ABI of the platform's agents, and the safe SDK that plugins are written in.
//!
//! A plugin library is a `cdylib` that calls [`export_plugin!`] (or [`export_plugins!`] for
//! several plugins in one file) once. The agents (`gearman`, `nodus`, `gearctl`) load it with
//! `dlopen` and talk to it only through the types in [`abi`]; every `init` makes a new instance.
//!
//! Layout:
//! - [`abi`]: the `#[repr(C)]` root module ([`abi::PluginLib`]), the plugin descriptors it lists,
//!   the instance trait object ([`abi::PluginInstance`]) and what crosses the boundary; used by
//!   the host's loader and by the code the export macros generate.
//! - [`schema`]: typed option schemas ([`OptionSpec`] in plugins, [`schema::OptionSchema`] over
//!   the ABI) and [`schema::check_options`], the check the agents run before `init`.
//! - [`export`]: what [`export_plugins!`] generates: descriptors, guarded instances, the root
//!   module.
//! - [`values`]: collectd-shaped value lists that read plugins emit and write plugins receive
//!   (with [`ValueList::multivalue`], collectd's `ValuesAbsolute`/`ValuesPercentage` dispatch).
//! - [`sdk`]: the safe traits a plugin implements ([`Plugin`], [`InfoPlugin`], [`ReadPlugin`],
//!   [`WritePlugin`]), the [`InitContext`] accessors, and the panic guard every entry point
//!   runs in.
//! - [`args`]: splitting and parsing the `-a "<arguments>"` string of an info call.
//! - [`options`]: typed option access (`option_bool`, `option_parse`), nodus's host facts, and
//!   the builders tests make contexts with (`with_options`, `with_host_fact`).
//! - [`select`]: collectd's ignore lists of exact names (`Disk sda`, `IgnoreSelected`), as
//!   [`Selection`].
//! - [`types_db`]: collectd's `types.db` data sets, for the agent's checks, for write plugins
//!   that need source names, and for tests that check what a plugin reads (`check_all`).
//!
//! The ABI version is this crate's version ([`ABI_VERSION`]); abi_stable checks it, and the type
//! layouts, when the host loads a plugin.

pub mod abi;
pub mod args;
pub mod export;
pub mod options;
pub mod schema;
pub mod sdk;
pub mod select;
pub mod types_db;
pub mod values;

pub use abi::{ConfigEntry, InitContext, PluginError, PluginInfo, Roles};
pub use schema::{OptionSchema, OptionSpec, OptionType};
pub use sdk::{InfoPlugin, Plugin, ReadPlugin, WritePlugin};
pub use select::Selection;
pub use values::{DsType, Value, ValueList};

/// Re-exported so that [`export_plugins!`] works in crates that do not name abi_stable themselves.
pub use abi_stable;
/// Re-exported for info plugins, whose answers are JSON documents.
pub use serde_json;

/// The plugin ABI version: the version of this crate a plugin was built against.
pub const ABI_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Error codes a plugin returns in [`PluginError::code`]; they are the platform's retcodes.
pub mod codes {
    /// The arguments or options given to the plugin are wrong (the seed's "Invalid params").
    pub const INVALID_PARAMS: u32 = 3021;
    /// The plugin ran but could not do its work (a file it needs is missing, a read failed).
    pub const FAILED: u32 = 3023;
    /// The plugin panicked; the SDK caught the panic at the ABI boundary.
    pub const PANICKED: u32 = 3024;
    /// The plugin was asked for a role it does not implement, or was used before `init`.
    pub const UNSUPPORTED: u32 = 3025;
}
