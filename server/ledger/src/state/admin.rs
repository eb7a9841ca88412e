//! Admin commands: settings, limits and trading states, each audited.

use super::*;

/// An audit outcome: "ok", or flagged when a guard-rail was forced.
pub(super) fn outcome(force: Option<&str>) -> String {
    match force {
        None => "ok".to_owned(),
        Some(reason) => format!("ok; FORCED past the loosening guard-rail: {reason}"),
    }
}

pub(super) fn describe_limit(l: &Limit) -> String {
    let warn: Vec<String> = l
        .spec
        .warn_levels_pct
        .iter()
        .map(|w| format!("{w}%"))
        .collect();
    if warn.is_empty() {
        format!("value={} v{}", l.spec.value, l.version)
    } else {
        format!(
            "value={} warn=[{}] v{}",
            l.spec.value,
            warn.join(","),
            l.version
        )
    }
}

impl State {
    /// Takes new settings; an admin-visible audit record says what changed.
    pub(super) fn configure(
        &mut self,
        at: UnixMs,
        config: &LedgerConfig,
    ) -> Result<Outcome, LedgerError> {
        if *config == self.cfg {
            return Ok(Outcome::Configured { changed: false });
        }
        // A table may not be capped below what it holds: the state could
        // no longer be snapshotted and read back under its own settings.
        for (field, max, held) in [
            (
                "audit_records_max",
                config.audit_records_max,
                self.audit.len(),
            ),
            (
                "participants_max",
                config.participants_max,
                self.participants.len(),
            ),
            (
                "reservations_max",
                config.reservations_max,
                self.reservations.len(),
            ),
            (
                "idempotency_keys_max",
                config.idempotency_keys_max,
                self.idempotency.len(),
            ),
        ] {
            if max < held {
                return Err(LedgerError::InvalidArgument {
                    field,
                    reason: format!("{max} is below the {held} entries the ledger holds"),
                });
            }
        }
        // The record of this change must fit under the new settings: a full
        // audit log is relieved by raising its cap.
        self.ensure_capacity(self.audit.len(), config.audit_records_max, "audit log")?;
        let (old, new) = self.cfg.diff(config);
        self.cfg = config.clone();
        self.audit(
            at,
            "server",
            "configure",
            "ledger settings".to_owned(),
            old,
            new,
        );
        Ok(Outcome::Configured { changed: true })
    }

    pub(super) fn set_limit(
        &mut self,
        at: UnixMs,
        by: &str,
        spec: &LimitSpec,
        expected_version: Option<u64>,
        force: Option<&str>,
    ) -> Result<Outcome, LedgerError> {
        spec.validate()?;
        let existing = self.limits.find(spec.kind, &spec.scope);
        if let Some(expected) = expected_version {
            let actual = existing.map_or(0, |l| l.version);
            if actual != expected {
                return Err(LedgerError::VersionMismatch { expected, actual });
            }
        }
        if let (Some(old), None) = (existing, force) {
            // A cap is loosened by raising it, a health floor by lowering
            // it: either way by at most the step without a reason.
            let step_share = self.cfg.limit_loosen_step_pct / Decimal::ONE_HUNDRED;
            let too_far = if spec.kind.higher_is_looser() {
                spec.value > amount::mul(old.spec.value, Decimal::ONE + step_share)?
            } else {
                let keep = (Decimal::ONE - step_share).max(Decimal::ZERO);
                spec.value < amount::mul(old.spec.value, keep)?
            };
            if too_far {
                return Err(LedgerError::LoosensTooFar {
                    what: format!(
                        "{} {} from {} to {}",
                        old.id,
                        spec.kind.name(),
                        old.spec.value,
                        spec.value
                    ),
                    step_pct: self.cfg.limit_loosen_step_pct,
                });
            }
        }
        if existing.is_none() {
            self.ensure_capacity(self.limits.len(), LIMITS_MAX, "limit table")?;
        }
        self.ensure_capacity(self.audit.len(), self.cfg.audit_records_max, "audit log")?;
        let (limit, old) = self.limits.upsert(spec.clone(), at, by);
        let target = format!("{} {} {}", limit.id, spec.kind.name(), spec.scope);
        self.audit_with_outcome(
            at,
            by,
            "set_limit",
            target,
            old.as_ref().map_or_else(String::new, describe_limit),
            describe_limit(&limit),
            outcome(force),
        );
        Ok(Outcome::Limit(limit))
    }

    pub(super) fn delete_limit(
        &mut self,
        at: UnixMs,
        by: &str,
        id: &LimitId,
        force: Option<&str>,
    ) -> Result<Outcome, LedgerError> {
        let Some(existing) = self.limits.get(id) else {
            return Err(LedgerError::LimitNotFound(id.to_string()));
        };
        if force.is_none() {
            return Err(LedgerError::LoosensTooFar {
                what: format!("deleting {} {}", id, existing.spec.kind.name()),
                step_pct: self.cfg.limit_loosen_step_pct,
            });
        }
        self.ensure_capacity(self.audit.len(), self.cfg.audit_records_max, "audit log")?;
        let Some(old) = self.limits.remove(id) else {
            return Err(LedgerError::LimitNotFound(id.to_string()));
        };
        let target = format!("{} {} {}", old.id, old.spec.kind.name(), old.spec.scope);
        self.audit_with_outcome(
            at,
            by,
            "delete_limit",
            target,
            describe_limit(&old),
            String::new(),
            outcome(force),
        );
        Ok(Outcome::LimitDeleted(old))
    }

    pub(super) fn set_trading_state(
        &mut self,
        at: UnixMs,
        by: &str,
        participant: &ParticipantId,
        state: TradingState,
        reason: &str,
    ) -> Result<Outcome, LedgerError> {
        if !self.participants.contains(participant) {
            self.ensure_capacity(
                self.participants.len(),
                self.cfg.participants_max,
                "participant table",
            )?;
        }
        // A halt, reduce-only or resume is never refused for lack of audit
        // room: it may use a reserve beyond the cap that nothing else may.
        self.ensure_capacity(
            self.audit.len(),
            audit_records_hard_max(self.cfg.audit_records_max),
            "audit log (with its reserve for trading-state changes)",
        )?;
        let p = self.participants.entry(participant);
        let previous = p.trading_state;
        p.trading_state = state;
        let mut released = 0u32;
        if state == TradingState::Halted {
            let open: Vec<ReservationId> = p.open.iter().collect();
            for id in open {
                self.end_reservation(at, id, ReservationState::Released)?;
                released += 1;
            }
        }
        let new_value = if reason.is_empty() {
            state.name().to_owned()
        } else {
            format!("{} ({reason})", state.name())
        };
        self.audit(
            at,
            by,
            "set_trading_state",
            participant.to_string(),
            previous.name().to_owned(),
            new_value,
        );
        if previous != state {
            let mut alert = Alert::new(
                at,
                AlertKind::TradingStateChanged,
                format!(
                    "participant {participant}: {} -> {} by {by}",
                    previous.name(),
                    state.name()
                ),
            );
            alert.participant = Some(participant.clone());
            self.alerts.push(alert);
        }
        Ok(Outcome::TradingState(TradingStateAnswer {
            previous,
            state,
            released_reservations: released,
        }))
    }
}
