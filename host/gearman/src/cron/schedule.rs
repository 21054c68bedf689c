//! A cron schedule with seconds (seed 1.3) and its next fire time, in UTC: the shared
//! `cronspec` crate (also secureagent's daemon schedule), re-exported under its old path.

pub use cronspec::{Schedule, is_day_of_week};
