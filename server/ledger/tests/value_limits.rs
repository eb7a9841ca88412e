//! Pre-trade limits on value: MIN_HF_ECO, STRESS_HF_ECO and VALUE_CAP,
//! and prices that must be FRESH for new risk (never for risk reduction).
//! W2's value headroom (value.md) is the first case.

mod common;
use common::*;
use interlock_ledger::*;

/// Lets the prices' grace period pass (they are FRESH after it) with the
/// broker still in sync.
fn settle(w: &mut World) {
    w.now += 31_000;
    w.sync(vec![]);
    w.tick();
}

fn everyone(kind: LimitKind) -> (LimitKind, Scope) {
    (kind, Scope::default())
}

/// W2 before B's loan: P's 100 ETH pledged on A, 100,000 owed there; a
/// reuse ratio of 2 lets the same ETH go to B as well (the quantity rule
/// alone passes it).
fn before_b() -> World {
    let mut w = w2_on(&["A"]);
    w.set_limit(LimitKind::ReuseRatio, Scope::default(), "2", &[]);
    settle(&mut w);
    w
}

fn loan(order: &str, qty: &str, liability: &str) -> CheckRequest {
    CheckRequest {
        liability: Some(d(liability)),
        ..req(order, "P", "ETH", qty)
    }
}

fn code(a: &CheckAnswer) -> Option<(RejectCode, Option<LimitKind>)> {
    a.reason
        .as_ref()
        .map(|r| (r.code, r.limit.as_ref().map(|l| l.kind)))
}

/// W2: with MIN_HF_ECO 1.0, B could have lent at most 66,000 against the
/// 100 ETH; with 1.10, at most 50,909.09.
#[test]
fn w2_value_headroom_before_b_lends() {
    for (floor, most, too_much) in [
        ("1.0", "66000", "66000.01"),
        ("1.10", "50909.09", "50909.10"),
    ] {
        let mut w = before_b();
        let (kind, scope) = everyone(LimitKind::MinHfEco);
        w.set_limit(kind, scope, floor, &[]);
        let dry = |r: CheckRequest| CheckRequest { dry_run: true, ..r };
        let no = w.check("B", dry(loan("b1", "100", too_much)));
        assert_eq!(no.verdict, Verdict::Rejected, "{floor}: {too_much}");
        assert_eq!(
            code(&no),
            Some((RejectCode::LimitExceeded, Some(LimitKind::MinHfEco)))
        );
        let yes = w.check("B", dry(loan("b2", "100", most)));
        assert_eq!(yes.verdict, Verdict::Approved, "{floor}: {most}");
    }
}

/// Without a liability on the check, the order's debt is implied: its
/// quantity at the price and B's LTV (B has none: its LLTV, 0.86), so
/// 66,000 / (2,000 × 0.86) = 38.37 ETH fit under MIN_HF_ECO 1.0, and a
/// partial check gets exactly that.
#[test]
fn the_implied_debt_of_an_order_uses_the_venue_ltv() {
    let mut w = before_b();
    w.set_limit(LimitKind::MinHfEco, Scope::default(), "1", &[]);
    let r = CheckRequest {
        allow_partial: true,
        ..req("b1", "P", "ETH", "100")
    };
    let a = w.check("B", r);
    assert_eq!(a.verdict, Verdict::PartiallyApproved);
    assert_eq!(a.approved, d("38.3720930232"));
    // Once reserved, the order's implied debt counts: nothing is left.
    let again = w.check("B", req("b2", "P", "ETH", "0.0000000001"));
    assert_eq!(
        code(&again),
        Some((RejectCode::LimitExceeded, Some(LimitKind::MinHfEco)))
    );
    let h = w.state.health(&p("P")).unwrap().unwrap();
    assert_eq!(h.total_debt.map(|t| t.round_dp(2)), Some(d("166000.00")));
}

/// STRESS_HF_ECO 1.0 under the standard vector (MAJOR −35%, STABLE −5%):
/// N = 100 · 1,300 · 0.83 = 107,900 against A's 100,000 USDC shocked to
/// 95,000: 12,900 of new debt fit.
#[test]
fn stress_floor_judges_under_the_standard_shock() {
    let mut w = before_b();
    w.set_limit(LimitKind::StressHfEco, Scope::default(), "1", &[]);
    let no = w.check("B", loan("b1", "10", "12900.01"));
    assert_eq!(
        code(&no),
        Some((RejectCode::LimitExceeded, Some(LimitKind::StressHfEco)))
    );
    let yes = w.check("B", loan("b2", "10", "12900"));
    assert_eq!(yes.verdict, Verdict::Approved);
    // A harsher shock on MAJOR leaves less: at −50%, 83,000 − 95,000 < 0.
    let now = w.now;
    w.apply(Command::SetStressShock {
        at_ms: now,
        by: "admin".into(),
        class: AssetClass::Major,
        shock: d("-0.5"),
        force: None,
    })
    .unwrap();
    let no = w.check("B", loan("b3", "1", "1"));
    assert_eq!(no.verdict, Verdict::Rejected);
}

/// VALUE_CAP: ETH's committed value across the ecosystem at most 300,000
/// (150 ETH at 2,000); A holds 100 of it.
#[test]
fn value_cap_is_a_quantity_at_the_price() {
    let mut w = before_b();
    w.set_limit(
        LimitKind::ValueCap,
        Scope {
            asset: Some(a("ETH")),
            ..Scope::default()
        },
        "300000",
        &[],
    );
    let no = w.check("B", req("b1", "P", "ETH", "50.0000000001"));
    assert_eq!(
        code(&no),
        Some((RejectCode::LimitExceeded, Some(LimitKind::ValueCap)))
    );
    assert_eq!(
        w.check("B", req("b2", "P", "ETH", "50")).verdict,
        Verdict::Approved
    );
}

/// A stale price blocks new risk, never risk reduction; and with no value
/// limit at all, prices are not needed.
#[test]
fn stale_prices_fail_closed_for_new_risk_only() {
    let mut w = before_b();
    // No value limit: a check never needs a price.
    w.now += 120_000;
    w.sync(vec![]);
    w.tick();
    assert_eq!(
        w.check("B", req("q1", "P", "ETH", "1")).verdict,
        Verdict::Approved
    );
    w.set_limit(LimitKind::MinHfEco, Scope::default(), "0.5", &[]);
    let (no, alerts) = w.check_alerts("B", req("q2", "P", "ETH", "1"));
    assert_eq!(code(&no), Some((RejectCode::PriceStale, None)));
    assert!(
        alerts
            .iter()
            .any(|a| a.message.contains("the price of ETH is not fresh")),
        "{alerts:?}"
    );
    let reducing = CheckRequest {
        risk_reducing: true,
        ..req("q3", "P", "ETH", "1")
    };
    assert_eq!(w.check("B", reducing).verdict, Verdict::Approved);
}

/// A price past its maximum age is stale at the check's time even before
/// the ticker has marked it.
#[test]
fn a_price_past_its_age_is_stale_before_the_tick() {
    let mut w = before_b();
    w.set_limit(LimitKind::MinHfEco, Scope::default(), "0.5", &[]);
    assert_eq!(
        w.check("B", loan("q1", "1", "1")).verdict,
        Verdict::Approved
    );
    w.now += 30_000;
    w.sync(vec![]);
    let no = w.check("B", loan("q2", "1", "1"));
    assert_eq!(code(&no), Some((RejectCode::PriceStale, None)));
}

/// Lowering a health floor is loosening it: past the step, only with a
/// reason; a milder stress shock likewise.
#[test]
fn loosening_a_floor_or_a_shock_needs_a_reason() {
    let mut w = before_b();
    w.set_limit(LimitKind::MinHfEco, Scope::default(), "1.2", &[]);
    let lower = |w: &mut World, value: &str| {
        let now = w.now;
        w.apply(Command::SetLimit {
            at_ms: now,
            by: "admin".into(),
            spec: LimitSpec {
                kind: LimitKind::MinHfEco,
                scope: Scope::default(),
                value: d(value),
                warn_levels_pct: vec![],
            },
            expected_version: None,
            force: None,
        })
    };
    // The default step is 50%: 1.2 may go down to 0.6 without a reason.
    assert!(matches!(
        lower(&mut w, "0.59"),
        Err(LedgerError::LoosensTooFar { .. })
    ));
    assert!(lower(&mut w, "0.6").is_ok());
    assert!(lower(&mut w, "5").is_ok(), "raising a floor tightens it");
    let shock = |w: &mut World, s: &str| {
        let now = w.now;
        w.apply(Command::SetStressShock {
            at_ms: now,
            by: "admin".into(),
            class: AssetClass::Major,
            shock: d(s),
            force: None,
        })
    };
    assert!(matches!(
        shock(&mut w, "-0.17"),
        Err(LedgerError::LoosensTooFar { .. })
    ));
    assert!(shock(&mut w, "-0.175").is_ok());
    assert!(shock(&mut w, "-0.9").is_ok());
    assert!(matches!(
        shock(&mut w, "0.1"),
        Err(LedgerError::InvalidArgument { field: "shock", .. })
    ));
    assert_eq!(w.state.stress_shocks().major, d("-0.9"));
}

/// A floor names a participant or no one; a value cap names an asset only.
#[test]
fn value_limit_scopes() {
    let mut w = World::new();
    let set = |w: &mut World, kind, scope| {
        let now = w.now;
        w.apply(Command::SetLimit {
            at_ms: now,
            by: "admin".into(),
            spec: LimitSpec {
                kind,
                scope,
                value: d("1"),
                warn_levels_pct: vec![],
            },
            expected_version: None,
            force: None,
        })
    };
    let asset = Scope {
        asset: Some(a("ETH")),
        ..Scope::default()
    };
    let participant = Scope {
        participant: Some(p("P")),
        ..Scope::default()
    };
    assert!(set(&mut w, LimitKind::MinHfEco, asset.clone()).is_err());
    assert!(set(&mut w, LimitKind::StressHfEco, participant.clone()).is_ok());
    assert!(set(&mut w, LimitKind::ValueCap, participant).is_err());
    assert!(set(&mut w, LimitKind::ValueCap, asset).is_ok());
}

/// The debt sums kept per position survive a snapshot and a liability
/// report that turns a venue's debt from implied to reported.
#[test]
fn debt_sums_follow_liabilities_and_snapshots() {
    let mut w = before_b();
    w.set_limit(LimitKind::MinHfEco, Scope::default(), "1", &[]);
    // A reservation on B (no liability reported there): implied.
    let r = w.check("B", req("b1", "P", "ETH", "10"));
    assert_eq!(r.verdict, Verdict::Approved);
    // B now reports 5,000 USDC owed: B's debt is that plus the uncovered
    // reservation's implied debt.
    w.sync(vec![SyncUpdate::Liability {
        participant: p("P"),
        venue: v("B"),
        asset: a("USDC"),
        quantity: d("5000"),
    }]);
    let h = w.state.health(&p("P")).unwrap().unwrap();
    let b = h.venues.iter().find(|x| x.venue == v("B")).unwrap();
    assert_eq!(b.debt, Some(d("22200")), "5,000 + 10 × 2,000 × 0.86");
    let back = State::from_snapshot(&w.state.to_snapshot()).unwrap();
    assert_eq!(back.to_snapshot(), w.state.to_snapshot());
    back.check_invariants().unwrap();
}

/// How each venue liquidates: set, audited, validated, kept by a snapshot.
#[test]
fn venue_liquidation_rules() {
    let mut w = World::new();
    let set = |w: &mut World, venue: &str, rule: LiquidationRule| {
        let now = w.now;
        w.apply(Command::SetVenueRule {
            at_ms: now,
            by: "admin".into(),
            venue: v(venue),
            rule,
        })
    };
    let aave = LiquidationRule::Aave(AaveRule::v3_3(d("1.05")));
    assert!(set(&mut w, "aave", aave).is_ok());
    assert!(set(&mut w, "morpho", LiquidationRule::Morpho).is_ok());
    let e = set(
        &mut w,
        "cex",
        LiquidationRule::Exchange { penalty: d("0.6") },
    )
    .unwrap_err();
    assert!(matches!(
        e,
        LedgerError::InvalidArgument {
            field: "penalty",
            ..
        }
    ));
    let bad_bonus = LiquidationRule::Aave(AaveRule::v3_3(d("0.9")));
    assert!(set(&mut w, "aave", bad_bonus).is_err());
    assert_eq!(w.state.venue_rule(&v("aave")), Some(aave));
    assert_eq!(w.state.venue_rule(&v("cex")), None, "nothing changed");
    let venues: Vec<_> = w.state.venues().into_iter().map(|x| x.venue).collect();
    assert_eq!(venues, vec![v("aave"), v("morpho")]);
    let audited = w.state.audit_records(0, 100);
    let last = audited.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.new_value.as_str()),
        ("set_venue_rule", "MORPHO")
    );
    let back = State::from_snapshot(&w.state.to_snapshot()).unwrap();
    assert_eq!(back.venue_rule(&v("aave")), Some(aave));
}

/// Value settings are versioned like limits: 1 when first set, one more
/// for each change; the versions survive a snapshot.
#[test]
fn value_settings_are_versioned() {
    let mut w = World::new();
    let params = |lt: &str| VenueAssetParams {
        threshold: d(lt),
        ltv: None,
    };
    for (lt, want) in [("0.8", 1), ("0.82", 2)] {
        let now = w.now;
        let out = w
            .apply(Command::SetVenueAsset {
                at_ms: now,
                by: "admin".into(),
                venue: v("A"),
                asset: a("ETH"),
                params: params(lt),
            })
            .unwrap()
            .outcome;
        assert!(
            matches!(out, Outcome::VenueAssetSet { version, .. } if version == want),
            "{out:?}"
        );
    }
    let now = w.now;
    let out = w
        .apply(Command::SetStressShock {
            at_ms: now,
            by: "admin".into(),
            class: AssetClass::Alt,
            shock: d("-0.6"),
            force: None,
        })
        .unwrap()
        .outcome;
    assert!(
        matches!(out, Outcome::StressShockSet { version: 1, .. }),
        "{out:?}"
    );
    assert_eq!(w.state.setting_version("venue_asset", "A/ETH"), 2);
    assert_eq!(w.state.setting_version("stress_shock", "ALT"), 1);
    assert_eq!(w.state.setting_version("haircut", "ETH"), 0);
    let back = State::from_snapshot(&w.state.to_snapshot()).unwrap();
    assert_eq!(back.setting_version("venue_asset", "A/ETH"), 2);
}
