//! Prices: oracles' sequenced quote streams, the assets that take them,
//! and their FRESH / STALE / RECOVERING states as the clock moves. The
//! acceptance rules themselves are `value::prices`.

use super::*;
use crate::value::prices::{AssetPrice, Quote};

/// Most assets that take prices (have a class).
pub const PRICED_ASSETS_MAX: usize = 10_000;
/// Most oracles the ledger tracks.
pub const ORACLES_MAX: usize = 1_000;

impl State {
    pub(super) fn publish_prices(
        &mut self,
        at: UnixMs,
        oracle: &OracleId,
        batch: &PriceBatch,
    ) -> Result<Outcome, LedgerError> {
        if batch.quotes.len() > PRICE_BATCH_MAX {
            return Err(LedgerError::InvalidArgument {
                field: "quotes",
                reason: format!("at most {PRICE_BATCH_MAX} in one message"),
            });
        }
        let last = self.oracles.get(oracle).copied();
        if last.is_none() {
            self.ensure_capacity(self.oracles.len(), ORACLES_MAX, "oracle table")?;
        }
        if let Some(expected) = super::sync::next_in_sequence(last, batch.sequence)? {
            return Ok(Outcome::Prices(PriceAnswer::Gap {
                expected,
                got: batch.sequence,
            }));
        }
        let rules = self.price_rules.clone();
        let mut verdicts = Vec::with_capacity(batch.quotes.len());
        for q in &batch.quotes {
            let Some(asset) = self.prices.get_mut(&q.asset) else {
                verdicts.push(QuoteVerdict::UnknownAsset);
                continue;
            };
            let quote = Quote {
                oracle: oracle.clone(),
                price: q.price,
                published_ms: q.published_ms,
            };
            let disagreed = asset.oracles_disagree(&rules, at)?;
            let verdict = match asset.quote(&rules, at, quote)? {
                QuoteOutcome::Accepted { price } => QuoteVerdict::Accepted { price },
                QuoteOutcome::Refused(r) => QuoteVerdict::Refused(r),
                QuoteOutcome::Held { median, last } => {
                    let mut alert = Alert::new(
                        at,
                        AlertKind::PriceHeld,
                        format!(
                            "price of {} held at {last}: the quotes' median {median} (after oracle {oracle}) moved more than {}% and too few oracles agree",
                            q.asset,
                            rules.jump * Decimal::ONE_HUNDRED
                        ),
                    );
                    alert.asset = Some(q.asset.clone());
                    self.alerts.push(alert);
                    QuoteVerdict::Held { median, last }
                }
            };
            verdicts.push(verdict);
            // Alerted when the disagreement starts, not on every quote.
            let disagrees = self
                .prices
                .get(&q.asset)
                .map_or(Ok(false), |a| a.oracles_disagree(&rules, at))?;
            if disagrees && !disagreed {
                let quotes: Vec<String> = self
                    .prices
                    .get(&q.asset)
                    .map(|a| {
                        a.quotes()
                            .iter()
                            .map(|x| format!("{} {}", x.oracle, x.price))
                            .collect()
                    })
                    .unwrap_or_default();
                let mut alert = Alert::new(
                    at,
                    AlertKind::PriceDeviation,
                    format!(
                        "oracles disagree on {} by more than {}%: {}",
                        q.asset,
                        (rules.agree * Decimal::ONE_HUNDRED).normalize(),
                        quotes.join(", ")
                    ),
                );
                alert.asset = Some(q.asset.clone());
                self.alerts.push(alert);
            }
            self.refresh_factors(&q.asset)?;
        }
        self.oracles.insert(oracle.clone(), batch.sequence);
        Ok(Outcome::Prices(PriceAnswer::Applied {
            sequence: batch.sequence,
            verdicts,
        }))
    }

    pub(super) fn set_asset_class(
        &mut self,
        at: UnixMs,
        by: &str,
        asset: &AssetId,
        class: AssetClass,
    ) -> Result<Outcome, LedgerError> {
        let previous = self.prices.get(asset).map(|a| a.class);
        if previous.is_none() {
            self.ensure_capacity(self.prices.len(), PRICED_ASSETS_MAX, "priced asset table")?;
        }
        self.ensure_capacity(self.audit.len(), self.cfg.audit_records_max, "audit log")?;
        match self.prices.get_mut(asset) {
            Some(a) => a.class = class,
            None => {
                self.prices.insert(asset.clone(), AssetPrice::new(class));
            }
        }
        self.refresh_factors(asset)?;
        self.start_days(at);
        self.audit(
            at,
            by,
            "set_asset_class",
            asset.to_string(),
            previous.map_or_else(|| "-".to_owned(), |c| class_name(c).to_owned()),
            class_name(class).to_owned(),
        );
        let version = self.bump_version("asset_class", asset.to_string());
        Ok(Outcome::AssetClassSet {
            previous,
            class,
            version,
        })
    }

    pub(super) fn configure_prices(&mut self, rules: &PriceRules) -> Result<Outcome, LedgerError> {
        let changed = self.price_rules != *rules;
        self.price_rules = rules.clone();
        self.refresh_all_factors()?;
        Ok(Outcome::Configured { changed })
    }

    /// Moves every asset's price state on with the clock; alerts on each
    /// change. Says whether anything changed.
    pub(super) fn tick_prices(&mut self, at: UnixMs) -> bool {
        let mut changed: Vec<(AssetId, PriceState)> = Vec::new();
        for (id, asset) in self.prices.iter_mut() {
            if asset
                .next_change_ms(&self.price_rules)
                .is_some_and(|t| t <= at)
            {
                if let Some(state) = asset.tick(&self.price_rules, at) {
                    changed.push((id.clone(), state));
                }
            }
        }
        changed.sort_by(|a, b| a.0.cmp(&b.0));
        let any = !changed.is_empty();
        for (id, _) in &changed {
            // Only an overflow could fail, unreachable within the bounds
            // on prices: the factors are then missing, which fails closed.
            if self.refresh_factors(id).is_err() {
                self.factors.remove(id);
            }
        }
        for (id, state) in changed {
            let (kind, message) = match state {
                PriceState::Stale => (
                    AlertKind::PriceStale,
                    format!("price of {id} is stale: checks that need it for new risk fail closed"),
                ),
                PriceState::Fresh => (
                    AlertKind::PriceFresh,
                    format!("price of {id} is fresh again"),
                ),
                // A tick never starts a recovery (a quote does).
                PriceState::Recovering { .. } => continue,
            };
            let mut alert = Alert::new(at, kind, message);
            alert.asset = Some(id);
            self.alerts.push(alert);
        }
        any
    }

    /// Whether a tick at `at` would change a price state.
    pub(super) fn prices_due(&self, at: UnixMs) -> bool {
        self.prices
            .values()
            .any(|a| a.next_change_ms(&self.price_rules).is_some_and(|t| t <= at))
    }

    /// An asset's price as the ledger holds it.
    pub fn price(&self, asset: &AssetId) -> Option<&AssetPrice<OracleId>> {
        self.prices.get(asset)
    }

    /// Every asset with a class, in asset order.
    pub fn prices(&self) -> Vec<(&AssetId, &AssetPrice<OracleId>)> {
        let mut v: Vec<_> = self.prices.iter().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// The last sequence applied for an oracle (0: none yet).
    pub fn oracle_sequence(&self, oracle: &OracleId) -> u64 {
        self.oracles.get(oracle).copied().unwrap_or(0)
    }
}

pub fn class_name(c: AssetClass) -> &'static str {
    match c {
        AssetClass::Stable => "STABLE",
        AssetClass::Major => "MAJOR",
        AssetClass::Alt => "ALT",
    }
}
