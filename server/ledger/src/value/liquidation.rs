//! How venues liquidate a position whose HF^claim fell below 1: what is
//! repaid, what is seized, what is left as bad debt. One collateral asset
//! against one debt asset, in their own units, with their prices in the
//! numeraire; a position with several is liquidated line by line.

use rust_decimal::Decimal;

use super::Overflow;
use crate::amount::{add, mul, sub};

/// A position as a venue sees it: one collateral line against one debt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub collateral: Decimal,
    pub collateral_price: Decimal,
    /// The venue's liquidation threshold for the collateral.
    pub threshold: Decimal,
    pub debt: Decimal,
    pub debt_price: Decimal,
}

impl Position {
    pub fn collateral_value(&self) -> Result<Decimal, Overflow> {
        mul(self.collateral, self.collateral_price)
    }

    pub fn debt_value(&self) -> Result<Decimal, Overflow> {
        mul(self.debt, self.debt_price)
    }

    /// HF^claim, or `None` without debt.
    pub fn health(&self) -> Result<Option<Decimal>, Overflow> {
        let debt = self.debt_value()?;
        if debt <= Decimal::ZERO {
            return Ok(None);
        }
        mul(self.collateral_value()?, self.threshold)?
            .checked_div(debt)
            .map(Some)
            .ok_or(Overflow)
    }
}

/// What one liquidation did, in the assets' own units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Liquidation {
    pub repaid: Decimal,
    pub seized: Decimal,
    /// Debt left once the collateral is gone.
    pub bad_debt: Decimal,
}

/// Aave v3.3: up to `close_factor` of the debt, or all of it when HF ≤
/// `hf_full` or either side is worth less than `min_full_base`; seized =
/// repaid · P_debt / P_coll · bonus, capped at what is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AaveRule {
    pub close_factor: Decimal,
    pub hf_full: Decimal,
    pub min_full_base: Decimal,
    pub bonus: Decimal,
}

impl AaveRule {
    /// Aave v3.3's constants with a liquidation bonus.
    pub fn v3_3(bonus: Decimal) -> Self {
        AaveRule {
            close_factor: Decimal::new(5, 1),
            hf_full: Decimal::new(95, 2),
            min_full_base: Decimal::from(2000),
            bonus,
        }
    }

    /// One liquidation call at the largest size allowed; nothing when the
    /// position is healthy.
    pub fn liquidate(&self, p: &Position) -> Result<Liquidation, Overflow> {
        let Some(hf) = p.health()? else {
            return Ok(Liquidation::default());
        };
        if hf >= Decimal::ONE {
            return Ok(Liquidation::default());
        }
        let full = hf <= self.hf_full
            || p.collateral_value()? < self.min_full_base
            || p.debt_value()? < self.min_full_base;
        let fraction = if full {
            Decimal::ONE
        } else {
            self.close_factor
        };
        seize(p, mul(p.debt, fraction)?, self.bonus)
    }
}

/// Seizes for `repaid` of debt with `bonus`, capped at the collateral;
/// capped, the debt repaid is what the collateral covers, and once the
/// collateral is gone the rest of the debt is bad debt.
fn seize(p: &Position, repaid: Decimal, bonus: Decimal) -> Result<Liquidation, Overflow> {
    let per_debt_unit = mul(p.debt_price, bonus)?
        .checked_div(p.collateral_price)
        .ok_or(Overflow)?;
    let wanted = mul(repaid, per_debt_unit)?;
    if wanted <= p.collateral {
        return Ok(Liquidation {
            repaid,
            seized: wanted,
            bad_debt: Decimal::ZERO,
        });
    }
    let repaid = p.collateral.checked_div(per_debt_unit).ok_or(Overflow)?;
    Ok(Liquidation {
        repaid,
        seized: p.collateral,
        bad_debt: sub(p.debt, repaid)?,
    })
}

/// How a venue liquidates an unhealthy position (`SetVenueRule`), for
/// stress and cascade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiquidationRule {
    /// Aave v3.3 style: a close factor, full below `hf_full` or under
    /// `min_full_base`, seized with a bonus.
    Aave(AaveRule),
    /// Morpho Blue style: the whole position, the incentive from the LLTV
    /// (the venue's threshold for the collateral).
    Morpho,
    /// Exchange style: sell what restores HF to 1, with a penalty.
    Exchange { penalty: Decimal },
}

impl LiquidationRule {
    /// The rule's own liquidation of `p`.
    pub fn liquidate(&self, p: &Position) -> Result<Liquidation, Overflow> {
        match self {
            LiquidationRule::Aave(r) => r.liquidate(p),
            LiquidationRule::Morpho => morpho_liquidate(p),
            LiquidationRule::Exchange { penalty } => exchange_liquidate(p, *penalty),
        }
    }

    /// Why the rule's parameters are out of range, if they are: a close
    /// factor and `hf_full` in (0, 1], a base of at least 0, a bonus in
    /// [1, 1.5], a penalty in [0, 0.5].
    pub fn invalid(&self) -> Option<(&'static str, &'static str)> {
        let unit = |d: Decimal| d > Decimal::ZERO && d <= Decimal::ONE;
        match self {
            LiquidationRule::Aave(r) if !unit(r.close_factor) => {
                Some(("close_factor", "must be above 0 and at most 1"))
            }
            LiquidationRule::Aave(r) if !unit(r.hf_full) => {
                Some(("hf_full", "must be above 0 and at most 1"))
            }
            LiquidationRule::Aave(r) if r.min_full_base < Decimal::ZERO => {
                Some(("min_full_base", "must not be negative"))
            }
            LiquidationRule::Aave(r) if r.bonus < Decimal::ONE || r.bonus > Decimal::new(15, 1) => {
                Some(("bonus", "must be between 1 and 1.5"))
            }
            LiquidationRule::Exchange { penalty }
                if *penalty < Decimal::ZERO || *penalty > Decimal::new(5, 1) =>
            {
                Some(("penalty", "must be between 0 and 0.5"))
            }
            _ => None,
        }
    }

    /// The rule as the audit log and the views spell it.
    pub fn describe(&self) -> String {
        match self {
            LiquidationRule::Aave(r) => format!(
                "AAVE close_factor={} hf_full={} min_full_base={} bonus={}",
                r.close_factor, r.hf_full, r.min_full_base, r.bonus
            ),
            LiquidationRule::Morpho => "MORPHO".to_owned(),
            LiquidationRule::Exchange { penalty } => format!("EXCHANGE penalty={penalty}"),
        }
    }
}

/// Morpho Blue: the whole position, with the incentive
/// LIF = min(1.15, 1 / (1 − 0.3·(1 − LLTV))).
pub fn morpho_incentive(lltv: Decimal) -> Result<Decimal, Overflow> {
    let cursor = Decimal::new(3, 1);
    let denominator = sub(Decimal::ONE, mul(cursor, sub(Decimal::ONE, lltv)?)?)?;
    let lif = Decimal::ONE.checked_div(denominator).ok_or(Overflow)?;
    Ok(lif.min(Decimal::new(115, 2)))
}

/// Morpho Blue's liquidation of an unhealthy position (HF^claim < 1 with
/// the LLTV as threshold): all of the debt, seized with the incentive.
pub fn morpho_liquidate(p: &Position) -> Result<Liquidation, Overflow> {
    match p.health()? {
        Some(hf) if hf < Decimal::ONE => seize(p, p.debt, morpho_incentive(p.threshold)?),
        _ => Ok(Liquidation::default()),
    }
}

/// An exchange's liquidation: sell X of the collateral so that HF returns
/// to 1 with a penalty, (C − X)·P·LT = D − X·P/(1 + penalty), in the
/// numeraire (`debt` valued at its price). When no X restores it (LT at or
/// above 1/(1 + penalty)), or X exceeds the collateral, all of it is sold.
pub fn exchange_liquidate(p: &Position, penalty: Decimal) -> Result<Liquidation, Overflow> {
    let Some(hf) = p.health()? else {
        return Ok(Liquidation::default());
    };
    if hf >= Decimal::ONE {
        return Ok(Liquidation::default());
    }
    let price = p.collateral_price;
    let kept = Decimal::ONE
        .checked_div(add(Decimal::ONE, penalty)?)
        .ok_or(Overflow)?;
    let per_unit = mul(price, sub(kept, p.threshold)?)?;
    let gap = sub(p.debt_value()?, mul(p.collateral_value()?, p.threshold)?)?;
    let sold = if per_unit > Decimal::ZERO {
        gap.checked_div(per_unit).ok_or(Overflow)?.min(p.collateral)
    } else {
        p.collateral
    };
    // What the sale repays, in the debt's units.
    let proceeds = mul(mul(sold, price)?, kept)?;
    let repaid = proceeds
        .checked_div(p.debt_price)
        .ok_or(Overflow)?
        .min(p.debt);
    let bad_debt = if sold == p.collateral {
        sub(p.debt, repaid)?
    } else {
        Decimal::ZERO
    };
    Ok(Liquidation {
        repaid,
        seized: sold,
        bad_debt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn w1(price: &str) -> Position {
        Position {
            collateral: d("10"),
            collateral_price: d(price),
            threshold: d("0.83"),
            debt: d("12000"),
            debt_price: Decimal::ONE,
        }
    }

    /// W1: an Aave-style position at 1,400 (half closed) and 1,350 (all).
    #[test]
    fn w1_aave_closes_half_then_all() {
        let aave = AaveRule::v3_3(d("1.05"));
        assert_eq!(aave.liquidate(&w1("2000")).unwrap(), Liquidation::default());
        let l = aave.liquidate(&w1("1400")).unwrap();
        assert_eq!((l.repaid, l.seized.round_dp(6)), (d("6000"), d("4.5")));
        let after = Position {
            collateral: d("10") - l.seized,
            debt: d("12000") - l.repaid,
            ..w1("1400")
        };
        assert_eq!(after.health().unwrap().unwrap().round_dp(6), d("1.065167"));
        let l = aave.liquidate(&w1("1350")).unwrap();
        assert_eq!(
            (l.repaid, l.seized.round_dp(6)),
            (d("12000"), d("9.333333"))
        );
        assert_eq!(l.bad_debt, Decimal::ZERO);
    }

    /// Collateral that cannot cover the bonus: the debt repaid is what it
    /// covers, the rest is bad debt.
    #[test]
    fn capped_seizure_leaves_bad_debt() {
        let aave = AaveRule::v3_3(d("1.05"));
        let l = aave.liquidate(&w1("1000")).unwrap();
        assert_eq!(l.seized, d("10"));
        assert_eq!(l.repaid.round_dp(6), d("9523.809524"));
        assert_eq!((l.repaid + l.bad_debt).round_dp(6), d("12000"));
    }

    #[test]
    fn morpho_incentives() {
        for (lltv, lif) in [
            ("0.86", "1.043841"),
            ("0.77", "1.074114"),
            ("0.625", "1.126761"),
            ("0.385", "1.15"),
        ] {
            assert_eq!(
                morpho_incentive(d(lltv)).unwrap().round_dp(6),
                d(lif),
                "{lltv}"
            );
        }
        let p = Position {
            threshold: d("0.86"),
            ..w1("1350")
        };
        let l = morpho_liquidate(&p).unwrap();
        assert_eq!(l.repaid, d("12000"));
        // 12,000 × 1/0.958 / 1,350.
        assert_eq!(l.seized.round_dp(6), d("9.278590"));
    }

    /// An exchange sells just enough to restore HF 1 after its penalty.
    #[test]
    fn an_exchange_restores_health_to_one() {
        let p = w1("1400");
        let l = exchange_liquidate(&p, d("0.02")).unwrap();
        let after = Position {
            collateral: p.collateral - l.seized,
            debt: p.debt - l.repaid,
            ..p
        };
        assert_eq!(after.health().unwrap().unwrap().round_dp(9), Decimal::ONE);
        assert_eq!(l.bad_debt, Decimal::ZERO);
        // A threshold above 1/(1 + penalty): nothing restores it, all is sold.
        let q = Position {
            threshold: d("0.99"),
            debt: d("14000"),
            ..w1("1400")
        };
        assert_eq!(exchange_liquidate(&q, d("0.02")).unwrap().seized, d("10"));
    }
}
