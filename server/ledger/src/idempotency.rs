//! The idempotency table: the answer to every check, by (venue, order id),
//! kept in the order the checks arrived.
//!
//! The records themselves sit in a ring, oldest first, each numbered by a
//! sequence number that only grows. A hash index leads from a key's hash to
//! its record's sequence number. Each record keeps its key's hash, so
//! forgetting the oldest record (the common case of a full table) finds
//! its index entry by that hash and sequence number: it reads none of the
//! key's text and hashes nothing. A record costs no allocation of its own
//! (the ring grows by doubling up to the table's cap, like the
//! reservation ring).
//!
//! The hash is foldhash, seeded per process, as for the ledger's other maps
//! (order ids are chosen by clients).

use std::collections::VecDeque;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::command::{CheckAnswer, CheckRequest, UnixMs};
use crate::ids::{OrderId, VenueId};
use crate::ring::make_room;

/// A check's request and the answer it got, to answer a repeat the same way.
#[derive(Debug, Clone, PartialEq)]
pub struct IdemRecord {
    pub request: CheckRequest,
    pub answer: CheckAnswer,
}

#[derive(Debug, Clone)]
struct Entry {
    hash: u64,
    at: UnixMs,
    venue: VenueId,
    record: IdemRecord,
}

impl Entry {
    fn is(&self, venue: &VenueId, order: &OrderId) -> bool {
        self.record.request.order_id == *order && self.venue == *venue
    }
}

/// Every remembered answer, by key and in arrival order.
#[derive(Debug, Clone, Default)]
pub struct IdempotencyTable {
    /// Sequence numbers of the records in `ring`, by their key's hash.
    index: HashTable<u64>,
    /// The records, oldest first; `ring[i]` has sequence number `first + i`.
    ring: VecDeque<Entry>,
    first: u64,
    hasher: foldhash::fast::RandomState,
}

/// A key that is already in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duplicate;

impl IdempotencyTable {
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Room for exactly `additional` more records (the caller keeps it
    /// within the table's cap).
    pub fn reserve(&mut self, additional: usize) {
        let Self {
            index, ring, first, ..
        } = self;
        index.reserve(additional, |&seq| ring[(seq - *first) as usize].hash);
        ring.reserve_exact(additional);
    }

    fn hash(&self, venue: &VenueId, order: &OrderId) -> u64 {
        self.hasher.hash_one((venue.as_str(), order.as_str()))
    }

    /// The record for a key.
    pub fn get(&self, venue: &VenueId, order: &OrderId) -> Option<&IdemRecord> {
        let hash = self.hash(venue, order);
        let seq = self
            .index
            .find(hash, |&seq| self.entry(seq).is(venue, order))?;
        Some(&self.entry(*seq).record)
    }

    fn entry(&self, seq: u64) -> &Entry {
        &self.ring[(seq - self.first) as usize]
    }

    /// Remembers the answer to a check on `venue` (its order id is the
    /// request's) whose key the caller has just looked up and not found:
    /// the check path looks each key up once. `cap` is the most records
    /// the table holds: the ring's allocation stops growing there
    /// (`ring::make_room`).
    pub fn push(&mut self, at: UnixMs, venue: VenueId, record: IdemRecord, cap: usize) {
        debug_assert!(
            self.get(&venue, &record.request.order_id).is_none(),
            "order id already remembered"
        );
        let hash = self.hash(&venue, &record.request.order_id);
        let seq = self.first + self.ring.len() as u64;
        make_room(&mut self.ring, 1, cap);
        self.ring.push_back(Entry {
            hash,
            at,
            venue,
            record,
        });
        let Self {
            index, ring, first, ..
        } = self;
        index.insert_unique(hash, seq, |&s| ring[(s - *first) as usize].hash);
    }

    /// [`IdempotencyTable::push`] for a key not yet looked up (a decoded
    /// snapshot): refuses a key the table already holds.
    pub fn insert(
        &mut self,
        at: UnixMs,
        venue: VenueId,
        record: IdemRecord,
        cap: usize,
    ) -> Result<(), Duplicate> {
        if self.get(&venue, &record.request.order_id).is_some() {
            return Err(Duplicate);
        }
        self.push(at, venue, record, cap);
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn ring_capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// The oldest record.
    pub fn oldest(&self) -> Option<&IdemRecord> {
        self.ring.front().map(|e| &e.record)
    }

    /// When the oldest record was made.
    pub fn oldest_at(&self) -> Option<UnixMs> {
        self.ring.front().map(|e| e.at)
    }

    /// Forgets the oldest record.
    pub fn pop_oldest(&mut self) {
        let Some(oldest) = self.ring.pop_front() else {
            return;
        };
        let seq = self.first;
        self.first += 1;
        if let Ok(slot) = self.index.find_entry(oldest.hash, |&s| s == seq) {
            slot.remove();
        }
    }

    /// Every record, oldest first, with its time and venue.
    pub fn iter(&self) -> impl Iterator<Item = (UnixMs, &VenueId, &IdemRecord)> {
        self.ring.iter().map(|e| (e.at, &e.venue, &e.record))
    }

    /// Whether the index and the ring agree: every record is found by its
    /// key, under its own sequence number.
    pub fn is_consistent(&self) -> bool {
        self.index.len() == self.ring.len()
            && self.ring.iter().enumerate().all(|(i, e)| {
                let hash = self.hash(&e.venue, &e.record.request.order_id);
                hash == e.hash
                    && self.index.find(hash, |&seq| {
                        self.entry(seq).is(&e.venue, &e.record.request.order_id)
                    }) == Some(&(self.first + i as u64))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{HeadroomBucket, Verdict};
    use crate::ids::{AssetId, ParticipantId};
    use rust_decimal::Decimal;

    fn record(order: &str) -> IdemRecord {
        let order_id = OrderId::new(order).unwrap();
        IdemRecord {
            request: CheckRequest {
                order_id: order_id.clone(),
                participant: ParticipantId::new("p").unwrap(),
                asset: AssetId::new("BTC").unwrap(),
                quantity: Decimal::ONE,
                ttl_ms: None,
                risk_reducing: false,
                dry_run: false,
                allow_partial: false,
            },
            answer: CheckAnswer {
                order_id,
                verdict: Verdict::Approved,
                reservation: None,
                approved: Decimal::ONE,
                expires_at_ms: None,
                reason: None,
                headroom: HeadroomBucket::None,
                dry_run: false,
            },
        }
    }

    const CAP: usize = 1000;

    fn venue(v: &str) -> VenueId {
        VenueId::new(v).unwrap()
    }

    fn order(o: &str) -> OrderId {
        OrderId::new(o).unwrap()
    }

    #[test]
    fn finds_by_key_forgets_oldest_first_and_refuses_duplicates() {
        let mut t = IdempotencyTable::default();
        for i in 0..100 {
            t.insert(
                i,
                venue(&format!("v{}", i % 3)),
                record(&format!("o{i}")),
                CAP,
            )
            .unwrap();
        }
        // The same order id on another venue is another key.
        t.push(100, venue("v9"), record("o0"), CAP);
        assert_eq!(
            t.insert(101, venue("v0"), record("o0"), CAP),
            Err(Duplicate),
            "a key is held once"
        );
        assert_eq!(t.len(), 101);
        assert!(t.is_consistent());
        assert_eq!(t.get(&venue("v1"), &order("o1")), Some(&record("o1")));
        assert_eq!(t.get(&venue("v0"), &order("o1")), None);
        for _ in 0..50 {
            t.pop_oldest();
        }
        assert_eq!(t.len(), 51);
        assert_eq!(t.oldest_at(), Some(50));
        assert_eq!(t.get(&venue("v1"), &order("o1")), None);
        assert!(t.get(&venue("v2"), &order("o50")).is_some());
        assert!(t.get(&venue("v9"), &order("o0")).is_some());
        assert!(t.is_consistent());
        // A forgotten key can be remembered again, as the newest.
        t.insert(200, venue("v1"), record("o1"), CAP).unwrap();
        assert_eq!(t.iter().last().map(|(at, _, _)| at), Some(200));
        t.reserve(1000);
        assert!(t.is_consistent());
        while t.len() > 0 {
            t.pop_oldest();
        }
        assert!(t.is_consistent());
        assert_eq!(t.oldest_at(), None);
    }
}
