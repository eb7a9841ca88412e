//! Liabilities: what a participant owes each venue, synced by brokers as
//! absolute values. Never reported and reported as zero are different
//! facts; both survive a snapshot.

mod common;
use common::*;
use interlock_ledger::*;
use rust_decimal::Decimal;

fn liability(participant: &str, venue: &str, asset: &str, qty: &str) -> SyncUpdate {
    SyncUpdate::Liability {
        participant: p(participant),
        venue: v(venue),
        asset: a(asset),
        quantity: d(qty),
    }
}

fn owed(w: &World, participant: &str, asset: &str, venue: &str) -> Option<Option<Decimal>> {
    let e = w.state.exposure(&p(participant), w.now).ok()??;
    let asset = e.assets.into_iter().find(|x| x.asset == a(asset))?;
    asset
        .venues
        .into_iter()
        .find(|x| x.venue == v(venue))
        .map(|x| x.owed)
}

#[test]
fn liabilities_are_absolute_per_venue_and_asset() {
    let mut w = World::new();
    w.own("fund", "ETH", "100");
    w.venue_rule("aave", LiquidationRule::Morpho);
    w.venue_rule("morpho", LiquidationRule::Morpho);
    w.sync(vec![
        liability("fund", "aave", "USDC", "100000"),
        liability("fund", "morpho", "USDC", "0"),
    ]);
    assert_eq!(owed(&w, "fund", "USDC", "aave"), Some(Some(d("100000"))));
    assert_eq!(
        owed(&w, "fund", "USDC", "morpho"),
        Some(Some(Decimal::ZERO)),
        "reported as no debt"
    );
    assert_eq!(owed(&w, "fund", "ETH", "aave"), None, "never reported");
    // Absolute: the next report replaces the last.
    w.sync(vec![liability("fund", "aave", "USDC", "40000")]);
    assert_eq!(owed(&w, "fund", "USDC", "aave"), Some(Some(d("40000"))));
    // A debt is not a commitment: the ETH headroom is untouched.
    assert_eq!(
        w.check("v1", req("o1", "fund", "ETH", "100")).verdict,
        Verdict::Approved
    );
    assert_eq!(w.committed("fund", "USDC"), Decimal::ZERO);

    let back = State::from_snapshot(&w.state.to_snapshot()).unwrap();
    assert_eq!(back.to_snapshot(), w.state.to_snapshot());
    let mut again = World::new();
    again.state = back;
    again.now = w.now;
    assert_eq!(
        owed(&again, "fund", "USDC", "morpho"),
        Some(Some(Decimal::ZERO))
    );
    assert_eq!(owed(&again, "fund", "USDC", "aave"), Some(Some(d("40000"))));
}

/// A liability names a venue an admin has configured (asset parameters or
/// a liquidation rule): otherwise the whole batch is INVALID_ARGUMENT
/// naming the field, nothing of it applies, and the broker's sequence is
/// not used up.
#[test]
fn a_liability_on_an_unconfigured_venue_is_refused_and_changes_nothing() {
    let mut w = World::new();
    w.own("fund", "ETH", "100");
    w.venue_rule("aave", LiquidationRule::Morpho);
    let before = w.state.to_snapshot();
    let now = w.now;
    let batch = |seq: u64| Command::Sync {
        at_ms: now,
        broker: b("prime-1"),
        batch: SyncBatch {
            sequence: seq,
            updates: vec![
                SyncUpdate::Collateral {
                    participant: p("fund"),
                    asset: a("ETH"),
                    quantity: d("50"),
                },
                liability("fund", "aave", "USDC", "1000"),
                liability("fund", "nowhere", "USDC", "1000"),
            ],
        },
    };
    let refused = w.apply(batch(w.seq + 1));
    match refused {
        Err(LedgerError::InvalidArgument { field, reason }) => {
            assert_eq!(field, "updates.liability.venue");
            assert!(reason.contains("nowhere"), "{reason}");
        }
        other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
    }
    assert!(
        w.state.to_snapshot() == before,
        "a refused batch changed the state"
    );
    assert_eq!(owed(&w, "fund", "USDC", "aave"), None);

    // Configured by its asset parameters, the venue is known: the same
    // sequence now applies.
    w.apply(Command::SetVenueAsset {
        at_ms: w.now,
        by: "admin".into(),
        venue: v("nowhere"),
        asset: a("ETH"),
        params: VenueAssetParams {
            threshold: d("0.8"),
            ltv: None,
        },
    })
    .unwrap();
    let applied = w.apply(batch(w.seq + 1)).unwrap();
    assert!(matches!(
        applied.outcome,
        Outcome::Sync(SyncAnswer::Applied { .. })
    ));
    assert_eq!(owed(&w, "fund", "USDC", "nowhere"), Some(Some(d("1000"))));
    assert_eq!(w.committed("fund", "ETH"), Decimal::ZERO);
}
