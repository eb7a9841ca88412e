//! The expiry queue: deadlines of open reservations, earliest first.
//!
//! With one TTL for every check (the default), deadlines come in the order
//! reservations are made, so most entries go to a FIFO whose front is read
//! and popped in sequence: no heap sifting, which at a few hundred thousand
//! entries touches a cache line per level. Entries that would break that
//! order (a shorter TTL after a longer one, a clock that stepped back) go
//! to a binary heap instead. Popping takes the smaller front of the two, so
//! the order is exactly that of one heap keyed by (deadline, id): a replay
//! expires the same reservations in the same order whichever way its
//! entries were split.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::command::UnixMs;
use crate::ids::ReservationId;

type Entry = (UnixMs, ReservationId);

#[derive(Debug, Clone, Default)]
pub(crate) struct ExpiryQueue {
    /// Entries in ascending (deadline, id) order.
    fifo: VecDeque<Entry>,
    /// Entries that arrived out of that order.
    heap: BinaryHeap<Reverse<Entry>>,
}

impl ExpiryQueue {
    pub(crate) fn len(&self) -> usize {
        self.fifo.len() + self.heap.len()
    }

    pub(crate) fn push(&mut self, deadline: UnixMs, id: ReservationId) {
        let entry = (deadline, id);
        if self.fifo.back().is_none_or(|back| *back <= entry) {
            self.fifo.push_back(entry);
        } else {
            self.heap.push(Reverse(entry));
        }
    }

    /// Whether the earliest entry is the FIFO's front (else the heap's top).
    fn earliest_in_fifo(&self) -> bool {
        match (self.fifo.front(), self.heap.peek()) {
            (Some(f), Some(Reverse(h))) => f <= h,
            (f, _) => f.is_some(),
        }
    }

    /// The earliest entry.
    pub(crate) fn peek(&self) -> Option<Entry> {
        if self.earliest_in_fifo() {
            self.fifo.front().copied()
        } else {
            self.heap.peek().map(|r| r.0)
        }
    }

    /// Removes and returns the earliest entry.
    pub(crate) fn pop(&mut self) -> Option<Entry> {
        if self.earliest_in_fifo() {
            self.fifo.pop_front()
        } else {
            self.heap.pop().map(|r| r.0)
        }
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Entry> + '_ {
        self.fifo
            .iter()
            .copied()
            .chain(self.heap.iter().map(|r| r.0))
    }

    /// Replaces every entry with `entries` (any order).
    pub(crate) fn rebuild(&mut self, entries: impl Iterator<Item = Entry>) {
        let mut all: Vec<Entry> = entries.collect();
        all.sort_unstable();
        self.fifo = all.into();
        self.heap = BinaryHeap::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(q: &mut ExpiryQueue) -> Vec<Entry> {
        std::iter::from_fn(|| q.pop()).collect()
    }

    #[test]
    fn pops_in_deadline_then_id_order_like_one_heap() {
        // A deterministic mix of in-order and out-of-order pushes.
        let mut q = ExpiryQueue::default();
        let mut heap = BinaryHeap::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for id in 1..=5_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly rising deadlines, one in eight far earlier.
            let deadline = if x.is_multiple_of(8) {
                (id as i64) - (x % 1_000) as i64
            } else {
                id as i64 + 30
            };
            q.push(deadline, ReservationId(id));
            heap.push(Reverse((deadline, ReservationId(id))));
            // Interleave pops so that both parts empty and refill.
            if x.is_multiple_of(5) {
                assert_eq!(q.peek(), heap.peek().map(|r| r.0));
                assert_eq!(q.pop(), heap.pop().map(|r| r.0));
            }
        }
        assert_eq!(q.len(), heap.len());
        assert!(!q.heap.is_empty() && !q.fifo.is_empty());
        let want: Vec<Entry> = std::iter::from_fn(|| heap.pop().map(|r| r.0)).collect();
        assert_eq!(drain(&mut q), want);
        assert_eq!((q.peek(), q.pop(), q.len()), (None, None, 0));
    }

    #[test]
    fn equal_deadlines_pop_by_id_and_rebuild_sorts() {
        let mut q = ExpiryQueue::default();
        q.push(10, ReservationId(2));
        q.push(10, ReservationId(1)); // out of order: goes to the heap
        q.push(5, ReservationId(3));
        assert_eq!(
            drain(&mut q),
            vec![
                (5, ReservationId(3)),
                (10, ReservationId(1)),
                (10, ReservationId(2))
            ]
        );
        q.push(7, ReservationId(9));
        q.rebuild([(3, ReservationId(4)), (1, ReservationId(5))].into_iter());
        assert_eq!(q.heap.len(), 0);
        assert_eq!(
            drain(&mut q),
            vec![(1, ReservationId(5)), (3, ReservationId(4))]
        );
    }
}
