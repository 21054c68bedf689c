//! The platform's retcodes: one table for agents, control tools and the server.
//!
//! The seed fixes 2 ("Normal termination"), 203 ("No such host") and 3021 ("Invalid params");
//! the others are ours and documented in the README's retcode table.

/// The command ran and ended normally; see the result's `data`.
pub const NORMAL_TERMINATION: u32 = 2;
/// The command named a host Polaris does not know.
pub const NO_SUCH_HOST: u32 = 203;
/// Polaris: the host is known but no agent of it is connected.
pub const HOST_OFFLINE: u32 = 204;
/// Polaris: the host did not answer before the request's deadline.
pub const NO_ANSWER: u32 = 205;
/// Polaris: the agent's connection closed while the command was on it; a result that still
/// arrives later replaces this one (see `GET /api/v1/commands/{id}`).
pub const AGENT_DISCONNECTED: u32 = 206;
/// Polaris: no answer yet (asynchronous view only).
pub const PENDING: u32 = 207;
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

/// Agent: the command was stopped after its `timeout` (TERM, then KILL to its process group).
pub const TIMED_OUT: u32 = 3026;
/// Agent: the command was ended by a signal it did not get from the agent.
pub const KILLED_BY_SIGNAL: u32 = 3027;
/// Agent: the command could not be started (fork, exec, user switch).
pub const NOT_STARTED: u32 = 3028;

/// Polaris: a job id that was never handed out.
pub const NO_SUCH_JOB: u32 = 3030;
/// Polaris: missing or wrong credentials.
pub const UNAUTHORIZED: u32 = 3031;
/// Polaris: the request body is over the limit.
pub const PAYLOAD_TOO_LARGE: u32 = 3032;
/// Polaris: no such resource (route, file).
pub const NOT_FOUND: u32 = 3033;
/// Polaris: the credentials are valid but do not allow this (a certificate naming another
/// host, a revoked host, a download-only user uploading).
pub const FORBIDDEN: u32 = 3034;
/// Polaris: too many requests (failed package-server logins from one address); retry after
/// the `Retry-After` header's seconds.
pub const TOO_MANY_REQUESTS: u32 = 3035;
/// Polaris: the route exists but not with this HTTP method (the `Allow` header lists those).
pub const METHOD_NOT_ALLOWED: u32 = 3036;
/// Polaris: the database or another internal part failed; the request may be retried.
pub const INTERNAL: u32 = 3040;

/// The standard message of a retcode, or `None` for codes without one.
pub fn message(code: u32) -> Option<&'static str> {
    Some(match code {
        NORMAL_TERMINATION => "Normal termination",
        NO_SUCH_HOST => "No such host",
        HOST_OFFLINE => "Host offline",
        NO_ANSWER => "No answer before deadline",
        AGENT_DISCONNECTED => "Agent disconnected",
        PENDING => "Pending",
        INVALID_PARAMS => "Invalid params",
        NO_SUCH_METHOD => "No such method",
        FAILED => "Failed",
        PLUGIN_PANICKED => "Plugin panicked",
        UNSUPPORTED => "Unsupported",
        TIMED_OUT => "Timed out",
        KILLED_BY_SIGNAL => "Killed by signal",
        NOT_STARTED => "Could not start",
        NO_SUCH_JOB => "No such job",
        UNAUTHORIZED => "Unauthorized",
        PAYLOAD_TOO_LARGE => "Payload too large",
        NOT_FOUND => "Not found",
        FORBIDDEN => "Forbidden",
        TOO_MANY_REQUESTS => "Too many requests",
        METHOD_NOT_ALLOWED => "Method not allowed",
        INTERNAL => "Internal error",
        _ => return None,
    })
}
