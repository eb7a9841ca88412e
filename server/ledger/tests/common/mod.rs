//! The ledger's tests use the shared test kit.
#![allow(unused_imports, dead_code)]

pub use interlock_ledger::testkit::*;

use interlock_ledger::*;

pub fn admin(w: &mut World, cmd: impl FnOnce(UnixMs) -> Command) -> Outcome {
    let at = w.now;
    w.apply(cmd(at)).unwrap().outcome
}

/// P owns 100 ETH at 2,000 and pledges all of it on venue A (LT 0.83,
/// debt 100,000 USDC) and all of it on venue B (LLTV 0.86, debt 100,000);
/// Interlock's haircut on ETH is 0.17.
pub fn w2() -> World {
    w2_on(&["A", "B"])
}

/// W2 with the pledges and debts on `venues` only (both venues' parameters
/// are set either way).
pub fn w2_on(venues: &[&str]) -> World {
    let mut w = World::new();
    for (asset, class) in [("ETH", AssetClass::Major), ("USDC", AssetClass::Stable)] {
        admin(&mut w, |at| Command::SetAssetClass {
            at_ms: at,
            by: "admin".into(),
            asset: a(asset),
            class,
        });
    }
    for (venue, lt) in [("A", "0.83"), ("B", "0.86")] {
        admin(&mut w, |at| Command::SetVenueAsset {
            at_ms: at,
            by: "admin".into(),
            venue: v(venue),
            asset: a("ETH"),
            params: VenueAssetParams {
                threshold: d(lt),
                ltv: None,
            },
        });
    }
    admin(&mut w, |at| Command::SetHaircut {
        at_ms: at,
        by: "admin".into(),
        asset: a("ETH"),
        haircut: Some(d("0.17")),
        force: None,
    });
    let now = w.now;
    w.apply(Command::PublishPrices {
        at_ms: now,
        oracle: OracleId::new("pyth").unwrap(),
        batch: PriceBatch {
            sequence: 1,
            quotes: vec![
                PriceQuote {
                    asset: a("ETH"),
                    price: d("2000"),
                    published_ms: now,
                },
                PriceQuote {
                    asset: a("USDC"),
                    price: d("1"),
                    published_ms: now,
                },
            ],
        },
    })
    .unwrap();
    w.own("P", "ETH", "100");
    let mut updates = Vec::new();
    for &venue in venues {
        updates.push(SyncUpdate::Commitment {
            participant: p("P"),
            venue: v(venue),
            asset: a("ETH"),
            quantity: d("100"),
            covers_commit_seq: 0,
        });
        updates.push(SyncUpdate::Liability {
            participant: p("P"),
            venue: v(venue),
            asset: a("USDC"),
            quantity: d("100000"),
        });
    }
    w.sync(updates);
    w
}
