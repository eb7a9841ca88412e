//! Health figures through the ledger, on the value layer's worked case W2:
//! the double pledge that fools every venue but not Interlock.

mod common;
use common::*;
use interlock_ledger::state::Distance;
use interlock_ledger::value::health::Health;
use interlock_ledger::*;

fn r6(h: Health) -> Decimal {
    match h {
        Health::Ratio(r) => r.round_dp(6),
        other => panic!("expected a ratio, got {other:?}"),
    }
}

use rust_decimal::Decimal;

#[test]
fn w2_every_venue_is_fooled_interlock_is_not() {
    let w = w2();
    let h = w.state.health(&p("P")).unwrap().unwrap();
    let by: Vec<(String, Decimal, Decimal)> = h
        .venues
        .iter()
        .map(|v| (v.venue.to_string(), r6(v.claim), r6(v.true_health)))
        .collect();
    assert_eq!(
        by,
        vec![
            ("A".to_owned(), d("1.66"), d("0.83")),
            ("B".to_owned(), d("1.72"), d("0.86")),
        ]
    );
    assert_eq!(r6(h.eco), d("0.83"));
    // Each venue believes ETH may fall to 1,204.82 (A) and 1,162.79 (B);
    // in value the participant is already under water below 2,409.64.
    let venue_prices: Vec<Decimal> = h
        .venues
        .iter()
        .map(|v| v.liquidation_prices[0].1.unwrap().round_dp(6))
        .collect();
    assert_eq!(venue_prices, vec![d("1204.819277"), d("1162.790698")]);
    assert_eq!(h.liquidation_prices.len(), 1);
    assert_eq!(h.liquidation_prices[0].0, a("ETH"));
    assert_eq!(
        h.liquidation_prices[0].1.unwrap().round_dp(6),
        d("2409.638554")
    );
    assert_eq!(h.collateral_value, d("166000"));
    assert_eq!(h.total_debt, Some(d("200000")));
    assert!(h.venues.iter().all(|v| !v.debt_implied));
    assert!(h.unpriced.is_empty());
    // The prices are RECOVERING (within the grace), so listed as not fresh.
    assert_eq!(h.stale, vec![a("ETH"), a("USDC")]);
    // The figures survive a snapshot.
    let back = State::from_snapshot(&w.state.to_snapshot()).unwrap();
    assert_eq!(back.health(&p("P")).unwrap(), Some(h));
}

#[test]
fn unknowns_are_conservative() {
    let mut w = w2();
    // No liability reported on a third venue: the implied one, at its LTV
    // (no parameters: LTV 1, the full value of what is committed there).
    w.sync(vec![SyncUpdate::Commitment {
        participant: p("P"),
        venue: v("C"),
        asset: a("ETH"),
        quantity: d("10"),
        covers_commit_seq: 0,
    }]);
    let h = w.state.health(&p("P")).unwrap().unwrap();
    let c = h.venues.iter().find(|x| x.venue == v("C")).unwrap();
    assert!(c.debt_implied);
    assert_eq!(c.debt, Some(d("20000")));
    assert_eq!(
        c.claim,
        Health::Ratio(Decimal::ZERO),
        "no threshold: no value"
    );
    assert_eq!(h.total_debt, Some(d("220000")));
    // Unpinning the haircut: ETH counts for nothing in HF^eco.
    admin(&mut w, |at| Command::SetHaircut {
        at_ms: at,
        by: "admin".into(),
        asset: a("ETH"),
        haircut: None,
        force: None,
    });
    let h = w.state.health(&p("P")).unwrap().unwrap();
    assert_eq!(h.collateral_value, Decimal::ZERO);
    // A debt in an asset with no price: its venue's figures are unknown.
    w.sync(vec![SyncUpdate::Liability {
        participant: p("P"),
        venue: v("A"),
        asset: a("DOGE"),
        quantity: d("5"),
    }]);
    let h = w.state.health(&p("P")).unwrap().unwrap();
    let a_ = h.venues.iter().find(|x| x.venue == v("A")).unwrap();
    assert_eq!(a_.claim, Health::Unknown);
    assert_eq!(h.eco, Health::Unknown);
    assert_eq!(h.unpriced, vec![a("DOGE")]);
    // Bad parameters are refused.
    let bad = w.apply(Command::SetVenueAsset {
        at_ms: w.now,
        by: "admin".into(),
        venue: v("A"),
        asset: a("ETH"),
        params: VenueAssetParams {
            threshold: d("0.8"),
            ltv: Some(d("0.9")),
        },
    });
    assert!(matches!(
        bad,
        Err(LedgerError::InvalidArgument { field: "ltv", .. })
    ));
    let bad = w.apply(Command::SetHaircut {
        at_ms: w.now,
        by: "admin".into(),
        asset: a("BTC"),
        haircut: Some(d("0.1")),
        force: None,
    });
    assert!(matches!(
        bad,
        Err(LedgerError::InvalidArgument { field: "asset", .. })
    ));
}

/// The rest of the view on W2: HF^eco under the standard shock (ETH −35%,
/// the USDC debt −5%: 107,900 / 190,000), at or below 1 already (distance
/// 0), and the "why": ETH's 166,000 against A's and B's 100,000 each; the
/// same 100 ETH pledged twice (reuse 2).
#[test]
fn w2_stress_distance_and_explanation() {
    let h = w2().state.health(&p("P")).unwrap().unwrap();
    assert_eq!(r6(h.eco_stressed), d("0.567895"));
    assert_eq!(h.distance_to_default, Distance::Shock(Decimal::ZERO));
    assert_eq!(h.top_collateral, vec![(a("ETH"), d("166000"))]);
    assert_eq!(
        h.top_debt,
        vec![(v("A"), d("100000")), (v("B"), d("100000"))]
    );
    assert_eq!(h.reuse, vec![(a("ETH"), Some(d("2")))]);
}

/// With A's loan only, HF^eco is 1.66 and a uniform fall of ETH of
/// 39.759036% brings it to 1: 166,000·(1 + s) = 100,000 (the USDC debt is
/// STABLE: not shocked).
#[test]
fn distance_to_default_of_a_healthy_participant() {
    let h = w2_on(&["A"]).state.health(&p("P")).unwrap().unwrap();
    assert_eq!(r6(h.eco), d("1.66"));
    match h.distance_to_default {
        Distance::Shock(s) => assert_eq!(s.round_dp(6), d("-0.397590")),
        other => panic!("{other:?}"),
    }
    // Without debt it never defaults; without a price, it is unknown.
    let mut w = w2();
    w.own("Q", "ETH", "1");
    w.own("R", "BTC", "1");
    let h = w.state.health(&p("R")).unwrap().unwrap();
    assert_eq!(h.distance_to_default, Distance::Unknown);
    let h = w.state.health(&p("Q")).unwrap().unwrap();
    assert_eq!(h.distance_to_default, Distance::Never);
    assert!(h.top_debt.is_empty());
}

/// `top --by hf`: participants with debt, weakest HF^eco first; one
/// without debt is not ranked, one whose price is missing comes first.
#[test]
fn participants_ranked_by_health() {
    let mut w = w2();
    w.sync(vec![
        SyncUpdate::Collateral {
            participant: p("S"),
            asset: a("ETH"),
            quantity: d("100"),
        },
        SyncUpdate::Commitment {
            participant: p("S"),
            venue: v("A"),
            asset: a("ETH"),
            quantity: d("10"),
            covers_commit_seq: 0,
        },
        SyncUpdate::Collateral {
            participant: p("U"),
            asset: a("BTC"),
            quantity: d("1"),
        },
        SyncUpdate::Liability {
            participant: p("U"),
            venue: v("A"),
            asset: a("USDC"),
            quantity: d("5"),
        },
    ]);
    w.own("Q", "ETH", "1");
    let ranks = w.state.top_by_health(10).unwrap();
    let order: Vec<(&str, Health)> = ranks
        .iter()
        .map(|r| (r.participant.as_str(), r.eco))
        .collect();
    // S: 100 · 2,000 · 0.83 over the debt implied by 10 ETH on A (no LTV:
    // its threshold, 0.83): 166,000 / 16,600 = 10.
    assert_eq!(
        order,
        vec![
            ("U", Health::Unknown),
            ("P", Health::Ratio(d("0.83"))),
            ("S", Health::Ratio(d("10"))),
        ]
    );
    assert_eq!(w.state.top_by_health(1).unwrap().len(), 1);
}
