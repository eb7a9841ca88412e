//! The debt a participant's positions carry, kept per (participant, asset)
//! as positions change, so that the value limits read it in O(assets)
//! rather than walking every venue of every asset on each check.
//!
//! Per position, two quantities of the asset (valued at the price of the
//! moment the check is judged, so a price update touches no participant):
//! - `owed`: Σ over venues of the liability a broker reported;
//! - `implied`: Σ over venues of the commitment whose debt no broker
//!   reports, each weighted by the venue's LTV for the asset and rounded up
//!   to [`QUANTITY_SCALE_MAX`] places. On a venue that reports nothing for
//!   the participant, that is the whole commitment (value.md's implied
//!   liability); on one that does, it is the part no sync covers yet (open
//!   reservations and uncovered commits), the debt an approved order will
//!   add before the broker reports it. That second part is a choice,
//!   conservative, written down in ARCHITECTURE.md.
//!
//! Every change is a difference of two terms computed the same way, so the
//! running sums equal a recomputation exactly; `check_invariants`
//! recomputes them.

use super::*;

/// The LTV a venue's implied debt uses for an asset: its LTV, its
/// threshold where it has none (Morpho-style), 1 where the venue has no
/// parameters for the asset (unknown is conservative).
pub(super) fn implied_ltv(
    venue_assets: &HashMap<(VenueId, AssetId), VenueAssetParams>,
    venue: &VenueId,
    asset: &AssetId,
) -> Decimal {
    if venue_assets.is_empty() {
        return Decimal::ONE;
    }
    venue_assets
        .get(&(venue.clone(), asset.clone()))
        .map_or(Decimal::ONE, VenueAssetParams::ltv_or_threshold)
}

/// One venue's share of a position's `implied`, for a base quantity.
pub(super) fn implied_term(base: Decimal, ltv: Decimal) -> Result<Decimal, Overflow> {
    if ltv == Decimal::ONE {
        return Ok(base);
    }
    Ok(amount::mul(base, ltv)?
        .round_dp_with_strategy(QUANTITY_SCALE_MAX, RoundingStrategy::AwayFromZero))
}

/// How much a venue's share of `implied` changes when its base goes from
/// `before` to `after` (each term computed as [`implied_term`] does, so
/// the running sum stays equal to a recomputation).
pub(super) fn implied_change(
    before: Decimal,
    after: Decimal,
    ltv: Decimal,
) -> Result<Decimal, Overflow> {
    amount::sub(implied_term(after, ltv)?, implied_term(before, ltv)?)
}

impl VenuePosition {
    /// The quantity whose debt is implied here: the whole commitment if
    /// the venue reports no liability for the participant, else the part
    /// no sync covers yet.
    pub(super) fn implied_base(&self, reports: bool) -> Result<Decimal, Overflow> {
        if reports {
            amount::add(self.pending_total, self.reserved)
        } else {
            self.counted()
        }
    }
}

impl Participant {
    /// Whether a broker reported a liability of this participant on
    /// `venue`, in any asset (then the venue's debt is the reported one).
    pub fn reports(&self, venue: &VenueId) -> bool {
        self.reporting.iter().any(|v| v == venue)
    }

    /// The venues with a reported liability, from the positions.
    pub(super) fn reporting_from_positions(&self) -> Vec<VenueId> {
        let mut venues: Vec<VenueId> = Vec::new();
        for pos in self.assets.values() {
            for (v, vp) in &pos.venues {
                if vp.owed.is_some() && !venues.contains(v) {
                    venues.push(v.clone());
                }
            }
        }
        venues.sort();
        venues
    }
}

/// A position's `owed` and `implied`, recomputed from its venues.
pub(super) fn recompute_position(
    p: &Participant,
    asset: &AssetId,
    pos: &Position,
    venue_assets: &HashMap<(VenueId, AssetId), VenueAssetParams>,
) -> Result<(Decimal, Decimal), Overflow> {
    let (mut owed, mut implied) = (Decimal::ZERO, Decimal::ZERO);
    for (venue, vp) in &pos.venues {
        owed = amount::add(owed, vp.owed.unwrap_or_default())?;
        let term = implied_term(
            vp.implied_base(p.reports(venue))?,
            implied_ltv(venue_assets, venue, asset),
        )?;
        implied = amount::add(implied, term)?;
    }
    Ok((owed, implied))
}

impl State {
    /// Recomputes every position's `owed` and `implied` (a decoded
    /// snapshot's: they are derived, not stored).
    pub(super) fn recompute_debts(&mut self) -> Result<(), Overflow> {
        for slot in self.participants.slots() {
            let p = self.participants.at_mut(slot);
            p.reporting = p.reporting_from_positions();
        }
        let mut sums = Vec::new();
        for (_, p) in self.participants.iter() {
            for (asset, pos) in &p.assets {
                sums.push(recompute_position(p, asset, pos, &self.venue_assets)?);
            }
        }
        let mut sums = sums.into_iter();
        for slot in self.participants.slots() {
            for pos in self.participants.at_mut(slot).assets.values_mut() {
                let (owed, implied) = sums.next().unwrap_or_default();
                pos.owed = owed;
                pos.implied = implied;
            }
        }
        Ok(())
    }

    /// Records a broker's report of what `slot` owes `venue` in `asset`.
    /// The first report on a venue makes the venue's other commitments of
    /// the participant count by their uncovered part only.
    pub(super) fn set_owed(
        &mut self,
        slot: ParticipantSlot,
        venue: &VenueId,
        asset: &AssetId,
        quantity: Decimal,
    ) -> Result<(), LedgerError> {
        let p = self.participants.at(slot);
        let reported = p.reports(venue);
        // Every term that changes, computed before anything does.
        let mut changes: Vec<(AssetId, Decimal)> = Vec::new();
        if !reported {
            for (a, pos) in &p.assets {
                if let Some(vp) = pos.venues.get(venue) {
                    let ltv = implied_ltv(&self.venue_assets, venue, a);
                    let change =
                        implied_change(vp.implied_base(false)?, vp.implied_base(true)?, ltv)?;
                    changes.push((a.clone(), change));
                }
            }
        }
        let p = self.participants.at_mut(slot);
        if !reported {
            let at = p.reporting.partition_point(|v| v < venue);
            p.reporting.insert(at, venue.clone());
        }
        let pos = p.assets.get_or_default(asset.clone());
        let vp = pos.venues.get_or_default(venue.clone());
        let old = vp.owed.replace(quantity).unwrap_or_default();
        pos.owed = amount::add(amount::sub(pos.owed, old)?, quantity)?;
        for (a, delta) in changes {
            if let Some(pos) = p.assets.get_mut(&a) {
                pos.implied = amount::add(pos.implied, delta)?;
            }
        }
        Ok(())
    }

    /// Reweights every position of `asset` on `venue` after the venue's
    /// LTV for it changed from `old` to `new` (an admin command: one pass
    /// over the participants).
    pub(super) fn reweight_implied(
        &mut self,
        venue: &VenueId,
        asset: &AssetId,
        old: Decimal,
        new: Decimal,
    ) -> Result<(), LedgerError> {
        if old == new {
            return Ok(());
        }
        let mut changes = Vec::new();
        for slot in self.participants.slots() {
            let p = self.participants.at(slot);
            let Some(vp) = p.assets.get(asset).and_then(|pos| pos.venues.get(venue)) else {
                continue;
            };
            let base = vp.implied_base(p.reports(venue))?;
            let delta = amount::sub(implied_term(base, new)?, implied_term(base, old)?)?;
            changes.push((slot, delta));
        }
        for (slot, delta) in changes {
            if let Some(pos) = self.participants.at_mut(slot).assets.get_mut(asset) {
                pos.implied = amount::add(pos.implied, delta)?;
            }
        }
        Ok(())
    }
}
