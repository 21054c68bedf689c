//! The agent's loop: this thread scans, reads, parses and writes the batch's body (Polaris's
//! compressed JSON, `pack`); a sender thread owns the writers and delivers one batch at a
//! time, and when every writer can be doubled (Polaris: more connections) [`SENDERS`] sender
//! threads with copies of them deliver a batch each, while the next is read (one batch ahead,
//! no more): the receiver works on one while it is sent another. The
//! delivery contract is the single thread's: results are taken in the order the batches were
//! read, a batch's offsets are committed only when every writer took it and every batch
//! before it was committed; a batch that fails comes back and is tried again (from where each
//! writer stood), alone, before any later one (a later one already delivered goes through
//! again without being sent again), and while a writer fails nothing more is read than the
//! batch already ahead. On SIGTERM the batches at the senders are waited for, and those
//! delivered committed in order.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use super::deliver::{InFlight, Rejected};
use super::{Agent, counters, sleep_unless};
use crate::sink::{Sink, backoff};
use crate::state::{SavedFile, State};

/// Sender threads, so batches in flight, when every writer can be doubled. Into Polaris on
/// this 2-core machine (benchmark P5), before bodies were packed: 44-48 MiB/s with two,
/// 53 with three, 48 with four (Polaris's two cores then wait on each other).
const SENDERS: usize = 3;

/// Generations to save and ids to forget, committed in one transaction.
pub(super) type Commit = (Vec<SavedFile>, Vec<String>);

/// The writers of a sender thread: the agent's, or the copies of another thread.
enum SenderWriters<'w> {
    Borrowed(&'w mut [Box<dyn Sink>]),
    Owned(Vec<Box<dyn Sink>>),
}

impl SenderWriters<'_> {
    fn get(&mut self) -> &mut [Box<dyn Sink>] {
        match self {
            SenderWriters::Borrowed(writers) => writers,
            SenderWriters::Owned(writers) => writers,
        }
    }
}

/// A batch back from the sender thread, and how its delivery went.
struct Delivered {
    flight: InFlight,
    /// `Err` names the writer that failed and why.
    result: Result<(), String>,
    /// Records a writer refused for good when sent alone.
    rejected: Vec<Rejected>,
}

/// The two ends of the hand-off to the sender threads.
struct Hand<'a> {
    to_sender: &'a SyncSender<InFlight>,
    results: &'a Receiver<Delivered>,
    /// Batches at the senders at most (one per sender thread).
    in_flight: usize,
}

impl Agent {
    /// Runs until `stop` is set: scan, look, read, deliver to every writer (on the sender
    /// thread, while the next batch is read), commit.
    pub fn run(&mut self, writers: &mut [Box<dyn Sink>], stop: &AtomicBool) -> anyhow::Result<()> {
        let wants: Vec<bool> = writers.iter().map(|w| w.wants_status()).collect();
        self.packer = if writers.iter().all(|w| w.wants_packed()) {
            Some(crate::pack::Packer::new()?)
        } else {
            None
        };
        // More sender threads, each with its own writers, when every writer can be doubled
        // (Polaris: another connection); syslog keeps one stream in order.
        let copies: Option<Vec<Vec<Box<dyn Sink>>>> = (1..SENDERS)
            .map(|_| writers.iter().map(|w| w.try_clone()).collect())
            .collect();
        let in_flight = copies.as_ref().map_or(1, |copies| copies.len() + 1);
        let (to_sender, batches) = mpsc::sync_channel::<InFlight>(in_flight);
        let batches = Mutex::new(batches);
        let batches = &batches;
        std::thread::scope(|scope| {
            let (to_agent, results) = mpsc::channel::<Delivered>();
            let mut sets = vec![SenderWriters::Borrowed(writers)];
            sets.extend(copies.into_iter().flatten().map(SenderWriters::Owned));
            for (n, mut set) in sets.into_iter().enumerate() {
                let to_agent = to_agent.clone();
                std::thread::Builder::new()
                    .name(format!("sender{n}"))
                    .spawn_scoped(scope, move || {
                        let writers = set.get();
                        loop {
                            // The lock is held while waiting, not while delivering.
                            let next = match batches.lock() {
                                Ok(batches) => batches.recv(),
                                Err(_) => break,
                            };
                            let Ok(mut flight) = next else {
                                break;
                            };
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
            }
            drop(to_agent);
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
                in_flight,
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
        // The batches at the sender threads by id (the order they were read in), with their
        // result once back; results are taken in that order only.
        let mut out: BTreeMap<u64, Option<Delivered>> = BTreeMap::new();
        let mut next_id = 1u64;
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
                self.ahead = self.fill_batch(false, wants)?;
            }
            if Instant::now() >= next_snapshot {
                self.refresh_snapshot();
                next_snapshot = Instant::now() + Duration::from_secs(1);
            }
            // After a failure, one batch at a time, the oldest first.
            let limit = if self.waiting.is_empty() {
                hand.in_flight
            } else {
                1
            };
            let next = if out.len() >= limit {
                None
            } else if let Some(first) = self.waiting.front() {
                if Instant::now() >= first.next_try {
                    self.waiting.pop_front()
                } else {
                    None
                }
            } else if let Some(ahead) = self.ahead.take() {
                Some(ahead)
            } else if out.is_empty() && wants.iter().any(|w| *w) {
                self.status_batch(wants)
            } else {
                None
            };
            if let Some(mut flight) = next {
                if flight.id == 0 {
                    flight.id = next_id;
                    next_id += 1;
                }
                flight.batch.sources = self.source_statuses();
                flight.batch.end_packed()?;
                self.sent_keys
                    .insert(flight.id, flight.ends.iter().map(|e| e.0).collect());
                out.insert(flight.id, None);
                hand.to_sender
                    .send(flight)
                    .map_err(|_| anyhow::anyhow!("the sender thread stopped"))?;
                continue;
            }
            if out.is_empty() {
                self.save()?;
                sleep_unless(stop, poll);
                continue;
            }
            // Everything that may go is out (or waits for its next try): wait for a result.
            match hand.results.recv_timeout(poll) {
                Ok(done) => {
                    out.insert(done.flight.id, Some(done));
                    self.take_results(&mut out, retry_max)?;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    anyhow::bail!("the sender thread stopped")
                }
            }
        }
        while out.values().any(Option::is_none) {
            let Ok(done) = hand.results.recv() else {
                break;
            };
            out.insert(done.flight.id, Some(done));
        }
        self.take_results(&mut out, retry_max)?;
        self.refresh_snapshot();
        Ok(())
    }

    /// Takes the results back from the senders in the order the batches were read, up to the
    /// first still out: a batch is committed only when every batch before it was.
    fn take_results(
        &mut self,
        out: &mut BTreeMap<u64, Option<Delivered>>,
        retry_max: Duration,
    ) -> anyhow::Result<()> {
        while let Some(mut entry) = out.first_entry() {
            let Some(done) = entry.get_mut().take() else {
                return Ok(());
            };
            entry.remove();
            self.sent_keys.remove(&done.flight.id);
            self.delivered(done, retry_max)?;
        }
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
        if self
            .waiting
            .front()
            .is_some_and(|first| first.id < flight.id)
        {
            // A batch before this one failed: this one goes after it (again, if it was
            // delivered: its writers' progress says there is nothing left to send).
            if let Err(e) = result {
                self.sink_error = Some(e);
            }
            self.waiting.push_back(flight);
            return Ok(());
        }
        match result {
            Ok(()) if flight.batch.is_empty() => {
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
                // The oldest batch not committed: before those that came back after it.
                self.waiting.push_front(flight);
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
