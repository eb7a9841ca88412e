//! The book cache: a book refreshed from what changed gives the same
//! reports, bit for bit, as one encoded afresh from the same moment,
//! through new participants, changed positions, a new venue and a changed
//! LTV (both rebuild it).

use interlock_analytics::book::BookCache;
use interlock_analytics::scenario::Choice;
use interlock_analytics::stress::{stress, StressRequest};
use interlock_analytics::Book;
use interlock_ledger::testkit::*;
use interlock_ledger::*;

fn admin(w: &mut World, cmd: impl FnOnce(UnixMs) -> Command) {
    let at = w.now;
    w.apply(cmd(at)).unwrap();
}

fn setup() -> World {
    let mut w = World::new();
    admin(&mut w, |at| Command::SetAssetClass {
        at_ms: at,
        by: "admin".into(),
        asset: a("ETH"),
        class: AssetClass::Major,
    });
    admin(&mut w, |at| Command::SetHaircut {
        at_ms: at,
        by: "admin".into(),
        asset: a("ETH"),
        haircut: Some(d("0.2")),
        force: None,
    });
    for venue in ["V1", "V2"] {
        admin(&mut w, |at| Command::SetVenueAsset {
            at_ms: at,
            by: "admin".into(),
            venue: v(venue),
            asset: a("ETH"),
            params: VenueAssetParams {
                threshold: d("0.8"),
                ltv: Some(d("0.7")),
            },
        });
    }
    let now = w.now;
    w.apply(Command::PublishPrices {
        at_ms: now,
        oracle: OracleId::new("pyth").unwrap(),
        batch: PriceBatch {
            sequence: 1,
            quotes: vec![PriceQuote {
                asset: a("ETH"),
                price: d("2000"),
                published_ms: now,
            }],
        },
    })
    .unwrap();
    w
}

fn pledge(w: &mut World, who: &str, owned: u32, venues: &[(&str, u32)]) {
    let mut u = vec![SyncUpdate::Collateral {
        participant: p(who),
        asset: a("ETH"),
        quantity: owned.into(),
    }];
    for (venue, q) in venues {
        u.push(SyncUpdate::Commitment {
            participant: p(who),
            venue: v(venue),
            asset: a("ETH"),
            quantity: (*q).into(),
            covers_commit_seq: 0,
        });
    }
    w.sync(u);
}

fn report(book: &Book) -> String {
    let req = StressRequest {
        scenario: Choice::Named {
            name: "CHAOS_TIERS".into(),
            multiple: 1,
        },
        rows: 50,
        participants: Vec::new(),
        depth: Vec::new(),
        collect_sets: true,
        watch: Vec::new(),
        rules: Vec::new(),
    };
    format!("{:?}", stress(book, &req, &|| false).unwrap())
}

#[test]
fn a_refreshed_book_reports_as_a_fresh_one() {
    let mut w = setup();
    let mut cache = BookCache::default();
    for i in 0..150 {
        pledge(
            &mut w,
            &format!("p{i}"),
            10 + i % 7,
            &[("V1", 10 + i % 5), ("V2", i % 9)],
        );
    }
    let same = |w: &World, cache: &mut BookCache| {
        let fresh = report(&Book::from_moment(&w.state.moment()));
        let (cached, done) = cache.refresh(w.state.moment());
        assert_eq!(report(cached), fresh);
        done
    };
    assert!(
        same(&w, &mut cache).rebuilt,
        "the first moment is built whole"
    );
    let done = same(&w, &mut cache);
    assert_eq!((done.rebuilt, done.encoded), (false, 0), "nothing changed");

    // A few participants change, one is new: only they are encoded.
    pledge(&mut w, "p3", 30, &[("V1", 60)]);
    pledge(&mut w, "p140", 5, &[("V2", 50), ("V1", 1)]);
    pledge(&mut w, "new", 8, &[("V1", 8)]);
    let done = same(&w, &mut cache);
    assert_eq!((done.rebuilt, done.encoded), (false, 3));
    // A check's reservation changes its participant too; a refused one
    // changes nothing.
    pledge(&mut w, "q", 10, &[]);
    same(&w, &mut cache);
    assert_eq!(
        w.check("V2", req("o1", "q", "ETH", "4")).verdict,
        Verdict::Approved
    );
    let done = same(&w, &mut cache);
    assert_eq!((done.rebuilt, done.encoded), (false, 1));
    assert_eq!(
        w.check("V2", req("o2", "q", "ETH", "40")).verdict,
        Verdict::Rejected
    );
    let done = same(&w, &mut cache);
    assert_eq!((done.rebuilt, done.encoded), (false, 0));

    // A venue the book has not seen: rebuilt.
    pledge(&mut w, "p9", 12, &[("V3", 12)]);
    assert!(same(&w, &mut cache).rebuilt);
    // A changed LTV changes every implied debt there: rebuilt.
    admin(&mut w, |at| Command::SetVenueAsset {
        at_ms: at,
        by: "admin".into(),
        venue: v("V1"),
        asset: a("ETH"),
        params: VenueAssetParams {
            threshold: d("0.8"),
            ltv: Some(d("0.6")),
        },
    });
    assert!(same(&w, &mut cache).rebuilt);
    // A new price needs no participant re-encoded.
    let now = w.now;
    w.apply(Command::PublishPrices {
        at_ms: now,
        oracle: OracleId::new("pyth").unwrap(),
        batch: PriceBatch {
            sequence: 2,
            quotes: vec![PriceQuote {
                asset: a("ETH"),
                price: d("1900"),
                published_ms: now,
            }],
        },
    })
    .unwrap();
    let done = same(&w, &mut cache);
    assert_eq!((done.rebuilt, done.encoded), (false, 0));
    // Churn until the dead space outweighs the live: rebuilt, and equal.
    let mut rebuilt = false;
    for round in 0..10 {
        for i in 0..150 {
            pledge(
                &mut w,
                &format!("p{i}"),
                10 + (i + round) % 7,
                &[("V1", 3 + round)],
            );
        }
        rebuilt |= same(&w, &mut cache).rebuilt;
    }
    assert!(rebuilt);
}
