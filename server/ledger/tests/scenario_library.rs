//! The scenario library: every ledger starts with analytics.md's named
//! scenarios; admins set and delete them, each change versioned and
//! audited; bad input is refused naming the field; a snapshot keeps the
//! library (a deleted built-in stays deleted).

mod common;
use common::*;
use interlock_ledger::*;

fn set(w: &mut World, name: &str, s: Option<Scenario>) -> Result<Outcome, LedgerError> {
    let at = w.now;
    w.apply(Command::SetScenario {
        at_ms: at,
        by: "admin".into(),
        name: name.into(),
        scenario: s,
    })
    .map(|a| a.outcome)
}

fn tiers(major: &str) -> Scenario {
    Scenario {
        source: "the desk, 2026".into(),
        by_class: [None, Some(d(major)), None],
        by_asset: vec![(a("ETH"), d("-0.45"))],
    }
}

#[test]
fn the_library_starts_with_the_specifications_scenarios() {
    let w = World::new();
    let names: Vec<&str> = w.state.scenarios().keys().map(String::as_str).collect();
    assert_eq!(names, ["BLACK_THURSDAY_2020", "CHAOS_TIERS", "LUNA_2022"]);
    let c = &w.state.scenarios()["CHAOS_TIERS"];
    assert_eq!(
        c.by_class,
        [Some(d("-0.05")), Some(d("-0.35")), Some(d("-0.50"))]
    );
    assert!(w.state.scenarios()["LUNA_2022"]
        .source
        .contains("secondary sources"));
    assert_eq!(w.state.setting_version("scenario", "CHAOS_TIERS"), 0);
}

#[test]
fn set_versioned_audited_and_kept_by_a_snapshot() {
    let mut w = World::new();
    match set(&mut w, "TIERS_2026", Some(tiers("-0.4"))).unwrap() {
        Outcome::ScenarioSet { previous, version } => {
            assert_eq!((previous, version), (None, 1));
        }
        o => panic!("{o:?}"),
    }
    match set(&mut w, "TIERS_2026", Some(tiers("-0.5"))).unwrap() {
        Outcome::ScenarioSet { previous, version } => {
            assert_eq!((previous, version), (Some(tiers("-0.4")), 2));
        }
        o => panic!("{o:?}"),
    }
    set(&mut w, "LUNA_2022", None).unwrap();
    let last = w.state.audit_records(0, 100);
    let r = last.last().unwrap();
    assert_eq!(
        (r.action.as_str(), r.target.as_str()),
        ("set_scenario", "LUNA_2022")
    );
    assert_eq!(r.new_value, "-");
    assert!(r.old_value.contains("LUNA=-0.99"), "{}", r.old_value);

    let back = State::from_snapshot(&w.state.to_snapshot()).unwrap();
    assert_eq!(back.scenarios(), w.state.scenarios());
    assert!(
        !back.scenarios().contains_key("LUNA_2022"),
        "a deleted built-in stays deleted"
    );
    assert_eq!(back.setting_version("scenario", "TIERS_2026"), 2);
}

#[test]
fn bad_input_names_its_field_and_changes_nothing() {
    let mut w = World::new();
    let before = w.state.to_snapshot();
    let field = |r: Result<Outcome, LedgerError>| match r {
        Err(LedgerError::InvalidArgument { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        field(set(&mut w, "lower_case", Some(tiers("-0.4")))),
        "name"
    );
    assert_eq!(field(set(&mut w, "", Some(tiers("-0.4")))), "name");
    assert_eq!(
        field(set(&mut w, &"A".repeat(65), Some(tiers("-0.4")))),
        "name"
    );
    assert_eq!(field(set(&mut w, "NOT_THERE", None)), "name");
    assert_eq!(field(set(&mut w, "X", Some(tiers("-1")))), "shocks.shock");
    assert_eq!(field(set(&mut w, "X", Some(tiers("10.5")))), "shocks.shock");
    let empty = Scenario {
        source: String::new(),
        by_class: [None; 3],
        by_asset: Vec::new(),
    };
    assert_eq!(field(set(&mut w, "X", Some(empty))), "shocks");
    let twice = Scenario {
        by_asset: vec![(a("ETH"), d("-0.1")), (a("ETH"), d("-0.2"))],
        ..tiers("-0.4")
    };
    assert_eq!(field(set(&mut w, "X", Some(twice))), "shocks.asset");
    let noisy = Scenario {
        source: "a\nb".into(),
        ..tiers("-0.4")
    };
    assert_eq!(field(set(&mut w, "X", Some(noisy))), "source");
    assert!(
        w.state.to_snapshot() == before,
        "a refused change changed the state"
    );
}

/// The desk opts a participant into the scheduled stress's reduce-only and
/// out again: audited, versioned, kept by a snapshot; a count of 0 or above
/// the maximum is refused.
#[test]
fn stress_guards_are_settings_like_any_other() {
    let mut w = World::new();
    let guard = |w: &mut World, n: Option<u32>| {
        let at = w.now;
        w.apply(Command::SetStressGuard {
            at_ms: at,
            by: "admin".into(),
            participant: p("fund"),
            min_venues: n,
        })
        .map(|a| a.outcome)
    };
    assert!(matches!(
        guard(&mut w, Some(2)).unwrap(),
        Outcome::StressGuardSet {
            previous: None,
            version: 1
        }
    ));
    assert_eq!(w.state.stress_guards().get(&p("fund")), Some(&2));
    let back = State::from_snapshot(&w.state.to_snapshot()).unwrap();
    assert_eq!(back.stress_guards(), w.state.stress_guards());
    for bad in [0, state::STRESS_GUARD_VENUES_MAX + 1] {
        assert!(matches!(
            guard(&mut w, Some(bad)),
            Err(LedgerError::InvalidArgument {
                field: "min_venues",
                ..
            })
        ));
    }
    assert!(matches!(
        guard(&mut w, None).unwrap(),
        Outcome::StressGuardSet {
            previous: Some(2),
            version: 2
        }
    ));
    assert!(w.state.stress_guards().is_empty());
    let r = w.state.audit_records(0, 100);
    let last = r.last().unwrap();
    assert_eq!(
        (
            last.action.as_str(),
            last.old_value.as_str(),
            last.new_value.as_str()
        ),
        ("set_stress_guard", "reduce-only at 2 venues", "-")
    );
}
