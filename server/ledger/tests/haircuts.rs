//! The volatility model's haircuts in the ledger: one close a day from the
//! accepted prices, published through the ticks, overridden by a pin,
//! audited, in HF^eco, and kept across a snapshot.

mod common;
use common::*;
use interlock_ledger::value::haircut::{Haircut, HaircutParams};
use interlock_ledger::*;

const DAY: i64 = 86_400_000;

/// Publishes ETH at `price` half a minute before the end of `day`, then
/// ticks ten seconds into the next day (the price is fresh then).
fn close_day(w: &mut World, seq: &mut u64, day: i64, price: &str) {
    w.now = day * DAY + DAY - 30_000;
    *seq += 1;
    let now = w.now;
    w.apply(Command::PublishPrices {
        at_ms: now,
        oracle: OracleId::new("pyth").unwrap(),
        batch: PriceBatch {
            sequence: *seq,
            quotes: vec![PriceQuote {
                asset: a("ETH"),
                price: d(price),
                published_ms: now,
            }],
        },
    })
    .unwrap();
    w.now = (day + 1) * DAY + 10_000;
    w.sync(vec![]);
    w.tick();
}

#[test]
fn the_model_publishes_from_daily_closes() {
    let mut w = World::new();
    let day0 = 20_000;
    w.now = day0 * DAY;
    admin(&mut w, |at| Command::SetAssetClass {
        at_ms: at,
        by: "admin".into(),
        asset: a("ETH"),
        class: AssetClass::Major,
    });
    w.own("P", "ETH", "10");
    let mut seq = 0;
    // Days count from the class; the closes take 2,100 (the base), 2,000,
    // then 1,700 (a 15% fall) and 1,750.
    close_day(&mut w, &mut seq, day0, "2100");
    assert_eq!(
        w.state.model_haircut(&a("ETH")),
        None,
        "one close: no return yet"
    );
    for (i, p) in ["2000", "1700", "1750"].iter().enumerate() {
        close_day(&mut w, &mut seq, day0 + 1 + i as i64, p);
    }
    // The same closes through the model directly.
    let params = HaircutParams::default();
    let mut model = Haircut::seeded(params.sigma_floor).unwrap();
    let mut changes = 0;
    for p in ["2100", "2000", "1700", "1750"] {
        let before = model.published();
        model.close(&params, d(p)).unwrap();
        changes += usize::from(model.published() != before);
    }
    let h = model.published().unwrap();
    assert_eq!(w.state.model_haircut(&a("ETH")), Some(h));
    assert_eq!(w.state.haircut_of(&a("ETH")), Some(h));
    // The fall put it above the floor's buffered haircut (0.159369).
    assert!(h > d("0.16"), "{h}");
    let audited: Vec<_> = w
        .state
        .audit_records(0, 1000)
        .into_iter()
        .filter(|r| r.action == "haircut_model")
        .map(|r| (r.old_value, r.new_value))
        .collect();
    assert_eq!(audited.len(), changes, "{audited:?}");
    assert!(audited[0].1.contains("(initial; close 2000"), "{audited:?}");
    assert!(
        audited[1].1.contains("(raised at once; close 1700"),
        "{audited:?}"
    );
    // HF^eco values the 10 ETH at 1,750 after the model's haircut.
    let view = w.state.health(&p("P")).unwrap().unwrap();
    assert_eq!(
        view.collateral_value,
        d("10") * d("1750") * (rust_decimal::Decimal::ONE - h)
    );
    // A pin overrides the model; the model goes on underneath.
    admin(&mut w, |at| Command::SetHaircut {
        at_ms: at,
        by: "admin".into(),
        asset: a("ETH"),
        haircut: Some(d("0.3")),
        force: None,
    });
    assert_eq!(w.state.haircut_of(&a("ETH")), Some(d("0.3")));
    assert_eq!(w.state.model_haircut(&a("ETH")), Some(h));
    // A day without a fresh price is not a close.
    w.now += 2 * DAY;
    w.sync(vec![]);
    w.tick();
    assert_eq!(w.state.model_haircut(&a("ETH")), Some(h));
    let back = State::from_snapshot(&w.state.to_snapshot()).unwrap();
    assert_eq!(back.to_snapshot(), w.state.to_snapshot());
    assert_eq!(back.model_haircut(&a("ETH")), Some(h));
}
