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

/// A check's value limits, found and their prices checked.
pub(super) enum ValueJudgement<'a> {
    /// No value limit applies.
    None,
    /// A price the limits need is not FRESH at the check's time (the first
    /// such asset, for the admin's alert).
    Stale(AssetId),
    /// The bindings, in quantity units.
    Bound(Vec<Binding<'a>>),
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
    /// Whether `asset`'s price may be used for new risk at `at`: FRESH, and
    /// not due to turn STALE by then (the ticker may not have run yet).
    pub(super) fn fresh_price_at(&self, asset: &AssetId, at: UnixMs) -> Option<Decimal> {
        let p = self.prices.get(asset)?;
        if p.next_change_ms(&self.price_rules).is_some_and(|t| t <= at) {
            return None;
        }
        p.fresh_price()
    }

    /// The value limits a risk-increasing check of `req` on `venue` is
    /// judged by.
    pub(super) fn value_bindings(
        &self,
        at: UnixMs,
        venue: &VenueId,
        req: &CheckRequest,
        participant: Option<&Participant>,
    ) -> Result<ValueJudgement<'_>, LedgerError> {
        let mut floors = Floors::default();
        let mut caps: Vec<&Limit> = Vec::new();
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
                LimitKind::ValueCap if s.asset.as_ref() == Some(&req.asset) => caps.push(l),
                _ => {}
            }
        }
        if floors.min.is_none() && floors.stress.is_none() && caps.is_empty() {
            return Ok(ValueJudgement::None);
        }
        let Some(price) = self.fresh_price_at(&req.asset, at) else {
            return Ok(ValueJudgement::Stale(req.asset.clone()));
        };
        let mut out = Vec::new();
        let total = self
            .asset_totals
            .get(&req.asset)
            .copied()
            .unwrap_or_default();
        for l in caps {
            out.push(Binding {
                kind: LimitKind::ValueCap,
                limit: Some(l),
                value: l.spec.value,
                cap: quantity_room(l.spec.value, price)?,
                usage: total,
            });
        }
        if floors.min.is_none() && floors.stress.is_none() {
            return Ok(ValueJudgement::Bound(out));
        }
        // The debt one unit of the order adds: as carried, or implied.
        let per_unit = match req.liability {
            Some(l) => l.checked_div(req.quantity).ok_or(Overflow)?,
            None => amount::mul(
                price,
                debt::implied_ltv(&self.venue_assets, venue, &req.asset),
            )?,
        };
        let Some(figures) = self.eco_figures(at, participant)? else {
            // A price the figures need is not fresh.
            let stale = participant
                .and_then(|p| self.first_unfresh(at, p))
                .unwrap_or_else(|| req.asset.clone());
            return Ok(ValueJudgement::Stale(stale));
        };
        for (limit, (numerator, debt)) in [
            (floors.min, (figures.numerator, figures.debt)),
            (
                floors.stress,
                (figures.stressed_numerator, figures.stressed_debt),
            ),
        ] {
            let Some(l) = limit else { continue };
            let room = amount::sub(numerator.checked_div(l.spec.value).ok_or(Overflow)?, debt)?;
            let cap = if per_unit.is_zero() {
                // An order that adds no debt leaves HF^eco as it is.
                continue;
            } else {
                room.checked_div(per_unit).ok_or(Overflow)?
            };
            out.push(Binding {
                kind: l.spec.kind,
                limit: Some(l),
                value: l.spec.value,
                cap,
                usage: Decimal::ZERO,
            });
        }
        Ok(ValueJudgement::Bound(out))
    }

    /// The first asset the participant holds, commits or owes whose price
    /// is not fresh at `at`.
    fn first_unfresh(&self, at: UnixMs, p: &Participant) -> Option<AssetId> {
        p.assets
            .iter()
            .find(|(a, pos)| counts(pos) && self.fresh_price_at(a, at).is_none())
            .map(|(a, _)| a.clone())
    }

    /// HF^eco's numerator and debt, now and under the standard shock
    /// vector, from fresh prices; `None` if an asset the participant holds,
    /// commits or owes has none.
    pub(super) fn eco_figures(
        &self,
        at: UnixMs,
        participant: Option<&Participant>,
    ) -> Result<Option<EcoFigures>, LedgerError> {
        let mut f = EcoFigures::default();
        let Some(p) = participant else {
            return Ok(Some(f));
        };
        for (asset, pos) in &p.assets {
            if !counts(pos) {
                continue;
            }
            let Some(price) = self.fresh_price_at(asset, at) else {
                return Ok(None);
            };
            let class = self.prices.get(asset).map(|x| x.class);
            let shocked = match class {
                Some(c) => amount::mul(price, Decimal::ONE + self.stress_shocks.of(c))?,
                None => price,
            };
            // No haircut: the asset counts for nothing as collateral.
            let keep = self
                .haircuts
                .get(asset)
                .map_or(Decimal::ZERO, |h| Decimal::ONE - h);
            let held = amount::mul(pos.owned, keep)?;
            f.numerator = amount::add(f.numerator, amount::mul(held, price)?)?;
            f.stressed_numerator = amount::add(f.stressed_numerator, amount::mul(held, shocked)?)?;
            let implied = amount::mul(pos.implied, price)?;
            f.debt = amount::add(f.debt, amount::add(amount::mul(pos.owed, price)?, implied)?)?;
            f.stressed_debt = amount::add(
                f.stressed_debt,
                amount::add(amount::mul(pos.owed, shocked)?, implied)?,
            )?;
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
