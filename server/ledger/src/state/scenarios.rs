//! The named stress scenarios: a library the ledger keeps, versioned and
//! audited, that every ledger starts with `analytics.md`'s (figures for
//! historical days are from secondary sources, and say so).

use std::collections::BTreeMap;

use super::*;

/// The most scenarios the library holds.
pub const SCENARIOS_MAX: usize = 100;
/// The most assets a scenario moves by name.
pub const SCENARIO_ASSETS_MAX: usize = 100;
/// The longest scenario name.
pub const SCENARIO_NAME_MAX: usize = 64;
/// The longest description of a scenario's source.
pub const SCENARIO_SOURCE_MAX: usize = 200;
/// The largest rise a scenario may ask for: +1000%.
pub const SCENARIO_SHOCK_MAX: Decimal = Decimal::TEN;

fn shock(s: &str) -> Decimal {
    s.parse()
        .expect("a built-in scenario's shocks are decimals")
}

fn asset(s: &str) -> AssetId {
    AssetId::new(s).expect("a built-in scenario names valid assets")
}

/// The library every ledger starts with.
pub fn builtin_scenarios() -> BTreeMap<String, Scenario> {
    let mut m = BTreeMap::new();
    m.insert(
        "BLACK_THURSDAY_2020".to_owned(),
        Scenario {
            source: "12 March 2020, daily falls as reported by secondary sources".into(),
            by_class: [None; 3],
            by_asset: vec![
                (asset("BTC"), shock("-0.40")),
                (asset("ETH"), shock("-0.43")),
            ],
        },
    );
    m.insert(
        "CHAOS_TIERS".to_owned(),
        Scenario {
            source: "after Chaos Labs' supply-cap stress tiers for Aave".into(),
            by_class: [
                Some(shock("-0.05")),
                Some(shock("-0.35")),
                Some(shock("-0.50")),
            ],
            by_asset: Vec::new(),
        },
    );
    m.insert(
        "LUNA_2022".to_owned(),
        Scenario {
            source: "May 2022, falls as reported by secondary sources".into(),
            by_class: [None, Some(shock("-0.25")), None],
            by_asset: vec![
                (asset("LUNA"), shock("-0.99")),
                (asset("UST"), shock("-0.78")),
            ],
        },
    );
    m
}

/// Why a scenario name is not one, if it is not: 1 to 64 of A-Z, 0-9 and
/// `_`, starting with a letter (a lower-case `x` and a number after a
/// name ask for a multiple of it).
pub fn invalid_scenario_name(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= SCENARIO_NAME_MAX
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    (!ok).then(|| {
        format!("must be 1 to {SCENARIO_NAME_MAX} of A-Z, 0-9 and _, starting with a letter")
    })
}

pub(super) fn check_scenario(s: &Scenario) -> Result<(), LedgerError> {
    let bad = |field: &'static str, reason: String| LedgerError::InvalidArgument { field, reason };
    if s.source.chars().count() > SCENARIO_SOURCE_MAX || s.source.chars().any(char::is_control) {
        return Err(bad(
            "source",
            format!("at most {SCENARIO_SOURCE_MAX} characters, no control characters"),
        ));
    }
    if s.by_asset.len() > SCENARIO_ASSETS_MAX {
        return Err(bad(
            "shocks",
            format!("at most {SCENARIO_ASSETS_MAX} assets"),
        ));
    }
    if s.by_asset.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(bad("shocks.asset", "each asset once, in order".into()));
    }
    if s.by_class.iter().all(Option::is_none) && s.by_asset.is_empty() {
        return Err(bad(
            "shocks",
            "a scenario moves at least one class or asset".into(),
        ));
    }
    let shocks = s
        .by_class
        .iter()
        .flatten()
        .chain(s.by_asset.iter().map(|(_, x)| x));
    for x in shocks {
        if *x <= Decimal::NEGATIVE_ONE || *x > SCENARIO_SHOCK_MAX {
            return Err(bad(
                "shocks.shock",
                format!("{x} is outside (-1, 10]: a fall short of 100%, a rise of at most 1000%"),
            ));
        }
    }
    Ok(())
}

impl State {
    /// Sets (or, with `None`, deletes) a named scenario.
    pub(super) fn set_scenario(
        &mut self,
        at: UnixMs,
        by: &str,
        name: &str,
        scenario: Option<&Scenario>,
    ) -> Result<Outcome, LedgerError> {
        if let Some(reason) = invalid_scenario_name(name) {
            return Err(LedgerError::InvalidArgument {
                field: "name",
                reason,
            });
        }
        let previous = self.scenarios.get(name).cloned();
        match scenario {
            Some(s) => {
                check_scenario(s)?;
                if previous.is_none() {
                    self.ensure_capacity(self.scenarios.len(), SCENARIOS_MAX, "scenario library")?;
                }
            }
            None if previous.is_none() => {
                return Err(LedgerError::InvalidArgument {
                    field: "name",
                    reason: format!("there is no scenario {name}"),
                });
            }
            None => {}
        }
        self.ensure_capacity(self.audit.len(), self.cfg.audit_records_max, "audit log")?;
        match scenario {
            Some(s) => self.scenarios.insert(name.to_owned(), s.clone()),
            None => self.scenarios.remove(name),
        };
        let show = |s: Option<&Scenario>| s.map_or_else(|| "-".to_owned(), Scenario::describe);
        self.audit(
            at,
            by,
            "set_scenario",
            name.to_owned(),
            show(previous.as_ref()),
            show(scenario),
        );
        let version = self.bump_version("scenario", name.to_owned());
        Ok(Outcome::ScenarioSet { previous, version })
    }

    /// The scenario library, by name.
    pub fn scenarios(&self) -> &BTreeMap<String, Scenario> {
        &self.scenarios
    }
}

/// The most participants opted into the scheduled stress's reduce-only.
pub const STRESS_GUARDS_MAX: usize = 100_000;
/// The most venues a stress guard may count to.
pub const STRESS_GUARD_VENUES_MAX: u32 = 1000;

impl State {
    /// Opts a participant into (or out of, with `None`) reduce-only when the
    /// scheduled stress finds it breaching on `min_venues` venues or more.
    pub(super) fn set_stress_guard(
        &mut self,
        at: UnixMs,
        by: &str,
        participant: &ParticipantId,
        min_venues: Option<u32>,
    ) -> Result<Outcome, LedgerError> {
        if min_venues.is_some_and(|n| n == 0 || n > STRESS_GUARD_VENUES_MAX) {
            return Err(LedgerError::InvalidArgument {
                field: "min_venues",
                reason: format!("must be 1 to {STRESS_GUARD_VENUES_MAX}"),
            });
        }
        let previous = self.stress_guards.get(participant).copied();
        if previous.is_none() && min_venues.is_some() {
            self.ensure_capacity(self.stress_guards.len(), STRESS_GUARDS_MAX, "stress guards")?;
        }
        self.ensure_capacity(self.audit.len(), self.cfg.audit_records_max, "audit log")?;
        match min_venues {
            Some(n) => self.stress_guards.insert(participant.clone(), n),
            None => self.stress_guards.remove(participant),
        };
        let show = |n: Option<u32>| {
            n.map_or_else(|| "-".to_owned(), |n| format!("reduce-only at {n} venues"))
        };
        self.audit(
            at,
            by,
            "set_stress_guard",
            participant.to_string(),
            show(previous),
            show(min_venues),
        );
        let version = self.bump_version("stress_guard", participant.to_string());
        Ok(Outcome::StressGuardSet { previous, version })
    }

    /// The participants opted into the scheduled stress's reduce-only, by
    /// id, with their venue counts.
    pub fn stress_guards(&self) -> &std::collections::BTreeMap<ParticipantId, u32> {
        &self.stress_guards
    }
}
