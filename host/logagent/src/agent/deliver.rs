//! One batch delivered to every writer. Each writer has its own progress in the in-flight
//! batch, so a retry goes only to the writers that have not taken it yet (Polaris and syslog
//! both configured: the batch is delivered when both took it, and neither gets it twice).
//!
//! Poison batches: a writer that refuses a batch for good ([`Refused`]: Polaris's HTTP 4xx with
//! retcode 3021) gets it again in halves, each half in turn, splitting further while refused
//! (a packed batch's records are first read back from its body).
//! A record refused alone is rejected: handed back to the agent (which counts it in its
//! source's `rejected_records`, logs it with its file, offset and the reason, and commits its
//! offset as if delivered). Nothing else in the batch is lost, and the source does not stall.
//! The parts carry no source states, so states Polaris refuses cost no record; a batch of
//! states alone that is refused is dropped (the next carries fresh ones).
//! Any other error (network, 5xx, 401/403) stops the round: the batch is tried again later,
//! from where that writer stood.

use std::collections::VecDeque;
use std::ops::Range;
use std::time::Instant;

use super::Key;
use crate::batch::{Batch, Record};
use crate::sink::{Refused, Sink};

/// The batch being delivered: what to commit when every writer took it.
pub(super) struct InFlight {
    /// Its place in the order batches were read (given when first sent; 0 before).
    pub id: u64,
    pub batch: Batch,
    pub ends: Vec<(Key, String, u64)>,
    pub failures: u32,
    pub next_try: Instant,
    /// Per writer (in the order of the writers): the ranges of `batch.records` it still has
    /// to take, in order; empty when it took all.
    todo: Vec<VecDeque<Range<usize>>>,
}

/// A record a writer refused when sent alone.
pub(super) struct Rejected {
    pub record: Record,
    pub writer: String,
    pub reason: String,
}

impl InFlight {
    /// `batch` for the writers, which `wants_status` lists in order (a batch of no records
    /// goes only to writers that want status).
    pub fn new(batch: Batch, ends: Vec<(Key, String, u64)>, wants_status: &[bool]) -> Self {
        let n = batch.len();
        let todo = wants_status
            .iter()
            .map(|wants| {
                if n == 0 && !wants {
                    VecDeque::new()
                } else {
                    let mut all = VecDeque::new();
                    all.push_back(0..n);
                    all
                }
            })
            .collect();
        InFlight {
            id: 0,
            batch,
            ends,
            failures: 0,
            next_try: Instant::now(),
            todo,
        }
    }

    /// Whether no writer has anything left to take.
    #[cfg(test)]
    pub fn delivered(&self) -> bool {
        self.todo.iter().all(VecDeque::is_empty)
    }

    /// Sends to every writer what it has not taken yet. `Ok` when all took the batch; `Err`
    /// names the writer that failed and why. Records refused alone go to `rejected` (each
    /// once: a rejected record is never offered again).
    pub fn deliver(
        &mut self,
        writers: &mut [Box<dyn Sink>],
        rejected: &mut Vec<Rejected>,
    ) -> Result<(), String> {
        let whole = 0..self.batch.len();
        for (writer, todo) in writers.iter_mut().zip(self.todo.iter_mut()) {
            while let Some(range) = todo.front().cloned() {
                let result = if range == whole {
                    writer.send(&self.batch)
                } else {
                    // A part carries no source states: if they were what was refused, the
                    // records still go through (and a batch of states alone is dropped below).
                    writer.send(&Batch {
                        records: self.batch.records[range.clone()].to_vec(),
                        ..Batch::default()
                    })
                };
                match result {
                    Ok(_) => {
                        todo.pop_front();
                    }
                    Err(e) => {
                        let Some(refused) = e.downcast_ref::<Refused>() else {
                            return Err(format!("{}: {e:#}", writer.name()));
                        };
                        todo.pop_front();
                        if let Err(back) = self.batch.unpack() {
                            // Its own body unreadable (never seen): tried again whole, later.
                            todo.push_front(range);
                            return Err(format!(
                                "{}: {e:#}; reading the refused batch back: {back:#}",
                                writer.name()
                            ));
                        }
                        if range.len() <= 1 {
                            if let Some(record) = self.batch.records.get(range.start) {
                                rejected.push(Rejected {
                                    record: record.clone(),
                                    writer: writer.name().to_string(),
                                    reason: refused.reason.clone(),
                                });
                            }
                        } else {
                            let middle = range.start + range.len() / 2;
                            todo.push_front(middle..range.end);
                            todo.push_front(range.start..middle);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use wire::logs::LogAck;

    /// A writer that refuses any batch holding a message containing "bad", and fails (as a
    /// network error) the first `down` sends.
    struct Picky {
        down: usize,
        taken: Vec<String>,
        sends: Arc<AtomicUsize>,
    }

    impl Sink for Picky {
        fn name(&self) -> &str {
            "picky"
        }
        fn send(&mut self, batch: &Batch) -> anyhow::Result<LogAck> {
            self.sends.fetch_add(1, Ordering::Relaxed);
            if self.down > 0 {
                self.down -= 1;
                anyhow::bail!("connection refused");
            }
            if batch.records.iter().any(|r| r.message.contains("bad")) {
                return Err(Refused {
                    reason: "Invalid params".into(),
                }
                .into());
            }
            self.taken
                .extend(batch.records.iter().map(|r| r.message.clone()));
            Ok(LogAck::default())
        }
    }

    fn record(message: &str) -> Record {
        Record {
            source: "s".into(),
            file: "0123456789abcdef".into(),
            offset: 0,
            path: "/x".into(),
            time: 0.0,
            time_from_read: false,
            message: message.into(),
            fields: crate::batch::Fields::Map(Default::default()),
            truncated_bytes: None,
            parse_error: None,
        }
    }

    #[test]
    fn refused_records_are_isolated_and_the_rest_delivered_once() {
        let messages: Vec<String> = (0..37)
            .map(|i| {
                if i % 11 == 5 {
                    format!("bad{i}")
                } else {
                    format!("ok{i}")
                }
            })
            .collect();
        let batch = Batch {
            records: messages.iter().map(|m| record(m)).collect(),
            ..Batch::default()
        };
        let mut writers: Vec<Box<dyn Sink>> = vec![Box::new(Picky {
            down: 0,
            taken: Vec::new(),
            sends: Default::default(),
        })];
        let mut flight = InFlight::new(batch, Vec::new(), &[true; 2][..writers.len()]);
        let mut rejected = Vec::new();
        flight.deliver(&mut writers, &mut rejected).unwrap();
        assert!(flight.delivered());
        let bad: Vec<&str> = rejected.iter().map(|r| r.record.message.as_str()).collect();
        assert_eq!(bad, ["bad5", "bad16", "bad27"]);
        assert_eq!(rejected[0].reason, "Invalid params");
    }

    #[test]
    fn a_retry_skips_the_writer_that_took_the_batch() {
        let batch = Batch {
            records: vec![record("a"), record("b")],
            ..Batch::default()
        };
        let (sent_first, sent_second) =
            (Arc::<AtomicUsize>::default(), Arc::<AtomicUsize>::default());
        let first = Picky {
            down: 0,
            taken: Vec::new(),
            sends: Arc::clone(&sent_first),
        };
        let second = Picky {
            down: 2,
            taken: Vec::new(),
            sends: Arc::clone(&sent_second),
        };
        let mut writers: Vec<Box<dyn Sink>> = vec![Box::new(first), Box::new(second)];
        let mut flight = InFlight::new(batch, Vec::new(), &[true; 2][..writers.len()]);
        let mut rejected = Vec::new();
        let e = flight.deliver(&mut writers, &mut rejected).unwrap_err();
        assert!(e.contains("connection refused"), "{e}");
        assert!(flight.deliver(&mut writers, &mut rejected).is_err());
        assert!(!flight.delivered());
        flight.deliver(&mut writers, &mut rejected).unwrap();
        assert!(flight.delivered() && rejected.is_empty());
        // Three rounds: the first writer was sent the batch once, the second three times.
        let sent = (
            sent_first.load(Ordering::Relaxed),
            sent_second.load(Ordering::Relaxed),
        );
        assert_eq!(sent, (1, 3));
    }
}
