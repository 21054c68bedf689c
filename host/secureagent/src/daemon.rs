//! The daemon mode (no verb): a `--check` at each time of the configured [`When`], never
//! two at once. A check due while one runs is skipped, logged with the running one's start
//! time and counted; a tick while another process (a CLI run) holds `<db>.lock` is skipped
//! the same way. Each check's report goes to the log, as the CLI prints it. SIGTERM (or
//! SIGINT) stops a running walk promptly, discards its report and ends the daemon. With
//! `realtime` trees, a [`realtime`] watch runs beside the schedule in its own thread.

use std::path::PathBuf;
use std::thread::ScopedJoinHandle;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::config::Config;
use crate::realtime;
use crate::rules::Rules;
use crate::run::{self, RunError, Verb};
use crate::schedule::When;
use crate::walk;

/// The longest sleep of the daemon's loop: how soon a SIGTERM or a finished run is seen.
const TICK: Duration = Duration::from_millis(100);

/// What the daemon did, logged when it ends.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Checks that ran to their end.
    pub checks: u64,
    /// Ticks skipped: a check was still running, or another process held the lock.
    pub skipped: u64,
}

/// One check under way.
struct Running<'s> {
    number: u64,
    started: DateTime<Utc>,
    handle: ScopedJoinHandle<'s, (Result<u8, RunError>, Vec<u8>)>,
}

extern "C" fn on_stop_signal(_: libc::c_int) {
    walk::request_stop();
}

/// Makes SIGTERM and SIGINT stop the walks and the daemon (see [`walk::request_stop`]).
fn catch_stop_signals() -> std::io::Result<()> {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe); the struct is
        // zeroed then filled as sigaction expects.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_stop_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What an exit code of a check means, for the log.
fn meaning(code: u8) -> &'static str {
    if code == 0 {
        "no changes"
    } else {
        "changes found"
    }
}

/// Runs checks at the times of `when` until SIGTERM or SIGINT; `own` are the agent's own
/// files (log, PID file), never findings. Returns what it did.
pub fn serve(
    config: &Config,
    rules: &Rules,
    when: &When,
    own: &[PathBuf],
) -> std::io::Result<Totals> {
    catch_stop_signals()?;
    let mut totals = Totals::default();
    let mut next = when.next_after(Utc::now());
    match next {
        Some(next) => {
            tracing::info!(schedule = %config.schedule, "First check at {}.", stamp(next))
        }
        None => tracing::warn!(schedule = %config.schedule, "The schedule never fires."),
    }
    std::thread::scope(|scope| {
        let watcher = (!config.realtime.is_empty())
            .then(|| scope.spawn(|| realtime::watch(config, rules, own)));
        let mut running: Option<Running<'_>> = None;
        let mut number = 0;
        while !walk::stop_requested() {
            if running.as_ref().is_some_and(|r| r.handle.is_finished())
                && let Some(done) = running.take()
            {
                finish(done, &mut totals);
            }
            let now = Utc::now();
            let Some(due) = next else {
                std::thread::sleep(TICK);
                continue;
            };
            if now < due {
                std::thread::sleep((due - now).to_std().unwrap_or(TICK).min(TICK));
                continue;
            }
            match &running {
                Some(r) => {
                    totals.skipped += 1;
                    tracing::warn!(
                        "Check due at {} skipped: check #{} started at {} is still running ({} skipped so far).",
                        stamp(due),
                        r.number,
                        stamp(r.started),
                        totals.skipped
                    );
                }
                None => {
                    number += 1;
                    tracing::info!("Check #{number} started (due at {}).", stamp(due));
                    running = Some(Running {
                        number,
                        started: now,
                        handle: scope.spawn(move || {
                            let mut out = Vec::new();
                            let result = run::run(config, rules, Verb::Check, false, own, &mut out);
                            (result, out)
                        }),
                    });
                }
            }
            // Late (the machine slept, the clock jumped): the next time after now, once.
            next = when
                .next_after(due)
                .map(|n| {
                    if n <= now {
                        when.next_after(now)
                    } else {
                        Some(n)
                    }
                })
                .unwrap_or(None);
        }
        if let Some(r) = running.take() {
            tracing::info!(
                "Stopping: check #{} (started at {}) is stopped, its report discarded.",
                r.number,
                stamp(r.started)
            );
            if r.handle.join().is_err() {
                tracing::error!("Check #{} panicked.", r.number);
            }
        }
        if let Some(watcher) = watcher
            && watcher.join().is_err()
        {
            tracing::error!("The real-time watch panicked.");
        }
    });
    tracing::info!(
        checks = totals.checks,
        skipped = totals.skipped,
        "secureagent stopped."
    );
    Ok(totals)
}

/// Logs the end of a check and counts it.
fn finish(done: Running<'_>, totals: &mut Totals) {
    let n = done.number;
    match done.handle.join() {
        Err(_) => tracing::error!("Check #{n} panicked."),
        Ok((Ok(code), out)) => {
            totals.checks += 1;
            tracing::info!(
                "Check #{n} finished: exit {code} ({}).\n{}",
                meaning(code),
                String::from_utf8_lossy(&out)
            );
        }
        Ok((Err(e), _)) if e.code == run::EXIT_LOCKED => {
            totals.skipped += 1;
            tracing::warn!(
                "Check #{n} skipped: {e} ({} skipped so far).",
                totals.skipped
            );
        }
        Ok((Err(e), _)) => tracing::error!("Check #{n} failed: {e} (exit {}).", e.code),
    }
}
