//! The participants, in a dense table.
//!
//! Each participant gets a slot number when the ledger first hears of it;
//! participants are never removed, so a slot is never reused and always
//! names the same participant. Reservations refer to their participant
//! by slot: ending one (commit, release, expiry) reaches the participant
//! by index, without hashing its id or reading the id's text, and
//! dropping an ended reservation touches no participant id.
//!
//! Slots are derived data: a snapshot stores participants by id (sorted),
//! and a decoded state numbers them afresh.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::ids::{ParticipantId, ReservationId};
use crate::state::{HashMap, Participant};

/// A participant's open reservations, in increasing id order (the order
/// the ledger made them in). Reservations mostly end in that order too:
/// expiry takes the oldest (the front), and a commit or release usually
/// follows its check closely (near the back). So adding is an append, and
/// taking one out finds it by binary search and shifts the shorter side,
/// a few ids in the usual case; at worst half of the participant's open
/// reservations, which `reservations_per_participant_max` bounds. Unlike
/// a hash set, churn leaves no tombstones behind to rehash away.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReservations(VecDeque<ReservationId>);

impl OpenReservations {
    pub fn with_capacity(n: usize) -> Self {
        OpenReservations(VecDeque::with_capacity(n))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, id: ReservationId) -> bool {
        self.0.binary_search(&id).is_ok()
    }

    /// Adds `id`, which must be above every id held: the ledger hands ids
    /// out in increasing order, and a snapshot lists reservations in that
    /// order (decoding refuses any other). Returns false, changing
    /// nothing, for an id out of order.
    pub fn push(&mut self, id: ReservationId) -> bool {
        if self.0.back().is_some_and(|&last| last >= id) {
            return false;
        }
        self.0.push_back(id);
        true
    }

    /// Takes `id` out; false if it was not held.
    pub fn remove(&mut self, id: ReservationId) -> bool {
        if self.0.front() == Some(&id) {
            self.0.pop_front();
            return true;
        }
        match self.0.binary_search(&id) {
            Ok(i) => self.0.remove(i).is_some(),
            Err(_) => false,
        }
    }

    /// The ids, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = ReservationId> + '_ {
        self.0.iter().copied()
    }
}

/// A participant's place in the [`ParticipantTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantSlot(u32);

impl ParticipantSlot {
    /// The slot's number: the `n`th participant the ledger heard of.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Participants per chunk of the table: the pointers a write copies when a
/// reader still holds the chunk (see [`ParticipantsView`]).
pub const PARTICIPANTS_PER_CHUNK: usize = 64;

/// Consecutive slots of the table, shared with the views taken while they
/// stay unchanged. Each participant is shared too: copying a chunk a view
/// holds copies 64 pointers, and only the participant written is copied
/// whole.
///
/// The slots are arrays inside the chunk's own allocation, not vectors:
/// reaching a participant from the table is one dependent memory access
/// more than a flat vector's (the chunk), not two.
#[derive(Debug, Clone)]
pub struct ParticipantChunk {
    ids: [Option<ParticipantId>; PARTICIPANTS_PER_CHUNK],
    participants: [Option<Arc<Participant>>; PARTICIPANTS_PER_CHUNK],
    /// Per slot, the table's write stamp when the participant last changed;
    /// and the latest of them.
    stamps: [u64; PARTICIPANTS_PER_CHUNK],
    stamp: u64,
}

impl Default for ParticipantChunk {
    fn default() -> Self {
        ParticipantChunk {
            ids: std::array::from_fn(|_| None),
            participants: std::array::from_fn(|_| None),
            stamps: [0; PARTICIPANTS_PER_CHUNK],
            stamp: 0,
        }
    }
}

impl ParticipantChunk {
    /// The stamp of the chunk's latest change. Stamps are unique in the
    /// process: an unchanged stamp means an unchanged chunk (a reader may
    /// keep what it derived from it).
    pub fn stamp(&self) -> u64 {
        self.stamp
    }

    /// The stamp of the latest change of the participant in slot `i`.
    pub fn stamp_of(&self, i: usize) -> u64 {
        self.stamps[i]
    }

    /// The participant in slot `i` of the chunk, with its id.
    pub fn get(&self, i: usize) -> Option<(&ParticipantId, &Participant)> {
        Some((
            self.ids.get(i)?.as_ref()?,
            &**self.participants[i].as_ref()?,
        ))
    }

    /// The participant in slot `i`, shared: a reader that keeps it (and
    /// lets the chunk go) makes only that participant's next write copy.
    pub fn shared(&self, i: usize) -> Option<(&ParticipantId, &Arc<Participant>)> {
        Some((self.ids.get(i)?.as_ref()?, self.participants[i].as_ref()?))
    }

    /// The chunk's participants with their ids, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (&ParticipantId, &Participant)> {
        self.ids
            .iter()
            .zip(&self.participants)
            .map_while(|(id, p)| Some((id.as_ref()?, &**p.as_ref()?)))
    }

    pub fn len(&self) -> usize {
        self.participants.iter().take_while(|p| p.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.participants[0].is_none()
    }
}

/// Chunks per block, the table's second level: the pointers a write
/// copies, besides its chunk's, when a view still holds its block.
pub const CHUNKS_PER_BLOCK: usize = 128;

/// Consecutive chunks of the table.
type Block = Vec<Arc<ParticipantChunk>>;

/// Every participant the ledger knows, by id and by slot.
///
/// The slots live in chunks of [`PARTICIPANTS_PER_CHUNK`], the chunks in
/// blocks of [`CHUNKS_PER_BLOCK`], the blocks in one list: each level
/// behind an `Arc`, and each participant behind one of its own.
/// [`ParticipantTable::view`] shares the whole tree with a reader
/// (analytics) with one reference count, O(1) under the ledger's lock
/// whatever the table's size. A write to a participant a view still holds
/// copies, on its way down, the list's pointers (one per block), its
/// block's and its chunk's, then the participant (copy on write): the
/// reader keeps the state of the moment it took the view while the ledger
/// goes on. With no view alive a write costs four reference-count checks.
#[derive(Debug)]
pub struct ParticipantTable {
    slot_of: HashMap<ParticipantId, ParticipantSlot>,
    tree: Arc<Vec<Arc<Block>>>,
    len: usize,
    /// The last write stamp handed out: starts at a base unique to this
    /// table in the process ([`STAMP_BASES`]), so that no two tables (nor a
    /// table and its clone, once they diverge) share a stamp.
    stamp: u64,
}

/// Where the next table's stamps start: each table gets 2^40 of its own.
static STAMP_BASES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn stamp_base() -> u64 {
    STAMP_BASES.fetch_add(1, std::sync::atomic::Ordering::Relaxed) << 40
}

impl Default for ParticipantTable {
    fn default() -> Self {
        ParticipantTable {
            slot_of: HashMap::default(),
            tree: Arc::default(),
            len: 0,
            stamp: stamp_base(),
        }
    }
}

impl Clone for ParticipantTable {
    /// The same participants with stamps of its own from now on.
    fn clone(&self) -> Self {
        ParticipantTable {
            slot_of: self.slot_of.clone(),
            tree: self.tree.clone(),
            len: self.len,
            stamp: stamp_base(),
        }
    }
}

/// The participants as they were when [`ParticipantTable::view`] was
/// called: cheap to take, and unchanged by later commands.
#[derive(Debug, Clone, Default)]
pub struct ParticipantsView {
    tree: Arc<Vec<Arc<Block>>>,
    len: usize,
}

impl ParticipantsView {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunks, in slot order.
    pub fn chunks(&self) -> impl Iterator<Item = &Arc<ParticipantChunk>> {
        self.tree.iter().flat_map(|b| b.iter())
    }

    /// Chunk `c` (of slots `c * PARTICIPANTS_PER_CHUNK..`).
    pub fn chunk(&self, c: usize) -> Option<&Arc<ParticipantChunk>> {
        self.tree
            .get(c / CHUNKS_PER_BLOCK)?
            .get(c % CHUNKS_PER_BLOCK)
    }

    /// How many chunks hold the participants.
    pub fn chunk_count(&self) -> usize {
        self.len.div_ceil(PARTICIPANTS_PER_CHUNK)
    }

    /// Every participant with its id, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (&ParticipantId, &Participant)> {
        self.chunks().flat_map(|c| c.iter())
    }
}

impl ParticipantTable {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn reserve(&mut self, additional: usize) {
        self.slot_of.reserve(additional);
        let chunks = (self.len + additional).div_ceil(PARTICIPANTS_PER_CHUNK);
        let blocks = chunks.div_ceil(CHUNKS_PER_BLOCK);
        let tree = Arc::make_mut(&mut self.tree);
        tree.reserve(blocks.saturating_sub(tree.len()));
    }

    pub fn slot(&self, id: &ParticipantId) -> Option<ParticipantSlot> {
        self.slot_of.get(id).copied()
    }

    pub fn contains(&self, id: &ParticipantId) -> bool {
        self.slot_of.contains_key(id)
    }

    pub fn get(&self, id: &ParticipantId) -> Option<&Participant> {
        self.slot(id).map(|s| self.at(s))
    }

    /// Whether this table handed out `slot`.
    pub fn holds(&self, slot: ParticipantSlot) -> bool {
        slot.index() < self.len
    }

    /// (block, chunk in the block, slot in the chunk).
    fn place(slot: ParticipantSlot) -> (usize, usize, usize) {
        let c = slot.index() / PARTICIPANTS_PER_CHUNK;
        (
            c / CHUNKS_PER_BLOCK,
            c % CHUNKS_PER_BLOCK,
            slot.index() % PARTICIPANTS_PER_CHUNK,
        )
    }

    fn chunk(&self, slot: ParticipantSlot) -> (&ParticipantChunk, usize) {
        let (b, c, i) = Self::place(slot);
        (&self.tree[b][c], i)
    }

    /// The participant in a slot this table handed out.
    pub fn at(&self, slot: ParticipantSlot) -> &Participant {
        let (chunk, i) = self.chunk(slot);
        chunk.participants[i]
            .as_deref()
            .expect("a slot the table handed out")
    }

    /// The participant in a slot, to change: the list, its block and its
    /// chunk are copied first if a view still holds them.
    pub fn at_mut(&mut self, slot: ParticipantSlot) -> &mut Participant {
        let (b, c, i) = Self::place(slot);
        self.stamp += 1;
        let block = Arc::make_mut(&mut Arc::make_mut(&mut self.tree)[b]);
        let chunk = Arc::make_mut(&mut block[c]);
        chunk.stamps[i] = self.stamp;
        chunk.stamp = self.stamp;
        let p = chunk.participants[i]
            .as_mut()
            .expect("a slot the table handed out");
        Arc::make_mut(p)
    }

    /// The id of the participant in a slot this table handed out.
    pub fn id(&self, slot: ParticipantSlot) -> &ParticipantId {
        let (chunk, i) = self.chunk(slot);
        chunk.ids[i].as_ref().expect("a slot the table handed out")
    }

    /// The participant's slot, a new participant's if the table has never
    /// heard of it. The caller bounds the table's size (`participants_max`,
    /// far below `u32::MAX`).
    pub fn slot_or_insert(&mut self, id: &ParticipantId) -> ParticipantSlot {
        match self.slot(id) {
            Some(s) => s,
            None => self.push(id.clone(), Participant::default()),
        }
    }

    /// The participant, a new one if the table has never heard of it.
    pub fn entry(&mut self, id: &ParticipantId) -> &mut Participant {
        let s = self.slot_or_insert(id);
        self.at_mut(s)
    }

    /// Adds a participant the table does not hold yet (a decoded
    /// snapshot's); `None` if it already does.
    pub fn insert(&mut self, id: ParticipantId, p: Participant) -> Option<ParticipantSlot> {
        if self.contains(&id) {
            return None;
        }
        Some(self.push(id, p))
    }

    fn push(&mut self, id: ParticipantId, p: Participant) -> ParticipantSlot {
        let slot =
            ParticipantSlot(u32::try_from(self.len).expect("participants_max bounds the table"));
        let (b, c, i) = Self::place(slot);
        let tree = Arc::make_mut(&mut self.tree);
        if b == tree.len() {
            tree.push(Arc::new(Vec::with_capacity(CHUNKS_PER_BLOCK)));
        }
        let block = Arc::make_mut(&mut tree[b]);
        if c == block.len() {
            block.push(Arc::new(ParticipantChunk::default()));
        }
        self.slot_of.insert(id.clone(), slot);
        let chunk = Arc::make_mut(&mut block[c]);
        chunk.ids[i] = Some(id);
        chunk.participants[i] = Some(Arc::new(p));
        self.stamp += 1;
        chunk.stamps[i] = self.stamp;
        chunk.stamp = self.stamp;
        self.len += 1;
        slot
    }

    /// The `i`th slot handed out (`i` below [`ParticipantTable::len`]).
    pub fn slot_at(&self, i: usize) -> ParticipantSlot {
        debug_assert!(i < self.len);
        ParticipantSlot(i as u32)
    }

    /// Every slot handed out, in order.
    pub fn slots(&self) -> impl Iterator<Item = ParticipantSlot> {
        (0..self.len as u32).map(ParticipantSlot)
    }

    /// Every participant with its id, in slot order (the order in which
    /// the ledger first heard of them).
    pub fn iter(&self) -> impl Iterator<Item = (&ParticipantId, &Participant)> {
        self.tree
            .iter()
            .flat_map(|b| b.iter())
            .flat_map(|c| c.iter())
    }

    /// The table as it is now, for a reader that must not hold the
    /// ledger's lock while it reads: one reference count, no copy.
    pub fn view(&self) -> ParticipantsView {
        ParticipantsView {
            tree: self.tree.clone(),
            len: self.len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(s: &str) -> ParticipantId {
        ParticipantId::new(s).unwrap()
    }

    #[test]
    fn slots_are_dense_stable_and_name_their_participant() {
        let mut t = ParticipantTable::default();
        assert_eq!(t.len(), 0);
        let a = t.slot_or_insert(&pid("a"));
        let b = t.slot_or_insert(&pid("b"));
        assert_ne!(a, b);
        assert_eq!(t.slot_or_insert(&pid("a")), a, "a known id keeps its slot");
        assert_eq!(t.len(), 2);
        t.at_mut(b).trading_state = crate::command::TradingState::Halted;
        assert_eq!(t.id(b), &pid("b"));
        assert_eq!(
            t.get(&pid("b")).unwrap().trading_state,
            crate::command::TradingState::Halted
        );
        assert_eq!(t.get(&pid("c")), None);
        assert_eq!(t.insert(pid("a"), Participant::default()), None);
        let c = t.insert(pid("c"), Participant::default()).unwrap();
        let ids: Vec<_> = t.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(t.slot(&pid("c")), Some(c));
        t.entry(&pid("d")).brokers.clear();
        assert_eq!(t.len(), 4);
    }

    /// A view keeps the table as it was; the table goes on changing, and
    /// only the chunks it writes while the view holds them are copied.
    #[test]
    fn a_view_is_a_moment_of_the_table() {
        let mut t = ParticipantTable::default();
        let n = PARTICIPANTS_PER_CHUNK * 2 + 3;
        for i in 0..n {
            t.slot_or_insert(&pid(&format!("p{i}")));
        }
        let view = t.view();
        let first = t.slot_at(0);
        t.at_mut(first).trading_state = crate::command::TradingState::Halted;
        t.slot_or_insert(&pid("late"));
        assert_eq!(view.len(), n);
        assert_eq!(view.iter().count(), n);
        let (id, p) = view.iter().next().unwrap();
        assert_eq!(id.as_str(), "p0");
        assert_eq!(p.trading_state, crate::command::TradingState::Active);
        assert_eq!(
            t.at(first).trading_state,
            crate::command::TradingState::Halted
        );
        // The first chunk was copied for the write; the second is shared.
        let now = t.view();
        assert!(!Arc::ptr_eq(view.chunk(0).unwrap(), now.chunk(0).unwrap()));
        assert!(Arc::ptr_eq(view.chunk(1).unwrap(), now.chunk(1).unwrap()));
        assert_eq!(t.len(), n + 1);
        assert_eq!(t.id(t.slot_at(n)).as_str(), "late");
        // Stamps say what changed: the first participant and the last
        // chunk; the second chunk kept its stamp.
        assert!(now.chunk(0).unwrap().stamp() > view.chunk(0).unwrap().stamp());
        assert!(now.chunk(0).unwrap().stamp_of(0) > view.chunk(0).unwrap().stamp_of(0));
        assert_eq!(
            now.chunk(0).unwrap().stamp_of(1),
            view.chunk(0).unwrap().stamp_of(1)
        );
        assert_eq!(
            now.chunk(1).unwrap().stamp(),
            view.chunk(1).unwrap().stamp()
        );
        // A clone's stamps are its own from then on.
        let mut other = t.clone();
        other.at_mut(first).trading_state = crate::command::TradingState::Active;
        t.at_mut(first).trading_state = crate::command::TradingState::ReduceOnly;
        assert_ne!(
            other.view().chunk(0).unwrap().stamp_of(0),
            t.view().chunk(0).unwrap().stamp_of(0)
        );
    }

    /// Past one block: a view is one reference count whatever the size,
    /// and a write copies the list's pointers, its own block's and its
    /// chunk's, leaving every other block shared with the view.
    #[test]
    fn a_view_spans_blocks_and_a_write_copies_only_its_path() {
        let mut t = ParticipantTable::default();
        let per_block = PARTICIPANTS_PER_CHUNK * CHUNKS_PER_BLOCK;
        let n = per_block * 2 + 5;
        for i in 0..n {
            t.slot_or_insert(&pid(&format!("p{i}")));
        }
        let view = t.view();
        assert_eq!(view.chunk_count(), n.div_ceil(PARTICIPANTS_PER_CHUNK));
        assert_eq!(view.chunks().count(), view.chunk_count());
        assert!(view.chunk(view.chunk_count()).is_none());
        // A write in the second block.
        let s = t.slot_at(per_block + 1);
        t.at_mut(s).trading_state = crate::command::TradingState::Halted;
        let now = t.view();
        let second = CHUNKS_PER_BLOCK;
        assert!(!Arc::ptr_eq(
            view.chunk(second).unwrap(),
            now.chunk(second).unwrap()
        ));
        for c in [0, 1, CHUNKS_PER_BLOCK - 1, second + 1, 2 * CHUNKS_PER_BLOCK] {
            assert!(
                Arc::ptr_eq(view.chunk(c).unwrap(), now.chunk(c).unwrap()),
                "chunk {c}"
            );
        }
        let old: Vec<_> = view
            .iter()
            .map(|(id, p)| (id.clone(), p.trading_state))
            .collect();
        assert_eq!(old.len(), n);
        assert!(old
            .iter()
            .all(|(_, s)| *s == crate::command::TradingState::Active));
        assert_eq!(
            now.iter().nth(per_block + 1).unwrap().1.trading_state,
            crate::command::TradingState::Halted
        );
        // Every id in slot order, across blocks.
        for (i, (id, _)) in now.iter().enumerate() {
            assert_eq!(id.as_str(), format!("p{i}"));
        }
    }

    #[test]
    fn open_reservations_stay_in_id_order() {
        let r = ReservationId;
        let mut open = OpenReservations::with_capacity(2);
        assert!(open.is_empty());
        for i in [1, 2, 5, 7, 9] {
            assert!(open.push(r(i)));
        }
        assert!(!open.push(r(9)), "a repeated id is refused");
        assert!(!open.push(r(3)), "an id below the newest is refused");
        assert!(open.contains(r(5)) && !open.contains(r(3)));
        assert!(open.remove(r(1)), "the oldest, from the front");
        assert!(open.remove(r(7)), "one in the middle");
        assert!(!open.remove(r(7)) && !open.remove(r(4)));
        assert_eq!(open.iter().collect::<Vec<_>>(), [r(2), r(5), r(9)]);
        assert_eq!(open.len(), 3);
        assert!(open.push(r(10)));
        assert_eq!(open.iter().last(), Some(r(10)));
    }
}
