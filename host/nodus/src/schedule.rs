//! The read scheduler's rules, as pure functions: how long a plugin waits before its next read.
//!
//! Like collectd's `plugin.c`, a read that fails (or, here, outlives its timeout) doubles the
//! plugin's interval up to `max_read_interval`; the first good read restores the configured one.

/// The interval after a read: doubled (capped at `max`) when it went wrong, `base` when it went
/// well.
pub fn next_interval(current: f64, base: f64, max: f64, ok: bool) -> f64 {
    if ok {
        base
    } else {
        (current * 2.0).min(max.max(base))
    }
}

/// Whether a read that took `took` seconds counts as having gone well.
pub fn read_ok(succeeded: bool, took: f64, timeout: f64) -> bool {
    succeeded && took <= timeout
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_on_failure_up_to_the_cap_and_resets_on_success() {
        let mut interval = 10.0;
        let mut seen = Vec::new();
        for _ in 0..5 {
            interval = next_interval(interval, 10.0, 60.0, false);
            seen.push(interval);
        }
        assert_eq!(seen, [20.0, 40.0, 60.0, 60.0, 60.0]);
        assert_eq!(next_interval(interval, 10.0, 60.0, true), 10.0);
    }

    #[test]
    fn cap_below_base_keeps_base() {
        assert_eq!(next_interval(10.0, 10.0, 5.0, false), 10.0);
    }

    #[test]
    fn slow_reads_are_not_ok() {
        assert!(read_ok(true, 0.5, 1.0));
        assert!(!read_ok(true, 1.5, 1.0));
        assert!(!read_ok(false, 0.1, 1.0));
    }
}
