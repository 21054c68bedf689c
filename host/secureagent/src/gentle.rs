//! Manners on a busy host: the CPU (`nice`) and I/O (`ioprio_set`) priority of the process
//! for a run, and [`ReadCap`], a token bucket shared by the walk's workers so that the whole
//! run's file reads stay at `max_read_mib_s`.

use std::io::{self, Read};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// The I/O scheduling class of a run (`io_class` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IoClass {
    /// Disk time only when no one else wants it (`IOPRIO_CLASS_IDLE`).
    #[default]
    Idle,
    /// The normal class at its lowest level (`IOPRIO_CLASS_BE`, level 7).
    BestEffort,
}

const IOPRIO_WHO_PROCESS: libc::c_int = 1;
const IOPRIO_CLASS_SHIFT: u32 = 13;

impl IoClass {
    /// The `ioprio` value `ioprio_set` takes.
    fn ioprio(self) -> libc::c_int {
        match self {
            IoClass::Idle => (3 << IOPRIO_CLASS_SHIFT) as libc::c_int,
            IoClass::BestEffort => ((2 << IOPRIO_CLASS_SHIFT) | 7) as libc::c_int,
        }
    }
}

/// Lowers the CPU priority of the calling thread (and of every thread it starts later) to
/// `nice` unless it is already lower, and sets its I/O class. Call it before the run's
/// threads start. A failure is returned for the log; the run goes on regardless.
pub fn lower_priority(nice: i32, io: IoClass) -> Result<(), String> {
    // SAFETY: getpriority/setpriority on this thread; errno is cleared first as getpriority
    // may return -1 legitimately.
    let current = unsafe {
        *libc::__errno_location() = 0;
        libc::getpriority(libc::PRIO_PROCESS, 0)
    };
    let mut errors = Vec::new();
    if current < nice {
        // SAFETY: as above.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } != 0 {
            errors.push(format!("nice {nice}: {}", io::Error::last_os_error()));
        }
    }
    // SAFETY: ioprio_set on this thread (who = 0) with a valid class and level.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0 as libc::c_int,
            io.ioprio(),
        )
    };
    if rc != 0 {
        errors.push(format!("io class {io:?}: {}", io::Error::last_os_error()));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// A token bucket of bytes per second shared by every worker of a run. It starts empty and
/// holds at most one second of reads, so a run reading N bytes takes at least
/// `N / rate` seconds less one second.
#[derive(Debug)]
pub struct ReadCap {
    rate: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl ReadCap {
    /// A cap of `bytes_per_s` (at least 1).
    pub fn new(bytes_per_s: u64) -> ReadCap {
        ReadCap {
            rate: bytes_per_s.max(1) as f64,
            state: Mutex::new(Bucket {
                tokens: 0.0,
                last: Instant::now(),
            }),
        }
    }

    /// Accounts for `n` bytes just read; returns how long the reader must wait first.
    fn take(&self, n: usize) -> Duration {
        let Ok(mut bucket) = self.state.lock() else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        let refill = now.duration_since(bucket.last).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refill).min(self.rate);
        bucket.last = now;
        bucket.tokens -= n as f64;
        if bucket.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-bucket.tokens / self.rate)
        }
    }
}

/// A reader whose reads go through a [`ReadCap`] (when there is one) and that stops with an
/// error once `stop` says so.
pub struct Capped<'a, R> {
    pub inner: R,
    pub cap: Option<&'a ReadCap>,
    pub stop: &'a dyn Fn() -> bool,
}

/// The longest single sleep of a capped reader, so that a stop is seen promptly.
const STEP: Duration = Duration::from_millis(50);

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if (self.stop)() {
            return Err(io::Error::other("the run was stopped"));
        }
        let n = self.inner.read(buf)?;
        if let Some(cap) = self.cap {
            let mut wait = cap.take(n);
            while !wait.is_zero() {
                if (self.stop)() {
                    return Err(io::Error::other("the run was stopped"));
                }
                let step = wait.min(STEP);
                std::thread::sleep(step);
                wait -= step;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_reader_reads_no_faster_than_the_cap() {
        let cap = ReadCap::new(4 << 20);
        let data = vec![7u8; 6 << 20];
        let never = || false;
        let mut reader = Capped {
            inner: &data[..],
            cap: Some(&cap),
            stop: &never,
        };
        let started = Instant::now();
        let mut sink = Vec::new();
        reader.read_to_end(&mut sink).unwrap();
        assert_eq!(sink.len(), data.len());
        // 6 MiB at 4 MiB/s from an empty bucket: 1.5 s at least.
        let took = started.elapsed().as_secs_f64();
        assert!(took >= 1.4, "read 6 MiB at a 4 MiB/s cap in {took:.2} s");
    }

    #[test]
    fn a_stopped_reader_fails() {
        let data = [1u8; 10];
        let stop = || true;
        let mut reader = Capped {
            inner: &data[..],
            cap: None,
            stop: &stop,
        };
        assert!(reader.read(&mut [0; 4]).is_err());
    }
}
