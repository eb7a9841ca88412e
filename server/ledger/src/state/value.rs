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
/// Most venues with a liquidation rule.
pub const VENUE_RULES_MAX: usize = 10_000;

/// A venue as the desk configured it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueView {
    pub venue: VenueId,
    pub rule: Option<LiquidationRule>,
    pub assets: Vec<(AssetId, VenueAssetParams)>,
}

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
    /// HF^eco under the standard shock vector.
    pub eco_stressed: Health,
    /// The uniform shock on every non-STABLE asset at which HF^eco
    /// reaches 1.
    pub distance_to_default: Distance,
    /// The "why": the largest contributions to HF^eco's numerator (per
    /// owned asset, O·P·(1 − h)) and to its debt (per venue), at most
    /// [`EXPLAIN_TOP`] of each, largest first.
    pub top_collateral: Vec<(AssetId, Decimal)>,
    pub top_debt: Vec<(VenueId, Decimal)>,
    /// Per asset held or committed: Σ commitments over venues / owned
    /// (`None` with nothing owned).
    pub reuse: Vec<(AssetId, Option<Decimal>)>,
}

/// How a participant's HF^eco stands against the alert levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HealthLevel {
    Ok,
    Warning,
    Critical,
}

/// One participant as a health scan saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthScan {
    pub slot: ParticipantSlot,
    pub participant: ParticipantId,
    pub eco: Health,
    pub level: HealthLevel,
    /// Venues with HF^true < 1, looked at only below the warning level.
    pub venues_at_risk: Vec<VenueId>,
}

/// One participant in [`State::top_by_health`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRank {
    pub participant: ParticipantId,
    pub eco: Health,
    /// HF^eco's numerator (0 when unknown).
    pub collateral_value: Decimal,
    /// `None` when unknown.
    pub total_debt: Option<Decimal>,
    pub trading_state: TradingState,
}

/// How many contributions explain a health figure.
pub const EXPLAIN_TOP: usize = 3;

/// value.md's distance to default: the uniform shock s* ≤ 0 on every
/// non-STABLE asset (as collateral and as debt) at which HF^eco = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distance {
    /// s* (0 when HF^eco is at or below 1 already).
    Shock(Decimal),
    /// Even −100% does not bring HF^eco to 1 (or there is no debt).
    Never,
    /// A price it needs is missing.
    Unknown,
}

/// HF^eco's parts per asset class group, at the last prices: what the
/// stressed figure and the distance to default are computed from.
#[derive(Debug, Default)]
struct EcoSplit {
    numerator_stable: Decimal,
    numerator_other: Decimal,
    /// Implied debt (not shocked) and STABLE debt.
    debt_fixed: Decimal,
    /// Reported debt in non-STABLE assets.
    debt_other: Decimal,
    stressed_numerator: Decimal,
    stressed_debt: Decimal,
}

impl EcoSplit {
    /// HF^eco's numerator and debt.
    fn totals(&self) -> Result<(Decimal, Decimal), Overflow> {
        Ok((
            amount::add(self.numerator_stable, self.numerator_other)?,
            amount::add(self.debt_fixed, self.debt_other)?,
        ))
    }

    fn distance(&self) -> Result<Distance, Overflow> {
        let (numerator, debt) = self.totals()?;
        if debt.is_zero() {
            return Ok(Distance::Never);
        }
        if numerator <= debt {
            return Ok(Distance::Shock(Decimal::ZERO));
        }
        // HF(x) = (N_st + N_o·x) / (D_fixed + D_o·x) = 1 at x = 1 + s*.
        let slope = amount::sub(self.numerator_other, self.debt_other)?;
        if slope <= Decimal::ZERO {
            return Ok(Distance::Never);
        }
        let x = amount::sub(self.debt_fixed, self.numerator_stable)?
            .checked_div(slope)
            .ok_or(Overflow)?;
        if x < Decimal::ZERO {
            return Ok(Distance::Never);
        }
        Ok(Distance::Shock(amount::sub(x, Decimal::ONE)?))
    }
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
        self.configured_venues.insert(venue.clone());
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
        let version = self.bump_version("venue_asset", format!("{venue}/{asset}"));
        Ok(Outcome::VenueAssetSet {
            previous,
            params,
            version,
        })
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
        self.refresh_factors(asset)?;
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
        let version = self.bump_version("haircut", asset.to_string());
        Ok(Outcome::HaircutSet {
            previous,
            haircut,
            version,
        })
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
        self.refresh_all_factors()?;
        self.audit_with_outcome(
            at,
            by,
            "set_stress_shock",
            super::prices::class_name(class).to_owned(),
            previous.to_string(),
            shock.to_string(),
            super::admin::outcome(force),
        );
        let version =
            self.bump_version("stress_shock", super::prices::class_name(class).to_owned());
        Ok(Outcome::StressShockSet {
            previous,
            shock,
            version,
        })
    }

    pub(super) fn set_venue_rule(
        &mut self,
        at: UnixMs,
        by: &str,
        venue: &VenueId,
        rule: LiquidationRule,
    ) -> Result<Outcome, LedgerError> {
        if let Some((field, reason)) = rule.invalid() {
            return Err(LedgerError::InvalidArgument {
                field,
                reason: reason.into(),
            });
        }
        let previous = self.venue_rules.get(venue).copied();
        if previous.is_none() {
            self.ensure_capacity(self.venue_rules.len(), VENUE_RULES_MAX, "venue rule table")?;
        }
        self.ensure_capacity(self.audit.len(), self.cfg.audit_records_max, "audit log")?;
        self.venue_rules.insert(venue.clone(), rule);
        self.configured_venues.insert(venue.clone());
        self.audit(
            at,
            by,
            "set_venue_rule",
            venue.to_string(),
            previous.map_or_else(|| "-".to_owned(), |r| r.describe()),
            rule.describe(),
        );
        let version = self.bump_version("venue_rule", venue.to_string());
        Ok(Outcome::VenueRuleSet { previous, version })
    }

    /// Counts one more change of a value setting; returns its version.
    pub(super) fn bump_version(&mut self, kind: &str, target: String) -> u64 {
        let v = self
            .setting_versions
            .entry(format!("{kind} {target}"))
            .or_insert(0);
        *v += 1;
        *v
    }

    /// The value settings' versions counted from the audit records in
    /// memory (for a snapshot written before versions were kept).
    pub(super) fn versions_from_audit(&mut self) {
        let changes: Vec<(&'static str, String)> = self
            .audit
            .iter()
            .filter_map(|r| {
                let kind = match r.action.as_str() {
                    "set_asset_class" => "asset_class",
                    "set_venue_asset" => "venue_asset",
                    "set_haircut" => "haircut",
                    "set_stress_shock" => "stress_shock",
                    "set_scenario" => "scenario",
                    "set_stress_guard" => "stress_guard",
                    "set_venue_rule" => "venue_rule",
                    _ => return None,
                };
                Some((kind, r.target.clone()))
            })
            .collect();
        for (kind, target) in changes {
            self.bump_version(kind, target);
        }
    }

    /// A value setting's version: how many times it was set (0: never).
    /// `kind` is one of asset_class, venue_asset, haircut, stress_shock,
    /// venue_rule; `target` names it as the audit log does (an asset,
    /// VENUE/ASSET, a class, a venue).
    pub fn setting_version(&self, kind: &str, target: &str) -> u64 {
        self.setting_versions
            .get(&format!("{kind} {target}"))
            .copied()
            .unwrap_or(0)
    }

    /// How `venue` liquidates, if an admin said.
    pub fn venue_rule(&self, venue: &VenueId) -> Option<LiquidationRule> {
        self.venue_rules.get(venue).copied()
    }

    /// Every venue's parameters per asset and liquidation rule, by venue
    /// then asset.
    pub fn venues(&self) -> Vec<VenueView> {
        let mut out: std::collections::BTreeMap<VenueId, VenueView> = Default::default();
        for ((v, a), params) in &self.venue_assets {
            out.entry(v.clone())
                .or_insert_with(|| VenueView {
                    venue: v.clone(),
                    rule: self.venue_rule(v),
                    assets: Vec::new(),
                })
                .assets
                .push((a.clone(), *params));
        }
        for (v, rule) in &self.venue_rules {
            out.entry(v.clone()).or_insert_with(|| VenueView {
                venue: v.clone(),
                rule: Some(*rule),
                assets: Vec::new(),
            });
        }
        let mut out: Vec<VenueView> = out.into_values().collect();
        for v in &mut out {
            v.assets.sort_by(|x, y| x.0.cmp(&y.0));
        }
        out
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
                    haircut: self.haircut_of(asset).unwrap_or(Decimal::ONE),
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
        let mut top_collateral: Vec<(AssetId, Decimal)> = Vec::new();
        for (asset, line) in owned_assets.iter().zip(&owned) {
            let v = health::owned_value(std::slice::from_ref(line))?;
            if v > Decimal::ZERO {
                top_collateral.push((asset.clone(), v));
            }
        }
        top_collateral.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top_collateral.truncate(EXPLAIN_TOP);
        let mut top_debt: Vec<(VenueId, Decimal)> = out
            .iter()
            .filter_map(|v| {
                v.debt
                    .filter(|d| *d > Decimal::ZERO)
                    .map(|d| (v.venue.clone(), d))
            })
            .collect();
        top_debt.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top_debt.truncate(EXPLAIN_TOP);
        let reuse = p
            .assets
            .iter()
            .filter(|(_, pos)| pos.owned > Decimal::ZERO || pos.committed > Decimal::ZERO)
            .map(|(a, pos)| (a.clone(), amount::utilization(pos.committed, pos.owned)))
            .collect();
        let (eco_stressed, distance_to_default) = match self.eco_split(p)? {
            Some(split) => (
                Health::of(split.stressed_numerator, split.stressed_debt)?,
                split.distance()?,
            ),
            None => (Health::Unknown, Distance::Unknown),
        };
        Ok(Some(HealthView {
            participant: participant.clone(),
            collateral_value,
            total_debt: total,
            eco,
            venues: out,
            unpriced,
            stale,
            liquidation_prices,
            eco_stressed,
            distance_to_default,
            top_collateral,
            top_debt,
            reuse,
        }))
    }

    /// The participants with debt, weakest HF^eco first (`Unknown` before
    /// any figure: a missing price is never taken as healthy), at most
    /// `n`; ties by id. At the last prices, from the debt sums: O(assets)
    /// per participant.
    pub fn top_by_health(&self, n: usize) -> Result<Vec<HealthRank>, LedgerError> {
        let mut all = Vec::new();
        for (pid, p) in self.participants.iter() {
            let (eco, numerator, debt) = match self.eco_split(p)? {
                Some(s) => {
                    let (numerator, debt) = s.totals()?;
                    (Health::of(numerator, debt)?, numerator, Some(debt))
                }
                None => (Health::Unknown, Decimal::ZERO, None),
            };
            if eco == Health::NoDebt {
                continue;
            }
            all.push(HealthRank {
                participant: pid.clone(),
                eco,
                collateral_value: numerator,
                total_debt: debt,
                trading_state: p.trading_state,
            });
        }
        let key = |r: &HealthRank| match r.eco {
            Health::Unknown => (0, Decimal::ZERO),
            Health::Ratio(x) => (1, x),
            Health::NoDebt => (2, Decimal::ZERO),
        };
        all.sort_by(|a, b| {
            key(a)
                .cmp(&key(b))
                .then_with(|| a.participant.cmp(&b.participant))
        });
        all.truncate(n);
        Ok(all)
    }

    /// A scan of at most `k` participants from slot number `from` on
    /// (wrapping round), at the last prices: each one's HF^eco against
    /// `warn` and `critical`, and below `warn` the venues that would not
    /// recover their debt if all called at once. Returns the scan and where
    /// the next one starts. O(assets) per participant, O(assets × venues)
    /// for one below the warning level. An unknown figure (a missing
    /// price) is not alerted on here: the price's own alert says it.
    pub fn health_scan(
        &self,
        from: usize,
        k: usize,
        warn: Decimal,
        critical: Decimal,
    ) -> Result<(Vec<HealthScan>, usize), LedgerError> {
        let n = self.participants.len();
        let mut out = Vec::new();
        if n == 0 {
            return Ok((out, 0));
        }
        let mut at = from % n;
        for _ in 0..k.min(n) {
            let slot = self.participants.slot_at(at);
            at = (at + 1) % n;
            let p = self.participants.at(slot);
            let Some(split) = self.eco_split(p)? else {
                continue;
            };
            let (numerator, debt) = split.totals()?;
            let eco = Health::of(numerator, debt)?;
            let level = match eco {
                Health::Ratio(x) if x < critical => HealthLevel::Critical,
                Health::Ratio(x) if x < warn => HealthLevel::Warning,
                _ => HealthLevel::Ok,
            };
            let id = self.participants.id(slot);
            let venues_at_risk = if level == HealthLevel::Ok {
                Vec::new()
            } else {
                self.health(id)?
                    .map(|h| {
                        h.venues
                            .into_iter()
                            .filter(|v| v.true_health.is_below_one())
                            .map(|v| v.venue)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            out.push(HealthScan {
                slot,
                participant: id.clone(),
                eco,
                level,
                venues_at_risk,
            });
        }
        Ok((out, at))
    }

    /// HF^eco's parts at the last prices, from the positions' debt sums;
    /// `None` if an asset held, committed or owed has no price.
    fn eco_split(&self, p: &Participant) -> Result<Option<EcoSplit>, Overflow> {
        let mut s = EcoSplit::default();
        for (asset, pos) in &p.assets {
            if pos.owned.is_zero() && pos.owed.is_zero() && pos.implied.is_zero() {
                continue;
            }
            let Some((price, class)) = self
                .prices
                .get(asset)
                .and_then(|x| Some((x.last_price()?, x.class)))
            else {
                return Ok(None);
            };
            let shock = Decimal::ONE + self.stress_shocks.of(class);
            let keep = self
                .haircut_of(asset)
                .map_or(Decimal::ZERO, |h| Decimal::ONE - h);
            let n = amount::mul(amount::mul(pos.owned, keep)?, price)?;
            let owed = amount::mul(pos.owed, price)?;
            let implied = amount::mul(pos.implied, price)?;
            s.stressed_numerator = amount::add(s.stressed_numerator, amount::mul(n, shock)?)?;
            s.stressed_debt = amount::add(
                s.stressed_debt,
                amount::add(amount::mul(owed, shock)?, implied)?,
            )?;
            s.debt_fixed = amount::add(s.debt_fixed, implied)?;
            if class == AssetClass::Stable {
                s.numerator_stable = amount::add(s.numerator_stable, n)?;
                s.debt_fixed = amount::add(s.debt_fixed, owed)?;
            } else {
                s.numerator_other = amount::add(s.numerator_other, n)?;
                s.debt_other = amount::add(s.debt_other, owed)?;
            }
        }
        Ok(Some(s))
    }
}
