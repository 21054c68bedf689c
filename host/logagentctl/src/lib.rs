//! logagentctl's library part: its command line ([`cli`]), so that `xtask` can render the man
//! page and shell completions from the definition the binary parses. The tool is `main.rs`.

pub mod cli;
