//! A reservation's life: made for an approved check, then committed,
//! released or expired, each ending it exactly once; the bookkeeping of
//! reserved headroom it moves.

use super::*;

/// The participant a change of reserved headroom is for: one the ledger
/// knows (by slot), or a new one, created only once nothing can fail.
#[derive(Debug, Clone, Copy)]
pub(super) enum Whose<'a> {
    Known(ParticipantSlot),
    New(&'a ParticipantId),
}

/// Adds `delta` (which may be negative) to a venue's reserved amount and
/// to the sums above it, and adds or removes the reservation among the
/// participant's open ones. It takes the fields it changes, not the whole
/// state, so that ending a reservation can pass the reservation's own ids,
/// borrowed, rather than clones of them. `ltv` is the venue's for the
/// asset (`debt::implied_ltv`), for the position's implied debt. Returns
/// the participant's slot.
#[allow(clippy::too_many_arguments)]
pub(super) fn add_reserved_in(
    participants: &mut ParticipantTable,
    ids: &mut SharedIds,
    asset_totals: &mut HashMap<AssetId, Decimal>,
    whose: Whose<'_>,
    venue: &VenueId,
    asset: &AssetId,
    delta: Decimal,
    ltv: Decimal,
    open: Open,
) -> Result<ParticipantSlot, LedgerError> {
    let total = asset_totals.get(asset).copied().unwrap_or_default();
    let new_total = amount::add(total, delta)?;
    let slot = match whose {
        Whose::Known(slot) => slot,
        Whose::New(id) => participants.slot_or_insert(id),
    };
    let p = participants.at_mut(slot);
    let reports = p.reports(venue);
    // A new position takes the ledger's shared copies of the ids.
    let pos = match p.assets.get_mut(asset) {
        Some(pos) => pos,
        None => p.assets.get_or_default(ids.asset(asset)),
    };
    let new_committed = amount::add(pos.committed, delta)?;
    let venue_pos = match pos.venues.get_mut(venue) {
        Some(v) => v,
        None => pos.venues.get_or_default(ids.venue(venue)),
    };
    // Reserved headroom is in the implied base either way.
    let base = venue_pos.implied_base(reports)?;
    let implied_delta = debt::implied_change(base, amount::add(base, delta)?, ltv)?;
    let new_implied = amount::add(pos.implied, implied_delta)?;
    venue_pos.reserved = amount::add(venue_pos.reserved, delta)?;
    pos.committed = new_committed;
    pos.implied = new_implied;
    match open {
        Open::Add(id) => {
            // The ledger's ids only grow, so this appends.
            let added = p.open.push(id);
            debug_assert!(
                added,
                "reservation id {id} not above the participant's open ones"
            );
        }
        Open::Remove(id) => {
            p.open.remove(id);
        }
    }
    match asset_totals.get_mut(asset) {
        Some(t) => *t = new_total,
        None => {
            asset_totals.insert(ids.asset(asset), new_total);
        }
    }
    Ok(slot)
}

/// What a change of reserved headroom does to the participant's set of
/// open reservations.
#[derive(Debug, Clone, Copy)]
pub(super) enum Open {
    Add(ReservationId),
    Remove(ReservationId),
}

impl State {
    pub(super) fn reserve(
        &mut self,
        at: UnixMs,
        venue: &VenueId,
        req: &CheckRequest,
        slot: Option<ParticipantSlot>,
        held: Decimal,
        ttl_ms: u64,
    ) -> Result<(ReservationId, UnixMs), LedgerError> {
        if !self.reservation_has_room() {
            return Err(LedgerError::CapacityExhausted {
                what: "reservation table",
                max: self.cfg.reservations_max,
            });
        }
        let open = match slot {
            Some(s) => self.participants.at(s).open.len(),
            None => {
                self.ensure_capacity(
                    self.participants.len(),
                    self.cfg.participants_max,
                    "participant table",
                )?;
                0
            }
        };
        self.ensure_capacity(
            open,
            self.cfg.reservations_per_participant_max,
            "participant's reservations",
        )?;
        let expires_at_ms = at.saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX));
        self.next_reservation += 1;
        let id = ReservationId(self.next_reservation);
        // Creates the participant if it is new.
        let ltv = debt::implied_ltv(&self.venue_assets, venue, &req.asset);
        let slot = add_reserved_in(
            &mut self.participants,
            &mut self.ids,
            &mut self.asset_totals,
            slot.map_or(Whose::New(&req.participant), Whose::Known),
            venue,
            &req.asset,
            held,
            ltv,
            Open::Add(id),
        )?;
        self.make_reservation_room();
        self.push_expiry(expires_at_ms, id);
        self.reservations.insert(
            id,
            Reservation {
                id,
                venue: venue.clone(),
                participant: slot,
                asset: req.asset.clone(),
                order_id: req.order_id.clone(),
                held,
                expires_at_ms,
                state: ReservationState::Open,
                commit_seq: None,
            },
            self.cfg.reservations_max,
        );
        Ok((id, expires_at_ms))
    }

    /// Ends an open reservation exactly once.
    pub(super) fn end_reservation(
        &mut self,
        at: UnixMs,
        id: ReservationId,
        state: ReservationState,
    ) -> Result<(), LedgerError> {
        let Some(r) = self.reservations.get(&id) else {
            return Ok(());
        };
        if r.state != ReservationState::Open {
            return Ok(());
        }
        let held = r.held;
        let ltv = debt::implied_ltv(&self.venue_assets, &r.venue, &r.asset);
        // The reservation's ids are used where they are: no clones.
        add_reserved_in(
            &mut self.participants,
            &mut self.ids,
            &mut self.asset_totals,
            Whose::Known(r.participant),
            &r.venue,
            &r.asset,
            -held,
            ltv,
            Open::Remove(id),
        )?;
        let mut commit_seq = None;
        if state == ReservationState::Committed {
            self.commit_seq += 1;
            commit_seq = Some(self.commit_seq);
            if !held.is_zero() {
                let (participant, venue, asset) = (r.participant, r.venue.clone(), r.asset.clone());
                self.add_pending(participant, &venue, &asset, self.commit_seq, held)?;
            }
        }
        self.ended.push_back((at, id));
        if let Some(r) = self.reservations.get_mut(&id) {
            r.state = state;
            r.commit_seq = commit_seq;
        }
        Ok(())
    }

    /// Counts a venue commit on top of the broker's posted value until a
    /// sync covers it.
    pub(super) fn add_pending(
        &mut self,
        participant: ParticipantSlot,
        venue: &VenueId,
        asset: &AssetId,
        seq: u64,
        qty: Decimal,
    ) -> Result<(), LedgerError> {
        let total = self.asset_totals.get(asset).copied().unwrap_or_default();
        let new_total = amount::add(total, qty)?;
        let ltv = debt::implied_ltv(&self.venue_assets, venue, asset);
        let p = self.participants.at_mut(participant);
        let reports = p.reports(venue);
        let pos = p.assets.get_or_default(asset.clone());
        let new_committed = amount::add(pos.committed, qty)?;
        let vp = pos.venues.get_or_default(venue.clone());
        // Uncovered commits are in the implied base either way.
        let base = vp.implied_base(reports)?;
        let implied_delta = debt::implied_change(base, amount::add(base, qty)?, ltv)?;
        pos.implied = amount::add(pos.implied, implied_delta)?;
        vp.pending_total = amount::add(vp.pending_total, qty)?;
        if vp.pending.len() >= PENDING_COMMITS_PER_POSITION_MAX {
            // Merge the two oldest under the newer sequence: they stay
            // counted until that later commit is covered (never under-count).
            if let (Some((_, a)), Some((s, b))) = (vp.pending.pop_front(), vp.pending.pop_front()) {
                vp.pending.push_front((s, amount::add(a, b)?));
            }
        }
        vp.pending.push_back((seq, qty));
        pos.committed = new_committed;
        self.asset_totals.insert(asset.clone(), new_total);
        Ok(())
    }

    pub(super) fn venue_reservation(
        &self,
        venue: &VenueId,
        id: ReservationId,
    ) -> Result<&Reservation, LedgerError> {
        // Another venue's reservation answers exactly like a missing one.
        self.reservations
            .get(&id)
            .filter(|r| &r.venue == venue)
            .ok_or(LedgerError::ReservationNotFound)
    }

    pub(super) fn commit(
        &mut self,
        at: UnixMs,
        venue: &VenueId,
        id: ReservationId,
    ) -> Result<Outcome, LedgerError> {
        let r = self.venue_reservation(venue, id)?;
        match r.state {
            ReservationState::Committed => {
                return Ok(Outcome::Reservation(ReservationAnswer {
                    reservation: id,
                    state: r.state,
                    commit_seq: r.commit_seq,
                }))
            }
            ReservationState::Released | ReservationState::Expired => {
                return Err(LedgerError::ReservationEnded(r.state))
            }
            ReservationState::Open => {}
        }
        if r.expires_at_ms <= at {
            self.end_reservation(at, id, ReservationState::Expired)?;
            return Err(LedgerError::ReservationEnded(ReservationState::Expired));
        }
        self.end_reservation(at, id, ReservationState::Committed)?;
        Ok(Outcome::Reservation(ReservationAnswer {
            reservation: id,
            state: ReservationState::Committed,
            commit_seq: Some(self.commit_seq),
        }))
    }

    pub(super) fn release(
        &mut self,
        at: UnixMs,
        venue: &VenueId,
        id: ReservationId,
    ) -> Result<Outcome, LedgerError> {
        let r = self.venue_reservation(venue, id)?;
        let state = match r.state {
            ReservationState::Committed => return Err(LedgerError::ReservationEnded(r.state)),
            ReservationState::Released | ReservationState::Expired => r.state,
            ReservationState::Open if r.expires_at_ms <= at => {
                self.end_reservation(at, id, ReservationState::Expired)?;
                ReservationState::Expired
            }
            ReservationState::Open => {
                self.end_reservation(at, id, ReservationState::Released)?;
                ReservationState::Released
            }
        };
        Ok(Outcome::Reservation(ReservationAnswer {
            reservation: id,
            state,
            commit_seq: None,
        }))
    }

    /// Whether an expiry entry is that of an open reservation (else it is
    /// stale: the reservation ended before its deadline).
    pub(super) fn expiry_is_live(&self, deadline: UnixMs, id: ReservationId) -> bool {
        self.reservations
            .get(&id)
            .is_some_and(|r| r.state == ReservationState::Open && r.expires_at_ms == deadline)
    }

    pub(super) fn push_expiry(&mut self, deadline: UnixMs, id: ReservationId) {
        self.expiry.push(deadline, id);
        // Stale entries belong to reservations ended within the last
        // max_ttl_ms; should they ever outnumber the reservations kept,
        // the queue is rebuilt from the open ones (amortised O(1)).
        if self.expiry.len() > 2 * self.reservations.len() + 1024 {
            self.expiry.rebuild(
                self.reservations
                    .values()
                    .filter(|r| r.state == ReservationState::Open)
                    .map(|r| (r.expires_at_ms, r.id)),
            );
        }
    }

    pub(super) fn expire_due(&mut self, at: UnixMs, max: usize) -> u32 {
        let mut expired = 0;
        // Stale entries that are due are all dropped, without a bound of
        // their own: a replay, whose heap has none from before its
        // snapshot, must expire exactly the same reservations here. They
        // are bounded by the heap (see push_expiry), cost a pop each, and
        // the ticker drops them every second as they come due.
        while expired < max {
            let Some((deadline, id)) = self.expiry.peek() else {
                break;
            };
            if deadline > at {
                break;
            }
            self.expiry.pop();
            if !self.expiry_is_live(deadline, id) {
                continue;
            }
            // Releasing headroom only subtracts what was added: it cannot
            // overflow; if it ever did, the reservation stays counted (fail
            // closed) rather than being lost.
            if self
                .end_reservation(at, id, ReservationState::Expired)
                .is_ok()
            {
                expired += 1;
            }
        }
        u32::try_from(expired).unwrap_or(u32::MAX)
    }
}
