//! Loading one plugin library: ELF check, `SHA256:` digest of the same open file, `dlopen`, ABI
//! version and layout checks, the descriptions of the plugins it exports (each knowing the
//! library's digest and plugin-api version).
//!
//! Each file is loaded with `lib_header_from_path(..).init_root_module()`, never
//! `RootModule::load_from_file`, which keeps one module per interface type per process (abi_stable
//! issue #92) and would hand every later plugin the first one's functions. abi_stable never
//! unloads a library, so a loaded file stays mapped until the process exits.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use abi_stable::library::{LibraryError, RootModule, lib_header_from_path};
use plugin_api::abi::PluginLibRef;

use crate::plugin::{Library, LoadedPlugin};

/// Why a file was not loaded, as one line for logs and `gearctl -l`.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(String),
    /// The agent runs as root and the file (or its folder) could have been written by someone
    /// else ([`crate::trust`]).
    #[error("refused: {0}")]
    Untrusted(String),
    /// The file is not a plugin (not ELF, not a shared object, another architecture).
    #[error("not a plugin: {0}")]
    NotAPlugin(String),
    /// The file is shorter than its headers say (a partial download or copy).
    #[error("truncated file: {0}")]
    Truncated(String),
    /// `dlopen` refused the file (missing dependency, undefined symbol, ...).
    #[error("dlopen failed: {0}")]
    Open(String),
    /// A shared library without the plugin root module.
    #[error(
        "missing symbol `{0}`: a shared library, but not a plugin built with plugin_api::export_plugins!"
    )]
    MissingSymbol(String),
    /// Built against another plugin-api version.
    #[error(
        "ABI version mismatch: expected plugin-api {expected}, found {found}; rebuild the plugin against plugin-api {expected}"
    )]
    AbiVersion {
        /// The version this host was built with.
        expected: String,
        /// The version the plugin was built with.
        found: String,
    },
    /// Same version number but different type layouts (e.g. a hand-edited plugin-api).
    #[error("ABI layout mismatch with plugin-api {expected}: {detail}")]
    AbiLayout {
        /// The version this host was built with.
        expected: String,
        /// abi_stable's description of the difference (first lines).
        detail: String,
    },
    /// The plugin's root-module constructor failed or panicked.
    #[error("the plugin's root module failed to initialise: {0}")]
    RootModule(String),
    /// The plugin describes itself with an unusable name.
    #[error("bad description: {0}")]
    BadDescription(String),
    /// Another file already provides a plugin of this name.
    #[error("duplicate name `{name}`, already loaded from {first}")]
    Duplicate {
        /// The plugin name.
        name: String,
        /// The file that provided it first.
        first: String,
    },
    /// `init` returned an error.
    #[error("init failed: {0}")]
    InitFailed(String),
    /// `init` panicked (caught by the SDK).
    #[error("init panicked: {0}")]
    InitPanicked(String),
}

/// Loads `path` as a plugin library: checks who may have written it (when the agent is root)
/// and the file, opens it, checks its ABI and reads the descriptions of its plugins (one or
/// more, with distinct names).
pub fn load(path: &Path) -> Result<Vec<LoadedPlugin>, LoadError> {
    let file = open_checked(path)?;
    let digest = crate::digest::sha256_of(&file).map_err(|e| LoadError::Io(e.to_string()))?;
    let header = lib_header_from_path(path).map_err(describe_library_error)?;
    let library = Arc::new(Library {
        digest,
        abi: header.version_strings().version.to_string(),
    });
    let module = header
        .init_root_module::<PluginLibRef>()
        .map_err(describe_library_error)?;
    let mut plugins: Vec<LoadedPlugin> = Vec::new();
    for descriptor in (module.plugins())() {
        let plugin = LoadedPlugin::new(path.to_path_buf(), descriptor, library.clone())?;
        if plugins.iter().any(|p| p.name() == plugin.name()) {
            return Err(LoadError::BadDescription(format!(
                "the library exports two plugins named `{}`",
                plugin.name()
            )));
        }
        plugins.push(plugin);
    }
    if plugins.is_empty() {
        return Err(LoadError::BadDescription(
            "the library exports no plugin".into(),
        ));
    }
    Ok(plugins)
}

/// The checks made before `dlopen` (who may have written the file, a complete ELF shared object
/// for this machine), which never run any of the file's code and read only its headers.
/// [`load`] starts with them; agents use them alone to report files they do not load.
pub fn check(path: &Path) -> Result<(), LoadError> {
    open_checked(path).map(drop)
}

/// [`check`], keeping the file open: [`load`] digests the very file it checked.
fn open_checked(path: &Path) -> Result<File, LoadError> {
    crate::trust::check(path)?;
    let file = File::open(path).map_err(|e| LoadError::Io(e.to_string()))?;
    crate::elf::check_file(&file)?;
    Ok(file)
}

/// Turns abi_stable's error into our one-line reason.
fn describe_library_error(err: LibraryError) -> LoadError {
    let expected = || PluginLibRef::VERSION_STRINGS.version.to_string();
    match err {
        LibraryError::OpenError { err, .. } => LoadError::Open(err.to_string()),
        LibraryError::GetSymbolError { symbol, .. } => LoadError::MissingSymbol(
            String::from_utf8_lossy(&symbol)
                .trim_end_matches('\0')
                .into(),
        ),
        LibraryError::IncompatibleVersionNumber {
            expected_version,
            actual_version,
            ..
        } => LoadError::AbiVersion {
            expected: expected_version.to_string(),
            found: actual_version.to_string(),
        },
        LibraryError::ParseVersionError(e) => LoadError::AbiVersion {
            expected: expected(),
            found: format!("unparsable ({e})"),
        },
        LibraryError::AbiInstability(e) => LoadError::AbiLayout {
            expected: expected(),
            detail: e.to_string().lines().take(6).collect::<Vec<_>>().join(" "),
        },
        LibraryError::InvalidAbiHeader(header) => LoadError::AbiLayout {
            expected: expected(),
            detail: format!("built with an incompatible abi_stable ({header:?})"),
        },
        LibraryError::InvalidCAbi { .. } => LoadError::AbiLayout {
            expected: expected(),
            detail: "built by a compiler with another C ABI".into(),
        },
        LibraryError::RootModule { err, .. } => LoadError::RootModule(err.to_string()),
        LibraryError::Many(errors) => errors
            .into_iter()
            .next()
            .map(describe_library_error)
            .unwrap_or_else(|| LoadError::RootModule("unknown abi_stable error".into())),
    }
}
