//! The platform's retcodes: one table for agents, control tools and the server.
//!
//! The seed fixes 2 ("Normal termination"), 203 ("No such host") and 3021 ("Invalid params");
//! the others are ours and documented in the README's retcode table.

/// The command ran and ended normally; see the result's `data`.
pub const NORMAL_TERMINATION: u32 = 2;
/// The command named a host Polaris does not know.
pub const NO_SUCH_HOST: u32 = 203;
/// The request or the command's arguments are wrong.
pub const INVALID_PARAMS: u32 = 3021;
/// No plugin or method answers this command name.
pub const NO_SUCH_METHOD: u32 = 3022;
/// The plugin or method ran but failed (its message says why).
pub const FAILED: u32 = 3023;
/// The plugin panicked; the panic was caught at the plugin boundary.
pub const PLUGIN_PANICKED: u32 = 3024;
/// The plugin does not implement what was asked of it, or is not initialised.
pub const UNSUPPORTED: u32 = 3025;

/// The standard message of a retcode, or `None` for codes without one.
pub fn message(code: u32) -> Option<&'static str> {
    Some(match code {
        NORMAL_TERMINATION => "Normal termination",
        NO_SUCH_HOST => "No such host",
        INVALID_PARAMS => "Invalid params",
        NO_SUCH_METHOD => "No such method",
        FAILED => "Failed",
        PLUGIN_PANICKED => "Plugin panicked",
        UNSUPPORTED => "Unsupported",
        _ => return None,
    })
}
