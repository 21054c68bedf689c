//! The plugin host: how an agent finds, checks, loads and keeps its `.so` plugins.
//!
//! Layout:
//! - [`dirs`]: which directory to scan (flag, environment variable, install path, or beside the
//!   executable for a development build).
//! - [`trust`]: when the agent runs as root, refuses files not owned by root or the agent's
//!   user, writable by group or others, or in a world-writable folder.
//! - [`elf`]: refuses files that are not ELF shared objects for this machine, or are truncated,
//!   before `dlopen` sees them (a truncated `.so` kills the process with SIGBUS).
//! - [`loader`]: loads one file through abi_stable and turns every failure into a one-line
//!   [`LoadError`].
//! - [`plugin`]: [`LoadedPlugin`], the safe handle through which agents call a plugin.
//! - [`registry`]: [`Registry`], the plugins of one directory by name, with a report per file and
//!   the running/stopped state used by `nodusctl plugin stop|start|remove`.
//! - [`info`]: `getinfo.<name>`: the prefix, and one info call parsed as JSON (gearctl, gearman).
//! - [`context`]: the [`InitContext`](plugin_api::InitContext) a plugin receives (options plus host
//!   facts such as `proc_root`, taken from `HOST_PROC`/`HOST_SYS`/`HOST_ETC` when set).
//!
//! Used by `gearctl`, and by the `gearman` and `nodus` agents.

pub mod context;
pub mod dirs;
pub mod elf;
pub mod info;
pub mod loader;
pub mod plugin;
pub mod registry;
pub mod trust;

pub use loader::{LoadError, load};
pub use plugin::{CallError, LoadedPlugin};
pub use registry::{FileReport, PluginState, Registry};
