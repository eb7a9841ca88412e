//! Which oracle quotes become a price, and when an asset's price may be
//! used for new risk.
//!
//! Rules (each a setting in [`PriceRules`]):
//! - a quote older than its asset class's `max_age`, or published more
//!   than `future_skew` ahead of the ledger's clock, is refused;
//! - the price is the median of the fresh quotes of distinct oracles (the
//!   newest quote of each);
//! - a move of more than `jump` from the last accepted price is held (and
//!   alerted by the caller) unless at least `agree_oracles` oracles' fresh
//!   quotes agree with it within `agree`;
//! - an asset is FRESH, STALE (no fresh quote: never priced, or its quotes
//!   aged out) or RECOVERING (a fresh price arrived after STALE), and
//!   becomes FRESH again `grace` after it recovered. Only a FRESH price
//!   may be used for new risk; risk reduction never needs one.
//!
//! Every decision is a function of the quotes and the clock the caller
//! passes, so a replay of the same commands reaches the same prices.

use rust_decimal::Decimal;

use super::Overflow;
use crate::amount::{add, sub};
use crate::command::UnixMs;

/// Most oracles whose quotes one asset keeps.
pub const ORACLES_PER_ASSET_MAX: usize = 16;

/// How volatile an asset is taken to be: its quotes' maximum age, and
/// later its haircut's class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AssetClass {
    Stable,
    Major,
    Alt,
}

/// The acceptance rules' settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceRules {
    pub max_age_stable_ms: u64,
    pub max_age_major_ms: u64,
    pub max_age_alt_ms: u64,
    /// How far ahead of the ledger's clock a quote may be published.
    pub future_skew_ms: u64,
    /// A larger move from the last accepted price is held...
    pub jump: Decimal,
    /// ...unless this many oracles agree...
    pub agree_oracles: usize,
    /// ...within this share of the new price.
    pub agree: Decimal,
    /// How long a recovered price waits before it is FRESH.
    pub grace_ms: u64,
}

impl Default for PriceRules {
    fn default() -> Self {
        PriceRules {
            max_age_stable_ms: 300_000,
            max_age_major_ms: 60_000,
            max_age_alt_ms: 60_000,
            future_skew_ms: 2_000,
            jump: Decimal::new(25, 2),
            agree_oracles: 2,
            agree: Decimal::new(1, 2),
            grace_ms: 30_000,
        }
    }
}

impl PriceRules {
    pub fn max_age_ms(&self, class: AssetClass) -> u64 {
        match class {
            AssetClass::Stable => self.max_age_stable_ms,
            AssetClass::Major => self.max_age_major_ms,
            AssetClass::Alt => self.max_age_alt_ms,
        }
    }
}

/// Where an asset's price stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceState {
    /// A fresh, accepted price: usable for new risk.
    Fresh,
    /// No fresh price (never priced, or its quotes aged out).
    Stale,
    /// A fresh price arrived after STALE; FRESH once the grace has passed.
    Recovering { since_ms: UnixMs },
}

/// One oracle's quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote<O> {
    pub oracle: O,
    pub price: Decimal,
    pub published_ms: UnixMs,
}

/// Why a quote was refused outright (it is not kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    NotPositive,
    TooOld,
    FromTheFuture,
    /// Published before this oracle's last quote.
    OutOfOrder,
    /// A new oracle beyond [`ORACLES_PER_ASSET_MAX`].
    TooManyOracles,
}

/// What a quote did to the asset's price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuoteOutcome {
    Refused(Refused),
    /// The price is now `price` (perhaps unchanged).
    Accepted {
        price: Decimal,
    },
    /// The quotes' median moved more than the jump guard allows from
    /// `last` and too few oracles agree: the last price stays.
    Held {
        median: Decimal,
        last: Decimal,
    },
}

/// One asset's quotes, accepted price and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetPrice<O> {
    pub class: AssetClass,
    /// The newest quote of each oracle, at most [`ORACLES_PER_ASSET_MAX`].
    pub(crate) quotes: Vec<Quote<O>>,
    /// The last accepted price and when it was accepted.
    pub(crate) accepted: Option<(Decimal, UnixMs)>,
    pub(crate) state: PriceState,
}

impl<O: Clone + Eq> AssetPrice<O> {
    /// An asset never priced: STALE.
    pub fn new(class: AssetClass) -> Self {
        AssetPrice {
            class,
            quotes: Vec::new(),
            accepted: None,
            state: PriceState::Stale,
        }
    }

    pub fn state(&self) -> PriceState {
        self.state
    }

    /// The last accepted price, whatever the state (for views and
    /// risk-reducing checks).
    pub fn last_price(&self) -> Option<Decimal> {
        self.accepted.map(|(p, _)| p)
    }

    /// The price, only if it may be used for new risk.
    pub fn fresh_price(&self) -> Option<Decimal> {
        match self.state {
            PriceState::Fresh => self.last_price(),
            _ => None,
        }
    }

    pub fn quotes(&self) -> &[Quote<O>] {
        &self.quotes
    }

    /// When the last price was accepted.
    pub fn accepted_at_ms(&self) -> Option<UnixMs> {
        self.accepted.map(|(_, at)| at)
    }

    /// Takes a quote at `at_ms` (the ledger's clock).
    pub fn quote(
        &mut self,
        rules: &PriceRules,
        at_ms: UnixMs,
        quote: Quote<O>,
    ) -> Result<QuoteOutcome, Overflow> {
        if quote.price <= Decimal::ZERO {
            return Ok(QuoteOutcome::Refused(Refused::NotPositive));
        }
        let max_age = rules.max_age_ms(self.class) as i64;
        if at_ms.saturating_sub(quote.published_ms) > max_age {
            return Ok(QuoteOutcome::Refused(Refused::TooOld));
        }
        if quote.published_ms.saturating_sub(at_ms) > rules.future_skew_ms as i64 {
            return Ok(QuoteOutcome::Refused(Refused::FromTheFuture));
        }
        let held = self.quotes.len();
        match self.quotes.iter_mut().find(|q| q.oracle == quote.oracle) {
            Some(q) if quote.published_ms < q.published_ms => {
                return Ok(QuoteOutcome::Refused(Refused::OutOfOrder));
            }
            Some(q) => *q = quote,
            None if held >= ORACLES_PER_ASSET_MAX => {
                return Ok(QuoteOutcome::Refused(Refused::TooManyOracles));
            }
            None => self.quotes.push(quote),
        }
        let fresh = self.fresh_quotes(rules, at_ms);
        let Some(median) = median(&fresh)? else {
            // Unreachable: the quote just kept is fresh.
            return Ok(QuoteOutcome::Refused(Refused::TooOld));
        };
        if let Some((last, _)) = self.accepted {
            let moved = sub(median, last)?.abs();
            let limit = last.checked_mul(rules.jump).ok_or(Overflow)?;
            if moved > limit && !agree(&fresh, median, rules)? {
                return Ok(QuoteOutcome::Held { median, last });
            }
        }
        self.accepted = Some((median, at_ms));
        if self.state == PriceState::Stale {
            self.state = PriceState::Recovering { since_ms: at_ms };
        }
        Ok(QuoteOutcome::Accepted { price: median })
    }

    /// Moves the state on with the clock: STALE once no quote is fresh,
    /// FRESH once a recovery's grace has passed. Returns the state if it
    /// changed.
    pub fn tick(&mut self, rules: &PriceRules, at_ms: UnixMs) -> Option<PriceState> {
        let before = self.state;
        let any_fresh = self
            .quotes
            .iter()
            .any(|q| at_ms.saturating_sub(q.published_ms) <= rules.max_age_ms(self.class) as i64);
        self.state = match self.state {
            _ if !any_fresh => PriceState::Stale,
            PriceState::Recovering { since_ms }
                if at_ms.saturating_sub(since_ms) >= rules.grace_ms as i64 =>
            {
                PriceState::Fresh
            }
            s => s,
        };
        (self.state != before).then_some(self.state)
    }

    /// When [`AssetPrice::tick`] would next change the state, if ever:
    /// the newest quote's ageing out, or a recovery's grace ending.
    pub fn next_change_ms(&self, rules: &PriceRules) -> Option<UnixMs> {
        let max_age = rules.max_age_ms(self.class) as i64;
        let ages_out = self
            .quotes
            .iter()
            .map(|q| q.published_ms.saturating_add(max_age).saturating_add(1))
            .max();
        match self.state {
            PriceState::Stale => None,
            PriceState::Fresh => ages_out,
            PriceState::Recovering { since_ms } => {
                let fresh_at = since_ms.saturating_add(rules.grace_ms as i64);
                ages_out.map(|t| t.min(fresh_at))
            }
        }
    }

    /// Whether the fresh quotes of two or more oracles disagree: one is
    /// further than `rules.agree` from their median.
    pub fn oracles_disagree(&self, rules: &PriceRules, at_ms: UnixMs) -> Result<bool, Overflow> {
        let fresh = self.fresh_quotes(rules, at_ms);
        if fresh.len() < 2 {
            return Ok(false);
        }
        let Some(m) = median(&fresh)? else {
            return Ok(false);
        };
        let band = m.checked_mul(rules.agree).ok_or(Overflow)?;
        for p in &fresh {
            if sub(*p, m)?.abs() > band {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn fresh_quotes(&self, rules: &PriceRules, at_ms: UnixMs) -> Vec<Decimal> {
        let max_age = rules.max_age_ms(self.class) as i64;
        self.quotes
            .iter()
            .filter(|q| at_ms.saturating_sub(q.published_ms) <= max_age)
            .map(|q| q.price)
            .collect()
    }
}

/// The median of `prices` (the mean of the middle two for an even count);
/// `None` for none.
pub fn median(prices: &[Decimal]) -> Result<Option<Decimal>, Overflow> {
    let mut v = prices.to_vec();
    v.sort_unstable();
    let n = v.len();
    if n == 0 {
        return Ok(None);
    }
    if n % 2 == 1 {
        return Ok(Some(v[n / 2]));
    }
    let sum = add(v[n / 2 - 1], v[n / 2])?;
    Ok(Some(sum / Decimal::TWO))
}

/// Whether at least `rules.agree_oracles` of the fresh quotes are within
/// `rules.agree` of `median`.
fn agree(fresh: &[Decimal], median: Decimal, rules: &PriceRules) -> Result<bool, Overflow> {
    let band = median.checked_mul(rules.agree).ok_or(Overflow)?;
    let mut n = 0;
    for p in fresh {
        if sub(*p, median)?.abs() <= band {
            n += 1;
        }
    }
    Ok(n >= rules.agree_oracles)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn q(oracle: &'static str, price: &str, published_ms: UnixMs) -> Quote<&'static str> {
        Quote {
            oracle,
            price: d(price),
            published_ms,
        }
    }

    fn accepted(price: &str) -> QuoteOutcome {
        QuoteOutcome::Accepted { price: d(price) }
    }

    #[test]
    fn stale_until_priced_then_fresh_after_the_grace() {
        let rules = PriceRules::default();
        let mut eth = AssetPrice::new(AssetClass::Major);
        assert_eq!((eth.state(), eth.fresh_price()), (PriceState::Stale, None));
        assert_eq!(
            eth.quote(&rules, 1_000, q("a", "2000", 900)),
            Ok(accepted("2000"))
        );
        assert_eq!(eth.state(), PriceState::Recovering { since_ms: 1_000 });
        assert_eq!(eth.fresh_price(), None, "not yet: the grace");
        assert_eq!(eth.last_price(), Some(d("2000")));
        assert_eq!(eth.tick(&rules, 30_999), None);
        assert_eq!(eth.tick(&rules, 31_000), Some(PriceState::Fresh));
        assert_eq!(eth.fresh_price(), Some(d("2000")));
        // No fresh quote for longer than MAJOR's 60 s: STALE.
        assert_eq!(eth.tick(&rules, 60_900), None);
        assert_eq!(eth.tick(&rules, 60_901), Some(PriceState::Stale));
        assert_eq!(eth.fresh_price(), None);
        assert_eq!(
            eth.quote(&rules, 61_000, q("a", "2010", 61_000)),
            Ok(accepted("2010"))
        );
        assert_eq!(eth.state(), PriceState::Recovering { since_ms: 61_000 });
    }

    /// A tick changes the state exactly at `next_change_ms`.
    #[test]
    fn the_next_change_is_when_a_tick_changes_the_state() {
        let rules = PriceRules::default();
        let mut eth = AssetPrice::new(AssetClass::Major);
        assert_eq!(eth.next_change_ms(&rules), None);
        eth.quote(&rules, 1_000, q("a", "2000", 1_000)).unwrap();
        let mut at = 1_000;
        let mut states = vec![];
        while let Some(next) = eth.next_change_ms(&rules) {
            assert_eq!(
                eth.clone().tick(&rules, next - 1),
                None,
                "not before {next}"
            );
            at = next;
            states.push((at, eth.tick(&rules, at).unwrap()));
        }
        assert_eq!(
            states,
            vec![(31_000, PriceState::Fresh), (61_001, PriceState::Stale)]
        );
        assert_eq!(at, 61_001);
    }

    #[test]
    fn bad_quotes_are_refused_and_not_kept() {
        let rules = PriceRules::default();
        let mut usdc = AssetPrice::new(AssetClass::Stable);
        let refused = |r| Ok(QuoteOutcome::Refused(r));
        assert_eq!(
            usdc.quote(&rules, 400_000, q("a", "0", 400_000)),
            refused(Refused::NotPositive)
        );
        // STABLE quotes may be 300 s old.
        assert_eq!(
            usdc.quote(&rules, 400_000, q("a", "1", 99_999)),
            refused(Refused::TooOld)
        );
        assert_eq!(
            usdc.quote(&rules, 400_000, q("a", "1", 402_001)),
            refused(Refused::FromTheFuture)
        );
        assert_eq!(
            usdc.quote(&rules, 400_000, q("a", "1", 100_000)),
            Ok(accepted("1"))
        );
        assert_eq!(
            usdc.quote(&rules, 400_001, q("a", "1", 50_000)),
            refused(Refused::TooOld)
        );
        assert_eq!(
            usdc.quote(&rules, 400_001, q("a", "1", 399_000)),
            Ok(accepted("1"))
        );
        assert_eq!(
            usdc.quote(&rules, 400_002, q("a", "1", 398_000)),
            refused(Refused::OutOfOrder)
        );
        assert_eq!(usdc.quotes().len(), 1);
    }

    #[test]
    fn the_price_is_the_median_of_distinct_oracles() {
        let rules = PriceRules::default();
        let mut eth = AssetPrice::new(AssetClass::Major);
        eth.quote(&rules, 1_000, q("a", "2000", 1_000)).unwrap();
        eth.quote(&rules, 1_000, q("b", "2010", 1_000)).unwrap();
        assert_eq!(eth.last_price(), Some(d("2005")));
        assert_eq!(
            eth.quote(&rules, 1_100, q("c", "1990", 1_100)),
            Ok(accepted("2000"))
        );
        // The same oracle again replaces its own quote: still three.
        assert_eq!(
            eth.quote(&rules, 1_200, q("c", "2030", 1_200)),
            Ok(accepted("2010"))
        );
        assert_eq!(eth.quotes().len(), 3);
        // Quotes that aged out do not count.
        assert_eq!(
            eth.quote(&rules, 61_150, q("c", "2040", 61_150)),
            Ok(accepted("2040"))
        );
        assert_eq!(median(&[]), Ok(None));
    }

    #[test]
    fn a_jump_is_held_unless_oracles_agree() {
        let rules = PriceRules::default();
        let mut eth = AssetPrice::new(AssetClass::Major);
        eth.quote(&rules, 1_000, q("a", "2000", 1_000)).unwrap();
        // One oracle says −30%: held, the price stays.
        assert_eq!(
            eth.quote(&rules, 2_000, q("a", "1400", 2_000)),
            Ok(QuoteOutcome::Held {
                median: d("1400"),
                last: d("2000")
            })
        );
        assert_eq!(eth.last_price(), Some(d("2000")));
        // A second independent oracle within 1%: accepted.
        assert_eq!(
            eth.quote(&rules, 2_100, q("b", "1410", 2_100)),
            Ok(accepted("1405"))
        );
        // −25% exactly is not a jump.
        let mut btc = AssetPrice::new(AssetClass::Major);
        btc.quote(&rules, 0, q("a", "100", 0)).unwrap();
        assert_eq!(btc.quote(&rules, 1, q("a", "75", 1)), Ok(accepted("75")));
        // Two oracles that disagree by more than 1% do not make a jump.
        let mut sol = AssetPrice::new(AssetClass::Alt);
        sol.quote(&rules, 0, q("a", "100", 0)).unwrap();
        assert!(matches!(
            sol.quote(&rules, 1, q("a", "150", 1)),
            Ok(QuoteOutcome::Held { .. })
        ));
        assert!(matches!(
            sol.quote(&rules, 2, q("b", "160", 2)),
            Ok(QuoteOutcome::Held { .. })
        ));
    }

    #[test]
    fn one_asset_keeps_a_bounded_number_of_oracles() {
        let rules = PriceRules::default();
        let mut eth = AssetPrice::new(AssetClass::Major);
        let names: Vec<String> = (0..=ORACLES_PER_ASSET_MAX)
            .map(|i| format!("o{i}"))
            .collect();
        for (i, n) in names.iter().enumerate() {
            let r = eth.quote(
                &rules,
                1_000,
                Quote {
                    oracle: n.as_str(),
                    price: d("2000"),
                    published_ms: 1_000,
                },
            );
            if i < ORACLES_PER_ASSET_MAX {
                assert_eq!(r, Ok(accepted("2000")));
            } else {
                assert_eq!(r, Ok(QuoteOutcome::Refused(Refused::TooManyOracles)));
            }
        }
    }
}
