//! Failed logins per client address: after `packages.login_failures` wrong passwords or
//! unknown users within `packages.login_window` seconds, the address is answered 429 (with
//! `Retry-After`) until the window ends, whatever it sends, so that guessing passwords costs a
//! window per few guesses. IPv6 clients count by their /64, the block one client usually has.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Most addresses followed at once; past this, finished windows are dropped, then all.
const TRACKED_MAX: usize = 65_536;

/// The failed-login counts of recent client addresses.
pub struct Throttle {
    max: u32,
    window: Duration,
    /// Address → start of its window and failures in it.
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Throttle {
    /// `max` failures per `window`.
    pub fn new(max: u32, window: Duration) -> Throttle {
        Throttle {
            max,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// How long `address` must wait before it may try again, if it is refused now.
    pub fn refused(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let &(start, failures) = seen.get(&key(address))?;
        let end = start + self.window;
        (failures >= self.max && now < end).then(|| end - now)
    }

    /// Counts a failed login of `address`.
    pub fn failed(&self, address: IpAddr, now: Instant) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let window = self.window;
        if seen.len() >= TRACKED_MAX {
            seen.retain(|_, (start, _)| now < *start + window);
            if seen.len() >= TRACKED_MAX {
                seen.clear();
            }
        }
        let entry = seen.entry(key(address)).or_insert((now, 0));
        if now >= entry.0 + window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

/// The key an address counts under: IPv4 as is (also when mapped into IPv6), IPv6 by its /64.
fn key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// Whole seconds for `Retry-After`, rounded up, at least 1.
pub fn retry_after(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_max_failures_until_the_window_ends() {
        let throttle = Throttle::new(3, Duration::from_secs(60));
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(throttle.refused(a, t0), None, "failure {i}");
            throttle.failed(a, t0 + Duration::from_secs(i));
        }
        let wait = throttle.refused(a, t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(wait, Duration::from_secs(50));
        assert_eq!(
            throttle.refused(b, t0),
            None,
            "other addresses are not affected"
        );
        assert_eq!(throttle.refused(a, t0 + Duration::from_secs(60)), None);
        // A new window starts from zero.
        throttle.failed(a, t0 + Duration::from_secs(61));
        assert_eq!(throttle.refused(a, t0 + Duration::from_secs(62)), None);
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let throttle = Throttle::new(1, Duration::from_secs(60));
        let now = Instant::now();
        throttle.failed("2001:db8:1:2::1".parse().unwrap(), now);
        assert!(
            throttle
                .refused("2001:db8:1:2::ffff".parse().unwrap(), now)
                .is_some()
        );
        assert!(
            throttle
                .refused("2001:db8:1:3::1".parse().unwrap(), now)
                .is_none()
        );
        throttle.failed("::ffff:192.0.2.9".parse().unwrap(), now);
        assert!(
            throttle
                .refused("192.0.2.9".parse().unwrap(), now)
                .is_some()
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after(Duration::from_millis(49_200)), 50);
        assert_eq!(retry_after(Duration::from_secs(50)), 50);
        assert_eq!(retry_after(Duration::from_millis(1)), 1);
        assert_eq!(retry_after(Duration::ZERO), 1);
    }
}
