//! Broker sync: sequenced, gap-checked batches of absolute values.

use super::check::Usage;
use super::*;

/// Where a stream's message stands against the last sequence applied:
/// `Ok(None)` when it is the next, `Ok(Some(expected))` when it skipped
/// ahead (a gap), an error when it repeats one already applied.
pub(super) fn next_in_sequence(last: Option<u64>, got: u64) -> Result<Option<u64>, LedgerError> {
    let expected = last.unwrap_or(0) + 1;
    match got.cmp(&expected) {
        std::cmp::Ordering::Less => Err(LedgerError::SequenceReplayed { expected, got }),
        std::cmp::Ordering::Equal => Ok(None),
        std::cmp::Ordering::Greater => Ok(Some(expected)),
    }
}

impl State {
    pub(super) fn sync(
        &mut self,
        at: UnixMs,
        broker_id: &BrokerId,
        batch: &SyncBatch,
    ) -> Result<Outcome, LedgerError> {
        let last = self.brokers.get(broker_id).map(|b| b.last_seq);
        if last.is_none() {
            self.ensure_capacity(self.brokers.len(), BROKERS_MAX, "broker table")?;
        }
        if let Some(expected) = next_in_sequence(last, batch.sequence)? {
            let broker = self.brokers.entry(broker_id.clone()).or_default();
            broker.gapped = true;
            let mut alert = Alert::new(at, AlertKind::SyncGap, format!("broker {broker_id} skipped to sequence {}; expected {expected}: its participants fail closed", batch.sequence));
            alert.broker = Some(broker_id.clone());
            self.alerts.push(alert);
            return Ok(Outcome::Sync(SyncAnswer::Gap {
                expected,
                got: batch.sequence,
            }));
        }
        self.check_sync_capacity(broker_id, batch)?;
        let mut touched: Vec<(ParticipantId, AssetId)> = Vec::new();
        for u in &batch.updates {
            let (p, a) = match u {
                SyncUpdate::Collateral {
                    participant, asset, ..
                }
                | SyncUpdate::Commitment {
                    participant, asset, ..
                }
                | SyncUpdate::Liability {
                    participant, asset, ..
                } => (participant, asset),
            };
            if !touched.iter().any(|(tp, ta)| tp == p && ta == a) {
                touched.push((p.clone(), a.clone()));
            }
        }
        let before: Vec<bool> = touched
            .iter()
            .map(|(p, a)| self.breach(p, a).map(|b| b.is_some()))
            .collect::<Result<_, _>>()?;
        for u in &batch.updates {
            self.apply_sync_update(broker_id, u)?;
        }
        let broker = self.brokers.entry(broker_id.clone()).or_default();
        *broker = Broker {
            last_seq: batch.sequence,
            last_seen_ms: at,
            gapped: false,
            stale_alerted: false,
        };
        for ((p, a), was) in touched.iter().zip(before) {
            if let (false, Some(util)) = (was, self.breach(p, a)?) {
                let mut alert = Alert::new(at, AlertKind::Breach, format!("participant {p} commitments of {a} exceed the limit after a sync from broker {broker_id}"));
                alert.participant = Some(p.clone());
                alert.asset = Some(a.clone());
                alert.broker = Some(broker_id.clone());
                alert.utilization = util;
                self.alerts.push(alert);
            }
        }
        Ok(Outcome::Sync(SyncAnswer::Applied {
            sequence: batch.sequence,
        }))
    }

    /// Refuses a batch that names a liability on a venue no admin has
    /// configured: Interlock could not value that debt against the venue's
    /// own thresholds (`State::admit`).
    pub(super) fn admit_sync(&self, batch: &SyncBatch) -> Result<(), LedgerError> {
        for u in &batch.updates {
            if let SyncUpdate::Liability { venue, .. } = u {
                if !self.configured_venues.contains(venue) {
                    return Err(LedgerError::InvalidArgument {
                        field: "updates.liability.venue",
                        reason: format!("venue {venue} is not configured: an admin sets its asset parameters or liquidation rule first"),
                    });
                }
            }
        }
        Ok(())
    }

    /// Refuses a batch that would overflow a bounded table, before any of it
    /// is applied.
    pub(super) fn check_sync_capacity(
        &self,
        broker: &BrokerId,
        batch: &SyncBatch,
    ) -> Result<(), LedgerError> {
        let mut new_participants = 0usize;
        for u in &batch.updates {
            let p = match u {
                SyncUpdate::Collateral { participant, .. }
                | SyncUpdate::Commitment { participant, .. }
                | SyncUpdate::Liability { participant, .. } => participant,
            };
            match self.participants.get(p) {
                None => new_participants += 1,
                Some(known)
                    if !known.brokers.contains(broker)
                        && known.brokers.len() >= BROKERS_PER_PARTICIPANT_MAX =>
                {
                    return Err(LedgerError::CapacityExhausted {
                        what: "participant's brokers",
                        max: BROKERS_PER_PARTICIPANT_MAX,
                    });
                }
                Some(_) => {}
            }
        }
        if self.participants.len() + new_participants > self.cfg.participants_max {
            return Err(LedgerError::CapacityExhausted {
                what: "participant table",
                max: self.cfg.participants_max,
            });
        }
        Ok(())
    }

    pub(super) fn apply_sync_update(
        &mut self,
        broker: &BrokerId,
        update: &SyncUpdate,
    ) -> Result<(), LedgerError> {
        match update {
            SyncUpdate::Collateral {
                participant,
                asset,
                quantity,
            } => {
                let (broker, asset) = (self.ids.broker(broker), self.ids.asset(asset));
                let p = self.participants.entry(participant);
                if !p.brokers.contains(&broker) {
                    p.brokers.push(broker.clone());
                }
                let pos = p.assets.get_or_default(asset);
                match pos.custody.iter_mut().find(|(b, _)| *b == broker) {
                    Some((_, q)) => *q = *quantity,
                    None => pos.custody.push((broker, *quantity)),
                }
                pos.owned = pos
                    .custody
                    .iter()
                    .try_fold(Decimal::ZERO, |acc, (_, q)| amount::add(acc, *q))?;
            }
            SyncUpdate::Commitment {
                participant,
                venue,
                asset,
                quantity,
                covers_commit_seq,
            } => {
                let total = self.asset_totals.get(asset).copied().unwrap_or_default();
                let (broker, venue) = (self.ids.broker(broker), self.ids.venue(venue));
                let asset = &self.ids.asset(asset);
                let ltv = debt::implied_ltv(&self.venue_assets, &venue, asset);
                let p = self.participants.entry(participant);
                if !p.brokers.contains(&broker) {
                    p.brokers.push(broker);
                }
                let reports = p.reports(&venue);
                let pos = p.assets.get_or_default(asset.clone());
                let vp = pos.venues.get_or_default(venue);
                let before = vp.counted()?;
                let base_before = vp.implied_base(reports)?;
                vp.posted = *quantity;
                while vp
                    .pending
                    .front()
                    .is_some_and(|(seq, _)| seq <= covers_commit_seq)
                {
                    if let Some((_, q)) = vp.pending.pop_front() {
                        vp.pending_total = amount::sub(vp.pending_total, q)?;
                    }
                }
                let delta = amount::sub(vp.counted()?, before)?;
                let change = debt::implied_change(base_before, vp.implied_base(reports)?, ltv)?;
                pos.implied = amount::add(pos.implied, change)?;
                pos.committed = amount::add(pos.committed, delta)?;
                self.asset_totals
                    .insert(asset.clone(), amount::add(total, delta)?);
            }
            SyncUpdate::Liability {
                participant,
                venue,
                asset,
                quantity,
            } => {
                let (broker, venue) = (self.ids.broker(broker), self.ids.venue(venue));
                let asset = self.ids.asset(asset);
                let slot = self.participants.slot_or_insert(participant);
                let p = self.participants.at_mut(slot);
                if !p.brokers.contains(&broker) {
                    p.brokers.push(broker);
                }
                self.set_owed(slot, &venue, &asset, *quantity)?;
            }
        }
        Ok(())
    }

    /// The most restrictive cross-venue cap on a position's commitments,
    /// ASSET_CAP included (as the position's commitments plus what the
    /// shared cap has left).
    pub(super) fn position_cap(
        &self,
        participant: &ParticipantId,
        asset: &AssetId,
    ) -> Result<(Usage, Decimal, Decimal), LedgerError> {
        let usage = self.usage(participant, None, asset)?;
        let mut cap: Option<Decimal> = None;
        let mut ratio = self.cfg.default_reuse_ratio;
        self.each_cap(participant, None, asset, &usage, |b| {
            if b.kind == LimitKind::ReuseRatio {
                ratio = b.value;
            }
            cap = Some(cap.map_or(b.cap, |c| c.min(b.cap)));
            Ok(())
        })?;
        Ok((usage, ratio, cap.unwrap_or_default()))
    }

    /// `Some(utilization)` when a position's commitments exceed its cap.
    pub(super) fn breach(
        &self,
        participant: &ParticipantId,
        asset: &AssetId,
    ) -> Result<Option<Option<Decimal>>, LedgerError> {
        let (usage, _, cap) = self.position_cap(participant, asset)?;
        Ok((usage.committed > cap).then(|| amount::utilization(usage.committed, cap)))
    }
}
