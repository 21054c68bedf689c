//! nodus's library part: its command line ([`cli`]), its configuration file ([`config`]) and
//! what the control socket changed on top of it ([`managed`]). The binary (`main.rs`) runs the
//! agent; `xtask` reads the flags and the configuration's keys for the man pages.

pub mod cli;
pub mod config;
pub mod managed;
