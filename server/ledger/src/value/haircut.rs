//! Haircuts that scale with volatility and never slam the market.
//!
//! From accepted daily closes, r_t = ln(P_t / P_{t−1}):
//!
//! ```text
//! σ²_t     = λ·σ²_{t−1} + (1 − λ)·r_t²          (EWMA, RiskMetrics λ = 0.94)
//! h_model  = min(h_max, z·σ_t·√mpor)             z = 2.5758 (99.5%), mpor = 2 days
//! h_floor  = max(h_min, z·σ_floor·√mpor)         σ_floor: a long-run daily volatility
//! h_target = max(h_floor, h_model)
//! h_t      = (1 + b)·h_target                    on the first day
//!            h_target                            if h_target ≥ h_{t−1}          (raise at once)
//!            h_{t−1}                             if (1 + b)·h_target ≥ h_{t−1}  (the buffer absorbs it)
//!            max((1 + b)·h_target, h_{t−1} − step)  otherwise                  (lower slowly)
//! ```
//!
//! with b = 0.25 (EMIR's anti-procyclical buffer) and step = 0.01 a day.
//! Raising a haircut liquidates nobody (it only stops new risk), so it
//! rises at once and falls slowly: leverage is not rebuilt into the rebound.
//!
//! The state is a few decimals and every step is decimal arithmetic
//! (rust_decimal's `ln` and `sqrt`), so a replay of the same closes gives
//! the same haircuts to the last digit.

use rust_decimal::{Decimal, MathematicalOps};

use super::Overflow;
use crate::amount::{add, mul, sub};

/// The model's parameters. [`HaircutParams::default`] is the specified
/// model (λ 0.94, z 2.5758, mpor 2, b 0.25, step 0.01).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaircutParams {
    pub lambda: Decimal,
    pub z: Decimal,
    pub mpor_days: Decimal,
    pub buffer: Decimal,
    pub step: Decimal,
    pub h_min: Decimal,
    pub h_max: Decimal,
    /// The long-run daily volatility the floor is computed from.
    pub sigma_floor: Decimal,
}

impl Default for HaircutParams {
    fn default() -> Self {
        HaircutParams {
            lambda: Decimal::new(94, 2),
            z: Decimal::new(25758, 4),
            mpor_days: Decimal::TWO,
            buffer: Decimal::new(25, 2),
            step: Decimal::new(1, 2),
            h_min: Decimal::new(10, 2),
            h_max: Decimal::new(90, 2),
            sigma_floor: Decimal::new(35, 3),
        }
    }
}

/// Why a step was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HaircutError {
    #[error("a price must be positive")]
    NonPositivePrice,
    #[error("arithmetic overflow")]
    Overflow,
}

impl From<Overflow> for HaircutError {
    fn from(_: Overflow) -> Self {
        HaircutError::Overflow
    }
}

/// Which rule set the published haircut on a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaircutRule {
    Initial,
    Raise,
    Hold,
    StepDown,
}

/// The model's state for one asset: the EWMA variance, the last close and
/// the haircut in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Haircut {
    variance: Decimal,
    last_close: Option<Decimal>,
    published: Option<Decimal>,
}

/// One day's figures, for the audit trail and the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaircutStep {
    pub sigma: Decimal,
    pub h_model: Decimal,
    pub h_target: Decimal,
    pub published: Decimal,
    pub rule: HaircutRule,
}

impl Haircut {
    /// A model seeded with a daily volatility (σ_{−1}).
    pub fn seeded(sigma: Decimal) -> Result<Self, HaircutError> {
        Ok(Haircut {
            variance: mul(sigma, sigma)?,
            last_close: None,
            published: None,
        })
    }

    /// The haircut in force, once a step has published one.
    pub fn published(&self) -> Option<Decimal> {
        self.published
    }

    /// The state as (variance, last close, published haircut), for a
    /// snapshot.
    pub fn parts(&self) -> (Decimal, Option<Decimal>, Option<Decimal>) {
        (self.variance, self.last_close, self.published)
    }

    /// A state read back from [`Haircut::parts`].
    pub fn from_parts(
        variance: Decimal,
        last_close: Option<Decimal>,
        published: Option<Decimal>,
    ) -> Self {
        Haircut {
            variance,
            last_close,
            published,
        }
    }

    /// Takes the day's accepted close. The first close only sets the base
    /// (there is no return yet).
    pub fn close(
        &mut self,
        params: &HaircutParams,
        price: Decimal,
    ) -> Result<Option<HaircutStep>, HaircutError> {
        if price <= Decimal::ZERO {
            return Err(HaircutError::NonPositivePrice);
        }
        let Some(last) = self.last_close.replace(price) else {
            return Ok(None);
        };
        let ratio = price.checked_div(last).ok_or(Overflow)?;
        let r = ratio.checked_ln().ok_or(Overflow)?;
        self.step(params, r).map(Some)
    }

    /// Takes the day's log return r_t.
    pub fn step(
        &mut self,
        params: &HaircutParams,
        r: Decimal,
    ) -> Result<HaircutStep, HaircutError> {
        let p = params;
        self.variance = add(
            mul(p.lambda, self.variance)?,
            mul(sub(Decimal::ONE, p.lambda)?, mul(r, r)?)?,
        )?;
        let sigma = self.variance.sqrt().ok_or(Overflow)?;
        let horizon = p.mpor_days.sqrt().ok_or(Overflow)?;
        let h_model = mul(mul(p.z, sigma)?, horizon)?.min(p.h_max);
        let h_floor = mul(mul(p.z, p.sigma_floor)?, horizon)?.max(p.h_min);
        let h_target = h_floor.max(h_model);
        let buffered = mul(add(Decimal::ONE, p.buffer)?, h_target)?;
        let (published, rule) = match self.published {
            None => (buffered, HaircutRule::Initial),
            Some(prev) if h_target >= prev => (h_target, HaircutRule::Raise),
            Some(prev) if buffered >= prev => (prev, HaircutRule::Hold),
            Some(prev) => (buffered.max(sub(prev, p.step)?), HaircutRule::StepDown),
        };
        self.published = Some(published);
        Ok(HaircutStep {
            sigma,
            h_model,
            h_target,
            published,
            rule,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    /// W3: a haircut through a crash, every column to 6 decimal places.
    #[test]
    fn w3_a_haircut_through_a_crash() {
        use HaircutRule::*;
        #[rustfmt::skip]
        let table = [
            ("0.010", "0.029189", "0.106328", "0.127496", "0.159369", Initial),
            ("0.005", "0.028326", "0.103185", "0.127496", "0.159369", Hold),
            ("-0.004", "0.027481", "0.100105", "0.127496", "0.159369", Hold),
            ("0.006", "0.026684", "0.097203", "0.127496", "0.159369", Hold),
            ("-0.002", "0.025876", "0.094259", "0.127496", "0.159369", Hold),
            ("-0.150", "0.044490", "0.162066", "0.162066", "0.162066", Raise),
            ("0.030", "0.043756", "0.159393", "0.159393", "0.162066", Hold),
            ("-0.080", "0.046731", "0.170227", "0.170227", "0.170227", Raise),
            ("0.000", "0.045307", "0.165041", "0.165041", "0.170227", Hold),
            ("0.000", "0.043927", "0.160013", "0.160013", "0.170227", Hold),
            ("0.000", "0.042589", "0.155139", "0.155139", "0.170227", Hold),
            ("0.000", "0.041291", "0.150413", "0.150413", "0.170227", Hold),
            ("0.000", "0.040033", "0.145830", "0.145830", "0.170227", Hold),
            ("0.000", "0.038814", "0.141388", "0.141388", "0.170227", Hold),
            ("0.002", "0.037634", "0.137092", "0.137092", "0.170227", Hold),
            ("0.002", "0.036491", "0.132928", "0.132928", "0.166160", StepDown),
            ("0.002", "0.035383", "0.128891", "0.128891", "0.161113", StepDown),
            ("0.002", "0.034309", "0.124977", "0.127496", "0.159369", StepDown),
            ("0.002", "0.033267", "0.121183", "0.127496", "0.159369", Hold),
            ("0.002", "0.032257", "0.117505", "0.127496", "0.159369", Hold),
        ];
        let params = HaircutParams::default();
        let mut h = Haircut::seeded(d("0.03")).unwrap();
        for (t, (r, sigma, model, target, published, rule)) in table.into_iter().enumerate() {
            let s = h.step(&params, d(r)).unwrap();
            let got = (
                s.sigma.round_dp(6),
                s.h_model.round_dp(6),
                s.h_target.round_dp(6),
                s.published.round_dp(6),
                s.rule,
            );
            assert_eq!(
                got,
                (d(sigma), d(model), d(target), d(published), rule),
                "t = {t}"
            );
        }
        // h_floor of the worked case.
        let p = &params;
        let floor = p.z * p.sigma_floor * p.mpor_days.sqrt().unwrap();
        assert_eq!(floor.round_dp(6), d("0.127496"));
    }

    /// Closes give the returns' log: the same haircuts as the returns.
    #[test]
    fn closes_are_taken_as_log_returns() {
        let params = HaircutParams::default();
        let mut by_close = Haircut::seeded(d("0.03")).unwrap();
        let mut by_return = by_close.clone();
        assert_eq!(by_close.close(&params, d("2000")), Ok(None), "a base first");
        for price in ["2100", "1800", "1850", "1200", "1300"] {
            let before = by_close.last_close.unwrap();
            let a = by_close.close(&params, d(price)).unwrap().unwrap();
            let b = by_return.step(&params, (d(price) / before).ln()).unwrap();
            assert_eq!(a, b);
        }
        assert_eq!(
            by_close.close(&params, Decimal::ZERO),
            Err(HaircutError::NonPositivePrice)
        );
    }
}
