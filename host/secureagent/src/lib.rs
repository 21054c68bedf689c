//! secureagent: file and directory integrity like AIDE. Layout:
//! - [`rules`]: the rules file in AIDE's syntax (selection lines, groups, attributes) and
//!   which rule applies to a path; [`config`]: the TOML configuration naming it;
//! - [`walk`]: the parallel walk and hash of the selected tree ([`entry`]: one entry's
//!   attributes, [`hash`]: its content hashes);
//! - [`db`]: the baseline file, its digest and the run lock;
//! - [`compare`]: baseline against tree; [`report`]: AIDE-like text and JSON;
//! - [`run`]: `--init`, `--check`, `--update` put together (`main` only parses flags);
//! - [`daemon`]: checks on a [`schedule`], never two at once; [`gentle`]: priority and the
//!   read cap.
//! - [`polaris`]: each run's report sent to Polaris, or kept until it can be.
//! - [`realtime`]: the daemon's real-time watch (fanotify or inotify) of chosen trees.

pub mod cli;
pub mod compare;
pub mod config;
pub mod daemon;
pub mod db;
pub mod entry;
pub mod gentle;
pub mod hash;
pub mod polaris;
pub mod realtime;
pub mod report;
pub mod rules;
pub mod run;
pub mod schedule;
pub mod walk;
