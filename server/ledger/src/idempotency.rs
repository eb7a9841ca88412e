//! The idempotency table: the answer to every check, by (venue, order id),
//! kept in the order the checks arrived, in a fixed number of bytes each.
//!
//! A record holds no text and owns no heap memory: the key is a 128-bit
//! digest of the venue and the order id ([`Key`]), the request a 64-bit
//! fingerprint of what a repeat must match ([`fingerprint`]), and the
//! answer its numbers and codes ([`Remembered`]). Everything else in the
//! answer (the order id, the scope of the limit that bound it) is in the
//! repeat itself, so the whole answer is rebuilt from the record and the
//! repeat ([`Remembered::answer`]). A record owns no heap memory, so the
//! table's memory is [`BYTES_PER_RECORD`] per record, and a budget in
//! bytes is a count.
//!
//! The records sit in a ring, oldest first, each numbered by a sequence
//! number that only grows. A hash index leads from a key to its record's
//! sequence number, in two generations ([`IdempotencyTable`]): a forgotten
//! record's key is never erased from its index, which is cleared whole
//! once every key in it is forgotten. The index hashes the digest again with a per-process
//! seed (foldhash, as for the ledger's other maps): the digest's keys are
//! fixed, since snapshots hold digests, so a venue could compute it and
//! choose order ids that pile up in one bucket of an index keyed by the
//! digest alone.
//!
//! Digests collide with probability about n² / 2¹²⁹ (n records: below
//! 10⁻²⁴ at 10⁷); fingerprints, about 2⁻⁶⁴ per repeat with another request.
//! A venue that computes the digest could make its own order ids collide;
//! it would only answer its own orders with its own earlier answers.

use std::collections::VecDeque;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use rust_decimal::Decimal;
use siphasher::sip128::{Hasher128, SipHasher13};

use crate::command::{
    CheckAnswer, CheckRequest, HeadroomBucket, LimitRef, RejectCode, RejectReason, UnixMs, Verdict,
};
use crate::ids::{LimitId, OrderId, ReservationId, VenueId, ID_LEN_MAX};
use crate::limits::{LimitKind, Scope};
use crate::ring::make_room;

/// SipHash-1-3 keys of the key digest and the request fingerprint. Part of
/// the snapshot format: changing them makes stored digests unreadable.
const KEY_DIGEST_KEYS: (u64, u64) = (0x496e_7465_726c_6f63, 0x6b2d_6964_656d_706f);
const FINGERPRINT_KEYS: (u64, u64) = (0x496e_7465_726c_6f63, 0x6b2d_7265_7175_6573);

/// A (venue, order id) key: SipHash-1-3-128 of the venue's length, the
/// venue and the order id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(pub u64, pub u64);

impl Key {
    pub fn of(venue: &VenueId, order: &OrderId) -> Key {
        let (v, o) = (venue.as_str().as_bytes(), order.as_str().as_bytes());
        let mut buf = [0u8; 1 + 2 * ID_LEN_MAX];
        // Ids are at most ID_LEN_MAX bytes, so the length fits in a byte.
        buf[0] = v.len() as u8;
        buf[1..1 + v.len()].copy_from_slice(v);
        buf[1 + v.len()..1 + v.len() + o.len()].copy_from_slice(o);
        let h = SipHasher13::new_with_keys(KEY_DIGEST_KEYS.0, KEY_DIGEST_KEYS.1)
            .hash(&buf[..1 + v.len() + o.len()]);
        Key(h.h1, h.h2)
    }
}

/// What a repeat of a check must match, as one number: SipHash-1-3 of the
/// participant, the asset, the quantity (normalised: 1.0 and 1 are the
/// same), the flags, the TTL as judged and the liability, if carried. The
/// order id is the key's, and `dry_run` is not part of it (stored orders
/// are never dry runs).
pub fn fingerprint(req: &CheckRequest, ttl_ms: u64) -> u64 {
    use std::hash::Hasher;
    let mut h = SipHasher13::new_with_keys(FINGERPRINT_KEYS.0, FINGERPRINT_KEYS.1);
    for id in [req.participant.as_str(), req.asset.as_str()] {
        h.write_u8(id.len() as u8);
        h.write(id.as_bytes());
    }
    h.write(&req.quantity.normalize().serialize());
    h.write_u8(u8::from(req.risk_reducing) | u8::from(req.allow_partial) << 1);
    h.write_u64(ttl_ms);
    // Only when present, so that the requests remembered before checks
    // could carry one keep their fingerprints.
    if let Some(l) = req.liability {
        h.write_u8(0xff);
        h.write(&l.normalize().serialize());
    }
    h.finish128().h1
}

/// Which of the request's own ids a limit's scope names: a limit binds a
/// check only when each id it names is the check's, so the scope is the
/// check's participant, venue and asset, some of them left out.
const SCOPE_PARTICIPANT: u8 = 1;
const SCOPE_VENUE: u8 = 2;
const SCOPE_ASSET: u8 = 4;

/// The limit that bound a rejection, without its scope's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RememberedLimit {
    pub kind: LimitKind,
    pub scope: u8,
    /// Shares the limit's own text: a long id is reference-counted.
    pub id: Option<LimitId>,
    pub value: Decimal,
}

/// A rejection's reason, without text of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RememberedReason {
    pub code: RejectCode,
    pub utilization: Option<Decimal>,
    pub limit: Option<RememberedLimit>,
}

/// A check's answer as remembered: with the repeat's order id, venue,
/// participant and asset it is the whole answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    /// The request's [`fingerprint`].
    pub request: u64,
    pub verdict: Verdict,
    pub headroom: HeadroomBucket,
    /// The reservation's id, 0 for none (ids start at 1).
    pub reservation: u64,
    /// When the reservation expires (meaningless without one).
    pub expires_at_ms: UnixMs,
    pub approved: Decimal,
    /// Inline, not boxed: every record then has the same size and owns no
    /// heap memory, so a budget in bytes is a count of records.
    pub reason: Option<RememberedReason>,
}

impl Remembered {
    /// Remembers `answer`, the answer to `req` (judged with `ttl_ms`) on
    /// `venue`.
    pub fn new(venue: &VenueId, req: &CheckRequest, ttl_ms: u64, answer: &CheckAnswer) -> Self {
        debug_assert_eq!(answer.reservation.is_some(), answer.expires_at_ms.is_some());
        debug_assert!(answer.reservation.is_none_or(|id| id.0 != 0));
        Remembered {
            request: fingerprint(req, ttl_ms),
            verdict: answer.verdict,
            headroom: answer.headroom,
            reservation: answer.reservation.map_or(0, |id| id.0),
            expires_at_ms: answer.expires_at_ms.unwrap_or(0),
            approved: answer.approved,
            reason: answer.reason.as_ref().map(|r| RememberedReason {
                code: r.code,
                utilization: r.utilization,
                limit: r.limit.as_ref().map(|l| remember_limit(l, venue, req)),
            }),
        }
    }

    /// The reservation the check made, if any.
    pub fn reservation(&self) -> Option<ReservationId> {
        (self.reservation != 0).then_some(ReservationId(self.reservation))
    }

    /// The answer, rebuilt for a repeat `req` on `venue` (whose fingerprint
    /// matched).
    pub fn answer(&self, venue: &VenueId, req: &CheckRequest) -> CheckAnswer {
        let reservation = self.reservation();
        CheckAnswer {
            order_id: req.order_id.clone(),
            verdict: self.verdict,
            reservation,
            approved: self.approved,
            expires_at_ms: reservation.map(|_| self.expires_at_ms),
            reason: self.reason.as_ref().map(|r| {
                Box::new(RejectReason {
                    code: r.code,
                    utilization: r.utilization,
                    limit: r.limit.as_ref().map(|l| LimitRef {
                        kind: l.kind,
                        id: l.id.clone(),
                        scope: Scope {
                            participant: (l.scope & SCOPE_PARTICIPANT != 0)
                                .then(|| req.participant.clone()),
                            venue: (l.scope & SCOPE_VENUE != 0).then(|| venue.clone()),
                            asset: (l.scope & SCOPE_ASSET != 0).then(|| req.asset.clone()),
                        },
                        value: l.value,
                    }),
                })
            }),
            headroom: self.headroom,
            dry_run: false,
        }
    }
}

fn remember_limit(l: &LimitRef, venue: &VenueId, req: &CheckRequest) -> RememberedLimit {
    // A limit binds a check only if each id its scope names is the check's.
    debug_assert!(l.scope.matches(&req.participant, venue, &req.asset));
    RememberedLimit {
        kind: l.kind,
        scope: [
            (l.scope.participant.is_some(), SCOPE_PARTICIPANT),
            (l.scope.venue.is_some(), SCOPE_VENUE),
            (l.scope.asset.is_some(), SCOPE_ASSET),
        ]
        .iter()
        .filter(|(named, _)| *named)
        .fold(0, |mask, (_, bit)| mask | bit),
        id: l.id.clone(),
        value: l.value,
    }
}

#[derive(Debug, Clone)]
struct Entry {
    key: Key,
    at: UnixMs,
    remembered: Remembered,
}

/// Bytes of a hash index (`HashTable<u64>`) with room for `n` entries:
/// hashbrown's bucket count for `n` (a power of two at least 8/7 of it),
/// a sequence number and a control byte per bucket, and a group's worth of
/// trailing control bytes.
fn index_bytes(n: usize) -> usize {
    const GROUP_WIDTH: usize = 16;
    let buckets = if n < 15 {
        16
    } else {
        (n.saturating_mul(8) / 7).next_power_of_two()
    };
    buckets * (std::mem::size_of::<u64>() + 1) + GROUP_WIDTH
}

/// The memory, in bytes, of a full table of `cap` records: the ring holds
/// exactly `cap` (`ring::make_room`), and each of the index's two
/// generations room for `cap` keys ([`IdempotencyTable::push`] gives them
/// that with the first record). A record owns no heap memory (a long limit
/// id shares the limit's own text), so this is all of it.
pub fn bytes_for(cap: usize) -> usize {
    if cap == 0 {
        return 0;
    }
    cap.saturating_mul(std::mem::size_of::<Entry>())
        .saturating_add(2 * index_bytes(cap.saturating_add(1)))
}

/// The most records a table of at most `budget` bytes holds
/// ([`bytes_for`] is monotonic: a binary search).
pub fn records_for(budget: usize) -> usize {
    let (mut lo, mut hi) = (0, budget / std::mem::size_of::<Entry>());
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if bytes_for(mid) <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// A record's own bytes in the ring (its share of the index comes on top:
/// [`bytes_for`]).
pub const RECORD_BYTES: usize = std::mem::size_of::<Entry>();
const _: () = assert!(RECORD_BYTES <= 144, "a record stays small");

/// Every remembered answer, by key and in arrival order.
///
/// The index is two hash tables, two generations of keys: new keys go
/// into the current one until it holds `cap` keys, and then into the
/// other, which is cleared first: every key in it is older than any of
/// the `cap` newest records, so all of them are forgotten. A forgotten
/// record's key stays in its generation until then, found but skipped
/// (its sequence number is below `first`). Erasing keys one by one, as
/// until 2026-12-01, left deleted slots (hashbrown's tombstones) that a
/// full table's churn built up until they used the index's room, and the
/// next insert rehashed every live key in place under the ledger's lock:
/// a push of 495 ms at the default budget (6.4M records) after ~279M
/// checks, about every 1.8 hours at 43,000 checks a second (`churn` in
/// this file's tests; its longest push is now 13 ms). Clearing a generation writes its control bytes
/// (one per slot, ~8 MB at the default budget) once every `cap` checks.
#[derive(Debug, Clone, Default)]
pub struct IdempotencyTable {
    /// Sequence numbers of records, by their key: `index[current]` takes
    /// new keys, the other holds older ones (and forgotten ones).
    index: [HashTable<u64>; 2],
    current: usize,
    /// The sequence number of the current generation's first key: every
    /// key in the other generation is below it.
    generation_start: u64,
    /// The records, oldest first; `ring[i]` has sequence number `first + i`.
    ring: VecDeque<Entry>,
    first: u64,
    /// The cap each generation last got room for (see `push`).
    index_grown_for: usize,
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
        let current = self.current;
        self.reserve_index(current, additional);
        self.ring.reserve_exact(additional);
    }

    /// Room for `additional` more keys in generation `g`, its forgotten
    /// keys dropped first if it must grow (a grown table rehashes every
    /// key, and a forgotten key's digest is no longer in the ring).
    fn reserve_index(&mut self, g: usize, additional: usize) {
        let Self {
            index,
            ring,
            first,
            hasher,
            ..
        } = self;
        let index = &mut index[g];
        if index.capacity() - index.len() >= additional {
            return;
        }
        let first = *first;
        index.retain(|seq| *seq >= first);
        index.reserve(additional, |&seq| {
            hasher.hash_one(ring[(seq - first) as usize].key)
        });
    }

    /// The record for a key.
    pub fn get(&self, key: &Key) -> Option<&Remembered> {
        let hash = self.hasher.hash_one(key);
        let live = |&seq: &u64| seq >= self.first && self.entry(seq).key == *key;
        let seq = self.index[self.current]
            .find(hash, live)
            .or_else(|| self.index[1 - self.current].find(hash, live))?;
        Some(&self.entry(*seq).remembered)
    }

    fn entry(&self, seq: u64) -> &Entry {
        &self.ring[(seq - self.first) as usize]
    }

    /// Remembers the answer to a check whose key the caller has just looked
    /// up and not found: the check path looks each key up once. `cap` is
    /// the most records the table holds: the ring's allocation stops
    /// growing there (`ring::make_room`).
    pub fn push(&mut self, at: UnixMs, key: Key, remembered: Remembered, cap: usize) {
        debug_assert!(self.get(&key).is_none(), "key already remembered");
        let seq = self.first + self.ring.len() as u64;
        make_room(&mut self.ring, 1, cap);
        self.ring.push_back(Entry {
            key,
            at,
            remembered,
        });
        // Each generation is given room for the cap with the first record
        // (and again when the cap changes), not grown by doubling as the
        // table fills: a doubling rehashes every key, reading each from
        // the ring in random order under the ledger's lock, about half a
        // second at 3.67M keys, and on a cluster every node does it at the
        // same entry (bench/RESULTS.md, "Failover"). Only its control
        // bytes are written up front (one per slot); a slot's page is
        // touched when a key first lands on it. So the index's memory is
        // known ([`bytes_for`]).
        if self.index_grown_for != cap {
            self.index_grown_for = cap;
            for g in 0..2 {
                let room = cap.saturating_add(1).saturating_sub(self.index[g].len());
                self.reserve_index(g, room);
            }
        }
        // A new generation once the current one holds `cap` keys, if every
        // key of the other is forgotten (always so while the ring holds at
        // most `cap` records; after the cap shrank, once the ring is back
        // within it).
        if seq - self.generation_start >= cap.max(1) as u64 && self.generation_start <= self.first {
            self.current = 1 - self.current;
            self.index[self.current].clear();
            self.generation_start = seq;
        }
        let g = self.current;
        self.reserve_index(g, 1);
        let Self {
            index,
            ring,
            first,
            hasher,
            ..
        } = self;
        index[g].insert_unique(hasher.hash_one(key), seq, |&s| {
            hasher.hash_one(ring[(s - *first) as usize].key)
        });
    }

    /// [`IdempotencyTable::push`] for a key not yet looked up (a decoded
    /// snapshot): refuses a key the table already holds.
    pub fn insert(
        &mut self,
        at: UnixMs,
        key: Key,
        remembered: Remembered,
        cap: usize,
    ) -> Result<(), Duplicate> {
        if self.get(&key).is_some() {
            return Err(Duplicate);
        }
        self.push(at, key, remembered, cap);
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn index_bytes(&self) -> usize {
        self.index.iter().map(|i| i.allocation_size()).sum()
    }

    #[cfg(test)]
    pub(crate) fn ring_capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// The oldest record.
    pub fn oldest(&self) -> Option<&Remembered> {
        self.ring.front().map(|e| &e.remembered)
    }

    /// When the oldest record was made.
    pub fn oldest_at(&self) -> Option<UnixMs> {
        self.ring.front().map(|e| e.at)
    }

    /// Forgets the oldest record.
    pub fn pop_oldest(&mut self) {
        // Its key stays in its generation, skipped, until that is cleared.
        if self.ring.pop_front().is_some() {
            self.first += 1;
        }
    }

    /// Every record, oldest first, with its time and key.
    pub fn iter(&self) -> impl Iterator<Item = (UnixMs, &Key, &Remembered)> {
        self.ring.iter().map(|e| (e.at, &e.key, &e.remembered))
    }

    /// Whether the index and the ring agree: every record is found by its
    /// key, under its own sequence number, and the other generation holds
    /// only keys older than the current one's.
    pub fn is_consistent(&self) -> bool {
        let other = &self.index[1 - self.current];
        other.iter().all(|&seq| seq < self.generation_start)
            && self.ring.iter().enumerate().all(|(i, e)| {
                let seq = self.first + i as u64;
                let g = &self.index[usize::from(seq < self.generation_start) ^ self.current];
                g.find(self.hasher.hash_one(e.key), |&s| s == seq).is_some()
                    && self.get(&e.key).map(|r| r as *const Remembered)
                        == Some(&e.remembered as *const Remembered)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AssetId, ParticipantId};

    fn request(order: &str, quantity: &str) -> CheckRequest {
        CheckRequest {
            order_id: OrderId::new(order).unwrap(),
            participant: ParticipantId::new("p").unwrap(),
            asset: AssetId::new("BTC").unwrap(),
            quantity: quantity.parse().unwrap(),
            ttl_ms: None,
            risk_reducing: false,
            dry_run: false,
            allow_partial: false,
            liability: None,
        }
    }

    fn approved(order: &str, reservation: u64) -> CheckAnswer {
        CheckAnswer {
            order_id: OrderId::new(order).unwrap(),
            verdict: Verdict::Approved,
            reservation: Some(ReservationId(reservation)),
            approved: Decimal::ONE,
            expires_at_ms: Some(1_000 + reservation as i64),
            reason: None,
            headroom: HeadroomBucket::High,
            dry_run: false,
        }
    }

    pub(super) fn remembered(venue: &str, order: &str) -> (Key, Remembered) {
        let (v, r) = (VenueId::new(venue).unwrap(), request(order, "1"));
        (
            Key::of(&v, &r.order_id),
            Remembered::new(&v, &r, 1000, &approved(order, 7)),
        )
    }

    const CAP: usize = 1000;

    #[test]
    fn finds_by_key_forgets_oldest_first_and_refuses_duplicates() {
        let mut t = IdempotencyTable::default();
        for i in 0..100 {
            let (k, r) = remembered(&format!("v{}", i % 3), &format!("o{i}"));
            t.insert(i, k, r, CAP).unwrap();
        }
        // The same order id on another venue is another key.
        let (k, r) = remembered("v9", "o0");
        t.push(100, k, r, CAP);
        let (k, r) = remembered("v0", "o0");
        assert_eq!(
            t.insert(101, k, r, CAP),
            Err(Duplicate),
            "a key is held once"
        );
        assert_eq!(t.len(), 101);
        assert!(t.is_consistent());
        let key = |v: &str, o: &str| Key::of(&VenueId::new(v).unwrap(), &OrderId::new(o).unwrap());
        assert_eq!(t.get(&key("v1", "o1")), Some(&remembered("v1", "o1").1));
        assert_eq!(t.get(&key("v0", "o1")), None);
        for _ in 0..50 {
            t.pop_oldest();
        }
        assert_eq!(t.len(), 51);
        assert_eq!(t.oldest_at(), Some(50));
        assert_eq!(t.get(&key("v1", "o1")), None);
        assert!(t.get(&key("v2", "o50")).is_some());
        assert!(t.get(&key("v9", "o0")).is_some());
        assert!(t.is_consistent());
        // A forgotten key can be remembered again, as the newest.
        let (k, r) = remembered("v1", "o1");
        t.insert(200, k, r, CAP).unwrap();
        assert_eq!(t.iter().last().map(|(at, _, _)| at), Some(200));
        t.reserve(1000);
        assert!(t.is_consistent());
        while t.len() > 0 {
            t.pop_oldest();
        }
        assert!(t.is_consistent());
        assert_eq!(t.oldest_at(), None);
    }

    /// A table filled to its cap and then churned holds exactly the memory
    /// `bytes_for` says, and `records_for` inverts it.
    #[test]
    fn a_full_table_takes_the_memory_computed_for_it() {
        for cap in [1, 14, 15, 100, 1000, 5000, 20_000] {
            let mut t = IdempotencyTable::default();
            for i in 0..4 * cap {
                if t.len() == cap {
                    t.pop_oldest();
                }
                let (k, r) = remembered("v", &format!("o{i}"));
                t.push(i as i64, k, r, cap);
            }
            let bytes = t.ring.capacity() * RECORD_BYTES + t.index_bytes();
            assert_eq!(t.ring.capacity(), cap, "cap {cap}");
            assert!(
                bytes <= bytes_for(cap),
                "cap {cap}: {bytes} > {}",
                bytes_for(cap)
            );
            // Each generation has room for the cap.
            let room = HashTable::<u64>::with_capacity(cap + 1).allocation_size();
            assert!(
                t.index.iter().all(|i| i.allocation_size() >= room),
                "cap {cap}"
            );
            assert!(t.is_consistent());
        }
        for budget in [0, 1000, 1 << 20, 1 << 30] {
            let n = records_for(budget);
            assert!(
                bytes_for(n) <= budget && bytes_for(n + 1) > budget,
                "{budget}"
            );
        }
    }

    /// A full table churning for many times its cap: the index never
    /// grows or rehashes (its allocation is the one the first record gave
    /// it, and a generation never holds more than the cap), the newest
    /// `cap` keys are found and older ones are not; and so when the cap
    /// shrinks and grows again.
    #[test]
    fn a_churning_table_keeps_its_index_and_finds_exactly_its_records() {
        let mut t = IdempotencyTable::default();
        let key = |i: usize| remembered("v", &format!("o{i}")).0;
        let mut n = 0;
        let mut run = |t: &mut IdempotencyTable, cap: usize, pushes: usize| {
            for _ in 0..pushes {
                while t.len() >= cap {
                    t.pop_oldest();
                }
                let (k, r) = remembered("v", &format!("o{n}"));
                assert!(t.get(&k).is_none(), "o{n}");
                t.push(n as i64, k, r, cap);
                n += 1;
                if n % 997 == 0 {
                    assert!(t.is_consistent(), "after {n}");
                }
            }
            n
        };
        let cap = 1000;
        run(&mut t, cap, 1);
        let allocated = t.index_bytes();
        let n = run(&mut t, cap, 60 * cap);
        assert_eq!(t.index_bytes(), allocated);
        assert!(
            t.index.iter().all(|i| i.len() <= cap),
            "a generation outgrew the cap"
        );
        assert!(t.is_consistent());
        for i in n - cap..n {
            assert!(t.get(&key(i)).is_some(), "o{i} forgotten");
        }
        for i in (0..n - cap).step_by(7) {
            assert!(t.get(&key(i)).is_none(), "o{i} still found");
        }
        // The cap shrinks (the ring is trimmed as pushes come), then grows.
        let n = run(&mut t, 300, 5 * cap);
        assert!(t.is_consistent());
        assert_eq!(t.len(), 300);
        assert!(t.get(&key(n - 1)).is_some() && t.get(&key(n - 301)).is_none());
        let n = run(&mut t, 3 * cap, 10 * cap);
        assert!(t.is_consistent());
        assert_eq!(t.len(), 3 * cap);
        assert!(t.get(&key(n - 3 * cap)).is_some() && t.get(&key(n - 3 * cap - 1)).is_none());
    }

    /// The key separates the venue from the order id; the fingerprint sees
    /// every field a repeat must match, and quantities by value.
    #[test]
    fn keys_and_fingerprints_tell_requests_apart() {
        let id = |s: &str| VenueId::new(s).unwrap();
        let order = |s: &str| OrderId::new(s).unwrap();
        assert_ne!(
            Key::of(&id("ab"), &order("c")),
            Key::of(&id("a"), &order("bc"))
        );
        assert_eq!(
            Key::of(&id("a"), &order("b")),
            Key::of(&id("a"), &order("b"))
        );

        let base = request("o", "1");
        let fp = fingerprint(&base, 1000);
        assert_eq!(fp, fingerprint(&request("o", "1.000"), 1000));
        assert_eq!(fp, fingerprint(&request("other", "1"), 1000), "the key's");
        let variants = [
            CheckRequest {
                participant: ParticipantId::new("q").unwrap(),
                ..base.clone()
            },
            CheckRequest {
                asset: AssetId::new("ETH").unwrap(),
                ..base.clone()
            },
            request("o", "1.0001"),
            CheckRequest {
                risk_reducing: true,
                ..base.clone()
            },
            CheckRequest {
                allow_partial: true,
                ..base.clone()
            },
        ];
        for v in &variants {
            assert_ne!(fingerprint(v, 1000), fp, "{v:?}");
        }
        assert_ne!(fingerprint(&base, 1001), fp);
    }

    /// A rejection's answer comes back whole, its limit's scope rebuilt
    /// from the repeat.
    #[test]
    fn a_rejection_is_rebuilt_whole() {
        let venue = VenueId::new("v1").unwrap();
        let req = request("o", "5");
        let answer = CheckAnswer {
            order_id: req.order_id.clone(),
            verdict: Verdict::Rejected,
            reservation: None,
            approved: Decimal::ZERO,
            expires_at_ms: None,
            reason: Some(Box::new(RejectReason {
                code: RejectCode::LimitExceeded,
                utilization: Some("1.25".parse().unwrap()),
                limit: Some(LimitRef {
                    kind: LimitKind::MaxCommitment,
                    id: Some(LimitId::new("a-limit-id-longer-than-twenty-three").unwrap()),
                    scope: Scope {
                        participant: Some(req.participant.clone()),
                        venue: Some(venue.clone()),
                        asset: None,
                    },
                    value: "4".parse().unwrap(),
                }),
            })),
            headroom: HeadroomBucket::None,
            dry_run: false,
        };
        let r = Remembered::new(&venue, &req, 1000, &answer);
        assert_eq!(r.answer(&venue, &req), answer);
    }
}

#[cfg(test)]
mod churn {
    use super::*;

    /// What a full table's churn costs a push: the longest push and how
    /// many took over a millisecond, over `ROUNDS` × `CAP` pushes (default
    /// 50 × the 1 GiB budget's cap, ~200 s) with a record forgotten for
    /// each new one. A measurement (bench/RESULTS.md, "Sustained order
    /// flow"), not a target:
    /// `cargo test --release -p interlock-ledger --lib idempotency::churn -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn longest_push_while_a_full_table_churns() {
        let var = |name: &str, default: usize| {
            std::env::var(name).map_or(default, |v| v.parse().expect("a number"))
        };
        let cap = var("CAP", records_for(1 << 30));
        let rounds = var("ROUNDS", 50);
        let (_, r) = super::tests::remembered("v", "o");
        let mut t = IdempotencyTable::default();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let (mut longest, mut at, mut over_1ms) = (std::time::Duration::ZERO, 0, 0);
        let started = std::time::Instant::now();
        for i in 0..rounds * cap {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = Key(x, i as u64);
            let t0 = std::time::Instant::now();
            if t.len() == cap {
                t.pop_oldest();
            }
            assert!(t.get(&key).is_none());
            t.push(i as i64, key, r.clone(), cap);
            let took = t0.elapsed();
            if took > std::time::Duration::from_millis(1) {
                over_1ms += 1;
            }
            if took > longest {
                (longest, at) = (took, i);
            }
        }
        println!(
            "cap {cap}: {} pushes in {:.1} s; longest {:.3} ms (push {at}); {over_1ms} over 1 ms; index {} MiB",
            rounds * cap,
            started.elapsed().as_secs_f64(),
            longest.as_secs_f64() * 1e3,
            t.index_bytes() >> 20
        );
    }
}
