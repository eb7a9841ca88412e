//! Checks: judging a request against every limit that applies, reserving
//! what is approved, remembering the answer under its order id, and the
//! alerts a check raises.

use super::*;

/// One cap that applies to a check: `usage + request ≤ cap`.
#[derive(Debug, Clone)]
pub(super) struct Binding<'a> {
    pub(super) kind: LimitKind,
    pub(super) limit: Option<&'a Limit>,
    pub(super) value: Decimal,
    pub(super) cap: Decimal,
    pub(super) usage: Decimal,
}

impl Binding<'_> {
    /// What is left under the cap, negative when usage is already above it
    /// (a broker's sync can leave it there). Limits are compared on this,
    /// not on the room clamped at zero: the one furthest over is the one to
    /// name, since raising any other would not help.
    pub(super) fn slack(&self) -> Decimal {
        self.cap - self.usage
    }

    pub(super) fn room(&self) -> Decimal {
        self.slack().max(Decimal::ZERO)
    }

    /// Whether the usage this cap counts is the calling venue's own: an
    /// order's own quantity, or a MAX_COMMITMENT scoped to the venue. Only
    /// such a cap's utilization may be shown to the venue.
    pub(super) fn venue_local(&self) -> bool {
        match self.kind {
            LimitKind::MaxOrderQuantity => true,
            LimitKind::MaxCommitment => self.limit.is_some_and(|l| l.spec.scope.venue.is_some()),
            LimitKind::ReuseRatio
            | LimitKind::AssetCap
            | LimitKind::MinHfEco
            | LimitKind::StressHfEco
            | LimitKind::ValueCap => false,
        }
    }

    pub(super) fn to_ref(&self) -> LimitRef {
        LimitRef {
            kind: self.kind,
            id: self.limit.map(|l| l.id.clone()),
            scope: self.limit.map(|l| l.spec.scope.clone()).unwrap_or_default(),
            value: self.value,
        }
    }
}

/// What a participant's position is measured against.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Usage {
    pub(super) owned: Decimal,
    pub(super) committed: Decimal,
    pub(super) on_venue: Decimal,
    pub(super) asset_total: Decimal,
}

/// Whether the quantity limits alone would approve some of `req`, given
/// the room they leave.
fn quantity_leaves_room(req: &CheckRequest, room: Decimal) -> bool {
    req.quantity <= room
        || (req.allow_partial
            && room.round_dp_with_strategy(QUANTITY_SCALE_MAX, RoundingStrategy::ToZero)
                > Decimal::ZERO)
}

pub(super) fn reject(order_id: &OrderId, code: RejectCode, dry_run: bool) -> CheckAnswer {
    CheckAnswer {
        order_id: order_id.clone(),
        verdict: Verdict::Rejected,
        reservation: None,
        approved: Decimal::ZERO,
        expires_at_ms: None,
        reason: Some(Box::new(RejectReason {
            code,
            limit: None,
            utilization: None,
        })),
        headroom: HeadroomBucket::None,
        dry_run,
    }
}

impl State {
    pub(super) fn ttl_ms(&self, asked: Option<u64>) -> Result<u64, LedgerError> {
        match asked {
            None => Ok(self.cfg.default_ttl_ms),
            Some(t) if t <= self.cfg.max_ttl_ms => Ok(t),
            Some(_) => Err(LedgerError::InvalidArgument {
                field: "ttl_ms",
                reason: format!("must be at most {} ms", self.cfg.max_ttl_ms),
            }),
        }
    }

    /// A check, and whether it repeated an order id already answered (then
    /// nothing changed).
    pub(super) fn check(
        &mut self,
        at: UnixMs,
        venue: &VenueId,
        req: &CheckRequest,
    ) -> (Result<Outcome, LedgerError>, bool) {
        // A bad request is refused as such, even under an order id already
        // answered.
        let ttl_ms = match self.ttl_ms(req.ttl_ms) {
            Ok(t) => t,
            Err(e) => return (Err(e), false),
        };
        let key = Key::of(venue, &req.order_id);
        if !req.dry_run {
            if let Some(rec) = self.idempotency.get(&key) {
                // TTLs are compared as judged, so the default asked for by
                // name (0 on the wire) and by value are the same request.
                let answer = if rec.request == fingerprint(req, ttl_ms) {
                    Ok(Outcome::Check(rec.answer(venue, req)))
                } else {
                    Err(LedgerError::IdempotencyConflict {
                        order_id: req.order_id.to_string(),
                    })
                };
                return (answer, true);
            }
        }
        (self.check_new(at, venue, req, ttl_ms, key), false)
    }

    pub(super) fn check_new(
        &mut self,
        at: UnixMs,
        venue: &VenueId,
        req: &CheckRequest,
        ttl_ms: u64,
        key: Key,
    ) -> Result<Outcome, LedgerError> {
        if !req.dry_run && !self.idempotency_has_room() {
            return Err(LedgerError::CapacityExhausted {
                what: "idempotency table",
                max: self.cfg.idempotency_keys_max,
            });
        }
        // The participant is looked up once, for judging and reserving.
        let slot = self.participants.slot(&req.participant);
        let mut answer = self.judge(at, venue, req, slot)?;
        if req.dry_run {
            return Ok(Outcome::Check(answer));
        }
        if answer.verdict == Verdict::Rejected {
            self.alert_rejection(at, venue, req, &answer)?;
        } else {
            let held = if req.risk_reducing {
                Decimal::ZERO
            } else {
                answer.approved
            };
            let (id, expires) = self.reserve(at, venue, req, slot, held, ttl_ms)?;
            answer.reservation = Some(id);
            answer.expires_at_ms = Some(expires);
            self.alert_warnings(at, venue, req, held)?;
        }
        // Nothing can fail from here on: making room changes the state
        // only for a command that succeeds.
        self.make_idempotency_room();
        // `check` looked the key up and answered a repeat before this.
        self.idempotency.push(
            at,
            key,
            Remembered::new(venue, req, ttl_ms, &answer),
            self.cfg.idempotency_keys_max,
        );
        Ok(Outcome::Check(answer))
    }

    /// Whether one more idempotency record fits. A full table makes room
    /// by forgetting its oldest record early, once that order's reservation
    /// has ended (or it had none): a late retry then cannot hold headroom
    /// twice. Only the open reservations' answers must stay, so the table
    /// takes the server's full rate for as long as it runs; a table full of
    /// answers whose reservations are all open is too small for the
    /// traffic, and new checks are refused (fail closed) rather than such an
    /// answer forgotten.
    pub(super) fn idempotency_has_room(&self) -> bool {
        self.idempotency.len() < self.cfg.idempotency_keys_max
            || self
                .idempotency
                .oldest()
                .is_some_and(|r| !self.holds_open_reservation(r))
    }

    /// Whether a remembered order's reservation is still open (open
    /// reservations are never forgotten, so a missing one has ended).
    pub(super) fn holds_open_reservation(&self, r: &Remembered) -> bool {
        r.reservation()
            .and_then(|id| self.reservations.get(&id))
            .is_some_and(|res| res.state == ReservationState::Open)
    }

    pub(super) fn make_idempotency_room(&mut self) {
        if self.idempotency.len() < self.cfg.idempotency_keys_max || !self.idempotency_has_room() {
            return;
        }
        self.idempotency.pop_oldest();
    }

    /// Whether one more reservation fits: a full table makes room by
    /// forgetting the reservation that ended first (ended ones are kept
    /// only to answer a repeated commit or release); open ones are never
    /// forgotten.
    pub(super) fn reservation_has_room(&self) -> bool {
        self.reservations.len() < self.cfg.reservations_max || !self.ended.is_empty()
    }

    pub(super) fn make_reservation_room(&mut self) {
        if self.reservations.len() < self.cfg.reservations_max {
            return;
        }
        if let Some((_, id)) = self.ended.pop_front() {
            self.reservations.remove(&id);
        }
    }

    pub(super) fn ensure_capacity(
        &self,
        len: usize,
        max: usize,
        what: &'static str,
    ) -> Result<(), LedgerError> {
        if len >= max {
            return Err(LedgerError::CapacityExhausted { what, max });
        }
        Ok(())
    }

    pub(super) fn broker_stale(&self, broker: &BrokerId, at: UnixMs) -> bool {
        self.brokers.get(broker).is_none_or(|b| {
            b.gapped || at.saturating_sub(b.last_seen_ms) > self.cfg.broker_stale_after_ms as i64
        })
    }

    pub(super) fn usage(
        &self,
        participant: &ParticipantId,
        venue: Option<&VenueId>,
        asset: &AssetId,
    ) -> Result<Usage, Overflow> {
        self.usage_of(self.participants.get(participant), venue, asset)
    }

    /// [`State::usage`] of a participant already looked up.
    pub(super) fn usage_of(
        &self,
        participant: Option<&Participant>,
        venue: Option<&VenueId>,
        asset: &AssetId,
    ) -> Result<Usage, Overflow> {
        let pos = participant.and_then(|p| p.assets.get(asset));
        let on_venue = match (pos, venue) {
            (Some(pos), Some(v)) => pos
                .venues
                .get(v)
                .map_or(Ok(Decimal::ZERO), VenuePosition::counted)?,
            _ => Decimal::ZERO,
        };
        Ok(Usage {
            owned: pos.map_or(Decimal::ZERO, |p| p.owned),
            committed: pos.map_or(Decimal::ZERO, |p| p.committed),
            on_venue,
            asset_total: self.asset_totals.get(asset).copied().unwrap_or_default(),
        })
    }

    /// The reuse ratio in force for a position: the most specific
    /// REUSE_RATIO limit, else the configured default.
    pub(super) fn reuse_binding(
        &self,
        participant: &ParticipantId,
        asset: &AssetId,
        usage: &Usage,
    ) -> Result<Binding<'_>, Overflow> {
        let limit = self
            .limits
            .iter()
            .filter(|l| {
                l.spec.kind == LimitKind::ReuseRatio
                    && l.spec.scope.matches_position(participant, asset)
            })
            .max_by_key(|l| l.spec.scope.specificity());
        let ratio = limit.map_or(self.cfg.default_reuse_ratio, |l| l.spec.value);
        Ok(Binding {
            kind: LimitKind::ReuseRatio,
            limit,
            value: ratio,
            cap: amount::mul(ratio, usage.owned)?,
            usage: usage.committed,
        })
    }

    /// Calls `f` with every cap that applies to a check: the reuse ratio
    /// first, then every other matching limit. `venue` is `None` for the
    /// cross-venue caps of a position only (an ASSET_CAP among them, as the
    /// share of it the position could reach).
    pub(super) fn each_cap<'a>(
        &'a self,
        participant: &ParticipantId,
        venue: Option<&VenueId>,
        asset: &AssetId,
        usage: &Usage,
        mut f: impl FnMut(Binding<'a>) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        f(self.reuse_binding(participant, asset, usage)?)?;
        for limit in self.limits.iter() {
            let scope = &limit.spec.scope;
            let applies = match venue {
                Some(v) => scope.matches(participant, v, asset),
                None => scope.matches_position(participant, asset),
            };
            let value = limit.spec.value;
            let (usage, cap) = match limit.spec.kind {
                // The value limits are judged on prices (`value_limits.rs`).
                LimitKind::ReuseRatio
                | LimitKind::MinHfEco
                | LimitKind::StressHfEco
                | LimitKind::ValueCap => continue,
                _ if !applies => continue,
                LimitKind::MaxCommitment if scope.venue.is_some() => (usage.on_venue, value),
                LimitKind::MaxCommitment => (usage.committed, value),
                // Seen from one position, a cap shared with every other
                // participant allows what the position holds plus what the
                // cap has left (never below zero).
                LimitKind::AssetCap if venue.is_none() => {
                    let left = amount::sub(value, usage.asset_total)?;
                    let cap = amount::add(usage.committed, left)?.max(Decimal::ZERO);
                    (usage.committed, cap)
                }
                LimitKind::AssetCap => (usage.asset_total, value),
                LimitKind::MaxOrderQuantity if venue.is_none() => continue,
                LimitKind::MaxOrderQuantity => (Decimal::ZERO, value),
            };
            f(Binding {
                kind: limit.spec.kind,
                limit: Some(limit),
                value,
                cap,
                usage,
            })?;
        }
        Ok(())
    }

    /// Decides a check without changing anything.
    pub(super) fn judge(
        &self,
        at: UnixMs,
        venue: &VenueId,
        req: &CheckRequest,
        slot: Option<ParticipantSlot>,
    ) -> Result<CheckAnswer, LedgerError> {
        let participant = slot.map(|s| self.participants.at(s));
        match participant.map_or(TradingState::Active, |p| p.trading_state) {
            TradingState::Halted => {
                return Ok(reject(
                    &req.order_id,
                    RejectCode::TradingHalted,
                    req.dry_run,
                ))
            }
            TradingState::ReduceOnly if !req.risk_reducing => {
                return Ok(reject(&req.order_id, RejectCode::ReduceOnly, req.dry_run))
            }
            _ => {}
        }
        if participant.is_some_and(|p| p.brokers.iter().any(|b| self.broker_stale(b, at))) {
            return Ok(reject(&req.order_id, RejectCode::StaleSync, req.dry_run));
        }
        let usage = self.usage_of(participant, Some(venue), &req.asset)?;
        if usage.owned.is_zero() && !req.risk_reducing {
            return Ok(reject(&req.order_id, RejectCode::NoCollateral, req.dry_run));
        }
        let mut tightest: Option<Binding<'_>> = None;
        self.each_cap(&req.participant, Some(venue), &req.asset, &usage, |b| {
            if tightest.as_ref().is_none_or(|t| b.slack() < t.slack()) {
                tightest = Some(b);
            }
            Ok(())
        })?;
        let Some(mut tight) = tightest else {
            return Err(LedgerError::Unavailable("no cap applied to a check"));
        };
        // Then, for new risk only, once the quantity limits leave room for
        // some of it: the prices and the value limits.
        if !req.risk_reducing && quantity_leaves_room(req, tight.room()) {
            let mut tighter: Option<Binding<'_>> = None;
            let stale = self.each_value_cap(at, venue, req, participant, tight.slack(), |b| {
                if tighter.as_ref().is_none_or(|t| b.slack() < t.slack()) {
                    tighter = Some(b);
                }
                Ok(())
            })?;
            if stale.is_some() {
                return Ok(reject(&req.order_id, RejectCode::PriceStale, req.dry_run));
            }
            if let Some(b) = tighter {
                tight = b;
            }
        }
        let room = tight.room();
        let approve = |verdict, approved: Decimal, left: Decimal| CheckAnswer {
            order_id: req.order_id.clone(),
            verdict,
            reservation: None,
            approved,
            expires_at_ms: None,
            reason: None,
            headroom: HeadroomBucket::of(left, req.quantity),
            dry_run: req.dry_run,
        };
        if req.risk_reducing {
            return Ok(approve(Verdict::Approved, req.quantity, room));
        }
        if req.quantity <= room {
            return Ok(approve(
                Verdict::Approved,
                req.quantity,
                room - req.quantity,
            ));
        }
        let part = room.round_dp_with_strategy(QUANTITY_SCALE_MAX, RoundingStrategy::ToZero);
        if req.allow_partial && part > Decimal::ZERO {
            return Ok(approve(
                Verdict::PartiallyApproved,
                part.normalize(),
                room - part,
            ));
        }
        let utilization = if tight.venue_local() {
            amount::utilization(amount::add(tight.usage, req.quantity)?, tight.cap)
        } else {
            None
        };
        let mut answer = reject(&req.order_id, RejectCode::LimitExceeded, req.dry_run);
        answer.reason = Some(Box::new(RejectReason {
            code: RejectCode::LimitExceeded,
            limit: Some(tight.to_ref()),
            utilization,
        }));
        answer.headroom = HeadroomBucket::of(room, req.quantity);
        Ok(answer)
    }

    /// Every limit a check of `req` would take past its cap, hardest first,
    /// with the exact utilization it would reach: for admins (the rejection
    /// alert), never for the venue. A value limit's utilization is that of
    /// its room in quantity.
    pub(super) fn exceeded(
        &self,
        at: UnixMs,
        venue: &VenueId,
        req: &CheckRequest,
    ) -> Result<Vec<(LimitRef, Option<Decimal>)>, LedgerError> {
        let usage = self.usage(&req.participant, Some(venue), &req.asset)?;
        let mut over = Vec::new();
        let mut note = |b: Binding<'_>| -> Result<(), LedgerError> {
            if req.quantity > b.slack() {
                let reached = amount::add(b.usage, req.quantity)?;
                over.push((b.slack(), b.to_ref(), amount::utilization(reached, b.cap)));
            }
            Ok(())
        };
        self.each_cap(&req.participant, Some(venue), &req.asset, &usage, &mut note)?;
        if !req.risk_reducing {
            let participant = self.participants.get(&req.participant);
            self.each_value_cap(at, venue, req, participant, req.quantity, &mut note)?;
        }
        // Stable: among equal slack the order of evaluation stays, as in
        // `judge`, so the first is the limit the venue was told of.
        over.sort_by_key(|x| x.0);
        Ok(over.into_iter().map(|(_, l, u)| (l, u)).collect())
    }

    pub(super) fn alert_rejection(
        &mut self,
        at: UnixMs,
        venue: &VenueId,
        req: &CheckRequest,
        answer: &CheckAnswer,
    ) -> Result<(), LedgerError> {
        let Some(reason) = &answer.reason else {
            return Ok(());
        };
        let mut utilization = None;
        let what = match reason.code {
            RejectCode::LimitExceeded => {
                let over = self.exceeded(at, venue, req)?;
                utilization = over.first().and_then(|(_, u)| *u);
                let named: Vec<String> = over
                    .iter()
                    .map(|(l, u)| {
                        format!(
                            "{} limit {} of {} (utilization {})",
                            l.kind.name(),
                            l.id.as_ref().map_or("default", |i| i.as_str()),
                            l.value.normalize(),
                            u.map_or("-".to_owned(), |u| u.to_string()),
                        )
                    })
                    .collect();
                if named.is_empty() {
                    "limit".to_owned()
                } else {
                    named.join(", ")
                }
            }
            RejectCode::NoCollateral => "no collateral".to_owned(),
            RejectCode::TradingHalted => "participant halted".to_owned(),
            RejectCode::ReduceOnly => "participant reduce-only".to_owned(),
            RejectCode::StaleSync => "broker sync stale".to_owned(),
            RejectCode::PriceStale => {
                let participant = self.participants.get(&req.participant);
                match self.each_value_cap(at, venue, req, participant, req.quantity, |_| Ok(()))? {
                    Some(asset) => {
                        format!("the price of {asset} is not fresh (value limits need it)")
                    }
                    None => "a price the value limits need is not fresh".to_owned(),
                }
            }
        };
        let mut alert = Alert::new(
            at,
            AlertKind::LimitRejection,
            format!(
                "order {} for {} {} rejected: {what}",
                req.order_id, req.quantity, req.asset
            ),
        );
        alert.participant = Some(req.participant.clone());
        alert.asset = Some(req.asset.clone());
        alert.venue = Some(venue.clone());
        alert.limit_id = reason.limit.as_ref().and_then(|l| l.id.clone());
        alert.utilization = utilization;
        self.alerts.push(alert);
        Ok(())
    }

    /// Raises an alert for every warning level that `added` made a limit cross.
    pub(super) fn alert_warnings(
        &mut self,
        at: UnixMs,
        venue: &VenueId,
        req: &CheckRequest,
        added: Decimal,
    ) -> Result<(), LedgerError> {
        if added.is_zero()
            || !self
                .limits
                .iter()
                .any(|l| !l.spec.warn_levels_pct.is_empty())
        {
            return Ok(());
        }
        // Usage after the reservation; "before" is that minus `added`.
        let usage = self.usage(&req.participant, Some(venue), &req.asset)?;
        let mut crossed = Vec::new();
        self.each_cap(&req.participant, Some(venue), &req.asset, &usage, |b| {
            let Some(limit) = b.limit else { return Ok(()) };
            let after = if b.kind == LimitKind::MaxOrderQuantity {
                added
            } else {
                b.usage
            };
            let before = after - added;
            for pct in &limit.spec.warn_levels_pct {
                let level = amount::mul(b.cap, *pct / Decimal::ONE_HUNDRED)?;
                if before < level && after >= level {
                    crossed.push((limit.id.clone(), *pct, amount::utilization(after, b.cap)));
                }
            }
            Ok(())
        })?;
        for (limit_id, pct, util) in crossed {
            let mut alert = Alert::new(
                at,
                AlertKind::WarningLevelCrossed,
                format!("limit {limit_id} crossed its {pct}% warning level"),
            );
            alert.participant = Some(req.participant.clone());
            alert.asset = Some(req.asset.clone());
            alert.venue = Some(venue.clone());
            alert.limit_id = Some(limit_id);
            alert.utilization = util;
            self.alerts.push(alert);
        }
        Ok(())
    }
}
