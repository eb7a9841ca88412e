//! The encodings of the ledger's records: limits, checks and their answers,
//! sync and price messages, audit records and settings.

use super::*;

// ---- limits ------------------------------------------------------------

impl Encode for Scope {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.participant);
        w.put(&self.venue);
        w.put(&self.asset);
    }
}

impl Decode for Scope {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Scope {
            participant: r.get()?,
            venue: r.get()?,
            asset: r.get()?,
        })
    }
}

impl Encode for LimitSpec {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.kind);
        w.put(&self.scope);
        w.decimal(self.value);
        encode_seq(w, self.warn_levels_pct.len(), &self.warn_levels_pct);
    }
}

impl Decode for LimitSpec {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.position();
        let spec = LimitSpec {
            kind: r.get()?,
            scope: r.get()?,
            value: r.decimal()?,
            warn_levels_pct: r.vec(WARN_LEVELS_MAX)?,
        };
        spec.validate().map_err(|_| DecodeError {
            offset: at,
            what: "invalid limit spec",
        })?;
        Ok(spec)
    }
}

impl Encode for Limit {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.id);
        w.put(&self.spec);
        w.u64(self.version);
        w.i64(self.updated_at_ms);
        w.str(&self.updated_by);
    }
}

impl Decode for Limit {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Limit {
            id: r.get()?,
            spec: r.get()?,
            version: r.u64()?,
            updated_at_ms: r.i64()?,
            updated_by: r.text()?,
        })
    }
}

// ---- checks ------------------------------------------------------------

impl Encode for CheckRequest {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.order_id);
        w.put(&self.participant);
        w.put(&self.asset);
        w.decimal(self.quantity);
        w.put(&self.ttl_ms);
        w.bool(self.risk_reducing);
        w.bool(self.dry_run);
        // Bit 1 says a liability follows (requests journaled before it
        // existed have 0 or 1 here).
        w.u8(u8::from(self.allow_partial) | u8::from(self.liability.is_some()) << 1);
        if let Some(l) = self.liability {
            w.decimal(l);
        }
    }
}

impl Decode for CheckRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (order_id, participant, asset) = (r.get()?, r.get()?, r.get()?);
        let (quantity, ttl_ms) = (r.decimal()?, r.get()?);
        let (risk_reducing, dry_run) = (r.bool()?, r.bool()?);
        let flags = r.u8()?;
        if flags > 3 {
            return Err(r.error("bad check flags"));
        }
        let liability = if flags & 2 != 0 {
            Some(r.decimal()?)
        } else {
            None
        };
        Ok(CheckRequest {
            order_id,
            participant,
            asset,
            quantity,
            ttl_ms,
            risk_reducing,
            dry_run,
            allow_partial: flags & 1 != 0,
            liability,
        })
    }
}

impl Encode for LimitRef {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.kind);
        w.put(&self.id);
        w.put(&self.scope);
        w.decimal(self.value);
    }
}

impl Decode for LimitRef {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(LimitRef {
            kind: r.get()?,
            id: r.get()?,
            scope: r.get()?,
            value: r.decimal()?,
        })
    }
}

impl Encode for RejectReason {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.code);
        w.put(&self.limit);
        w.put(&self.utilization);
    }
}

impl Decode for RejectReason {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RejectReason {
            code: r.get()?,
            limit: r.get()?,
            utilization: r.get()?,
        })
    }
}

impl Encode for CheckAnswer {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.order_id);
        w.put(&self.verdict);
        w.put(&self.reservation);
        w.decimal(self.approved);
        w.put(&self.expires_at_ms);
        w.put(&self.reason);
        w.put(&self.headroom);
        w.bool(self.dry_run);
    }
}

impl Decode for CheckAnswer {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CheckAnswer {
            order_id: r.get()?,
            verdict: r.get()?,
            reservation: r.get()?,
            approved: r.decimal()?,
            expires_at_ms: r.get()?,
            reason: r.get()?,
            headroom: r.get()?,
            dry_run: r.bool()?,
        })
    }
}

// ---- sync --------------------------------------------------------------

impl Encode for SyncUpdate {
    fn encode(&self, w: &mut Writer) {
        match self {
            SyncUpdate::Collateral {
                participant,
                asset,
                quantity,
            } => {
                w.u8(0);
                w.put(participant);
                w.put(asset);
                w.decimal(*quantity);
            }
            SyncUpdate::Commitment {
                participant,
                venue,
                asset,
                quantity,
                covers_commit_seq,
            } => {
                w.u8(1);
                w.put(participant);
                w.put(venue);
                w.put(asset);
                w.decimal(*quantity);
                w.u64(*covers_commit_seq);
            }
            SyncUpdate::Liability {
                participant,
                venue,
                asset,
                quantity,
            } => {
                w.u8(2);
                w.put(participant);
                w.put(venue);
                w.put(asset);
                w.decimal(*quantity);
            }
        }
    }
}

impl Decode for SyncUpdate {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            0 => Ok(SyncUpdate::Collateral {
                participant: r.get()?,
                asset: r.get()?,
                quantity: r.decimal()?,
            }),
            1 => Ok(SyncUpdate::Commitment {
                participant: r.get()?,
                venue: r.get()?,
                asset: r.get()?,
                quantity: r.decimal()?,
                covers_commit_seq: r.u64()?,
            }),
            2 => Ok(SyncUpdate::Liability {
                participant: r.get()?,
                venue: r.get()?,
                asset: r.get()?,
                quantity: r.decimal()?,
            }),
            _ => Err(r.error("bad sync update tag")),
        }
    }
}

impl Encode for SyncBatch {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.sequence);
        encode_seq(w, self.updates.len(), &self.updates);
    }
}

impl Decode for SyncBatch {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SyncBatch {
            sequence: r.u64()?,
            updates: r.vec(SYNC_BATCH_MAX)?,
        })
    }
}

// ---- prices ------------------------------------------------------------

impl Encode for PriceQuote {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.asset);
        w.decimal(self.price);
        w.i64(self.published_ms);
    }
}

impl Decode for PriceQuote {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PriceQuote {
            asset: r.get()?,
            price: r.decimal()?,
            published_ms: r.i64()?,
        })
    }
}

impl Encode for PriceBatch {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.sequence);
        encode_seq(w, self.quotes.len(), &self.quotes);
    }
}

impl Decode for PriceBatch {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PriceBatch {
            sequence: r.u64()?,
            quotes: r.vec(PRICE_BATCH_MAX)?,
        })
    }
}

impl Encode for PriceRules {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.max_age_stable_ms);
        w.u64(self.max_age_major_ms);
        w.u64(self.max_age_alt_ms);
        w.u64(self.future_skew_ms);
        w.decimal(self.jump);
        w.usize(self.agree_oracles);
        w.decimal(self.agree);
        w.u64(self.grace_ms);
    }
}

impl Decode for PriceRules {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PriceRules {
            max_age_stable_ms: r.u64()?,
            max_age_major_ms: r.u64()?,
            max_age_alt_ms: r.u64()?,
            future_skew_ms: r.u64()?,
            jump: r.decimal()?,
            agree_oracles: read_usize(r)?,
            agree: r.decimal()?,
            grace_ms: r.u64()?,
        })
    }
}

impl Encode for VenueAssetParams {
    fn encode(&self, w: &mut Writer) {
        w.decimal(self.threshold);
        w.bool(self.ltv.is_some());
        if let Some(l) = self.ltv {
            w.decimal(l);
        }
    }
}

impl Decode for VenueAssetParams {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(VenueAssetParams {
            threshold: r.decimal()?,
            ltv: if r.bool()? { Some(r.decimal()?) } else { None },
        })
    }
}

impl Encode for Scenario {
    fn encode(&self, w: &mut Writer) {
        w.str(&self.source);
        for s in &self.by_class {
            w.bool(s.is_some());
            if let Some(s) = s {
                w.decimal(*s);
            }
        }
        w.usize(self.by_asset.len());
        for (a, s) in &self.by_asset {
            w.put(a);
            w.decimal(*s);
        }
    }
}

impl Decode for Scenario {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let source = r.text()?;
        let mut by_class = [None; 3];
        for c in &mut by_class {
            *c = if r.bool()? { Some(r.decimal()?) } else { None };
        }
        let n = r.len(crate::state::SCENARIO_ASSETS_MAX)?;
        let mut by_asset = Vec::with_capacity(n);
        for _ in 0..n {
            by_asset.push((r.get()?, r.decimal()?));
        }
        Ok(Scenario {
            source,
            by_class,
            by_asset,
        })
    }
}

// ---- admin -------------------------------------------------------------

impl Encode for AuditRecord {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.seq);
        w.i64(self.at_ms);
        w.str(&self.principal);
        w.str(&self.action);
        w.str(&self.target);
        w.str(&self.old_value);
        w.str(&self.new_value);
        w.str(&self.outcome);
        w.buf.extend_from_slice(&self.prev_hash);
        w.buf.extend_from_slice(&self.hash);
    }
}

impl Decode for AuditRecord {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(AuditRecord {
            seq: r.u64()?,
            at_ms: r.i64()?,
            principal: r.text()?,
            action: r.text()?,
            target: r.text()?,
            old_value: r.text()?,
            new_value: r.text()?,
            outcome: r.text()?,
            prev_hash: hash32(r)?,
            hash: hash32(r)?,
        })
    }
}

impl Encode for LedgerConfig {
    fn encode(&self, w: &mut Writer) {
        w.decimal(self.default_reuse_ratio);
        w.u64(self.default_ttl_ms);
        w.u64(self.max_ttl_ms);
        w.u64(self.broker_stale_after_ms);
        w.u64(self.idempotency_retention_ms);
        w.u64(self.reservation_retention_ms);
        w.usize(self.participants_max);
        w.usize(self.idempotency_keys_max);
        w.usize(self.reservations_max);
        w.usize(self.reservations_per_participant_max);
        w.usize(self.audit_records_max);
        w.decimal(self.limit_loosen_step_pct);
    }
}

impl Decode for LedgerConfig {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(LedgerConfig {
            default_reuse_ratio: r.decimal()?,
            default_ttl_ms: r.u64()?,
            max_ttl_ms: r.u64()?,
            broker_stale_after_ms: r.u64()?,
            idempotency_retention_ms: r.u64()?,
            reservation_retention_ms: r.u64()?,
            participants_max: read_usize(r)?,
            idempotency_keys_max: read_usize(r)?,
            reservations_max: read_usize(r)?,
            reservations_per_participant_max: read_usize(r)?,
            audit_records_max: read_usize(r)?,
            limit_loosen_step_pct: r.decimal()?,
        })
    }
}

pub(super) fn hash32(r: &mut Reader<'_>) -> Result<[u8; 32], DecodeError> {
    let mut h = [0u8; 32];
    h.copy_from_slice(r.bytes(32)?);
    Ok(h)
}

pub(super) fn read_usize(r: &mut Reader<'_>) -> Result<usize, DecodeError> {
    let v = r.u64()?;
    usize::try_from(v).map_err(|_| r.error("size out of range"))
}

impl Encode for LiquidationRule {
    fn encode(&self, w: &mut Writer) {
        match self {
            LiquidationRule::Aave(r) => {
                w.u8(0);
                for d in [r.close_factor, r.hf_full, r.min_full_base, r.bonus] {
                    w.decimal(d);
                }
            }
            LiquidationRule::Morpho => w.u8(1),
            LiquidationRule::Exchange { penalty } => {
                w.u8(2);
                w.decimal(*penalty);
            }
        }
    }
}

impl Decode for LiquidationRule {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8()? {
            0 => LiquidationRule::Aave(AaveRule {
                close_factor: r.decimal()?,
                hf_full: r.decimal()?,
                min_full_base: r.decimal()?,
                bonus: r.decimal()?,
            }),
            1 => LiquidationRule::Morpho,
            2 => LiquidationRule::Exchange {
                penalty: r.decimal()?,
            },
            _ => return Err(r.error("bad liquidation rule")),
        })
    }
}
