//! The snapshot's layouts, old and new, and its refusals.

use super::*;
use crate::testkit::{req, World};

/// Snapshots in the first two layouts (written by the code of
/// `6ad3607` for the state below: two open reservations and a
/// rejection) read back as the same state, their idempotency entries in
/// the compact form, answering repeats as they did.
#[test]
fn the_earlier_layouts_still_read() {
    let mut w = two_open_reservations();
    // The default when those were written.
    w.state.cfg.idempotency_keys_max = 4_000_000;
    w.check("v1", req("o3", "fund", "ETH", "100"));
    let rejected = w.check("v1", req("o3", "fund", "ETH", "100"));
    for file in ["snapshot-snap.bin", "snapshot-snp2.bin"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(file);
        let old = std::fs::read(&path).unwrap();
        let back = State::from_snapshot(&old).unwrap();
        assert_eq!(back.to_snapshot(), w.state.to_snapshot(), "{file}");
        let mut again = World::new();
        again.state = back;
        again.now = w.now;
        assert_eq!(
            again.check("v1", req("o3", "fund", "ETH", "100")),
            rejected,
            "{file}"
        );
    }
}

/// A snapshot in the fourth layout (written by the code of `d7a7f4f`
/// for the state below: a class, a venue's parameters, a haircut, a
/// price, two reservations and a liability) reads back as the same
/// state, with the default stress shocks and the debt sums derived.
#[test]
fn the_fourth_layout_still_reads() {
    use crate::command::*;
    use crate::testkit::{a, d, p, v};
    let mut w = World::new();
    w.own("fund", "ETH", "10");
    let now = w.now;
    for cmd in [
        Command::SetAssetClass {
            at_ms: now,
            by: "admin".into(),
            asset: a("ETH"),
            class: AssetClass::Major,
        },
        Command::SetVenueAsset {
            at_ms: now,
            by: "admin".into(),
            venue: v("v1"),
            asset: a("ETH"),
            params: VenueAssetParams {
                threshold: d("0.8"),
                ltv: Some(d("0.7")),
            },
        },
        Command::SetHaircut {
            at_ms: now,
            by: "admin".into(),
            asset: a("ETH"),
            haircut: Some(d("0.15")),
            force: None,
        },
        Command::PublishPrices {
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
        },
    ] {
        w.apply(cmd).unwrap();
    }
    w.check("v1", req("o1", "fund", "ETH", "1"));
    w.check("v2", req("o2", "fund", "ETH", "2"));
    // That code took a liability on a venue no admin had configured;
    // admission refuses it now, so it is applied as a replay of that
    // code's journal would apply it: without admission.
    let sync = Command::Sync {
        at_ms: w.now,
        broker: crate::testkit::b("prime-1"),
        batch: SyncBatch {
            sequence: w.seq + 1,
            updates: vec![SyncUpdate::Liability {
                participant: p("fund"),
                venue: v("v2"),
                asset: a("ETH"),
                quantity: d("0.5"),
            }],
        },
    };
    assert!(matches!(
        w.state.admit(&sync),
        Err(crate::LedgerError::InvalidArgument {
            field: "updates.liability.venue",
            ..
        })
    ));
    w.state.apply(&sync).unwrap();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/snapshot-snp4.bin");
    let back = State::from_snapshot(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(back.to_snapshot(), w.state.to_snapshot());
    let pos = back
        .participants
        .get(&p("fund"))
        .unwrap()
        .assets
        .get(&a("ETH"))
        .unwrap();
    // v1: 1 reserved at LTV 0.7; v2 reports, 2 reserved (uncovered).
    assert_eq!((pos.owed, pos.implied), (d("0.5"), d("2.7")));
}

/// A ledger holding reservations 1 and 2, both open, of one participant.
fn two_open_reservations() -> World {
    let mut w = World::new();
    w.own("fund", "ETH", "10");
    w.check("v1", req("o1", "fund", "ETH", "1"));
    w.check("v1", req("o2", "fund", "ETH", "1"));
    w
}

fn assert_refused(snapshot: &[u8], what: &str) {
    match State::from_snapshot(snapshot) {
        Err(SnapshotError::Decode(e)) => assert_eq!(e.what, what),
        other => panic!("expected a decode error ({what}), got {other:?}"),
    }
}

/// A participant's open reservations are rebuilt by appending, so a
/// snapshot must list reservations in increasing id order; one that
/// does not is refused, not decoded into a participant whose open
/// reservations are out of order.
#[test]
fn reservations_out_of_id_order_are_refused() {
    let w = two_open_reservations();
    let bytes = w.state.to_snapshot();
    State::from_snapshot(&bytes).unwrap();

    let encoded = |id: u64| {
        let res = w.state.reservations.get(&ReservationId(id)).unwrap();
        let mut out = Writer::new();
        encode_reservation(&mut out, res, &w.state.participants);
        out.buf
    };
    let (first, second) = (encoded(1), encoded(2));
    let in_order = [first.as_slice(), second.as_slice()].concat();
    let at = bytes
        .windows(in_order.len())
        .position(|window| window == in_order.as_slice())
        .expect("the two reservations, one after the other");
    let mut swapped = bytes.clone();
    swapped[at..at + in_order.len()]
        .copy_from_slice(&[second.as_slice(), first.as_slice()].concat());

    assert_refused(&swapped, "reservations not in increasing id order");
}

/// The next reservation id must be above every stored one, or a new
/// check would reuse an id.
#[test]
fn a_reservation_id_not_yet_handed_out_is_refused() {
    let mut w = two_open_reservations();
    w.state.next_reservation = 1;
    assert_refused(
        &w.state.to_snapshot(),
        "reservation id above the last one handed out",
    );
}
