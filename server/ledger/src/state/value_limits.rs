//! The value limits in a check: MIN_HF_ECO, STRESS_HF_ECO and VALUE_CAP,
//! judged after the trading state and the quantity limits, on FRESH
//! prices only.
//!
//! Each applying limit becomes a [`Binding`] in quantity units, like the
//! quantity limits, so the most restrictive of all is the one a check is
//! judged by and named by: a health floor H leaves the order the value
//! room N/H − ΣD (value.md's value headroom), in quantity the room over
//! the debt one unit of the order adds; a VALUE_CAP of V leaves V / P of
//! the asset across the ecosystem.
//!
//! HF^eco's numerator N = Σ_a O_a·P_a·(1 − h_a) and its debt
//! ΣD = Σ_a (owed_a + implied_a)·P_a are read from the positions'
//! aggregates (`state/debt.rs`): a check costs O(assets), whatever the
//! number of venues. Under the standard shock vector every price moves by
//! its class's shock, as collateral and as reported debt; an implied debt
//! is a numeraire amount at today's prices and does not shrink (value.md).
//!
//! A risk-reducing check is judged on quantity rules alone: nothing here
//! applies to it.

use super::check::Binding;
use super::*;

/// What a check reads of one priced asset, derived from its price, state,
/// class, haircut and the stress shocks whenever one of them changes (a
/// quote, a tick, an admin command: O(1) per asset), so that a check does
/// a few multiplications per asset rather than a dozen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Factors {
    /// The price may be used for new risk before this time (`None`: it is
    /// not FRESH).
    fresh_until: Option<UnixMs>,
    price: Decimal,
    /// The price under the standard shock of the asset's class.
    stressed: Decimal,
    /// One unit's worth as collateral in HF^eco: P·(1 − h), 0 without a
    /// haircut; and under the shock.
    unit: Decimal,
    stressed_unit: Decimal,
}

impl Factors {
    fn fresh_at(&self, at: UnixMs) -> bool {
        self.fresh_until.is_some_and(|t| at < t)
    }
}

/// The floors that apply to a participant: the highest of each kind.
#[derive(Default)]
struct Floors<'a> {
    min: Option<&'a Limit>,
    stress: Option<&'a Limit>,
}

impl<'a> Floors<'a> {
    fn keep(slot: &mut Option<&'a Limit>, l: &'a Limit) {
        if slot.is_none_or(|k| l.spec.value > k.spec.value) {
            *slot = Some(l);
        }
    }
}

impl State {
    /// `asset`'s factors as its price, class, haircut and shock make them
    /// now (`None` for an asset without a price).
    fn factors_of(&self, asset: &AssetId) -> Result<Option<Factors>, Overflow> {
        let Some(p) = self.prices.get(asset) else {
            return Ok(None);
        };
        let Some(price) = p.last_price() else {
            return Ok(None);
        };
        let fresh_until = match p.state() {
            PriceState::Fresh => Some(p.next_change_ms(&self.price_rules).unwrap_or(UnixMs::MAX)),
            _ => None,
        };
        let stressed = amount::mul(price, Decimal::ONE + self.stress_shocks.of(p.class))?;
        let keep = self
            .haircut_of(asset)
            .map_or(Decimal::ZERO, |h| Decimal::ONE - h);
        Ok(Some(Factors {
            fresh_until,
            price,
            stressed,
            unit: amount::mul(price, keep)?,
            stressed_unit: amount::mul(stressed, keep)?,
        }))
    }

    /// Brings `asset`'s factors up to date (after its price, state, class
    /// or haircut changed).
    pub(super) fn refresh_factors(&mut self, asset: &AssetId) -> Result<(), Overflow> {
        match self.factors_of(asset)? {
            Some(f) => {
                self.factors.insert(asset.clone(), f);
            }
            None => {
                self.factors.remove(asset);
            }
        }
        Ok(())
    }

    /// Every priced asset's factors (after the rules or the shocks
    /// changed, or a snapshot was read): O(priced assets).
    pub(super) fn refresh_all_factors(&mut self) -> Result<(), Overflow> {
        let assets: Vec<AssetId> = self.prices.keys().cloned().collect();
        self.factors.clear();
        for a in assets {
            self.refresh_factors(&a)?;
        }
        Ok(())
    }

    /// Whether the factors are what the prices make them (for
    /// `check_invariants`).
    pub(super) fn factors_current(&self) -> Result<(), String> {
        for a in self.prices.keys() {
            let want = self.factors_of(a).map_err(|e| e.to_string())?;
            if self.factors.get(a).copied() != want {
                return Err(format!("price factors of {a} out of date"));
            }
        }
        if self.factors.len() > self.prices.len() {
            return Err("price factors of an asset without a class".to_owned());
        }
        Ok(())
    }

    /// The price of `asset` if it may be used for new risk at `at`: FRESH,
    /// and not due to turn STALE by then (the ticker may not have run yet).
    pub(super) fn fresh_price_at(&self, asset: &AssetId, at: UnixMs) -> Option<Decimal> {
        self.factors
            .get(asset)
            .filter(|f| f.fresh_at(at))
            .map(|f| f.price)
    }

    /// Calls `f` with each value limit that binds a risk-increasing check
    /// of `req` on `venue` tighter than `below` (a slack, in quantity):
    /// whether one does is decided by multiplications, and only such a
    /// limit's room is divided out. Returns the first asset whose price is
    /// not fresh, if the limits need one (then `f` is not called).
    pub(super) fn each_value_cap<'a>(
        &'a self,
        at: UnixMs,
        venue: &VenueId,
        req: &CheckRequest,
        participant: Option<&Participant>,
        below: Decimal,
        mut f: impl FnMut(Binding<'a>) -> Result<(), LedgerError>,
    ) -> Result<Option<AssetId>, LedgerError> {
        let mut floors = Floors::default();
        let mut any_cap = false;
        for l in self.limits.iter() {
            let s = &l.spec.scope;
            match l.spec.kind {
                LimitKind::MinHfEco | LimitKind::StressHfEco
                    if s.participant.as_ref().is_none_or(|p| p == &req.participant) =>
                {
                    let slot = if l.spec.kind == LimitKind::MinHfEco {
                        &mut floors.min
                    } else {
                        &mut floors.stress
                    };
                    Floors::keep(slot, l);
                }
                LimitKind::ValueCap if s.asset.as_ref() == Some(&req.asset) => any_cap = true,
                _ => {}
            }
        }
        if floors.min.is_none() && floors.stress.is_none() && !any_cap {
            return Ok(None);
        }
        let Some(price) = self.fresh_price_at(&req.asset, at) else {
            return Ok(Some(req.asset.clone()));
        };
        if any_cap {
            let total = self
                .asset_totals
                .get(&req.asset)
                .copied()
                .unwrap_or_default();
            // Slack V/P − total < below ⇔ V < (below + total)·P.
            let reach = amount::mul(amount::add(below, total)?, price)?;
            for l in self.limits.iter() {
                if l.spec.kind != LimitKind::ValueCap
                    || l.spec.scope.asset.as_ref() != Some(&req.asset)
                    || l.spec.value >= reach
                {
                    continue;
                }
                f(Binding {
                    kind: LimitKind::ValueCap,
                    limit: Some(l),
                    value: l.spec.value,
                    cap: quantity_room(l.spec.value, price)?,
                    usage: total,
                })?;
            }
        }
        if floors.min.is_none() && floors.stress.is_none() {
            return Ok(None);
        }
        // The debt one unit of the order adds: as carried, or implied.
        let per_unit = match req.liability {
            Some(l) => l.checked_div(req.quantity).ok_or(Overflow)?,
            None => amount::mul(
                price,
                debt::implied_ltv(&self.venue_assets, venue, &req.asset),
            )?,
        };
        let Some(figures) = self.eco_figures(at, participant, floors.stress.is_some())? else {
            // A price the figures need is not fresh.
            let stale = participant
                .and_then(|p| self.first_unfresh(at, p))
                .unwrap_or_else(|| req.asset.clone());
            return Ok(Some(stale));
        };
        if per_unit.is_zero() {
            // An order that adds no debt leaves HF^eco as it is.
            return Ok(None);
        }
        // Slack (N/H − D)/u < below ⇔ N < H·(D + below·u), H and u > 0.
        let reach = amount::mul(below, per_unit)?;
        for (limit, numerator, debt) in [
            (floors.min, figures.numerator, figures.debt),
            (
                floors.stress,
                figures.stressed_numerator,
                figures.stressed_debt,
            ),
        ] {
            let Some(l) = limit else { continue };
            let h = l.spec.value;
            if numerator >= amount::mul(h, amount::add(debt, reach)?)? {
                continue;
            }
            let room = amount::sub(numerator.checked_div(h).ok_or(Overflow)?, debt)?;
            f(Binding {
                kind: l.spec.kind,
                limit: Some(l),
                value: h,
                cap: room.checked_div(per_unit).ok_or(Overflow)?,
                usage: Decimal::ZERO,
            })?;
        }
        Ok(None)
    }

    /// The first asset the participant holds, commits or owes whose price
    /// is not fresh at `at`.
    fn first_unfresh(&self, at: UnixMs, p: &Participant) -> Option<AssetId> {
        p.assets
            .iter()
            .find(|(a, pos)| counts(pos) && self.fresh_price_at(a, at).is_none())
            .map(|(a, _)| a.clone())
    }

    /// HF^eco's numerator and debt, now and (if `stressed`) under the
    /// standard shock vector, from fresh prices; `None` if an asset the
    /// participant holds, commits or owes has none.
    pub(super) fn eco_figures(
        &self,
        at: UnixMs,
        participant: Option<&Participant>,
        stressed: bool,
    ) -> Result<Option<EcoFigures>, LedgerError> {
        let mut f = EcoFigures::default();
        let Some(p) = participant else {
            return Ok(Some(f));
        };
        let add = |sum: &mut Decimal, q: Decimal, unit: Decimal| -> Result<(), Overflow> {
            // Most terms are zero (nothing owed, no haircut): skip them.
            if !q.is_zero() && !unit.is_zero() {
                *sum = amount::add(*sum, amount::mul(q, unit)?)?;
            }
            Ok(())
        };
        for (asset, pos) in &p.assets {
            if !counts(pos) {
                continue;
            }
            let Some(x) = self.factors.get(asset).filter(|x| x.fresh_at(at)) else {
                return Ok(None);
            };
            add(&mut f.numerator, pos.owned, x.unit)?;
            // Implied debt is at today's price, shock or not.
            let implied = amount::mul(pos.implied, x.price)?;
            f.debt = amount::add(f.debt, implied)?;
            add(&mut f.debt, pos.owed, x.price)?;
            if stressed {
                add(&mut f.stressed_numerator, pos.owned, x.stressed_unit)?;
                f.stressed_debt = amount::add(f.stressed_debt, implied)?;
                add(&mut f.stressed_debt, pos.owed, x.stressed)?;
            }
        }
        Ok(Some(f))
    }
}

/// HF^eco's parts for one participant (numeraire amounts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct EcoFigures {
    pub(super) numerator: Decimal,
    pub(super) debt: Decimal,
    pub(super) stressed_numerator: Decimal,
    pub(super) stressed_debt: Decimal,
}

/// Whether a position is in HF^eco at all: something owned, committed or
/// owed.
fn counts(pos: &Position) -> bool {
    !(pos.owned.is_zero() && pos.committed.is_zero() && pos.owed.is_zero() && pos.implied.is_zero())
}

/// A value cap as a quantity at `price` (a FRESH price is positive).
fn quantity_room(value: Decimal, price: Decimal) -> Result<Decimal, Overflow> {
    debug_assert!(price > Decimal::ZERO);
    value.checked_div(price).ok_or(Overflow)
}
