//! The venue reuse report: over-pledged shares, the buckets of "pledged on
//! n other venues too", and the k-anonymity a venue's own report keeps.

use interlock_analytics::reuse::reuse_report;
use interlock_analytics::{AnalyticsError, Book};
use interlock_ledger::testkit::*;
use interlock_ledger::*;

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-6 * want.abs().max(1.0)
}

/// ETH at 1,000. On V1: `solo` participants pledge 10 ETH they own and use
/// nowhere else; `twice` participants pledge their 10 ETH on V1 and on V2;
/// one participant pledges its 10 ETH on V1, V2 and V3.
fn world(solo: usize, twice: usize) -> World {
    let mut w = World::new();
    let now = w.now;
    w.apply(Command::SetAssetClass {
        at_ms: now,
        by: "admin".into(),
        asset: a("ETH"),
        class: AssetClass::Major,
    })
    .unwrap();
    w.apply(Command::PublishPrices {
        at_ms: now,
        oracle: OracleId::new("pyth").unwrap(),
        batch: PriceBatch {
            sequence: 1,
            quotes: vec![PriceQuote {
                asset: a("ETH"),
                price: d("1000"),
                published_ms: now,
            }],
        },
    })
    .unwrap();
    let pledge = |who: &str, venues: &[&str]| {
        let mut u = vec![SyncUpdate::Collateral {
            participant: p(who),
            asset: a("ETH"),
            quantity: d("10"),
        }];
        for venue in venues {
            u.push(SyncUpdate::Commitment {
                participant: p(who),
                venue: v(venue),
                asset: a("ETH"),
                quantity: d("10"),
                covers_commit_seq: 0,
            });
        }
        u
    };
    for i in 0..solo {
        w.sync(pledge(&format!("s{i}"), &["V1"]));
    }
    for i in 0..twice {
        w.sync(pledge(&format!("t{i}"), &["V1", "V2"]));
    }
    w.sync(pledge("x", &["V1", "V2", "V3"]));
    w
}

#[test]
fn an_admin_sees_every_bucket_and_the_overlap() {
    let w = world(6, 5);
    let book = Book::from_moment(&w.state.moment());
    let r = reuse_report(&book, &v("V1"), None, &|| false).unwrap();
    assert_eq!(r.participants, 12);
    assert!(close(r.committed_value, 120_000.0));
    // Twice-pledged: half over-pledged (5 ETH each); x: two thirds.
    assert!(close(
        r.over_pledged_value,
        5.0 * 5000.0 + 10_000.0 * 2.0 / 3.0
    ));
    let by: Vec<(u32, u64)> = r
        .buckets
        .iter()
        .map(|b| (b.others_min, b.participants))
        .collect();
    assert_eq!(by, [(0, 6), (1, 5), (2, 1), (3, 0), (4, 0)]);
    assert_eq!(r.overlap, vec![(v("V2"), 60_000.0), (v("V3"), 10_000.0)]);
}

#[test]
fn a_venue_sees_only_aggregates_over_k() {
    let w = world(6, 5);
    let book = Book::from_moment(&w.state.moment());
    let r = reuse_report(&book, &v("V1"), Some(5), &|| false).unwrap();
    assert!(!r.withheld);
    assert!(r.overlap.is_empty(), "no matrix for a venue");
    // x alone on "2 others" is merged down into "1 or more": 6 of them.
    let by: Vec<(u32, Option<u32>, u64)> = r
        .buckets
        .iter()
        .map(|b| (b.others_min, b.others_max, b.participants))
        .collect();
    assert_eq!(by, [(0, Some(0), 6), (1, None, 6)]);
    for b in &r.buckets {
        assert!(b.participants >= 5);
    }
    let sum: f64 = r.buckets.iter().map(|b| b.committed_value).sum();
    assert!(
        close(sum, r.committed_value),
        "the buckets add up to the total"
    );

    // With k 7 even the solos merge: one bucket of 12.
    let r = reuse_report(&book, &v("V1"), Some(7), &|| false).unwrap();
    assert_eq!(r.buckets.len(), 1);
    assert_eq!(r.buckets[0].participants, 12);

    // V3 has one participant: nothing is given.
    let r = reuse_report(&book, &v("V3"), Some(5), &|| false).unwrap();
    assert!(r.withheld);
    assert!(r.buckets.is_empty());
    assert_eq!((r.participants, r.committed_value), (0, 0.0));
}

#[test]
fn bad_input() {
    let w = world(1, 1);
    let book = Book::from_moment(&w.state.moment());
    assert!(matches!(
        reuse_report(&book, &v("nowhere"), None, &|| false),
        Err(AnalyticsError::InvalidArgument { field: "venue", .. })
    ));
    assert!(matches!(
        reuse_report(&book, &v("V1"), Some(1), &|| false),
        Err(AnalyticsError::InvalidArgument {
            field: "min_participants",
            ..
        })
    ));
}
