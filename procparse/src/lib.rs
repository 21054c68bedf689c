//! Parsers for the `/proc` files that several plugins and agents read, shared so that each
//! format is read one way, tested once and fuzzed (`fuzz/fuzz_targets/proc_*.rs`).
//!
//! Layout:
//! - [`meminfo`]: `/proc/meminfo`, key → bytes (or a count); plugins `memory` and `swap`.
//! - [`net_dev`]: `/proc/net/dev`, interface name → its 16 counters; plugins `interface` and
//!   `network`.
//! - [`mounts`]: the mount table (`/proc/self/mounts`, `fstab(5)` syntax) and the octal
//!   unescaping of its fields; plugins `df` and `disks`.
//! - [`stat`]: `/proc/<pid>/stat` (state, ppid, pgrp, session, CPU times, start time, vsize,
//!   rss); `supervise`'s procfs module.
//!
//! The crate only parses text or bytes; it never opens a file. Callers read the file under
//! their own root (a plugin's `ctx.proc_root()`, a test fixture, or `/proc`) and say in their
//! error which file it was. No dependency beyond std (see Cargo.toml for why not procfs-core).

pub mod meminfo;
pub mod mounts;
pub mod net_dev;
pub mod stat;
