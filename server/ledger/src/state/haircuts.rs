//! Interlock's haircuts in the ledger: the one in force for an asset is
//! the admin's pinned one if there is one, else the volatility model's
//! (`value::haircut`), fed one accepted close a day.
//!
//! The close of a day is the asset's last accepted price when the first
//! tick of the next UTC day runs: ticks are commands, so a replay closes
//! the same days at the same prices. A model is seeded, at its first
//! close, with the long-run volatility its floor uses (σ_{−1} = σ_floor),
//! and publishes its first haircut at its second close (the first return).
//! Every haircut the model publishes is an audit record (by
//! "haircut-model"), so the desk sees why a haircut moved.

use super::*;
use crate::value::haircut::{Haircut, HaircutParams, HaircutRule};

/// One UTC day, in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

impl State {
    /// The haircut in force for `asset`: pinned, else the model's, else
    /// none (the asset then counts for nothing in HF^eco).
    pub fn haircut_of(&self, asset: &AssetId) -> Option<Decimal> {
        self.haircuts
            .get(asset)
            .copied()
            .or_else(|| self.haircut_models.get(asset).and_then(Haircut::published))
    }

    /// The model's haircut for `asset`, whether or not a pin overrides it.
    pub fn model_haircut(&self, asset: &AssetId) -> Option<Decimal> {
        self.haircut_models.get(asset).and_then(Haircut::published)
    }

    /// Starts counting days, once: when the first asset is classed.
    pub(super) fn start_days(&mut self, at: UnixMs) {
        if self.close_day.is_none() {
            self.close_day = Some(at.div_euclid(DAY_MS));
        }
    }

    /// Whether a tick at `at` would close a day.
    pub(super) fn closes_due(&self, at: UnixMs) -> bool {
        let day = at.div_euclid(DAY_MS);
        self.close_day.is_some_and(|d| day > d)
    }

    /// Closes the day for every priced asset if a UTC day has ended since
    /// the last close. Says whether anything changed.
    pub(super) fn daily_closes(&mut self, at: UnixMs) -> Result<bool, LedgerError> {
        if !self.closes_due(at) {
            return Ok(false);
        }
        self.close_day = Some(at.div_euclid(DAY_MS));
        let params = HaircutParams::default();
        // Only a FRESH price closes a day: a stale one repeated would read
        // as a calm day and lower the haircut. A day without one is
        // skipped; the next close's return spans both.
        let mut closes: Vec<(AssetId, Decimal)> = self
            .prices
            .iter()
            .filter(|(_, p)| p.state() == PriceState::Fresh)
            .filter_map(|(a, p)| Some((a.clone(), p.last_price()?)))
            .collect();
        closes.sort();
        for (asset, price) in closes {
            let model = match self.haircut_models.get_mut(&asset) {
                Some(m) => m,
                None => {
                    let seeded = Haircut::seeded(params.sigma_floor)
                        .map_err(|_| LedgerError::from(Overflow))?;
                    self.haircut_models.entry(asset.clone()).or_insert(seeded)
                }
            };
            let before = model.published();
            // A close the model cannot take (an overflow) leaves it as it
            // was: the haircut in force stays.
            let Ok(Some(step)) = model.close(&params, price) else {
                continue;
            };
            if before != Some(step.published) {
                let rule = match step.rule {
                    HaircutRule::Initial => "initial",
                    HaircutRule::Raise => "raised at once",
                    HaircutRule::Hold => "held",
                    HaircutRule::StepDown => "lowered by the daily step",
                };
                let show = |h: Option<Decimal>| {
                    h.map_or_else(|| "-".to_owned(), |h| h.round_dp(6).normalize().to_string())
                };
                // Best effort: a full audit log does not stop the model.
                if self.audit.len() < self.cfg.audit_records_max {
                    self.audit(
                        at,
                        "haircut-model",
                        "haircut_model",
                        asset.to_string(),
                        show(before),
                        format!(
                            "{} ({rule}; close {price}, sigma {})",
                            show(Some(step.published)),
                            step.sigma.round_dp(6).normalize()
                        ),
                    );
                }
                self.refresh_factors(&asset)?;
            }
        }
        Ok(true)
    }
}
