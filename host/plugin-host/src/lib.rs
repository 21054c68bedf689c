//! The plugin host: how an agent finds, checks, loads and keeps its `.so` plugins.
//!
//! Layout:
//! - [`dirs`]: which directory to scan (flag, environment variable, install path, or beside the
//!   executable for a development build).
//! - [`trust`]: when the agent runs as root, refuses files not owned by root or the agent's
//!   user, writable by group or others, or in a world-writable folder.
//! - [`elf`]: refuses files that are not ELF shared objects for this machine, or are truncated,
//!   before `dlopen` sees them (a truncated `.so` kills the process with SIGBUS).
//! - [`digest`]: the `SHA256:<hex>` of a library file, as agents list it.
//! - [`loader`]: loads one library (which may export several plugins) through abi_stable and
//!   turns every failure into a one-line [`LoadError`]; each plugin knows its library's digest
//!   and plugin-api version.
//! - [`plugin`]: [`LoadedPlugin`] (a plugin's description, option schema and `init`) and
//!   [`Instance`], the safe handle through which agents call one instance of it.
//! - [`registry`]: [`Registry`], the plugins of one directory by name, with a report per file.
//! - [`info`]: `getinfo.<name>`: the prefix, and one info call parsed as JSON (gearctl, gearman).
//! - [`context`]: the [`InitContext`](plugin_api::InitContext) a plugin receives (options plus host
//!   facts such as `proc_root`, taken from `HOST_PROC`/`HOST_SYS`/`HOST_ETC` when set).
//! - [`inventory`]: loaded plugins, skipped files and nodus's `plugin_list` answer as the
//!   plugin inventory's parts (`wire::plugins`), secrets masked; gearman's `plugin.list`, its
//!   inventory frames and `gearctl -l` are all made with it.
//! - [`control`]: a client of nodus's control socket with timeouts (gearman, `gearctl -l`).
//!
//! Used by `gearctl`, and by the `gearman` and `nodus` agents.

pub mod context;
pub mod control;
pub mod digest;
pub mod dirs;
pub mod elf;
pub mod info;
pub mod inventory;
pub mod loader;
pub mod plugin;
pub mod registry;
pub mod trust;

pub use loader::{LoadError, load};
pub use plugin::{CallError, Instance, LoadedPlugin};
pub use registry::{FileReport, Registry};
