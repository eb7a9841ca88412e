//! The reservation table: every reservation kept, open or ended, by id.
//!
//! Ids are handed out in sequence and reservations are mostly forgotten in
//! the order they were made, so the table is a ring indexed by `id - base`:
//! a new reservation is appended (no hashing, no rehash of a growing hash
//! table, no random cache miss), a lookup is an index, and expiring the
//! oldest reservations reads the front of the ring in order. A reservation
//! that outlives many younger ones (a long TTL among short ones) would
//! leave the ring mostly empty slots behind it; once the ring spans more
//! than twice the reservations it holds (plus [`RING_SLACK`]), its oldest
//! entries move to a hash map on the side, so memory stays proportional to
//! what is kept.

use std::collections::VecDeque;

use crate::ids::ReservationId;
use crate::ring::make_room;
use crate::state::{HashMap, Reservation};

/// Empty slots the ring may hold beyond one per reservation it keeps.
pub const RING_SLACK: usize = 1024;

#[derive(Debug, Clone, Default)]
pub(crate) struct ReservationTable {
    /// Slot `i` holds reservation `base + i`, if it is kept.
    ring: VecDeque<Option<Reservation>>,
    base: u64,
    /// Reservations in the ring.
    in_ring: usize,
    /// Reservations that are not in the ring's span.
    side: HashMap<ReservationId, Reservation>,
}

impl ReservationTable {
    pub(crate) fn len(&self) -> usize {
        self.in_ring + self.side.len()
    }

    /// Room for exactly `n` more reservations in sequence (the caller
    /// keeps it within the table's cap).
    pub(crate) fn reserve(&mut self, n: usize) {
        self.ring.reserve_exact(n);
    }

    #[cfg(test)]
    pub(crate) fn ring_capacity(&self) -> usize {
        self.ring.capacity()
    }

    fn slot(&self, id: ReservationId) -> Option<usize> {
        let i = usize::try_from(id.0.checked_sub(self.base)?).ok()?;
        (i < self.ring.len()).then_some(i)
    }

    pub(crate) fn get(&self, id: &ReservationId) -> Option<&Reservation> {
        match self.slot(*id) {
            Some(i) => self.ring.get(i)?.as_ref(),
            None => self.side.get(id),
        }
    }

    pub(crate) fn get_mut(&mut self, id: &ReservationId) -> Option<&mut Reservation> {
        match self.slot(*id) {
            Some(i) => self.ring.get_mut(i)?.as_mut(),
            None => self.side.get_mut(id),
        }
    }

    /// Keeps `r` under `id`; returns what was kept there before. `cap` is
    /// the most reservations the table holds: the ring's allocation stops
    /// growing there on its way (`ring::make_room`).
    pub(crate) fn insert(
        &mut self,
        id: ReservationId,
        r: Reservation,
        cap: usize,
    ) -> Option<Reservation> {
        if let Some(i) = self.slot(id) {
            let old = self.ring.get_mut(i)?.replace(r);
            if old.is_none() {
                self.in_ring += 1;
            }
            return old;
        }
        if id.0 == u64::MAX {
            // Only a decoded snapshot could hold the last id; the ring
            // never reaches it, so `base + len` cannot overflow.
            return self.side.insert(id, r);
        }
        // Every id on the side is below `base`, so that an id at or past
        // the ring's end is never also on the side.
        if self.ring.is_empty() && (id.0 >= self.base || self.side.is_empty()) {
            self.base = id.0;
        }
        let end = self.base + self.ring.len() as u64;
        if id.0 < end {
            // Older than the ring.
            return self.side.insert(id, r);
        }
        let mut gap = usize::try_from(id.0 - end).unwrap_or(usize::MAX);
        if gap > self.span_max() {
            // Ids jumped far ahead: start the ring afresh there.
            self.move_all_aside();
            self.base = id.0;
            gap = 0;
        }
        make_room(&mut self.ring, gap + 1, cap.saturating_add(RING_SLACK));
        self.ring.extend(std::iter::repeat_n(None, gap));
        self.ring.push_back(Some(r));
        self.in_ring += 1;
        self.trim();
        None
    }

    pub(crate) fn remove(&mut self, id: &ReservationId) -> Option<Reservation> {
        let Some(i) = self.slot(*id) else {
            return self.side.remove(id);
        };
        let old = self.ring.get_mut(i)?.take();
        if old.is_some() {
            self.in_ring -= 1;
            self.trim();
        }
        old
    }

    /// Every reservation with its id, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&ReservationId, &Reservation)> {
        self.side
            .iter()
            .chain(self.ring.iter().flatten().map(|r| (&r.id, r)))
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &Reservation> {
        self.iter().map(|(_, r)| r)
    }

    fn span_max(&self) -> usize {
        self.in_ring.saturating_mul(2).saturating_add(RING_SLACK)
    }

    /// Drops empty slots at the front, and moves the oldest reservations
    /// aside while the ring spans too many empty slots.
    fn trim(&mut self) {
        loop {
            match self.ring.front() {
                Some(None) => {}
                Some(Some(_)) if self.ring.len() > self.span_max() => {}
                _ => return,
            }
            if let Some(Some(r)) = self.ring.pop_front() {
                self.in_ring -= 1;
                self.side.insert(r.id, r);
            }
            self.base += 1;
        }
    }

    fn move_all_aside(&mut self) {
        for r in std::mem::take(&mut self.ring).into_iter().flatten() {
            self.side.insert(r.id, r);
        }
        self.in_ring = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::ReservationState;
    use crate::ids::{AssetId, OrderId, ParticipantId, VenueId};
    use std::collections::BTreeMap;

    /// Larger than any test's table: the ring grows by doubling.
    const CAP: usize = usize::MAX;

    fn res(id: u64) -> Reservation {
        Reservation {
            id: ReservationId(id),
            venue: VenueId::new("V").unwrap(),
            participant: crate::participants::ParticipantTable::default()
                .slot_or_insert(&ParticipantId::new("P").unwrap()),
            asset: AssetId::new("A").unwrap(),
            order_id: OrderId::new("O").unwrap(),
            held: rust_decimal::Decimal::ONE,
            expires_at_ms: id as i64,
            state: ReservationState::Open,
            commit_seq: None,
        }
    }

    /// The table against a BTreeMap under a deterministic mix of appends,
    /// out-of-order inserts, removals near the front and far behind it,
    /// and id jumps; memory stays within its bound throughout.
    #[test]
    fn behaves_like_a_map_and_bounds_its_span() {
        let mut t = ReservationTable::default();
        let mut m: BTreeMap<u64, Reservation> = BTreeMap::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = 1u64;
        for step in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x % 16 {
                // Mostly appends in sequence, sometimes skipping an id.
                0..=7 => {
                    next += 1 + u64::from(x.is_multiple_of(97));
                    assert_eq!(
                        t.insert(ReservationId(next), res(next), CAP),
                        m.insert(next, res(next))
                    );
                }
                // Remove one of the oldest kept (mostly in order).
                8..=10 => {
                    if let Some(&k) = m.keys().nth((x >> 8) as usize % 4) {
                        assert_eq!(t.remove(&ReservationId(k)), m.remove(&k));
                    }
                }
                // Remove a recent one, or one never made.
                11..=12 => {
                    let k = next.saturating_sub((x >> 8) % 64);
                    assert_eq!(t.remove(&ReservationId(k)), m.remove(&k));
                }
                // Re-insert an old id (a snapshot's order is free).
                13 => {
                    let k = (x >> 8) % next.max(1);
                    assert_eq!(t.insert(ReservationId(k), res(k), CAP), m.insert(k, res(k)));
                }
                // Lookups and in-place changes.
                14 => {
                    let k = (x >> 8) % (next + 2);
                    assert_eq!(t.get(&ReservationId(k)), m.get(&k));
                    if let (Some(a), Some(b)) = (t.get_mut(&ReservationId(k)), m.get_mut(&k)) {
                        a.commit_seq = Some(step);
                        b.commit_seq = Some(step);
                    }
                }
                // Rarely, a far jump in ids.
                _ => {
                    if x % 1000 == 15 {
                        next += 1_000_000;
                    }
                }
            }
            assert_eq!(t.len(), m.len());
            assert!(
                t.ring.len() <= t.span_max() + 1,
                "ring {} for {} kept",
                t.ring.len(),
                t.in_ring
            );
        }
        let mut all: Vec<(u64, &Reservation)> = t.iter().map(|(k, r)| (k.0, r)).collect();
        all.sort_by_key(|e| e.0);
        let want: Vec<(u64, &Reservation)> = m.iter().map(|(k, r)| (*k, r)).collect();
        assert_eq!(all, want);
        assert!(!t.side.is_empty() && t.in_ring > 0, "both parts exercised");
    }

    #[test]
    fn the_last_id_and_ids_below_the_ring_go_aside() {
        let mut t = ReservationTable::default();
        t.insert(ReservationId(10), res(10), CAP);
        t.remove(&ReservationId(10));
        t.insert(ReservationId(u64::MAX), res(u64::MAX), CAP);
        assert_eq!(
            (t.base, t.ring.len()),
            (11, 0),
            "the last id never becomes the base"
        );
        t.insert(ReservationId(5), res(5), CAP);
        t.insert(ReservationId(3), res(3), CAP);
        assert_eq!(t.len(), 3);
        assert_eq!(
            t.get(&ReservationId(u64::MAX)).map(|r| r.id),
            Some(ReservationId(u64::MAX))
        );
        assert_eq!(
            t.remove(&ReservationId(3)).map(|r| r.id),
            Some(ReservationId(3))
        );
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn a_long_lived_reservation_does_not_pin_empty_slots() {
        let mut t = ReservationTable::default();
        t.insert(ReservationId(1), res(1), CAP);
        for id in 2..100_000u64 {
            t.insert(ReservationId(id), res(id), CAP);
            if id > 2 {
                t.remove(&ReservationId(id - 1));
            }
        }
        // Reservation 1 is still kept, the ring stays short.
        assert!(t.get(&ReservationId(1)).is_some());
        assert!(t.ring.len() <= 2 * t.in_ring + RING_SLACK + 1);
        assert_eq!(t.len(), 2);
    }
}
