//! Decimal amounts: parsing with bounds, and checked arithmetic.
//!
//! Amounts come from clients as strings. They are parsed strictly (digits and
//! at most one point, no sign, no exponent) and bounded so that every sum the
//! ledger forms stays far inside `Decimal`'s range; arithmetic is checked all
//! the same and an overflow is an error, never a panic.

use rust_decimal::{Decimal, RoundingStrategy};

/// Most decimal places in a quantity.
pub const QUANTITY_SCALE_MAX: u32 = 10;
/// Most integer digits in a quantity (quantities are below 10^15).
pub const QUANTITY_INT_DIGITS_MAX: usize = 15;
/// The longest amount string accepted (leading zeros included).
pub const AMOUNT_STR_LEN_MAX: usize = 40;
/// Most decimal places in a ratio or a percentage.
pub const RATIO_SCALE_MAX: u32 = 6;
/// The largest reuse ratio a limit may allow.
pub const REUSE_RATIO_MAX: u32 = 1000;

/// Why a string is not an acceptable amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("must not be empty")]
    Empty,
    #[error("is not a plain decimal number (digits with at most one '.')")]
    Malformed,
    #[error("has more than {0} decimal places")]
    TooPrecise(u32),
    #[error("has more than {0} integer digits")]
    TooLarge(usize),
    #[error("must be greater than zero")]
    NotPositive,
    #[error("is out of range ({0})")]
    OutOfRange(&'static str),
}

/// Parses a non-negative decimal with at most `scale_max` places and
/// `int_digits_max` integer digits.
pub fn parse_decimal(
    s: &str,
    scale_max: u32,
    int_digits_max: usize,
) -> Result<Decimal, AmountError> {
    if s.is_empty() {
        return Err(AmountError::Empty);
    }
    if s.len() > AMOUNT_STR_LEN_MAX {
        return Err(AmountError::TooLarge(int_digits_max));
    }
    let (int_part, frac_part) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(int_part) || frac_part.is_some_and(|f| !digits(f)) {
        return Err(AmountError::Malformed);
    }
    let frac_len = frac_part.map_or(0, str::len);
    if frac_len > scale_max as usize {
        return Err(AmountError::TooPrecise(scale_max));
    }
    if int_part.trim_start_matches('0').len() > int_digits_max {
        return Err(AmountError::TooLarge(int_digits_max));
    }
    // Bounded above: at most 15 + 10 digits, well inside Decimal's 28.
    Decimal::from_str_exact(s)
        .map(|d| d.normalize())
        .map_err(|_| AmountError::Malformed)
}

/// Parses a quantity that may be zero (absolute values from brokers).
pub fn parse_quantity(s: &str) -> Result<Decimal, AmountError> {
    parse_decimal(s, QUANTITY_SCALE_MAX, QUANTITY_INT_DIGITS_MAX)
}

/// Parses a strictly positive quantity (what a check asks for, a cap).
pub fn parse_positive_quantity(s: &str) -> Result<Decimal, AmountError> {
    let q = parse_quantity(s)?;
    if q.is_zero() {
        return Err(AmountError::NotPositive);
    }
    Ok(q)
}

/// Parses a reuse ratio in (0, [`REUSE_RATIO_MAX`]].
pub fn parse_ratio(s: &str) -> Result<Decimal, AmountError> {
    let r = parse_decimal(s, RATIO_SCALE_MAX, 4)?;
    if r.is_zero() {
        return Err(AmountError::NotPositive);
    }
    if r > Decimal::from(REUSE_RATIO_MAX) {
        return Err(AmountError::OutOfRange("at most 1000"));
    }
    Ok(r)
}

/// Parses a warning level in percent, in (0, 100].
pub fn parse_percent(s: &str) -> Result<Decimal, AmountError> {
    let p = parse_decimal(s, RATIO_SCALE_MAX, 3)?;
    if p.is_zero() {
        return Err(AmountError::NotPositive);
    }
    if p > Decimal::ONE_HUNDRED {
        return Err(AmountError::OutOfRange("at most 100"));
    }
    Ok(p)
}

/// An arithmetic result that did not fit. Unreachable within the input
/// bounds above; reported as an error rather than a panic all the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("arithmetic overflow")]
pub struct Overflow;

/// `a + b`, checked.
pub fn add(a: Decimal, b: Decimal) -> Result<Decimal, Overflow> {
    a.checked_add(b).ok_or(Overflow)
}

/// `a - b`, checked.
pub fn sub(a: Decimal, b: Decimal) -> Result<Decimal, Overflow> {
    a.checked_sub(b).ok_or(Overflow)
}

/// `a * b`, checked.
pub fn mul(a: Decimal, b: Decimal) -> Result<Decimal, Overflow> {
    a.checked_mul(b).ok_or(Overflow)
}

/// `usage / cap` rounded up to 6 places, or `None` when the cap is zero.
/// Up, so that a breach never shows as the limit itself (1.0000001 is
/// 1.000001, not 1).
pub fn utilization(usage: Decimal, cap: Decimal) -> Option<Decimal> {
    if cap.is_zero() {
        return None;
    }
    usage.checked_div(cap).map(|u| {
        u.round_dp_with_strategy(RATIO_SCALE_MAX, RoundingStrategy::ToPositiveInfinity)
            .normalize()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_strictly() {
        assert_eq!(parse_quantity("100").unwrap(), Decimal::from(100));
        assert_eq!(parse_quantity("0.5").unwrap().to_string(), "0.5");
        assert_eq!(parse_quantity("1.50").unwrap().to_string(), "1.5");
        assert_eq!(parse_quantity("0").unwrap(), Decimal::ZERO);
        for bad in [
            "1e5", "NaN", "1.2.3", "-1", "+1", " 1", "1 ", ".5", "5.", "0x10", "∞",
        ] {
            assert_eq!(parse_quantity(bad), Err(AmountError::Malformed), "{bad}");
        }
        assert_eq!(parse_quantity(""), Err(AmountError::Empty));
        assert_eq!(
            parse_quantity("0.12345678901"),
            Err(AmountError::TooPrecise(10))
        );
        assert_eq!(
            parse_quantity("1000000000000000"),
            Err(AmountError::TooLarge(15))
        );
        assert!(parse_quantity("999999999999999.9999999999").is_ok());
        assert!(parse_quantity("000000000000000000001").is_ok());
        assert!(parse_quantity(&"0".repeat(41)).is_err());
        assert_eq!(
            parse_positive_quantity("0.0"),
            Err(AmountError::NotPositive)
        );
    }

    #[test]
    fn ratios_and_percents_are_bounded() {
        assert_eq!(parse_ratio("1.4").unwrap().to_string(), "1.4");
        assert!(parse_ratio("0").is_err());
        assert!(parse_ratio("1000.000001").is_err());
        assert!(parse_ratio("1000").is_ok());
        assert!(parse_percent("80").is_ok());
        assert!(parse_percent("100.5").is_err());
    }

    #[test]
    fn largest_values_do_not_overflow_products() {
        let q = parse_quantity("999999999999999.9999999999").unwrap();
        let r = parse_ratio("1000").unwrap();
        assert!(mul(q, r).is_ok());
        assert!(add(q, q).is_ok());
        assert_eq!(utilization(Decimal::ONE, Decimal::ZERO), None);
        // A breach by the smallest quantity is never rounded down to the
        // limit itself.
        let over = parse_quantity("100.0000000001").unwrap();
        let cap = parse_quantity("100").unwrap();
        assert_eq!(utilization(over, cap).unwrap().to_string(), "1.000001");
        assert_eq!(utilization(cap, cap).unwrap().to_string(), "1");
        assert_eq!(
            utilization(Decimal::ONE, Decimal::TWO).unwrap().to_string(),
            "0.5"
        );
    }
}
