//! The project's cron syntax (seed 1.3: six fields with seconds, five without, `@hourly`
//! nicknames, `? L W #`) and the next fire time of a schedule, in UTC. Used by gearman's
//! `cron.*` and secureagent's daemon schedule.
//!
//! Layout: `schedule`: [`Schedule`], parsing and the next fire time; `field` checks and
//! rewrites single fields for croner.

mod field;
mod schedule;

pub use schedule::{Schedule, is_day_of_week};
