//! The agent's loop, on two threads: this one scans, reads and parses; a sender thread owns
//! the writers and delivers one batch at a time. While a batch is at the sender the next one
//! is read (one batch ahead, no more: the hand-off holds one batch), so reading and parsing
//! overlap serialising, sending and the receiver's acknowledgement. The delivery contract is
//! the single thread's: a batch's offsets are committed only when every writer took it, a
//! batch that fails comes back and is tried again (from where each writer stood) before the
//! batch read ahead, and while a writer fails nothing more is read than the batch already
//! ahead. On SIGTERM the batch at the
//! sender is waited for, and committed if it was delivered.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use super::deliver::{InFlight, Rejected};
use super::{Agent, counters, sleep_unless};
use crate::sink::{Sink, backoff};
use crate::state::{SavedFile, State};

/// Generations to save and ids to forget, committed in one transaction.
pub(super) type Commit = (Vec<SavedFile>, Vec<String>);

/// A batch back from the sender thread, and how its delivery went.
struct Delivered {
    flight: InFlight,
    /// `Err` names the writer that failed and why.
    result: Result<(), String>,
    /// Records a writer refused for good when sent alone.
    rejected: Vec<Rejected>,
}

/// The two ends of the hand-off to the sender thread.
struct Hand<'a> {
    to_sender: &'a SyncSender<InFlight>,
    results: &'a Receiver<Delivered>,
}

impl Agent {
    /// Runs until `stop` is set: scan, look, read, deliver to every writer (on the sender
    /// thread, while the next batch is read), commit.
    pub fn run(&mut self, writers: &mut [Box<dyn Sink>], stop: &AtomicBool) -> anyhow::Result<()> {
        let wants: Vec<bool> = writers.iter().map(|w| w.wants_status()).collect();
        std::thread::scope(|scope| {
            let (to_sender, batches) = mpsc::sync_channel::<InFlight>(1);
            let (to_agent, results) = mpsc::channel::<Delivered>();
            std::thread::Builder::new()
                .name("sender".into())
                .spawn_scoped(scope, move || {
                    for mut flight in batches {
                        let mut rejected = Vec::new();
                        let result = flight.deliver(writers, &mut rejected);
                        let done = Delivered {
                            flight,
                            result,
                            rejected,
                        };
                        if to_agent.send(done).is_err() {
                            break;
                        }
                    }
                })?;
            let committer = match self.state.take() {
                Some(state) => {
                    let (to_committer, commits) = mpsc::channel::<Commit>();
                    self.committer = Some(to_committer);
                    Some(
                        std::thread::Builder::new()
                            .name("committer".into())
                            .spawn_scoped(scope, move || commit_all(state, &commits))?,
                    )
                }
                None => None,
            };
            let hand = Hand {
                to_sender: &to_sender,
                results: &results,
            };
            let result = self.run_loop(&wants, &hand, stop);
            // The sender thread ends when the hand-off closes, the committer when every
            // commit sent is made.
            drop(to_sender);
            self.committer = None;
            if let Some(committer) = committer {
                let (state, committed) = committer
                    .join()
                    .map_err(|_| anyhow::anyhow!("the committer thread panicked"))?;
                self.state = Some(state);
                committed?;
            }
            result
        })
    }

    fn run_loop(&mut self, wants: &[bool], hand: &Hand, stop: &AtomicBool) -> anyhow::Result<()> {
        let poll = Duration::from_millis(self.config.poll_ms);
        let scan_every = Duration::from_secs(self.config.scan_s);
        let retry_max = Duration::from_secs(self.config.retry_max_s);
        let mut next_scan = Instant::now();
        let mut next_snapshot = Instant::now();
        // Whether the batch being delivered is at the sender thread.
        let mut sending = false;
        self.save()?;
        while !stop.load(Ordering::Relaxed) {
            if Instant::now() >= next_scan {
                self.scan();
                self.save()?;
                next_scan = Instant::now() + scan_every;
            }
            self.look_at_open_files();
            // While a writer fails nothing more is read (a batch read ahead before it failed
            // stays, and goes after the failed one).
            if self.ahead.is_none() && self.sink_error.is_none() {
                self.ahead = self.fill_batch(false, wants);
            }
            if Instant::now() >= next_snapshot {
                self.refresh_snapshot();
                next_snapshot = Instant::now() + Duration::from_secs(1);
            }
            if sending {
                // The next batch is read (or there is nothing to read): wait for the one out.
                match hand.results.recv_timeout(poll) {
                    Ok(done) => {
                        sending = false;
                        self.delivered(done, retry_max)?;
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        anyhow::bail!("the sender thread stopped")
                    }
                }
                continue;
            }
            if self.in_flight.is_none() {
                self.in_flight = self.ahead.take();
            }
            if self.in_flight.is_none() && wants.iter().any(|w| *w) {
                self.in_flight = self.status_batch(wants);
            }
            let Some(mut flight) = self.in_flight.take() else {
                self.save()?;
                sleep_unless(stop, poll);
                continue;
            };
            if Instant::now() < flight.next_try {
                self.in_flight = Some(flight);
                sleep_unless(stop, poll);
                continue;
            }
            flight.batch.sources = self.source_statuses();
            hand.to_sender
                .send(flight)
                .map_err(|_| anyhow::anyhow!("the sender thread stopped"))?;
            sending = true;
        }
        if sending && let Ok(done) = hand.results.recv() {
            self.delivered(done, retry_max)?;
        }
        self.refresh_snapshot();
        Ok(())
    }

    /// A batch is back from the sender: refused records are counted, a delivered batch is
    /// committed, a failed one waits for its next try.
    fn delivered(&mut self, done: Delivered, retry_max: Duration) -> anyhow::Result<()> {
        let Delivered {
            mut flight,
            result,
            rejected,
        } = done;
        for r in rejected {
            tracing::warn!(
                "{} refused a record for good; skipped, its offset committed: source {}, \
                 {} (file {}) at offset {}: {}",
                r.writer,
                r.record.source,
                r.record.path,
                r.record.file,
                r.record.offset,
                r.reason
            );
            if let Some(source) = self
                .sources
                .iter_mut()
                .find(|s| *s.name == *r.record.source)
            {
                source.status.rejected_records += 1;
            }
        }
        match result {
            Ok(()) if flight.batch.records.is_empty() => {
                self.told = (counters(&flight.batch.sources), Instant::now());
                self.sink_error = None;
            }
            Ok(()) => {
                if self.sink_error.take().is_some() {
                    tracing::info!("Every writer acknowledges again; reading on.");
                }
                self.told = (counters(&flight.batch.sources), Instant::now());
                self.acknowledged(&flight.ends)?;
            }
            Err(e) => {
                let wait = backoff(flight.failures, retry_max);
                tracing::warn!(
                    "batch not acknowledged, next try in {} s: {e}",
                    wait.as_secs()
                );
                self.sink_error = Some(e);
                flight.failures += 1;
                flight.next_try = Instant::now() + wait;
                self.in_flight = Some(flight);
            }
        }
        Ok(())
    }
}

/// The committer thread: makes every commit it is sent, in order; those that queued while
/// the last one waited for the disk go in one transaction (saves before forgets, as one
/// commit orders them: a generation forgotten is never saved again). Stops at the first
/// failure, which the agent sees as a closed channel and this thread's result.
fn commit_all(mut state: State, commits: &Receiver<Commit>) -> (State, anyhow::Result<()>) {
    while let Ok((mut save, mut forget)) = commits.recv() {
        while let Ok((more_save, more_forget)) = commits.try_recv() {
            save.extend(more_save);
            forget.extend(more_forget);
        }
        if let Err(e) = state.save(&save, &forget) {
            return (state, Err(e));
        }
    }
    (state, Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(id: &str, offset: u64) -> SavedFile {
        SavedFile {
            source: "app".into(),
            id: id.into(),
            dev: 1,
            ino: 2,
            fp_len: 0,
            fp: String::new(),
            path: "/x".into(),
            offset,
        }
    }

    #[test]
    fn the_committer_makes_queued_commits_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).unwrap();
        let (to_committer, commits) = mpsc::channel::<Commit>();
        // Queued before the committer runs: merged into one transaction, in order.
        to_committer.send((vec![file("a", 10)], vec![])).unwrap();
        to_committer
            .send((vec![file("a", 20), file("b", 5)], vec![]))
            .unwrap();
        to_committer.send((vec![], vec!["b".into()])).unwrap();
        drop(to_committer);
        let (state, result) = commit_all(state, &commits);
        result.unwrap();
        let saved: Vec<(String, u64)> = state
            .load()
            .unwrap()
            .into_iter()
            .map(|f| (f.id, f.offset))
            .collect();
        assert_eq!(saved, [("a".to_string(), 20)]);
    }
}
