//! Read-only views of the state: exposure, rankings, audit, invariants.

use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;

use super::{Broker, Participant, Reservation, State, VenuePosition};
use crate::amount;
use crate::command::{ReservationState, TradingState, UnixMs};
use crate::error::LedgerError;
use crate::ids::{AssetId, BrokerId, ParticipantId, ReservationId, VenueId};
use crate::limits::Limit;

/// One venue's line in an exposure report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueExposure {
    pub venue: VenueId,
    /// Broker-reported posted plus venue commits not yet covered.
    pub posted: Decimal,
    pub reserved: Decimal,
    /// Owed to the venue in this asset, as reported; `None` if never.
    pub owed: Option<Decimal>,
}

/// A participant's exposure in one asset, across venues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetExposure {
    pub asset: AssetId,
    pub owned: Decimal,
    pub venues: Vec<VenueExposure>,
    pub committed: Decimal,
    /// committed / owned, when something is owned.
    pub reuse_ratio: Option<Decimal>,
    pub reuse_limit: Decimal,
    pub effective_limit: Decimal,
    /// committed / effective_limit, when the limit is not zero.
    pub utilization: Option<Decimal>,
}

/// A participant's exposure across every venue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    pub participant: ParticipantId,
    pub trading_state: TradingState,
    pub assets: Vec<AssetExposure>,
    pub brokers: Vec<BrokerId>,
    pub stale: bool,
}

/// One line of the most-utilized ranking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopEntry {
    pub participant: ParticipantId,
    pub asset: AssetId,
    /// `None` means committed with a zero limit: ranked above everything.
    pub utilization: Option<Decimal>,
    pub committed: Decimal,
    pub effective_limit: Decimal,
    pub trading_state: TradingState,
}

/// Entries of each bounded table and its cap (`State::fill`).
/// Reservations count those still kept: open, and ended ones kept for
/// their answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    pub participants: (usize, usize),
    pub reservations: (usize, usize),
    pub idempotency: (usize, usize),
    pub audit: (usize, usize),
}

impl State {
    /// A participant's exposure, or `None` if the ledger never heard of it.
    pub fn exposure(
        &self,
        participant: &ParticipantId,
        at: UnixMs,
    ) -> Result<Option<Exposure>, LedgerError> {
        let Some(p) = self.participants.get(participant) else {
            return Ok(None);
        };
        let mut assets = Vec::with_capacity(p.assets.len());
        for (asset, pos) in &p.assets {
            let (usage, ratio, cap) = self.position_cap(participant, asset)?;
            let venues = pos
                .venues
                .iter()
                .map(|(v, vp)| {
                    Ok(VenueExposure {
                        venue: v.clone(),
                        posted: amount::add(vp.posted, vp.pending_total)?,
                        reserved: vp.reserved,
                        owed: vp.owed,
                    })
                })
                .collect::<Result<Vec<_>, amount::Overflow>>()?;
            assets.push(AssetExposure {
                asset: asset.clone(),
                owned: usage.owned,
                venues,
                committed: usage.committed,
                reuse_ratio: amount::utilization(usage.committed, usage.owned),
                reuse_limit: ratio,
                effective_limit: cap,
                utilization: amount::utilization(usage.committed, cap),
            });
        }
        Ok(Some(Exposure {
            participant: participant.clone(),
            trading_state: p.trading_state,
            assets,
            brokers: p.brokers.clone(),
            stale: p.brokers.iter().any(|b| self.broker_stale(b, at)),
        }))
    }

    /// The `n` most utilized (participant, asset) positions, highest first.
    pub fn top(&self, n: usize) -> Result<Vec<TopEntry>, LedgerError> {
        let mut all = Vec::new();
        for (pid, p) in self.participants.iter() {
            for asset in p.assets.keys() {
                let (usage, _, cap) = self.position_cap(pid, asset)?;
                if usage.committed.is_zero() {
                    continue;
                }
                all.push(TopEntry {
                    participant: pid.clone(),
                    asset: asset.clone(),
                    utilization: amount::utilization(usage.committed, cap),
                    committed: usage.committed,
                    effective_limit: cap,
                    trading_state: p.trading_state,
                });
            }
        }
        // A zero limit with commitments (None) ranks first; ties by id.
        all.sort_by(|a, b| {
            let key = |e: &TopEntry| e.utilization.map_or(Decimal::MAX, |u| u);
            key(b)
                .cmp(&key(a))
                .then_with(|| (&a.participant, &a.asset).cmp(&(&b.participant, &b.asset)))
        });
        all.truncate(n);
        Ok(all)
    }

    /// Every limit, by id.
    pub fn limits(&self) -> Vec<Limit> {
        self.limits.iter().cloned().collect()
    }

    pub fn broker(&self, id: &BrokerId) -> Option<&Broker> {
        self.brokers.get(id)
    }

    pub fn reservation(&self, id: ReservationId) -> Option<&Reservation> {
        self.reservations.get(&id)
    }

    pub fn participant(&self, id: &ParticipantId) -> Option<&Participant> {
        self.participants.get(id)
    }

    /// Ecosystem-wide commitments of an asset.
    pub fn asset_total(&self, asset: &AssetId) -> Decimal {
        self.asset_totals.get(asset).copied().unwrap_or_default()
    }

    /// A participant's trading state, if the ledger knows it.
    pub fn trading_state(&self, participant: &ParticipantId) -> Option<TradingState> {
        self.participants.get(participant).map(|p| p.trading_state)
    }

    /// How many order ids are remembered.
    pub fn idempotency_len(&self) -> usize {
        self.idempotency.len()
    }

    /// How full each bounded table is, against its cap. O(1): the
    /// operations port reads it on every scrape.
    pub fn fill(&self) -> Fill {
        Fill {
            participants: (self.participants.len(), self.cfg.participants_max),
            reservations: (self.reservations.len(), self.cfg.reservations_max),
            idempotency: (self.idempotency.len(), self.cfg.idempotency_keys_max),
            audit: (self.audit.len(), self.cfg.audit_records_max),
        }
    }

    /// Each broker the ledger tracks: how long since its last sync at
    /// `at`, and whether its participants' checks now fail closed on it
    /// (silent too long, or a gap in its sequence). By id.
    pub fn broker_ages(&self, at: UnixMs) -> Vec<(BrokerId, i64, bool)> {
        let mut v: Vec<_> = self
            .brokers
            .iter()
            .map(|(id, b)| {
                (
                    id.clone(),
                    at.saturating_sub(b.last_seen_ms).max(0),
                    self.broker_stale(id, at),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Recomputes every derived sum from first principles and compares.
    /// Tests call it after every step; it is O(state).
    pub fn check_invariants(&self) -> Result<(), String> {
        let add = |a: Decimal, b: Decimal| a.checked_add(b).ok_or("amount overflow".to_owned());
        let mut reserved: HashMap<(&ParticipantId, &VenueId, &AssetId), Decimal> = HashMap::new();
        let mut open_of: HashMap<&ParticipantId, usize> = HashMap::new();
        let mut open_count = 0usize;
        let queued: HashSet<(UnixMs, ReservationId)> = self.expiry.iter().collect();
        if !self.idempotency.is_consistent() {
            return Err("idempotency index and records disagree".to_owned());
        }
        for (id, r) in self.reservations.iter() {
            if *id != r.id {
                return Err(format!("reservation {} stored under {id}", r.id));
            }
            if !self.participants.holds(r.participant) {
                return Err(format!("reservation {} of no participant", r.id));
            }
            if r.state == ReservationState::Open {
                open_count += 1;
                let participant = self.participants.id(r.participant);
                *open_of.entry(participant).or_default() += 1;
                let e = reserved
                    .entry((participant, &r.venue, &r.asset))
                    .or_default();
                *e = add(*e, r.held)?;
                if !queued.contains(&(r.expires_at_ms, r.id)) {
                    return Err(format!(
                        "open reservation {} missing from the expiry index",
                        r.id
                    ));
                }
                let indexed = self.participants.at(r.participant).open.contains(r.id);
                if !indexed {
                    return Err(format!(
                        "open reservation {} missing from its participant",
                        r.id
                    ));
                }
            }
        }
        let live = queued
            .iter()
            .filter(|&&(deadline, id)| self.expiry_is_live(deadline, id))
            .count();
        if open_count != live || queued.len() != self.expiry.len() {
            return Err(format!(
                "{open_count} open reservations but {live} live expiry entries ({} queued, {} distinct)",
                self.expiry.len(),
                queued.len()
            ));
        }
        let mut totals: HashMap<&AssetId, Decimal> = HashMap::new();
        for (pid, p) in self.participants.iter() {
            let open = open_of.get(pid).copied().unwrap_or(0);
            if open != p.open.len() {
                return Err(format!(
                    "participant {pid}: {} open reservations indexed, {open} found",
                    p.open.len()
                ));
            }
            for (aid, pos) in &p.assets {
                let mut owned = Decimal::ZERO;
                for (_, q) in &pos.custody {
                    owned = add(owned, *q)?;
                }
                if owned != pos.owned {
                    return Err(format!(
                        "{pid}/{aid}: owned {} != custody sum {owned}",
                        pos.owned
                    ));
                }
                let mut committed = Decimal::ZERO;
                for (vid, vp) in &pos.venues {
                    let want = reserved.remove(&(pid, vid, aid)).unwrap_or_default();
                    if vp.reserved != want {
                        return Err(format!(
                            "{pid}/{vid}/{aid}: reserved {} != open reservations {want}",
                            vp.reserved
                        ));
                    }
                    if vp.reserved < Decimal::ZERO || vp.posted < Decimal::ZERO {
                        return Err(format!("{pid}/{vid}/{aid}: negative amount"));
                    }
                    let mut pending = Decimal::ZERO;
                    for (_, q) in &vp.pending {
                        pending = add(pending, *q)?;
                    }
                    if pending != vp.pending_total {
                        return Err(format!(
                            "{pid}/{vid}/{aid}: pending total {} != {pending}",
                            vp.pending_total
                        ));
                    }
                    committed = add(
                        committed,
                        VenuePosition::counted(vp).map_err(|e| e.to_string())?,
                    )?;
                }
                if committed != pos.committed {
                    return Err(format!(
                        "{pid}/{aid}: committed {} != venue sum {committed}",
                        pos.committed
                    ));
                }
                if p.reporting != p.reporting_from_positions() {
                    return Err(format!("{pid}: reporting venues out of date"));
                }
                let (owed, implied) =
                    super::debt::recompute_position(p, aid, pos, &self.venue_assets)
                        .map_err(|e| e.to_string())?;
                if (owed, implied) != (pos.owed, pos.implied) {
                    return Err(format!(
                        "{pid}/{aid}: owed {} implied {} != venue sums {owed} {implied}",
                        pos.owed, pos.implied
                    ));
                }
                let t = totals.entry(aid).or_default();
                *t = add(*t, committed)?;
            }
        }
        self.factors_current()?;
        let configured: HashSet<&VenueId> = (self.venue_assets.keys().map(|(v, _)| v))
            .chain(self.venue_rules.keys())
            .collect();
        if configured != self.configured_venues.iter().collect() {
            return Err("the configured venues differ from the venue settings".to_owned());
        }
        if let Err(seq) = crate::command::verify_audit_chain(&self.audit, self.audit_anchor) {
            return Err(format!("audit record {seq} breaks the hash chain"));
        }
        for (i, r) in self.audit.iter().enumerate() {
            if r.seq != self.audit_archived + i as u64 + 1 {
                return Err(format!("audit record {} out of sequence", r.seq));
            }
        }
        if let Some(((p, v, a), q)) = reserved.into_iter().find(|(_, q)| !q.is_zero()) {
            return Err(format!(
                "open reservations of {q} for {p}/{v}/{a} not counted in any position"
            ));
        }
        for (aid, total) in &self.asset_totals {
            let want = totals.get(aid).copied().unwrap_or_default();
            if *total != want {
                return Err(format!(
                    "asset {aid}: total {total} != positions sum {want}"
                ));
            }
        }
        Ok(())
    }
}
