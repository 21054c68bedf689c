//! Parsing the argument string of an info call (`gearctl -c getinfo.users -a "-U root"`).
//!
//! The string is split like a shell would ([`split`]) and walked with [`lexopt`]; every
//! error becomes "Invalid params" (3021) naming what was wrong.

use crate::abi::PluginError;

pub use lexopt;

/// Splits `args` into words, honouring quotes and backslashes as `sh` does.
pub fn split(args: &str) -> Result<Vec<String>, PluginError> {
    shell_words::split(args).map_err(|e| PluginError::invalid_params(format!("{e} in `{args}`")))
}

/// A getopt-style parser over the words of `args`.
pub fn parser(args: &str) -> Result<lexopt::Parser, PluginError> {
    Ok(lexopt::Parser::from_args(split(args)?))
}

/// Turns a lexopt error (unknown option, missing value) into "Invalid params".
pub fn invalid(err: lexopt::Error) -> PluginError {
    PluginError::invalid_params(err)
}

/// The error for an option or value the plugin does not know.
pub fn unexpected(arg: lexopt::Arg<'_>) -> PluginError {
    invalid(arg.unexpected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quotes() {
        assert_eq!(
            split(r#"-U "my user" -A"#).unwrap(),
            ["-U", "my user", "-A"]
        );
        assert_eq!(split("").unwrap(), Vec::<String>::new());
        assert_eq!(
            split("'unterminated").unwrap_err().code,
            crate::codes::INVALID_PARAMS
        );
    }

    #[test]
    fn unknown_option_is_invalid_params() {
        let mut p = parser("-Z").unwrap();
        let arg = p.next().unwrap().unwrap();
        let err = unexpected(arg);
        assert_eq!(err.code, 3021);
        assert!(err.message.contains("-Z"), "{}", err.message);
    }
}
