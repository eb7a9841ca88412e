//! Shocks and named scenarios: a move per asset, P → P·(1 + s).
//!
//! A scenario names moves per asset class and per asset (an asset's own
//! move wins over its class's). The built-in library is `analytics.md`'s;
//! figures for historical days are from secondary sources and labelled so.

use interlock_ledger::{AssetClass, AssetId};
use rust_decimal::prelude::ToPrimitive;

use crate::error::{invalid, AnalyticsError};

/// The largest fall a shock may ask for is just short of −100%: a price of
/// zero would make every seized quantity infinite.
pub const SHOCK_MIN_EXCLUSIVE: f64 = -1.0;
/// The largest rise: +1000%.
pub const SHOCK_MAX: f64 = 10.0;
/// A multiple of a scenario (reverse stress) is at most this.
pub const MULTIPLE_MAX: u32 = 10;
/// A multiplied fall stops here (a price never reaches zero).
pub const MULTIPLIED_FALL_FLOOR: f64 = -0.9999;

/// A move per asset class and per asset.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    /// Where the figures come from.
    pub source: String,
    /// STABLE, MAJOR, ALT; `None`: the class does not move.
    pub by_class: [Option<f64>; 3],
    /// By asset, sorted, each asset once.
    pub by_asset: Vec<(AssetId, f64)>,
}

fn class_index(c: AssetClass) -> usize {
    match c {
        AssetClass::Stable => 0,
        AssetClass::Major => 1,
        AssetClass::Alt => 2,
    }
}

impl Scenario {
    /// A scenario of asset moves only (a request's `--shock ETH=-15%`).
    pub fn of_assets(mut by_asset: Vec<(AssetId, f64)>) -> Result<Scenario, AnalyticsError> {
        by_asset.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = by_asset.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(invalid(
                "shocks.asset",
                format!("{} is shocked twice", w[0].0),
            ));
        }
        for (a, s) in &by_asset {
            check_shock(*s).map_err(|r| invalid("shocks.shock", format!("{a}: {r}")))?;
        }
        Ok(Scenario {
            name: "custom".into(),
            source: "the request".into(),
            by_class: [None; 3],
            by_asset,
        })
    }

    /// The move of an asset of `class`.
    pub fn shock_of(&self, asset: &AssetId, class: AssetClass) -> f64 {
        match self.by_asset.binary_search_by(|(a, _)| a.cmp(asset)) {
            Ok(i) => self.by_asset[i].1,
            Err(_) => self.by_class[class_index(class)].unwrap_or(0.0),
        }
    }

    /// `k` times every move (reverse stress), a fall stopping at
    /// [`MULTIPLIED_FALL_FLOOR`] and a rise at [`SHOCK_MAX`].
    pub fn times(&self, k: u32) -> Result<Scenario, AnalyticsError> {
        if k == 0 || k > MULTIPLE_MAX {
            return Err(invalid("multiple", format!("must be 1 to {MULTIPLE_MAX}")));
        }
        let scale = |s: f64| (s * f64::from(k)).clamp(MULTIPLIED_FALL_FLOOR, SHOCK_MAX);
        Ok(Scenario {
            name: if k == 1 {
                self.name.clone()
            } else {
                format!("{}x{k}", self.name)
            },
            source: self.source.clone(),
            by_class: self.by_class.map(|s| s.map(scale)),
            by_asset: self
                .by_asset
                .iter()
                .map(|(a, s)| (a.clone(), scale(*s)))
                .collect(),
        })
    }
}

/// Why a shock is out of range, if it is.
pub fn check_shock(s: f64) -> Result<(), String> {
    if !s.is_finite() || s <= SHOCK_MIN_EXCLUSIVE || s > SHOCK_MAX {
        return Err(format!(
            "{} is outside (-100%, +1000%]",
            crate::report::pct(s)
        ));
    }
    Ok(())
}

impl Scenario {
    /// A scenario of the ledger's library, in f64.
    pub fn from_ledger(name: &str, s: &interlock_ledger::Scenario) -> Scenario {
        let f = |d: rust_decimal::Decimal| d.to_f64().unwrap_or(0.0);
        Scenario {
            name: name.to_owned(),
            source: s.source.clone(),
            by_class: s.by_class.map(|c| c.map(f)),
            by_asset: s.by_asset.iter().map(|(a, x)| (a.clone(), f(*x))).collect(),
        }
    }
}

/// What a request asks to run: a scenario of the library by name, with a
/// multiple, or its own shocks (already checked; their assets are checked
/// against the ledger's when the run reads it).
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    Named { name: String, multiple: u32 },
    Given(Scenario),
}

impl Choice {
    /// The scenario to run, from the moment's library.
    pub fn resolve(&self, book: &crate::Book) -> Result<Scenario, AnalyticsError> {
        match self {
            Choice::Given(s) => Ok(s.clone()),
            Choice::Named { name, multiple } => {
                let (base, k) = split_multiple(name)?;
                let k = match (k, *multiple) {
                    (k, 0 | 1) => k,
                    (1, m) => m,
                    (_, _) => {
                        return Err(invalid(
                            "multiple",
                            "give the multiple once: in the name (NAMEx2) or as a multiple",
                        ))
                    }
                };
                let found = book.scenarios.get(base).ok_or_else(|| {
                    let names: Vec<&str> = book.scenarios.keys().map(String::as_str).collect();
                    invalid(
                        "scenario",
                        format!("unknown scenario {base:?}; known: {}", names.join(", ")),
                    )
                })?;
                Scenario::from_ledger(base, found).times(k)
            }
        }
    }

    /// Whether the request gave its own shocks (whose assets must be the
    /// ledger's; a named scenario may name assets this ledger lacks).
    pub fn is_given(&self) -> bool {
        matches!(self, Choice::Given(_))
    }
}

/// `CHAOS_TIERS` → (`CHAOS_TIERS`, 1); `CHAOS_TIERSx2` → (`CHAOS_TIERS`, 2).
fn split_multiple(name: &str) -> Result<(&str, u32), AnalyticsError> {
    let name = name.trim();
    match name.rsplit_once('x') {
        Some((base, k)) if !k.is_empty() && k.chars().all(|c| c.is_ascii_digit()) => {
            Ok((base, k.parse::<u32>().unwrap_or(u32::MAX)))
        }
        _ => Ok((name, 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(s: &str) -> AssetId {
        AssetId::new(s).unwrap()
    }

    fn book() -> crate::Book {
        let mut b = crate::Book::default();
        b.scenarios = interlock_ledger::state::builtin_scenarios();
        b
    }

    fn named(name: &str, multiple: u32) -> Result<Scenario, AnalyticsError> {
        Choice::Named {
            name: name.into(),
            multiple,
        }
        .resolve(&book())
    }

    #[test]
    fn named_scenarios_and_their_multiples() {
        let c = named("CHAOS_TIERS", 0).unwrap();
        assert_eq!(c.shock_of(&asset("ETH"), AssetClass::Major), -0.35);
        assert_eq!(c.shock_of(&asset("USDC"), AssetClass::Stable), -0.05);
        let c2 = named("CHAOS_TIERSx2", 0).unwrap();
        assert_eq!(c2.name, "CHAOS_TIERSx2");
        assert_eq!(c2.shock_of(&asset("ETH"), AssetClass::Major), -0.70);
        assert_eq!(named("CHAOS_TIERS", 2).unwrap(), c2);
        let c5 = named("CHAOS_TIERSx5", 0).unwrap();
        assert_eq!(
            c5.shock_of(&asset("ETH"), AssetClass::Major),
            MULTIPLIED_FALL_FLOOR
        );
        let luna = named("LUNA_2022", 0).unwrap();
        assert_eq!(luna.shock_of(&asset("LUNA"), AssetClass::Alt), -0.99);
        assert_eq!(luna.shock_of(&asset("ETH"), AssetClass::Major), -0.25);
        assert_eq!(luna.shock_of(&asset("SOL"), AssetClass::Alt), 0.0);
        assert!(matches!(
            named("NOPE", 0),
            Err(AnalyticsError::InvalidArgument {
                field: "scenario",
                ..
            })
        ));
        assert!(matches!(
            named("CHAOS_TIERSx11", 0),
            Err(AnalyticsError::InvalidArgument {
                field: "multiple",
                ..
            })
        ));
        assert!(matches!(
            named("CHAOS_TIERSx2", 2),
            Err(AnalyticsError::InvalidArgument {
                field: "multiple",
                ..
            })
        ));
    }

    #[test]
    fn shocks_out_of_range_are_refused() {
        for s in [-1.0, -1.5, 10.01, f64::NAN] {
            assert!(Scenario::of_assets(vec![(asset("ETH"), s)]).is_err(), "{s}");
        }
        assert!(Scenario::of_assets(vec![(asset("ETH"), 10.0)]).is_ok());
        assert!(Scenario::of_assets(vec![(asset("ETH"), -0.1), (asset("ETH"), -0.2)]).is_err());
    }
}
