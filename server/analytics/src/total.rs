//! Totals that do not depend on the order they were summed in.
//!
//! Floating-point addition is not associative: summing the same figures
//! in another order (participants numbered differently after a restart)
//! can change the last bit. A [`Total`] adds fixed-point integers instead
//! (nano-units of the figure, 1e-9), which is exact and associative, so a
//! report's totals are bit-identical however the participants are ordered.

/// Nano-units per unit.
const SCALE: f64 = 1e9;
/// Nano-units that fit an i64 with room for rounding.
const FAST_BELOW: f64 = 9.0e18;

/// A sum of figures, exact to 1e-9 of a unit, order-independent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Total(i128);

impl Total {
    /// `x` rounded to a nano-unit (saturating beyond ±1.7e29 units, far
    /// above any figure a ledger's decimals can hold).
    pub fn of(x: f64) -> Total {
        let y = x * SCALE;
        if y.abs() < FAST_BELOW {
            // Rounded half away from zero, through i64: one instruction
            // where i128 and `round` are calls.
            Total(i128::from((y + 0.5f64.copysign(y)) as i64))
        } else if y.is_finite() {
            Total(y.round() as i128)
        } else {
            Total(0)
        }
    }

    pub fn add(&mut self, x: f64) {
        self.0 = self.0.saturating_add(Total::of(x).0);
    }

    pub fn merge(&mut self, other: Total) {
        self.0 = self.0.saturating_add(other.0);
    }

    pub fn value(self) -> f64 {
        self.0 as f64 / SCALE
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_does_not_change_a_total() {
        let xs = [0.1, 1e12, -3.3e-3, 7.123456789, 2.5e7, -1e12];
        let mut forward = Total::default();
        xs.iter().for_each(|x| forward.add(*x));
        let mut backward = Total::default();
        xs.iter().rev().for_each(|x| backward.add(*x));
        assert_eq!(forward, backward);
        assert!((forward.value() - (0.1 - 3.3e-3 + 7.123456789 + 2.5e7)).abs() < 1e-6);
        assert_eq!(Total::of(f64::NAN), Total::default());
        // Both paths round half away from zero, to the nano-unit.
        assert_eq!(Total::of(2.5e-9).0, 3);
        assert_eq!(Total::of(-2.5e-9).0, -3);
        assert_eq!(Total::of(1e12).0, 1_000_000_000_000_000_000_000);
        assert_eq!(Total::of(-1e12).0, -1_000_000_000_000_000_000_000);
    }
}
