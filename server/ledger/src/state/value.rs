//! The value layer in the ledger: how each venue values each asset
//! (threshold, LTV), Interlock's haircuts, and a participant's health
//! figures across venues (`value::health` does the arithmetic).
//!
//! Unknowns are conservative: an asset without a price counts for nothing
//! as collateral, and a figure that needs the value of a debt or of an
//! implied liability it cannot price is [`Health::Unknown`]; a venue
//! without parameters for an asset gives it no collateral value (threshold
//! 0) and implies a liability of its full value (LTV 1); an asset without
//! a haircut counts for nothing in HF^eco.

use super::*;
use crate::value::health::{self, Health, Owned, Pledged};

/// Most (venue, asset) parameter entries.
pub const VENUE_ASSETS_MAX: usize = 100_000;

/// One venue's figures for a participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueHealth {
    pub venue: VenueId,
    /// D_{p,v}: the reported debt valued at today's prices, or the implied
    /// one where nothing is reported (`None` if it cannot be priced).
    pub debt: Option<Decimal>,
    pub debt_implied: bool,
    /// What the venue itself sees.
    pub claim: Health,
    /// With over-pledged collateral shared pro rata across venues.
    pub true_health: Health,
    /// Per collateral asset committed here: the price at which this
    /// venue's HF^claim reaches 1, the others fixed (`None`: no price
    /// does, or the debt is in the same asset, or it is unknown).
    pub liquidation_prices: Vec<(AssetId, Option<Decimal>)>,
}

/// A participant's health across venues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthView {
    pub participant: ParticipantId,
    /// Σ O·P·(1 − h): HF^eco's numerator.
    pub collateral_value: Decimal,
    /// Σ_v D_{p,v} (`None` if a venue's debt cannot be priced).
    pub total_debt: Option<Decimal>,
    pub eco: Health,
    pub venues: Vec<VenueHealth>,
    /// Assets of the participant with no price at all.
    pub unpriced: Vec<AssetId>,
    /// Assets valued at a price that is not FRESH.
    pub stale: Vec<AssetId>,
    /// Per owned asset: the price at which HF^eco reaches 1, the others
    /// fixed (`None`: no price does, the debt is in that asset, or the
    /// debt is unknown).
    pub liquidation_prices: Vec<(AssetId, Option<Decimal>)>,
}

#[derive(Default)]
struct VenueLines {
    /// The collateral assets of `claim`, in order.
    assets: Vec<AssetId>,
    /// Assets owed here.
    owed_in: Vec<AssetId>,
    claim: Vec<Pledged>,
    seizable: Vec<Pledged>,
    /// The implied debt's quantities (`state/debt.rs`), at weight 1.
    implied: Vec<Pledged>,
    reported: Option<Decimal>,
    debt_unpriced: bool,
    implied_unpriced: bool,
}

impl State {
    pub(super) fn set_venue_asset(
        &mut self,
        at: UnixMs,
        by: &str,
        venue: &VenueId,
        asset: &AssetId,
        params: VenueAssetParams,
    ) -> Result<Outcome, LedgerError> {
        let unit = |d: Decimal| d > Decimal::ZERO && d <= Decimal::ONE;
        if !unit(params.threshold) {
            return Err(LedgerError::InvalidArgument {
                field: "threshold",
                reason: "must be above 0 and at most 1".into(),
            });
        }
        if params
            .ltv
            .is_some_and(|l| l <= Decimal::ZERO || l > params.threshold)
        {
            return Err(LedgerError::InvalidArgument {
                field: "ltv",
                reason: "must be above 0 and at most the threshold".into(),
            });
        }
        let key = (venue.clone(), asset.clone());
        let previous = self.venue_assets.get(&key).copied();
        if previous.is_none() {
            self.ensure_capacity(
                self.venue_assets.len(),
                VENUE_ASSETS_MAX,
                "venue asset table",
            )?;
        }
        self.ensure_capacity(self.audit.len(), self.cfg.audit_records_max, "audit log")?;
        let old_ltv = previous.map_or(Decimal::ONE, |p| p.ltv_or_threshold());
        self.reweight_implied(venue, asset, old_ltv, params.ltv_or_threshold())?;
        self.venue_assets.insert(key, params);
        let show = |p: Option<VenueAssetParams>| {
            p.map_or_else(
                || "-".to_owned(),
                |p| match p.ltv {
                    Some(l) => format!("threshold={} ltv={l}", p.threshold),
                    None => format!("threshold={}", p.threshold),
                },
            )
        };
        self.audit(
            at,
            by,
            "set_venue_asset",
            format!("{venue}/{asset}"),
            show(previous),
            show(Some(params)),
        );
        Ok(Outcome::VenueAssetSet { previous, params })
    }

    pub(super) fn set_haircut(
        &mut self,
        at: UnixMs,
        by: &str,
        asset: &AssetId,
        haircut: Option<Decimal>,
        force: Option<&str>,
    ) -> Result<Outcome, LedgerError> {
        if haircut.is_some_and(|h| h < Decimal::ZERO || h >= Decimal::ONE) {
            return Err(LedgerError::InvalidArgument {
                field: "haircut",
                reason: "must be at least 0 and below 1".into(),
            });
        }
        if !self.prices.contains_key(asset) {
            return Err(LedgerError::InvalidArgument {
                field: "asset",
                reason: format!("{asset} has no class: set its class first"),
            });
        }
        // A lower haircut is a looser one: past the step, only with a reason.
        if let (Some(old), Some(new), None) = (self.haircuts.get(asset), haircut, force) {
            let keep = Decimal::ONE - self.cfg.limit_loosen_step_pct / Decimal::ONE_HUNDRED;
            if new < amount::mul(*old, keep)? {
                return Err(LedgerError::LoosensTooFar {
                    what: format!("the haircut of {asset} from {old} to {new}"),
                    step_pct: self.cfg.limit_loosen_step_pct,
                });
            }
        }
        self.ensure_capacity(self.audit.len(), self.cfg.audit_records_max, "audit log")?;
        let previous = match haircut {
            Some(h) => self.haircuts.insert(asset.clone(), h),
            None => self.haircuts.remove(asset),
        };
        let show = |h: Option<Decimal>| h.map_or_else(|| "-".to_owned(), |h| h.to_string());
        self.audit_with_outcome(
            at,
            by,
            "set_haircut",
            asset.to_string(),
            show(previous),
            show(haircut),
            super::admin::outcome(force),
        );
        Ok(Outcome::HaircutSet { previous, haircut })
    }

    /// Sets the standard shock of an asset class, a share in [-1, 0]. A
    /// milder shock is a looser one: past the step, only with a reason.
    pub(super) fn set_stress_shock(
        &mut self,
        at: UnixMs,
        by: &str,
        class: AssetClass,
        shock: Decimal,
        force: Option<&str>,
    ) -> Result<Outcome, LedgerError> {
        if shock < Decimal::NEGATIVE_ONE || shock > Decimal::ZERO {
            return Err(LedgerError::InvalidArgument {
                field: "shock",
                reason: "must be between -1 and 0 (a fall)".into(),
            });
        }
        let previous = self.stress_shocks.of(class);
        if force.is_none() {
            let keep = Decimal::ONE - self.cfg.limit_loosen_step_pct / Decimal::ONE_HUNDRED;
            if shock > amount::mul(previous, keep.max(Decimal::ZERO))? {
                return Err(LedgerError::LoosensTooFar {
                    what: format!(
                        "the {} stress shock from {previous} to {shock}",
                        super::prices::class_name(class)
                    ),
                    step_pct: self.cfg.limit_loosen_step_pct,
                });
            }
        }
        self.ensure_capacity(self.audit.len(), self.cfg.audit_records_max, "audit log")?;
        self.stress_shocks.set(class, shock);
        self.audit_with_outcome(
            at,
            by,
            "set_stress_shock",
            super::prices::class_name(class).to_owned(),
            previous.to_string(),
            shock.to_string(),
            super::admin::outcome(force),
        );
        Ok(Outcome::StressShockSet { previous, shock })
    }

    /// The standard shock vector in force.
    pub fn stress_shocks(&self) -> StressShocks {
        self.stress_shocks
    }

    /// A participant's health figures, or `None` if the ledger never heard
    /// of it. Prices are the last accepted ones; those not FRESH are listed.
    pub fn health(&self, participant: &ParticipantId) -> Result<Option<HealthView>, LedgerError> {
        let Some(p) = self.participants.get(participant) else {
            return Ok(None);
        };
        let price = |a: &AssetId| self.prices.get(a).and_then(|x| x.last_price());
        let (mut unpriced, mut stale) = (Vec::new(), Vec::new());
        let mut venues: std::collections::BTreeMap<VenueId, VenueLines> = Default::default();
        let mut owned = Vec::new();
        let mut owned_assets = Vec::new();
        let mut owed_anywhere: Vec<AssetId> = Vec::new();
        for (asset, pos) in &p.assets {
            match self.prices.get(asset) {
                Some(x) if x.last_price().is_some() => {
                    if x.state() != PriceState::Fresh {
                        stale.push(asset.clone());
                    }
                }
                _ => unpriced.push(asset.clone()),
            }
            let pa = price(asset);
            let committed_everywhere = pos.committed;
            for (venue, vp) in &pos.venues {
                let lines = venues.entry(venue.clone()).or_default();
                if vp.owed.is_some_and(|q| q > Decimal::ZERO) {
                    lines.owed_in.push(asset.clone());
                }
                if let Some(q) = vp.owed {
                    match pa {
                        Some(pb) => {
                            let value = amount::mul(q, pb)?;
                            lines.reported =
                                Some(amount::add(lines.reported.unwrap_or_default(), value)?);
                        }
                        None if q > Decimal::ZERO => lines.debt_unpriced = true,
                        None => lines.reported = Some(lines.reported.unwrap_or_default()),
                    }
                }
                let ltv = debt::implied_ltv(&self.venue_assets, venue, asset);
                let implied = debt::implied_term(vp.implied_base(p.reports(venue))?, ltv)?;
                if implied > Decimal::ZERO {
                    lines.implied_unpriced |= pa.is_none();
                    lines.implied.push(Pledged {
                        quantity: implied,
                        price: pa.unwrap_or_default(),
                        threshold: Decimal::ONE,
                    });
                }
                let c = vp.counted()?;
                if c <= Decimal::ZERO {
                    continue;
                }
                let params = self.venue_assets.get(&(venue.clone(), asset.clone()));
                let lt = params.map_or(Decimal::ZERO, |x| x.threshold);
                let price = pa.unwrap_or_default();
                lines.assets.push(asset.clone());
                lines.claim.push(Pledged {
                    quantity: c,
                    price,
                    threshold: lt,
                });
                lines.seizable.push(Pledged {
                    quantity: health::seizable(c, pos.owned, committed_everywhere)?,
                    price,
                    threshold: lt,
                });
            }
            if pos
                .venues
                .values()
                .any(|vp| vp.owed.is_some_and(|q| q > Decimal::ZERO))
            {
                owed_anywhere.push(asset.clone());
            }
            if pos.owned > Decimal::ZERO {
                owned_assets.push(asset.clone());
                owned.push(Owned {
                    quantity: pos.owned,
                    price: pa.unwrap_or_default(),
                    // No haircut: counts for nothing.
                    haircut: self.haircuts.get(asset).copied().unwrap_or(Decimal::ONE),
                });
            }
        }
        let mut out = Vec::with_capacity(venues.len());
        let mut total: Option<Decimal> = Some(Decimal::ZERO);
        for (venue, lines) in venues {
            // A reporting venue's debt is what it reports plus the implied
            // debt of what no sync covers yet; another's is implied.
            let implied = lines.reported.is_none();
            let debt = if lines.debt_unpriced || lines.implied_unpriced {
                None
            } else {
                let reported = lines.reported.unwrap_or_default();
                Some(amount::add(
                    reported,
                    health::implied_liability(&lines.implied)?,
                )?)
            };
            let (claim, true_health) = match debt {
                Some(d) => (
                    health::hf_claim(&lines.claim, d)?,
                    health::hf_claim(&lines.seizable, d)?,
                ),
                None => (Health::Unknown, Health::Unknown),
            };
            total = match (total, debt) {
                (Some(t), Some(d)) => Some(amount::add(t, d)?),
                _ => None,
            };
            let mut liquidation_prices = Vec::with_capacity(lines.assets.len());
            for (i, asset) in lines.assets.iter().enumerate() {
                let price = match debt {
                    Some(d) if !lines.owed_in.contains(asset) => {
                        let others: Vec<Pledged> = lines
                            .claim
                            .iter()
                            .enumerate()
                            .filter(|(j, _)| *j != i)
                            .map(|(_, l)| *l)
                            .collect();
                        health::venue_liquidation_price(lines.claim[i], &others, d)?
                    }
                    _ => None,
                };
                liquidation_prices.push((asset.clone(), price));
            }
            out.push(VenueHealth {
                venue,
                debt,
                debt_implied: implied,
                claim,
                true_health,
                liquidation_prices,
            });
        }
        let collateral_value = health::owned_value(&owned)?;
        let eco = match total {
            Some(t) => Health::of(collateral_value, t)?,
            None => Health::Unknown,
        };
        let mut liquidation_prices = Vec::with_capacity(owned.len());
        for (i, asset) in owned_assets.iter().enumerate() {
            let price = match total {
                Some(t) if !owed_anywhere.contains(asset) => {
                    let others: Vec<Owned> = owned
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, l)| *l)
                        .collect();
                    health::eco_liquidation_price(owned[i], &others, t)?
                }
                _ => None,
            };
            liquidation_prices.push((asset.clone(), price));
        }
        Ok(Some(HealthView {
            participant: participant.clone(),
            collateral_value,
            total_debt: total,
            eco,
            venues: out,
            unpriced,
            stale,
            liquidation_prices,
        }))
    }
}
