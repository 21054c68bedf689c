//! A write plugin's queue: bounded by collectd's high/low watermarks, with an in-flight batch
//! that is only removed once the plugin confirmed it.
//!
//! When the queue passes `high` it drops its oldest values down to `low` and counts them. The
//! batch being written is never dropped, so every value is either written or counted in
//! `dropped`, exactly once.

use std::collections::VecDeque;

use plugin_api::ValueList;

/// The queue of one write plugin.
#[derive(Debug)]
pub struct WriteQueue {
    items: VecDeque<ValueList>,
    /// How many items at the front are being written right now.
    in_flight: usize,
    high: usize,
    low: usize,
    dropped: u64,
}

impl WriteQueue {
    /// An empty queue with the given watermarks (`low <= high`).
    pub fn new(high: usize, low: usize) -> Self {
        WriteQueue {
            items: VecDeque::new(),
            in_flight: 0,
            high,
            low: low.min(high),
            dropped: 0,
        }
    }

    /// Appends values, dropping the oldest ones not in flight if the queue passes `high`.
    pub fn push(&mut self, values: impl IntoIterator<Item = ValueList>) {
        self.items.extend(values);
        self.trim();
    }

    /// Puts `older` (a predecessor's queue, oldest first) before what is queued here, then
    /// drops the oldest past `high` as [`push`](Self::push) does. Only while nothing is in
    /// flight (the new writer's thread has not started).
    pub fn prepend(&mut self, older: Vec<ValueList>) {
        debug_assert_eq!(self.in_flight, 0);
        for value in older.into_iter().rev() {
            self.items.push_front(value);
        }
        self.trim();
    }

    /// Takes everything queued, the batch in flight included (it was not confirmed, so it
    /// goes with the rest); a commit or abort of that batch afterwards changes nothing.
    pub fn take_all(&mut self) -> Vec<ValueList> {
        self.in_flight = 0;
        self.items.drain(..).collect()
    }

    fn trim(&mut self) {
        if self.items.len() > self.high {
            let excess = self.items.len() - self.low.max(self.in_flight);
            let droppable = self.items.len() - self.in_flight;
            let n = excess.min(droppable);
            self.items.drain(self.in_flight..self.in_flight + n);
            self.dropped += n as u64;
        }
    }

    /// Starts writing: a copy of up to `max` values from the front, which stay queued (and are
    /// never dropped) until [`commit`](Self::commit) or [`abort`](Self::abort).
    pub fn begin(&mut self, max: usize) -> Vec<ValueList> {
        self.in_flight = self.items.len().min(max);
        self.items.iter().take(self.in_flight).cloned().collect()
    }

    /// The batch was written: remove it.
    pub fn commit(&mut self) {
        self.items.drain(..self.in_flight);
        self.in_flight = 0;
    }

    /// The batch was not written: keep it at the front for the next try.
    pub fn abort(&mut self) {
        self.in_flight = 0;
    }

    /// Values waiting, including any in flight.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Values dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The watermarks `(high, low)`.
    pub fn limits(&self) -> (usize, usize) {
        (self.high, self.low)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::Value;

    fn lists(range: std::ops::Range<i64>) -> Vec<ValueList> {
        range
            .map(|i| ValueList::new("t", "derive", vec![Value::Derive(i)]))
            .collect()
    }

    fn ids(values: &[ValueList]) -> Vec<i64> {
        values.iter().map(|v| v.values[0].as_f64() as i64).collect()
    }

    #[test]
    fn drops_oldest_down_to_low_and_counts() {
        let mut q = WriteQueue::new(10, 6);
        q.push(lists(0..10));
        assert_eq!((q.len(), q.dropped()), (10, 0));
        q.push(lists(10..11));
        assert_eq!((q.len(), q.dropped()), (6, 5));
        assert_eq!(ids(&q.begin(100)), [5, 6, 7, 8, 9, 10]);
    }

    #[test]
    fn in_flight_batch_survives_overflow_and_accounting_is_exact() {
        let mut q = WriteQueue::new(10, 6);
        q.push(lists(0..8));
        let batch = q.begin(4);
        assert_eq!(ids(&batch), [0, 1, 2, 3]);
        q.push(lists(8..20)); // 20 queued: 4 in flight protected
        assert_eq!(q.len(), 6);
        assert_eq!(q.dropped(), 14);
        q.commit();
        let rest = q.begin(100);
        assert_eq!(ids(&rest), [18, 19]);
        q.commit();
        // Everything pushed is either written (4 + 2) or dropped (14).
        assert_eq!(4 + 2 + q.dropped(), 20);
    }

    #[test]
    fn a_queue_handed_over_keeps_its_order_and_its_batch_in_flight() {
        let mut old = WriteQueue::new(10, 6);
        old.push(lists(0..5));
        assert_eq!(ids(&old.begin(2)), [0, 1]);
        let taken = old.take_all();
        old.commit(); // the old writer's late confirmation changes nothing
        assert!(old.is_empty());
        let mut new = WriteQueue::new(10, 6);
        new.push(lists(5..8));
        new.prepend(taken);
        assert_eq!(ids(&new.begin(100)), [0, 1, 2, 3, 4, 5, 6, 7]);
        new.abort();
        // Past `high` the oldest go, counted, as with push.
        new.prepend(lists(100..104));
        assert_eq!((new.len(), new.dropped()), (6, 6));
        assert_eq!(ids(&new.begin(100)), [2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn abort_keeps_the_batch_for_retry() {
        let mut q = WriteQueue::new(100, 50);
        q.push(lists(0..3));
        assert_eq!(ids(&q.begin(2)), [0, 1]);
        q.abort();
        assert_eq!(ids(&q.begin(10)), [0, 1, 2]);
        q.commit();
        assert!(q.is_empty());
    }
}
