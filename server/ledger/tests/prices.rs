//! Prices in the ledger: oracles' sequenced streams, assets' classes, the
//! FRESH / STALE / RECOVERING states as the clock moves, alerts, and
//! snapshots that carry all of it.

mod common;
use common::*;
use interlock_ledger::*;

fn oracle(s: &str) -> OracleId {
    OracleId::new(s).unwrap()
}

fn set_class(w: &mut World, asset: &str, class: AssetClass) -> Outcome {
    w.apply(Command::SetAssetClass {
        at_ms: w.now,
        by: "admin".into(),
        asset: a(asset),
        class,
    })
    .unwrap()
    .outcome
}

fn publish(w: &mut World, from: &str, sequence: u64, quotes: &[(&str, &str)]) -> Applied {
    let now = w.now;
    w.apply(Command::PublishPrices {
        at_ms: now,
        oracle: oracle(from),
        batch: PriceBatch {
            sequence,
            quotes: quotes
                .iter()
                .map(|(asset, price)| PriceQuote {
                    asset: a(asset),
                    price: d(price),
                    published_ms: now,
                })
                .collect(),
        },
    })
    .unwrap()
}

fn verdicts(applied: &Applied) -> Vec<QuoteVerdict> {
    match &applied.outcome {
        Outcome::Prices(PriceAnswer::Applied { verdicts, .. }) => verdicts.clone(),
        o => panic!("unexpected {o:?}"),
    }
}

fn state_of(w: &World, asset: &str) -> Option<PriceState> {
    w.state.price(&a(asset)).map(|p| p.state())
}

#[test]
fn a_price_recovers_goes_fresh_then_stale_with_alerts() {
    let mut w = World::new();
    assert_eq!(
        set_class(&mut w, "ETH", AssetClass::Major),
        Outcome::AssetClassSet {
            previous: None,
            class: AssetClass::Major,
            version: 1,
        }
    );
    let applied = publish(&mut w, "pyth", 1, &[("ETH", "2000"), ("DOGE", "0.1")]);
    assert_eq!(
        verdicts(&applied),
        vec![
            QuoteVerdict::Accepted { price: d("2000") },
            QuoteVerdict::UnknownAsset
        ]
    );
    assert!(matches!(
        state_of(&w, "ETH"),
        Some(PriceState::Recovering { .. })
    ));
    assert_eq!(state_of(&w, "DOGE"), None);
    // The grace (30 s) passes: a tick is due and makes it FRESH.
    w.now += 29_999;
    assert!(!w.state.tick_due(w.now));
    w.now += 1;
    assert!(w.state.tick_due(w.now));
    let t = w.tick();
    assert_eq!(state_of(&w, "ETH"), Some(PriceState::Fresh));
    assert_eq!(t.alerts.len(), 1);
    assert_eq!(t.alerts[0].kind, AlertKind::PriceFresh);
    assert_eq!(
        w.state.price(&a("ETH")).unwrap().fresh_price(),
        Some(d("2000"))
    );
    // No quote for over MAJOR's 60 s since the last: STALE, alerted.
    w.now += 30_001;
    let t = w.tick();
    assert_eq!(state_of(&w, "ETH"), Some(PriceState::Stale));
    assert_eq!(t.alerts[0].kind, AlertKind::PriceStale);
    assert_eq!(t.alerts[0].asset, Some(a("ETH")));
    assert_eq!(w.state.price(&a("ETH")).unwrap().fresh_price(), None);
    assert!(!w.state.tick_due(w.now + 1_000_000), "nothing more to do");
}

#[test]
fn a_gap_applies_nothing_and_a_replay_is_refused() {
    let mut w = World::new();
    set_class(&mut w, "ETH", AssetClass::Major);
    let digest = w.state.digest_without_audit();
    let gap = publish(&mut w, "pyth", 3, &[("ETH", "2000")]);
    assert_eq!(
        gap.outcome,
        Outcome::Prices(PriceAnswer::Gap {
            expected: 1,
            got: 3
        })
    );
    assert_eq!(w.state.digest_without_audit(), digest, "nothing applied");
    publish(&mut w, "pyth", 1, &[("ETH", "2000")]);
    let replay = w.apply(Command::PublishPrices {
        at_ms: w.now,
        oracle: oracle("pyth"),
        batch: PriceBatch {
            sequence: 1,
            quotes: vec![],
        },
    });
    assert_eq!(
        replay.unwrap_err(),
        LedgerError::SequenceReplayed {
            expected: 2,
            got: 1
        }
    );
    // Each oracle has its own sequence.
    publish(&mut w, "chainlink", 1, &[("ETH", "2001")]);
    assert_eq!(
        w.state.price(&a("ETH")).unwrap().last_price(),
        Some(d("2000.5"))
    );
}

#[test]
fn a_jump_is_held_and_alerted() {
    let mut w = World::new();
    set_class(&mut w, "ETH", AssetClass::Major);
    publish(&mut w, "pyth", 1, &[("ETH", "2000")]);
    w.now += 1_000;
    let held = publish(&mut w, "pyth", 2, &[("ETH", "1000")]);
    assert_eq!(
        verdicts(&held),
        vec![QuoteVerdict::Held {
            median: d("1000"),
            last: d("2000")
        }]
    );
    assert_eq!(held.alerts[0].kind, AlertKind::PriceHeld);
    assert_eq!(
        w.state.price(&a("ETH")).unwrap().last_price(),
        Some(d("2000"))
    );
}

#[test]
fn classes_are_audited_and_prices_survive_a_snapshot() {
    let mut w = World::new();
    set_class(&mut w, "ETH", AssetClass::Major);
    set_class(&mut w, "USDC", AssetClass::Stable);
    assert_eq!(
        set_class(&mut w, "ETH", AssetClass::Alt),
        Outcome::AssetClassSet {
            previous: Some(AssetClass::Major),
            class: AssetClass::Alt,
            version: 2,
        }
    );
    w.apply(Command::ConfigurePrices {
        at_ms: w.now,
        rules: PriceRules {
            grace_ms: 5_000,
            ..PriceRules::default()
        },
    })
    .unwrap();
    publish(&mut w, "pyth", 1, &[("ETH", "2000"), ("USDC", "1")]);
    publish(&mut w, "chainlink", 1, &[("ETH", "2010")]);
    w.now += 5_000;
    w.tick();
    assert_eq!(state_of(&w, "ETH"), Some(PriceState::Fresh));
    let audit = w.state.audit_records(0, 100);
    let last = audit.last().unwrap();
    assert_eq!(
        (
            last.action.as_str(),
            last.old_value.as_str(),
            last.new_value.as_str()
        ),
        ("set_asset_class", "MAJOR", "ALT")
    );
    let back = State::from_snapshot(&w.state.to_snapshot()).unwrap();
    assert_eq!(back.to_snapshot(), w.state.to_snapshot());
    assert_eq!(back.price(&a("ETH")), w.state.price(&a("ETH")));
    // The restored ledger goes on exactly as the original.
    let mut again = World::new();
    again.state = back;
    again.now = w.now;
    for world in [&mut w, &mut again] {
        world.now += 60_000;
        world.tick();
    }
    assert_eq!(again.state.to_snapshot(), w.state.to_snapshot());
    assert_eq!(state_of(&again, "ETH"), Some(PriceState::Stale));
    assert_eq!(state_of(&again, "USDC"), Some(PriceState::Fresh), "300 s");
}

/// Oracles that disagree by more than the agreement band (1%) raise one
/// PRICE_DEVIATION alert when the disagreement starts, not one per quote.
#[test]
fn disagreeing_oracles_are_alerted_once() {
    let mut w = World::new();
    let now = w.now;
    w.apply(Command::SetAssetClass {
        at_ms: now,
        by: "admin".into(),
        asset: a("ETH"),
        class: AssetClass::Major,
    })
    .unwrap();
    let deviations = |applied: &Applied| {
        applied
            .alerts
            .iter()
            .filter(|x| x.kind == AlertKind::PriceDeviation)
            .map(|x| x.message.clone())
            .collect::<Vec<_>>()
    };
    assert!(deviations(&publish(&mut w, "pyth", 1, &[("ETH", "2000")])).is_empty());
    assert!(
        deviations(&publish(&mut w, "chainlink", 1, &[("ETH", "2010")])).is_empty(),
        "within 1%"
    );
    let first = deviations(&publish(&mut w, "chainlink", 2, &[("ETH", "2100")]));
    assert_eq!(
        first,
        vec!["oracles disagree on ETH by more than 1%: pyth 2000, chainlink 2100"]
    );
    assert!(deviations(&publish(&mut w, "chainlink", 3, &[("ETH", "2101")])).is_empty());
    // They agree again, then disagree again: a new alert.
    publish(&mut w, "chainlink", 4, &[("ETH", "2001")]);
    assert_eq!(
        deviations(&publish(&mut w, "pyth", 2, &[("ETH", "1900")])).len(),
        1
    );
}
