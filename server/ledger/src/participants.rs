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

/// Every participant the ledger knows, by id and by slot.
#[derive(Debug, Clone, Default)]
pub struct ParticipantTable {
    slot_of: HashMap<ParticipantId, ParticipantSlot>,
    /// Indexed by slot. The ids share their text with `slot_of`'s keys.
    ids: Vec<ParticipantId>,
    participants: Vec<Participant>,
}

impl ParticipantTable {
    pub fn len(&self) -> usize {
        self.participants.len()
    }

    pub fn reserve(&mut self, additional: usize) {
        self.slot_of.reserve(additional);
        self.ids.reserve(additional);
        self.participants.reserve(additional);
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
        (slot.0 as usize) < self.participants.len()
    }

    /// The participant in a slot this table handed out.
    pub fn at(&self, slot: ParticipantSlot) -> &Participant {
        &self.participants[slot.0 as usize]
    }

    pub fn at_mut(&mut self, slot: ParticipantSlot) -> &mut Participant {
        &mut self.participants[slot.0 as usize]
    }

    /// The id of the participant in a slot this table handed out.
    pub fn id(&self, slot: ParticipantSlot) -> &ParticipantId {
        &self.ids[slot.0 as usize]
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
        let slot = ParticipantSlot(
            u32::try_from(self.participants.len()).expect("participants_max bounds the table"),
        );
        self.slot_of.insert(id.clone(), slot);
        self.ids.push(id);
        self.participants.push(p);
        slot
    }

    /// The `i`th slot handed out (`i` below [`ParticipantTable::len`]).
    pub fn slot_at(&self, i: usize) -> ParticipantSlot {
        debug_assert!(i < self.participants.len());
        ParticipantSlot(i as u32)
    }

    /// Every slot handed out, in order.
    pub fn slots(&self) -> impl Iterator<Item = ParticipantSlot> {
        (0..self.participants.len() as u32).map(ParticipantSlot)
    }

    /// Every participant with its id, in slot order (the order in which
    /// the ledger first heard of them).
    pub fn iter(&self) -> impl Iterator<Item = (&ParticipantId, &Participant)> {
        self.ids.iter().zip(&self.participants)
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
