//! logagent, the platform's log agent: it tails log files (paths and globs, rotation by rename
//! or copytruncate, multiline records), parses each record in its source's format and posts
//! batches to Polaris, committing a file's offset only once Polaris has acknowledged them.
//!
//! Layout:
//! - `cli`: the flags; `config`: the TOML configuration, checked (`-t`).
//! - `parse`: one module per format (`json`, `syslog`, `pattern` for regex/nginx/apache,
//!   `time` for timestamps; `combined`, the nginx/Apache matcher, is the wire's), all behind
//!   [`parse::Format`]; `batch`: the records held and sent (the wire's JSON, fewer allocations).
//! - `record`: lines into records (multiline rules, `max_record_bytes`).
//! - `glob`: the paths a source's pattern matches now.
//! - `tail`: one file generation being read: identity (device, inode, fingerprint), offsets.
//! - `state`: the SQLite file of committed offsets.
//! - `sink`: where batches go (`Sink`): the HTTPS one that posts to Polaris, and
//!   `sink/syslog`, RFC 5424 over TCP or TLS to any syslog server.
//! - `agent`: the loop: read, send, commit (`agent/run`: reading overlaps the sender thread's
//!   delivery; `agent/scan`: globs expanded, files found,
//!   rotations and truncations seen; `agent/deliver`: a batch to every writer, poison batches
//!   split); `control`: the status socket.

pub mod agent;
pub mod batch;
pub mod cli;
pub mod config;
pub mod control;
pub mod glob;
pub mod pack;
pub mod parse;
pub mod record;
pub mod sink;
pub mod state;
pub mod tail;
