//! The whole state in binary form, for snapshots.
//!
//! Maps are written in key order, so equal states encode to equal bytes:
//! the encoding doubles as a state digest. Indexes that follow from the
//! data (each participant's open reservations, the expiry queue) are rebuilt
//! on decoding rather than stored, and a decoded state must pass
//! [`State::check_invariants`], so a snapshot that is internally
//! inconsistent is refused rather than served.

use std::collections::VecDeque;

use super::{Broker, Participant, Position, Reservation, State, VenuePosition};
use crate::codec::{encode_seq, Decode, DecodeError, Encode, Reader, Writer};
use crate::command::{AuditRecord, ReservationState};
use crate::idempotency::{Key, Remembered, RememberedLimit, RememberedReason};
use crate::ids::OracleId;
use crate::ids::{AssetId, ParticipantId, ReservationId, VenueId};
use crate::limits::{LimitSet, LIMITS_MAX};
use crate::participants::ParticipantTable;
use crate::state::{BROKERS_MAX, BROKERS_PER_PARTICIPANT_MAX, PENDING_COMMITS_PER_POSITION_MAX};
use crate::value::prices::{AssetPrice, PriceState, Quote, ORACLES_PER_ASSET_MAX};

/// Tags the snapshot body so a journal record can never be mistaken for one.
/// The first layout; still read.
const SNAPSHOT_MAGIC: u32 = 0x534e_4150; // "SNAP"
/// The second layout: an idempotency entry held its order id once (the
/// first held it three times: the key, the request's and the answer's) and
/// not the dry-run flags (stored orders are never dry runs): 99.2 → 81.3
/// MiB for the state after 1,000,000 checks with 7-byte order ids
/// (`recovery_bench 1000000 1000`), more with longer ids. Still read.
const SNAPSHOT_MAGIC_V2: u32 = 0x534e_5032; // "SNP2"
/// The layout written since `SNAPSHOT_MAGIC_V2`: an idempotency entry is
/// its key digest, its request fingerprint and the answer's numbers
/// (`idempotency::Remembered`), with no text.
const SNAPSHOT_MAGIC_V3: u32 = 0x534e_5033; // "SNP3"
/// The layout written since `SNAPSHOT_MAGIC_V3`: the third, then the
/// prices (each priced asset's class, quotes, accepted price and state),
/// the oracles' sequences, the price rules, the liabilities reported
/// ((participant, asset, venue, owed), in that order), each venue's
/// parameters per asset and the pinned haircuts.
const SNAPSHOT_MAGIC_V4: u32 = 0x534e_5034; // "SNP4"
/// The layout written since `SNAPSHOT_MAGIC_V4`: the fourth, then the
/// standard shock vector (STABLE, MAJOR, ALT). A position's `owed` and
/// `implied` are derived, never stored.
const SNAPSHOT_MAGIC_V5: u32 = 0x534e_5035; // "SNP5"
/// The layout written since `SNAPSHOT_MAGIC_V5`: the fifth, then the day
/// of the last daily close and each asset's haircut model (variance, last
/// close, published haircut), in asset order.
const SNAPSHOT_MAGIC_V6: u32 = 0x534e_5036; // "SNP6"
/// The layout written since `SNAPSHOT_MAGIC_V6`: the sixth, then each
/// venue's liquidation rule, in venue order.
const SNAPSHOT_MAGIC_V7: u32 = 0x534e_5037; // "SNP7"
/// The layout written since `SNAPSHOT_MAGIC_V7`: the seventh, then the
/// value settings' versions ("KIND TARGET", count), in key order.
const SNAPSHOT_MAGIC_V8: u32 = 0x534e_5038; // "SNP8"
/// The layout written since `SNAPSHOT_MAGIC_V8`: the eighth, then the
/// scenario library (name, scenario), in name order. Earlier layouts read
/// as the built-in library.
const SNAPSHOT_MAGIC_V9: u32 = 0x534e_5039; // "SNP9"
/// The layout written since `SNAPSHOT_MAGIC_V9`: the ninth, then the stress
/// guards (participant, venue count), by participant.
const SNAPSHOT_MAGIC_V10: u32 = 0x534e_5041; // "SNPA"

/// Idempotency entries of the first two layouts: the whole request and
/// answer, read into the compact form. The TTL a stored request was judged
/// with is its own, or the default's when it asked for none.
fn decode_old_idem(
    r: &mut Reader<'_>,
    venue: &crate::ids::VenueId,
    order_id: &crate::ids::OrderId,
    v2: bool,
    default_ttl_ms: u64,
) -> Result<Option<Remembered>, DecodeError> {
    let record = if v2 {
        let request = crate::command::CheckRequest {
            order_id: order_id.clone(),
            participant: r.get()?,
            asset: r.get()?,
            quantity: r.decimal()?,
            ttl_ms: r.get()?,
            risk_reducing: r.bool()?,
            liability: None,
            dry_run: false,
            allow_partial: r.bool()?,
        };
        let answer = crate::command::CheckAnswer {
            order_id: order_id.clone(),
            verdict: r.get()?,
            reservation: r.get()?,
            approved: r.decimal()?,
            expires_at_ms: r.get()?,
            reason: r.get()?,
            headroom: r.get()?,
            dry_run: false,
        };
        Some((request, answer))
    } else {
        // Optional in that layout; every key had its record.
        r.get::<Option<(crate::command::CheckRequest, crate::command::CheckAnswer)>>()?
    };
    let Some((request, answer)) = record else {
        return Ok(None);
    };
    if request.order_id != *order_id || answer.order_id != *order_id {
        return Err(r.error("idempotency record under another order id"));
    }
    if answer.reservation.is_some() != answer.expires_at_ms.is_some()
        || answer.reservation.is_some_and(|id| id.0 == 0)
    {
        return Err(r.error("idempotency record with a bad reservation"));
    }
    let ttl_ms = request.ttl_ms.unwrap_or(default_ttl_ms);
    Ok(Some(Remembered::new(venue, &request, ttl_ms, &answer)))
}

fn encode_price(w: &mut Writer, p: &AssetPrice<OracleId>) {
    w.put(&p.class);
    w.usize(p.quotes.len());
    for q in &p.quotes {
        w.put(&q.oracle);
        w.decimal(q.price);
        w.i64(q.published_ms);
    }
    w.bool(p.accepted.is_some());
    if let Some((price, at)) = p.accepted {
        w.decimal(price);
        w.i64(at);
    }
    match p.state {
        PriceState::Fresh => w.u8(0),
        PriceState::Stale => w.u8(1),
        PriceState::Recovering { since_ms } => {
            w.u8(2);
            w.i64(since_ms);
        }
    }
}

fn decode_price(r: &mut Reader<'_>) -> Result<AssetPrice<OracleId>, DecodeError> {
    let mut p = AssetPrice::new(r.get()?);
    let n = r.len(ORACLES_PER_ASSET_MAX)?;
    for _ in 0..n {
        let oracle: OracleId = r.get()?;
        if p.quotes.iter().any(|q| q.oracle == oracle) {
            return Err(r.error("duplicate oracle quote"));
        }
        p.quotes.push(Quote {
            oracle,
            price: r.decimal()?,
            published_ms: r.i64()?,
        });
    }
    p.accepted = if r.bool()? {
        Some((r.decimal()?, r.i64()?))
    } else {
        None
    };
    p.state = match r.u8()? {
        0 => PriceState::Fresh,
        1 => PriceState::Stale,
        2 => PriceState::Recovering { since_ms: r.i64()? },
        _ => return Err(r.error("bad price state")),
    };
    Ok(p)
}

fn encode_remembered(w: &mut Writer, r: &Remembered) {
    w.u64(r.request);
    w.put(&r.verdict);
    w.put(&r.headroom);
    w.u64(r.reservation);
    w.i64(r.expires_at_ms);
    w.decimal(r.approved);
    w.bool(r.reason.is_some());
    if let Some(reason) = &r.reason {
        w.put(&reason.code);
        w.bool(reason.utilization.is_some());
        if let Some(u) = reason.utilization {
            w.decimal(u);
        }
        w.bool(reason.limit.is_some());
        if let Some(l) = &reason.limit {
            w.put(&l.kind);
            w.u8(l.scope);
            w.put(&l.id);
            w.decimal(l.value);
        }
    }
}

fn decode_remembered(r: &mut Reader<'_>) -> Result<Remembered, DecodeError> {
    let request = r.u64()?;
    let verdict = r.get()?;
    let headroom = r.get()?;
    let reservation = r.u64()?;
    let expires_at_ms = r.i64()?;
    let approved = r.decimal()?;
    let reason = if r.bool()? {
        let code = r.get()?;
        let utilization = if r.bool()? { Some(r.decimal()?) } else { None };
        let limit = if r.bool()? {
            let kind = r.get()?;
            let scope = r.u8()?;
            if scope > 7 {
                return Err(r.error("bad limit scope"));
            }
            Some(RememberedLimit {
                kind,
                scope,
                id: r.get()?,
                value: r.decimal()?,
            })
        } else {
            None
        };
        Some(RememberedReason {
            code,
            utilization,
            limit,
        })
    } else {
        None
    };
    Ok(Remembered {
        request,
        verdict,
        headroom,
        reservation,
        expires_at_ms,
        approved,
        reason,
    })
}

impl Encode for VenuePosition {
    fn encode(&self, w: &mut Writer) {
        w.decimal(self.posted);
        encode_seq(w, self.pending.len(), &self.pending);
        w.decimal(self.pending_total);
        w.decimal(self.reserved);
    }
}

impl Decode for VenuePosition {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(VenuePosition {
            posted: r.decimal()?,
            pending: VecDeque::from(r.vec(PENDING_COMMITS_PER_POSITION_MAX)?),
            pending_total: r.decimal()?,
            reserved: r.decimal()?,
            // Read from the liabilities section (layout 4).
            owed: None,
        })
    }
}

impl Encode for Position {
    fn encode(&self, w: &mut Writer) {
        encode_seq(w, self.custody.len(), &self.custody);
        w.decimal(self.owned);
        w.usize(self.venues.len());
        for (venue, vp) in &self.venues {
            w.put(venue);
            w.put(vp);
        }
        w.decimal(self.committed);
    }
}

impl Decode for Position {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let custody = r.vec(BROKERS_PER_PARTICIPANT_MAX)?;
        let owned = r.decimal()?;
        let n = r.len(usize::MAX)?;
        let mut venues = crate::small_map::SmallMap::new();
        for _ in 0..n {
            let venue = r.get()?;
            let vp = r.get()?;
            if venues.insert(venue, vp).is_some() {
                return Err(r.error("duplicate venue"));
            }
        }
        Ok(Position {
            custody,
            owned,
            venues,
            committed: r.decimal()?,
            // Derived: `State::recompute_debts` once the state is read.
            owed: rust_decimal::Decimal::ZERO,
            implied: rust_decimal::Decimal::ZERO,
        })
    }
}

/// A reservation names its participant by id on disk (slots are numbered
/// afresh by every decoded state).
fn encode_reservation(w: &mut Writer, res: &Reservation, participants: &ParticipantTable) {
    w.put(&res.id);
    w.put(&res.venue);
    w.put(participants.id(res.participant));
    w.put(&res.asset);
    w.put(&res.order_id);
    w.decimal(res.held);
    w.i64(res.expires_at_ms);
    w.put(&res.state);
    w.put(&res.commit_seq);
}

/// A reservation of a participant already decoded (every reservation's
/// participant is in the ledger's table: it was created by the check).
fn decode_reservation(
    r: &mut Reader<'_>,
    participants: &ParticipantTable,
) -> Result<Reservation, DecodeError> {
    let id = r.get()?;
    let venue = r.get()?;
    let participant: ParticipantId = r.get()?;
    let Some(participant) = participants.slot(&participant) else {
        return Err(r.error("reservation of an unknown participant"));
    };
    Ok(Reservation {
        id,
        venue,
        participant,
        asset: r.get()?,
        order_id: r.get()?,
        held: r.decimal()?,
        expires_at_ms: r.i64()?,
        state: r.get()?,
        commit_seq: r.get()?,
    })
}

impl Encode for Broker {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.last_seq);
        w.i64(self.last_seen_ms);
        w.bool(self.gapped);
        w.bool(self.stale_alerted);
    }
}

impl Decode for Broker {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Broker {
            last_seq: r.u64()?,
            last_seen_ms: r.i64()?,
            gapped: r.bool()?,
            stale_alerted: r.bool()?,
        })
    }
}

fn sorted<'a, K: Ord + 'a, V: 'a>(
    entries: impl IntoIterator<Item = (&'a K, &'a V)>,
) -> Vec<(&'a K, &'a V)> {
    let mut v: Vec<(&K, &V)> = entries.into_iter().collect();
    v.sort_unstable_by(|a, b| a.0.cmp(b.0));
    v
}

impl Encode for State {
    fn encode(&self, w: &mut Writer) {
        self.encode_parts(w, true);
        encode_seq(w, self.audit.len(), &self.audit);
        // After the records, so that a snapshot written before the archive
        // existed (nothing archived) still reads.
        w.u64(self.audit_archived);
        w.buf.extend_from_slice(&self.audit_anchor);
    }
}

impl State {
    /// Everything but the audit log, canonically (maps in key order); the
    /// ledger's clock only if `clock`.
    fn encode_parts(&self, w: &mut Writer, clock: bool) {
        w.u64(u64::from(SNAPSHOT_MAGIC_V10));
        w.put(&self.cfg);
        if clock {
            w.i64(self.last_at_ms);
        }
        w.u64(self.next_reservation);
        w.u64(self.commit_seq);

        let participants = sorted(self.participants.iter());
        w.usize(participants.len());
        for (id, p) in participants {
            w.put(id);
            w.put(&p.trading_state);
            encode_seq(w, p.brokers.len(), &p.brokers);
            w.usize(p.assets.len());
            for (asset, pos) in &p.assets {
                w.put(asset);
                w.put(pos);
            }
        }

        encode_seq(w, self.limits.by_id.len(), self.limits.by_id.values());
        w.u64(self.limits.next_id);

        let reservations = sorted(self.reservations.iter());
        w.usize(reservations.len());
        for (_, r) in reservations {
            encode_reservation(w, r, &self.participants);
        }
        encode_seq(w, self.ended.len(), &self.ended);

        // The idempotency table, oldest first.
        w.usize(self.idempotency.len());
        for (t, key, remembered) in self.idempotency.iter() {
            w.i64(t);
            w.u64(key.0);
            w.u64(key.1);
            encode_remembered(w, remembered);
        }

        let totals = sorted(&self.asset_totals);
        w.usize(totals.len());
        for (asset, total) in totals {
            w.put(asset);
            w.decimal(*total);
        }
        let brokers = sorted(&self.brokers);
        w.usize(brokers.len());
        for (id, b) in brokers {
            w.put(id);
            w.put(b);
        }

        let prices = sorted(&self.prices);
        w.usize(prices.len());
        for (asset, p) in prices {
            w.put(asset);
            encode_price(w, p);
        }
        let oracles = sorted(&self.oracles);
        w.usize(oracles.len());
        for (id, seq) in oracles {
            w.put(id);
            w.u64(*seq);
        }
        w.put(&self.price_rules);

        let mut owed = Vec::new();
        for (id, p) in sorted(self.participants.iter()) {
            for (asset, pos) in &p.assets {
                for (venue, vp) in &pos.venues {
                    if let Some(q) = vp.owed {
                        owed.push((id, asset, venue, q));
                    }
                }
            }
        }
        w.usize(owed.len());
        for (id, asset, venue, q) in owed {
            w.put(id);
            w.put(asset);
            w.put(venue);
            w.decimal(q);
        }

        let venue_assets = sorted(&self.venue_assets);
        w.usize(venue_assets.len());
        for ((venue, asset), params) in venue_assets {
            w.put(venue);
            w.put(asset);
            w.put(params);
        }
        let haircuts = sorted(&self.haircuts);
        w.usize(haircuts.len());
        for (asset, h) in haircuts {
            w.put(asset);
            w.decimal(*h);
        }
        let shocks = &self.stress_shocks;
        for shock in [shocks.stable, shocks.major, shocks.alt] {
            w.decimal(shock);
        }
        w.bool(self.close_day.is_some());
        if let Some(day) = self.close_day {
            w.i64(day);
        }
        let models = sorted(&self.haircut_models);
        w.usize(models.len());
        for (asset, m) in models {
            w.put(asset);
            let (variance, last_close, published) = m.parts();
            w.decimal(variance);
            for d in [last_close, published] {
                w.bool(d.is_some());
                if let Some(d) = d {
                    w.decimal(d);
                }
            }
        }
        let rules = sorted(&self.venue_rules);
        w.usize(rules.len());
        for (venue, rule) in rules {
            w.put(venue);
            w.put(rule);
        }
        let versions = sorted(&self.setting_versions);
        w.usize(versions.len());
        for (key, v) in versions {
            w.str(key);
            w.u64(*v);
        }
        w.usize(self.scenarios.len());
        for (name, s) in &self.scenarios {
            w.str(name);
            w.put(s);
        }
        w.usize(self.stress_guards.len());
        for (p, n) in &self.stress_guards {
            w.put(p);
            w.u64(u64::from(*n));
        }
    }

    /// SHA-256 of the state without its audit log and clock (see
    /// `GetStateDigest`): recording a refused call changes neither.
    pub fn digest_without_audit(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut w = Writer::new();
        self.encode_parts(&mut w, false);
        Sha256::digest(&w.buf).into()
    }

    /// How many audit records are in memory.
    pub fn audit_len(&self) -> usize {
        self.audit.len()
    }
}

impl Decode for State {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let layout = match r.u64()? {
            m if m == u64::from(SNAPSHOT_MAGIC_V10) => 10,
            m if m == u64::from(SNAPSHOT_MAGIC_V9) => 9,
            m if m == u64::from(SNAPSHOT_MAGIC_V8) => 8,
            m if m == u64::from(SNAPSHOT_MAGIC_V7) => 7,
            m if m == u64::from(SNAPSHOT_MAGIC_V6) => 6,
            m if m == u64::from(SNAPSHOT_MAGIC_V5) => 5,
            m if m == u64::from(SNAPSHOT_MAGIC_V4) => 4,
            m if m == u64::from(SNAPSHOT_MAGIC_V3) => 3,
            m if m == u64::from(SNAPSHOT_MAGIC_V2) => 2,
            m if m == u64::from(SNAPSHOT_MAGIC) => 1,
            _ => return Err(r.error("not a snapshot")),
        };
        let cfg: super::LedgerConfig = r.get()?;
        let mut s = State::new(cfg);
        s.last_at_ms = r.i64()?;
        s.next_reservation = r.u64()?;
        s.commit_seq = r.u64()?;

        let n = r.len(s.cfg.participants_max)?;
        s.participants.reserve(n);
        for _ in 0..n {
            let id = r.get()?;
            let trading_state = r.get()?;
            let brokers: Vec<_> = r.vec(BROKERS_PER_PARTICIPANT_MAX)?;
            let brokers = brokers.iter().map(|b| s.ids.broker(b)).collect();
            let assets_n = r.len(usize::MAX)?;
            let mut assets = crate::small_map::SmallMap::new();
            for _ in 0..assets_n {
                let asset = s.ids.asset(&r.get()?);
                let pos = s.ids.position(r.get()?);
                if assets.insert(asset, pos).is_some() {
                    return Err(r.error("duplicate asset"));
                }
            }
            let p = Participant {
                trading_state,
                assets,
                brokers,
                ..Participant::default()
            };
            if s.participants.insert(id, p).is_none() {
                return Err(r.error("duplicate participant"));
            }
        }

        let limits: Vec<crate::limits::Limit> = r.vec(LIMITS_MAX)?;
        let mut set = LimitSet {
            by_id: Default::default(),
            next_id: 0,
        };
        for l in limits {
            if set.by_id.insert(l.id.clone(), l).is_some() {
                return Err(r.error("duplicate limit"));
            }
        }
        set.next_id = r.u64()?;
        s.limits = set;

        let n = r.len(s.cfg.reservations_max)?;
        s.reservations.reserve(n);
        let mut deadlines = Vec::new();
        let mut previous: Option<ReservationId> = None;
        for _ in 0..n {
            let mut res = decode_reservation(r, &s.participants)?;
            // Written in increasing id order: each participant's open
            // reservations are then rebuilt by appending, and no id repeats.
            if previous.is_some_and(|p| p >= res.id) {
                return Err(r.error("reservations not in increasing id order"));
            }
            previous = Some(res.id);
            // Ids are handed out from `next_reservation` up: a stored one
            // above it would be handed out again.
            if res.id.0 > s.next_reservation {
                return Err(r.error("reservation id above the last one handed out"));
            }
            res.venue = s.ids.venue(&res.venue);
            res.asset = s.ids.asset(&res.asset);
            if res.state == ReservationState::Open {
                deadlines.push((res.expires_at_ms, res.id));
                s.participants.at_mut(res.participant).open.push(res.id);
            }
            // Ids strictly increase (above), so none is already kept.
            let _ = s.reservations.insert(res.id, res, s.cfg.reservations_max);
        }
        s.expiry.rebuild(deadlines.into_iter());
        s.ended = VecDeque::from(r.vec(s.cfg.reservations_max)?);

        let n = r.len(s.cfg.idempotency_keys_max)?;
        for _ in 0..n {
            let t = r.i64()?;
            let (key, remembered) = if layout >= 3 {
                let key = Key(r.u64()?, r.u64()?);
                (key, decode_remembered(r)?)
            } else {
                let venue: crate::ids::VenueId = r.get()?;
                let order: crate::ids::OrderId = r.get()?;
                let default_ttl = s.cfg.default_ttl_ms;
                match decode_old_idem(r, &venue, &order, layout == 2, default_ttl)? {
                    Some(rec) => (Key::of(&venue, &order), rec),
                    // A key without its record (never written) is nothing
                    // to keep.
                    None => continue,
                }
            };
            if s.idempotency
                .insert(t, key, remembered, s.cfg.idempotency_keys_max)
                .is_err()
            {
                return Err(r.error("duplicate order id"));
            }
        }

        let n = r.len(usize::MAX)?;
        for _ in 0..n {
            let asset = r.get()?;
            let total = r.decimal()?;
            s.asset_totals.insert(asset, total);
        }
        let n = r.len(BROKERS_MAX)?;
        for _ in 0..n {
            let id = r.get()?;
            let b = r.get()?;
            s.brokers.insert(id, b);
        }
        if layout >= 4 {
            let n = r.len(super::PRICED_ASSETS_MAX)?;
            for _ in 0..n {
                let asset = r.get()?;
                let p = decode_price(r)?;
                if s.prices.insert(asset, p).is_some() {
                    return Err(r.error("duplicate priced asset"));
                }
            }
            let n = r.len(super::ORACLES_MAX)?;
            for _ in 0..n {
                let id = r.get()?;
                let seq = r.u64()?;
                if s.oracles.insert(id, seq).is_some() {
                    return Err(r.error("duplicate oracle"));
                }
            }
            s.price_rules = r.get()?;
            let n = r.len(usize::MAX)?;
            let mut previous: Option<(ParticipantId, AssetId, VenueId)> = None;
            for _ in 0..n {
                let key: (ParticipantId, AssetId, VenueId) = (r.get()?, r.get()?, r.get()?);
                let q = r.decimal()?;
                // In key order, so none repeats.
                if previous.as_ref().is_some_and(|p| *p >= key) {
                    return Err(r.error("liabilities not in key order"));
                }
                let slot = s.participants.slot(&key.0);
                let vp = slot
                    .and_then(|slot| s.participants.at_mut(slot).assets.get_mut(&key.1))
                    .and_then(|pos| pos.venues.get_mut(&key.2))
                    .ok_or_else(|| r.error("a liability without its position"))?;
                vp.owed = Some(q);
                previous = Some(key);
            }
            let n = r.len(super::VENUE_ASSETS_MAX)?;
            for _ in 0..n {
                let key = (r.get()?, r.get()?);
                let params = r.get()?;
                if s.venue_assets.insert(key, params).is_some() {
                    return Err(r.error("duplicate venue asset"));
                }
            }
            let n = r.len(super::PRICED_ASSETS_MAX)?;
            for _ in 0..n {
                let asset = r.get()?;
                let h = r.decimal()?;
                if s.haircuts.insert(asset, h).is_some() {
                    return Err(r.error("duplicate haircut"));
                }
            }
        }
        if layout >= 5 {
            let (stable, major, alt) = (r.decimal()?, r.decimal()?, r.decimal()?);
            s.stress_shocks = crate::command::StressShocks { stable, major, alt };
        }
        if layout < 6 && !s.prices.is_empty() {
            // Days were not counted then: from the snapshot's own day.
            s.close_day = Some(s.last_at_ms.div_euclid(super::haircuts::DAY_MS));
        }
        if layout >= 6 {
            s.close_day = if r.bool()? { Some(r.i64()?) } else { None };
            let n = r.len(super::PRICED_ASSETS_MAX)?;
            for _ in 0..n {
                let asset: AssetId = r.get()?;
                let variance = r.decimal()?;
                let mut opt = || -> Result<Option<rust_decimal::Decimal>, DecodeError> {
                    Ok(if r.bool()? { Some(r.decimal()?) } else { None })
                };
                let (last_close, published) = (opt()?, opt()?);
                let model =
                    crate::value::haircut::Haircut::from_parts(variance, last_close, published);
                if s.haircut_models.insert(asset, model).is_some() {
                    return Err(r.error("duplicate haircut model"));
                }
            }
        }
        if layout >= 7 {
            let n = r.len(super::VENUE_RULES_MAX)?;
            for _ in 0..n {
                let venue = r.get()?;
                let rule = r.get()?;
                if s.venue_rules.insert(venue, rule).is_some() {
                    return Err(r.error("duplicate venue rule"));
                }
            }
        }
        if layout >= 8 {
            // Each setting is a priced asset's class or haircut, a venue's
            // parameters for an asset or its rule, or a class's shock.
            let most = super::PRICED_ASSETS_MAX * 2
                + super::VENUE_ASSETS_MAX
                + super::VENUE_RULES_MAX
                + super::SCENARIOS_MAX
                + super::STRESS_GUARDS_MAX
                + 3;
            let n = r.len(most)?;
            for _ in 0..n {
                let key = r.text()?;
                let v = r.u64()?;
                if s.setting_versions.insert(key, v).is_some() {
                    return Err(r.error("duplicate setting version"));
                }
            }
        }
        if layout >= 9 {
            s.scenarios.clear();
            let n = r.len(super::SCENARIOS_MAX)?;
            for _ in 0..n {
                let name = r.text()?;
                if super::invalid_scenario_name(&name).is_some() {
                    return Err(r.error("bad scenario name"));
                }
                let scenario = r.get()?;
                if super::scenarios::check_scenario(&scenario).is_err() {
                    return Err(r.error("bad scenario"));
                }
                if s.scenarios.insert(name, scenario).is_some() {
                    return Err(r.error("duplicate scenario"));
                }
            }
        }
        if layout >= 10 {
            let n = r.len(super::STRESS_GUARDS_MAX)?;
            for _ in 0..n {
                let p = r.get()?;
                let v = u32::try_from(r.u64()?).map_err(|_| r.error("bad venue count"))?;
                if v == 0 || v > super::STRESS_GUARD_VENUES_MAX {
                    return Err(r.error("bad venue count"));
                }
                if s.stress_guards.insert(p, v).is_some() {
                    return Err(r.error("duplicate stress guard"));
                }
            }
        }
        s.configured_venues = (s.venue_assets.keys().map(|(v, _)| v))
            .chain(s.venue_rules.keys())
            .cloned()
            .collect();
        s.recompute_debts()
            .map_err(|_| r.error("debt sums overflow"))?;
        s.refresh_all_factors()
            .map_err(|_| r.error("price factors overflow"))?;
        let audit: Vec<AuditRecord> =
            r.vec(super::audit_records_hard_max(s.cfg.audit_records_max))?;
        s.audit = audit.into();
        if r.remaining() > 0 {
            s.audit_archived = r.u64()?;
            s.audit_anchor.copy_from_slice(r.bytes(32)?);
        }
        if layout < 8 {
            // Versions were not kept then: counted from the audit records
            // still in memory (each change of a setting is one).
            s.versions_from_audit();
        }
        Ok(s)
    }
}

impl State {
    /// The state in binary form (a snapshot body). Equal states give equal
    /// bytes.
    pub fn to_snapshot(&self) -> Vec<u8> {
        crate::codec::to_bytes(self)
    }

    /// Reads a snapshot body back, and refuses it unless it is whole and
    /// consistent.
    pub fn from_snapshot(bytes: &[u8]) -> Result<State, SnapshotError> {
        let s: State = crate::codec::from_bytes(bytes)?;
        s.check_invariants().map_err(SnapshotError::Inconsistent)?;
        Ok(s)
    }
}

/// Why a snapshot body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("snapshot is inconsistent: {0}")]
    Inconsistent(String),
}

#[cfg(test)]
mod tests;
