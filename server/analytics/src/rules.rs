//! Venues' liquidation rules in f64, for positions with several collateral
//! and debt assets, in the numeraire (`value.md`, `analytics.md`).
//!
//! A rule decides on what the venue sees (HF^claim over its claim C) and
//! recovers only what is deliverable (Ĉ). It names the debt value to repay
//! and the bonus per unit repaid; the repayment is spread over the
//! collateral assets pro rata to their deliverable value at the round's
//! prices (a choice, `analytics.md`), each capped at what is there. Once
//! all the deliverable collateral is gone, the debt left is bad debt.

use interlock_ledger::value::liquidation::LiquidationRule;
use rust_decimal::prelude::ToPrimitive;

/// How a venue liquidates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    Aave {
        close_factor: f64,
        hf_full: f64,
        min_full_base: f64,
        bonus: f64,
    },
    /// The whole debt, with LIF = min(1.15, 1/(1 − 0.3·(1 − LLTV))) per
    /// collateral asset.
    Morpho,
    /// Sell what restores HF^claim to 1, with a penalty.
    Exchange { penalty: f64 },
}

impl Rule {
    /// What a venue without a rule is assumed to do: Aave v3.3 with a 5%
    /// bonus, the most common rule among lending venues (reports say when
    /// it stood in).
    pub const DEFAULT: Rule = Rule::Aave {
        close_factor: 0.5,
        hf_full: 0.95,
        min_full_base: 2000.0,
        bonus: 1.05,
    };

    pub fn from_ledger(r: &LiquidationRule) -> Rule {
        let f = |d: rust_decimal::Decimal| d.to_f64().unwrap_or(0.0);
        match r {
            LiquidationRule::Aave(a) => Rule::Aave {
                close_factor: f(a.close_factor),
                hf_full: f(a.hf_full),
                min_full_base: f(a.min_full_base),
                bonus: f(a.bonus),
            },
            LiquidationRule::Morpho => Rule::Morpho,
            LiquidationRule::Exchange { penalty } => Rule::Exchange {
                penalty: f(*penalty),
            },
        }
    }
}

/// Morpho Blue's liquidation incentive for an LLTV.
pub fn morpho_lif(lltv: f64) -> f64 {
    (1.0 / (1.0 - 0.3 * (1.0 - lltv))).min(1.15)
}

/// One collateral asset of an account, at the round's price.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Collateral {
    /// C: the venue's claim.
    pub claim: f64,
    /// Ĉ: what it can seize.
    pub deliverable: f64,
    pub price: f64,
    /// The venue's threshold for the asset.
    pub lt: f64,
}

/// What one liquidation of an account did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// Debt repaid, in the numeraire.
    pub repaid: f64,
    /// Debt written off once the deliverable collateral was gone.
    pub bad_debt: f64,
    /// Seized quantity per collateral asset (the order of the input).
    pub seized: Vec<f64>,
}

impl Outcome {
    /// Debt repaid or written off.
    pub fn closed(&self) -> f64 {
        self.repaid + self.bad_debt
    }
}

/// HF^claim of collateral against a debt value; +∞ without debt.
pub fn health(collateral: &[Collateral], debt: f64) -> f64 {
    if debt <= 0.0 {
        return f64::INFINITY;
    }
    collateral
        .iter()
        .map(|c| c.claim * c.price * c.lt)
        .sum::<f64>()
        / debt
}

impl Rule {
    /// Collateral value seized per unit of debt repaid.
    fn bonus(&self, c: &Collateral) -> f64 {
        match *self {
            Rule::Aave { bonus, .. } => bonus,
            Rule::Morpho => morpho_lif(c.lt),
            Rule::Exchange { penalty } => 1.0 + penalty,
        }
    }

    /// Liquidates an account with HF^claim below 1 (else does nothing).
    pub fn liquidate(&self, collateral: &[Collateral], debt: f64) -> Outcome {
        let mut seized = vec![0.0; collateral.len()];
        let (repaid, bad_debt) = self.liquidate_into(collateral, debt, &mut seized);
        Outcome {
            repaid,
            bad_debt,
            seized,
        }
    }

    /// [`Rule::liquidate`] without allocating: the seized quantities go
    /// into `seized` (as long as `collateral`, zeroed by the caller); the
    /// answer is (repaid, bad debt).
    pub fn liquidate_into(
        &self,
        collateral: &[Collateral],
        debt: f64,
        seized: &mut [f64],
    ) -> (f64, f64) {
        let mut out = (0.0, 0.0);
        let hf = health(collateral, debt);
        // Healthy, or NaN (no figures): nothing to liquidate.
        if hf.is_nan() || hf >= 1.0 {
            return out;
        }
        let claim_value: f64 = collateral.iter().map(|c| c.claim * c.price).sum();
        let weighted: f64 = collateral.iter().map(|c| c.claim * c.price * c.lt).sum();
        // The debt value the rule repays.
        let wanted = match *self {
            Rule::Aave {
                close_factor,
                hf_full,
                min_full_base,
                ..
            } => {
                let full = hf <= hf_full || claim_value < min_full_base || debt < min_full_base;
                debt * if full { 1.0 } else { close_factor }
            }
            Rule::Morpho => debt,
            Rule::Exchange { penalty } => {
                // (W − Y·LT̄) = D − Y/(1+pen), LT̄ = W/CV: sell Y of value.
                let kept = 1.0 / (1.0 + penalty);
                let lt_mix = if claim_value > 0.0 {
                    weighted / claim_value
                } else {
                    0.0
                };
                let per_unit = kept - lt_mix;
                let sold = if per_unit > 0.0 {
                    (debt - weighted) / per_unit
                } else {
                    f64::INFINITY
                };
                (sold * kept).min(debt)
            }
        };
        let deliverable: f64 = collateral.iter().map(|c| c.deliverable * c.price).sum();
        if deliverable <= 0.0 {
            out.1 = debt;
            return out;
        }
        let mut seized_value = 0.0;
        for (i, c) in collateral.iter().enumerate() {
            let there = c.deliverable * c.price;
            if there <= 0.0 {
                continue;
            }
            let share = wanted * there / deliverable;
            let b = self.bonus(c);
            let (repaid, value) = if share * b <= there {
                (share, share * b)
            } else {
                (there / b, there)
            };
            out.0 += repaid;
            seized[i] = if value == there {
                c.deliverable
            } else {
                value / c.price
            };
            seized_value += value;
        }
        out.0 = out.0.min(debt);
        if seized_value >= deliverable {
            out.1 = (debt - out.0).max(0.0);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1.0)
    }

    fn eth(claim: f64, deliverable: f64, price: f64, lt: f64) -> Collateral {
        Collateral {
            claim,
            deliverable,
            price,
            lt,
        }
    }

    /// value.md W1 at 1,400 (half) and 1,350 (all): the f64 rules agree
    /// with the ledger's decimal ones.
    #[test]
    fn w1_aave() {
        let r = Rule::DEFAULT;
        let o = r.liquidate(&[eth(10.0, 10.0, 1400.0, 0.83)], 12000.0);
        assert!(close(o.repaid, 6000.0) && close(o.seized[0], 4.5), "{o:?}");
        assert_eq!(o.bad_debt, 0.0);
        let o = r.liquidate(&[eth(10.0, 10.0, 1350.0, 0.83)], 12000.0);
        assert!(
            close(o.repaid, 12000.0) && close(o.seized[0], 9.333333),
            "{o:?}"
        );
        let healthy = r.liquidate(&[eth(10.0, 10.0, 2000.0, 0.83)], 12000.0);
        assert_eq!(healthy.closed(), 0.0);
    }

    /// analytics.md's worked case, V1: all of the debt wanted, 25 ETH
    /// deliverable.
    #[test]
    fn capped_at_the_deliverable_the_rest_is_bad_debt() {
        let o = Rule::DEFAULT.liquidate(&[eth(50.0, 25.0, 1600.0, 0.83)], 70000.0);
        assert!(close(o.seized[0], 25.0), "{o:?}");
        assert!(close(o.repaid, 38095.238095), "{o:?}");
        assert!(close(o.bad_debt, 31904.761905), "{o:?}");
    }

    #[test]
    fn morpho_and_exchange() {
        assert!(close(morpho_lif(0.86), 1.043841));
        assert!(close(morpho_lif(0.385), 1.15));
        // Morpho: the whole debt with the incentive.
        let o = Rule::Morpho.liquidate(&[eth(10.0, 10.0, 1000.0, 0.86)], 9000.0);
        assert!(close(o.repaid, 9000.0) && close(o.seized[0], 9.0 * morpho_lif(0.86)));
        // Exchange: HF back to exactly 1 afterwards.
        let c = [eth(10.0, 10.0, 1000.0, 0.8)];
        let o = Rule::Exchange { penalty: 0.02 }.liquidate(&c, 9000.0);
        let after = [eth(10.0 - o.seized[0], 0.0, 1000.0, 0.8)];
        assert!(close(health(&after, 9000.0 - o.repaid), 1.0), "{o:?}");
        assert_eq!(o.bad_debt, 0.0);
    }

    /// Two collateral assets are seized pro rata to their value.
    #[test]
    fn several_assets_pro_rata_by_value() {
        let c = [eth(1.0, 1.0, 3000.0, 0.8), eth(1000.0, 1000.0, 1.0, 0.8)];
        let o = Rule::DEFAULT.liquidate(&c, 4000.0);
        // HF 0.8 ≤ 0.95: all 4,000, bonus 1.05: 4,200 of 4,000 deliverable.
        assert!(
            close(o.seized[0], 1.0) && close(o.seized[1], 1000.0),
            "{o:?}"
        );
        assert!(close(o.repaid, 4000.0 / 1.05));
        assert!(close(o.bad_debt, 4000.0 - 4000.0 / 1.05));
    }
}
