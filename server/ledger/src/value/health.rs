//! Health figures of one participant, and the prices at which they reach 1.
//!
//! ```text
//! HF^claim_{p,v} = Σ_a C_{p,v,a}·P_a·LT_{v,a} / D_{p,v}        what venue v itself sees
//! Ĉ_{p,v,a}      = C_{p,v,a} · min(1, O_{p,a} / Σ_w C_{p,w,a})   the share v could really seize
//! HF^true_{p,v}  = Σ_a Ĉ_{p,v,a}·P_a·LT_{v,a} / D_{p,v}         if every venue called at once
//! HF^eco_p       = Σ_a O_{p,a}·P_a·(1 − h_a) / Σ_v D_{p,v}      nothing counted twice
//! ```
//!
//! With no debt a health figure is [`Health::NoDebt`] (+∞): never a
//! division by zero.

use rust_decimal::Decimal;

use super::Overflow;
use crate::amount::{add, mul, sub};

/// A health figure: collateral value over debt value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    /// Debt is positive: the ratio.
    Ratio(Decimal),
    /// No debt: +∞ ("no debt", never a division by zero).
    NoDebt,
    /// A price the figure needs is missing: not computable (never taken
    /// as healthy).
    Unknown,
}

impl Health {
    /// `numerator / debt`, or [`Health::NoDebt`] when `debt` is zero or
    /// less (a reported 0 means "no debt").
    pub fn of(numerator: Decimal, debt: Decimal) -> Result<Health, Overflow> {
        if debt <= Decimal::ZERO {
            return Ok(Health::NoDebt);
        }
        numerator
            .checked_div(debt)
            .map(Health::Ratio)
            .ok_or(Overflow)
    }

    /// Below 1: liquidatable (a venue's figure) or insolvent in value
    /// (Interlock's).
    pub fn is_below_one(self) -> bool {
        matches!(self, Health::Ratio(r) if r < Decimal::ONE)
    }
}

/// One collateral line as a venue values it: a quantity, its price and the
/// venue's liquidation threshold for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pledged {
    pub quantity: Decimal,
    pub price: Decimal,
    pub threshold: Decimal,
}

/// Σ quantity · price · threshold: a venue's collateral value.
pub fn pledged_value(lines: &[Pledged]) -> Result<Decimal, Overflow> {
    lines.iter().try_fold(Decimal::ZERO, |sum, l| {
        add(sum, mul(mul(l.quantity, l.price)?, l.threshold)?)
    })
}

/// HF^claim_{p,v}: what venue v sees of p, from p's commitments there.
pub fn hf_claim(lines: &[Pledged], debt: Decimal) -> Result<Health, Overflow> {
    Health::of(pledged_value(lines)?, debt)
}

/// Ĉ_{p,v,a}: the part of a commitment the venue could really seize if
/// every venue called at once, the owned quantity shared pro rata over
/// the commitments of the asset on every venue.
pub fn seizable(
    committed: Decimal,
    owned: Decimal,
    committed_everywhere: Decimal,
) -> Result<Decimal, Overflow> {
    if committed_everywhere <= owned || committed_everywhere <= Decimal::ZERO {
        return Ok(committed);
    }
    let share = owned.checked_div(committed_everywhere).ok_or(Overflow)?;
    mul(committed, share)
}

/// One asset a participant owns as Interlock values it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owned {
    pub quantity: Decimal,
    pub price: Decimal,
    pub haircut: Decimal,
}

/// Σ O·P·(1 − h): HF^eco's numerator.
pub fn owned_value(lines: &[Owned]) -> Result<Decimal, Overflow> {
    lines.iter().try_fold(Decimal::ZERO, |sum, l| {
        add(
            sum,
            mul(mul(l.quantity, l.price)?, sub(Decimal::ONE, l.haircut)?)?,
        )
    })
}

/// HF^eco_p: owned collateral after haircuts over all debt everywhere.
pub fn hf_eco(owned: &[Owned], total_debt: Decimal) -> Result<Health, Overflow> {
    Health::of(owned_value(owned)?, total_debt)
}

/// The implied liability where nothing is reported for (p, v): the
/// commitments assumed used up to the venue's LTV (`threshold` here is
/// the LTV, or the LT for a venue with none). Unknown is conservative,
/// never zero.
pub fn implied_liability(lines: &[Pledged]) -> Result<Decimal, Overflow> {
    pledged_value(lines)
}

/// The price of one collateral line at which a venue's HF^claim reaches 1,
/// the other lines' prices fixed: (D − Σ_{others} C·P·LT) / (C_a·LT_a).
/// `None` when the line cannot bring it to 1 (no quantity or threshold),
/// or when no positive price would (the others alone cover the debt).
pub fn venue_liquidation_price(
    line: Pledged,
    others: &[Pledged],
    debt: Decimal,
) -> Result<Option<Decimal>, Overflow> {
    let per_unit = mul(line.quantity, line.threshold)?;
    if per_unit <= Decimal::ZERO {
        return Ok(None);
    }
    let left = sub(debt, pledged_value(others)?)?;
    if left <= Decimal::ZERO {
        return Ok(None);
    }
    left.checked_div(per_unit).map(Some).ok_or(Overflow)
}

/// Interlock's liquidation price of asset a: the P_a at which HF^eco
/// reaches 1, the others fixed:
/// P*_a = (Σ_v D − Σ_{c≠a} O_c·P_c·(1 − h_c)) / (O_a·(1 − h_a)).
/// Valid only when no debt is in a itself (then it is not linear: the
/// caller reports "n/a"). `None` as for [`venue_liquidation_price`].
pub fn eco_liquidation_price(
    line: Owned,
    others: &[Owned],
    total_debt: Decimal,
) -> Result<Option<Decimal>, Overflow> {
    let per_unit = mul(line.quantity, sub(Decimal::ONE, line.haircut)?)?;
    if per_unit <= Decimal::ZERO {
        return Ok(None);
    }
    let left = sub(total_debt, owned_value(others)?)?;
    if left <= Decimal::ZERO {
        return Ok(None);
    }
    left.checked_div(per_unit).map(Some).ok_or(Overflow)
}

/// Value headroom for new debt d: the largest d with N / (ΣD + d) ≥ H,
/// i.e. N/H − ΣD; zero when there is none. `min_health` must be positive.
pub fn value_headroom(
    numerator: Decimal,
    total_debt: Decimal,
    min_health: Decimal,
) -> Result<Decimal, Overflow> {
    debug_assert!(min_health > Decimal::ZERO);
    let reachable = numerator.checked_div(min_health).ok_or(Overflow)?;
    Ok(sub(reachable, total_debt)?.max(Decimal::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn r6(h: Health) -> Decimal {
        match h {
            Health::Ratio(r) => r.round_dp(6),
            other => panic!("expected a ratio, got {other:?}"),
        }
    }

    /// W1: 10 ETH at 2,000, LT 0.83, debt 12,000 USDC.
    #[test]
    fn w1_an_aave_style_position() {
        let eth = |price: &str| Pledged {
            quantity: d("10"),
            price: d(price),
            threshold: d("0.83"),
        };
        assert_eq!(
            r6(hf_claim(&[eth("2000")], d("12000")).unwrap()),
            d("1.383333")
        );
        let p = venue_liquidation_price(eth("2000"), &[], d("12000"))
            .unwrap()
            .unwrap();
        assert_eq!(p.round_dp(3), d("1445.783"));
        assert_eq!(
            r6(hf_claim(&[eth("1400")], d("12000")).unwrap()),
            d("0.968333")
        );
        assert_eq!(
            r6(hf_claim(&[eth("1350")], d("12000")).unwrap()),
            d("0.933750")
        );
    }

    /// W2: the double pledge. 100 ETH at 2,000 pledged whole on A (LT 0.83,
    /// debt 100,000) and on B (LLTV 0.86, debt 100,000); haircut 0.17.
    #[test]
    fn w2_the_double_pledge_fools_every_venue_but_not_interlock() {
        let (price, debt) = (d("2000"), d("100000"));
        let on = |threshold: &str, quantity: Decimal| Pledged {
            quantity,
            price,
            threshold: d(threshold),
        };
        let full = d("100");
        assert_eq!(r6(hf_claim(&[on("0.83", full)], debt).unwrap()), d("1.66"));
        assert_eq!(r6(hf_claim(&[on("0.86", full)], debt).unwrap()), d("1.72"));
        // Each venue believes its position survives a fall to its
        // liquidation price: 39.76% and 41.86%.
        for (lt, fall) in [("0.83", "0.397590"), ("0.86", "0.418605")] {
            let p = venue_liquidation_price(on(lt, full), &[], debt)
                .unwrap()
                .unwrap();
            assert_eq!((Decimal::ONE - p / price).round_dp(6), d(fall));
        }
        let c_hat = seizable(full, full, d("200")).unwrap();
        assert_eq!(c_hat, d("50"));
        assert_eq!(r6(hf_claim(&[on("0.83", c_hat)], debt).unwrap()), d("0.83"));
        assert_eq!(r6(hf_claim(&[on("0.86", c_hat)], debt).unwrap()), d("0.86"));
        let owned = [Owned {
            quantity: full,
            price,
            haircut: d("0.17"),
        }];
        assert_eq!(r6(hf_eco(&owned, d("200000")).unwrap()), d("0.83"));
        // Before B's loan: A's 100,000 only. B could have lent 66,000 at
        // MIN_HF_ECO 1.0, 50,909.09 at 1.10.
        let n = owned_value(&owned).unwrap();
        assert_eq!(n, d("166000"));
        assert_eq!(value_headroom(n, debt, d("1")).unwrap(), d("66000"));
        assert_eq!(
            value_headroom(n, debt, d("1.10")).unwrap().round_dp(2),
            d("50909.09")
        );
    }

    #[test]
    fn no_debt_is_no_division() {
        assert_eq!(Health::of(d("5"), Decimal::ZERO), Ok(Health::NoDebt));
        assert!(!Health::NoDebt.is_below_one());
        assert!(Health::Ratio(d("0.99")).is_below_one());
        assert!(Health::Ratio(d("1")) < Health::NoDebt);
        let owned = Owned {
            quantity: d("1"),
            price: d("10"),
            haircut: d("0.1"),
        };
        // The others alone cover the debt: no price brings HF^eco to 1.
        assert_eq!(eco_liquidation_price(owned, &[owned], d("5")), Ok(None));
        // 9 of value after haircut against a debt of 18 with nothing else:
        // HF^eco is 1 at a price of 20.
        assert_eq!(
            eco_liquidation_price(owned, &[], d("18")),
            Ok(Some(d("20")))
        );
        assert_eq!(value_headroom(d("10"), d("20"), d("1")), Ok(Decimal::ZERO));
        assert_eq!(
            seizable(d("5"), d("10"), d("8")),
            Ok(d("5")),
            "not over-pledged"
        );
        assert_eq!(
            seizable(d("5"), d("0"), d("8")),
            Ok(d("0")),
            "nothing owned"
        );
    }

    #[test]
    fn overflow_is_an_error() {
        let huge = Pledged {
            quantity: Decimal::MAX,
            price: Decimal::MAX,
            threshold: Decimal::ONE,
        };
        assert_eq!(hf_claim(&[huge], Decimal::ONE), Err(Overflow));
    }
}
