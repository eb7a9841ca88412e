//! The ledger's own memory for the shape `bench/memory.sh` gives the server:
//! PARTICIPANTS participants with one collateral line each, then CHECKS
//! approved checks with a 10-minute TTL (every reservation stays open), in
//! process, with no transport: the RSS the ledger's tables take, to set
//! beside the server's.
//!
//! cargo run --release -p interlock-ledger --example memory -- PARTICIPANTS CHECKS

use interlock_ledger::testkit::rss_kib;
use interlock_ledger::*;
use rust_decimal::Decimal;

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .map(|a| a.parse().expect("a count"))
        .unwrap_or(default)
}

fn main() {
    let (n, checks) = (arg(1, 1_000_000), arg(2, 200_000));
    let at = 1_800_000_000_000;
    let r0 = rss_kib();
    let mut state = State::new(LedgerConfig::default());
    let broker = BrokerId::new("dev-broker").unwrap();
    let ids: Vec<usize> = (0..n).collect();
    for (seq, chunk) in (1..).zip(ids.chunks(SYNC_BATCH_MAX)) {
        let updates = chunk
            .iter()
            .map(|i| SyncUpdate::Collateral {
                participant: ParticipantId::new(&format!("bench-p{i}")).unwrap(),
                asset: AssetId::new("ETH").unwrap(),
                quantity: Decimal::from(1_000_000),
            })
            .collect();
        state
            .apply(&Command::Sync {
                at_ms: at,
                broker: broker.clone(),
                batch: SyncBatch {
                    sequence: seq,
                    updates,
                },
            })
            .expect("sync applies");
    }
    let r1 = rss_kib();
    let venue = VenueId::new("dev-venue").unwrap();
    for i in 0..checks {
        let p = (i.wrapping_mul(2_654_435_761)) % n;
        let applied = state
            .apply(&Command::Check {
                at_ms: at,
                venue: venue.clone(),
                request: CheckRequest {
                    order_id: OrderId::new(&format!("b1-{}-{i}", i % 16)).unwrap(),
                    participant: ParticipantId::new(&format!("bench-p{p}")).unwrap(),
                    asset: AssetId::new("ETH").unwrap(),
                    quantity: Decimal::ONE,
                    ttl_ms: Some(600_000),
                    risk_reducing: false,
                    dry_run: false,
                    allow_partial: false,
                    liability: None,
                },
            })
            .expect("the check applies");
        assert!(matches!(
            applied.outcome,
            Outcome::Check(CheckAnswer {
                verdict: Verdict::Approved,
                ..
            })
        ));
    }
    let r2 = rss_kib();
    println!("ledger in process: RSS at start {r0} KiB, after {n} participants {r1} KiB, after {checks} checks {r2} KiB");
    println!(
        "ledger per participant (one collateral line): {:.0} bytes",
        (r1 - r0) as f64 * 1024.0 / n as f64
    );
    if checks > 0 {
        println!(
            "ledger per check (an open reservation and its remembered answer): {:.0} bytes",
            (r2 - r1) as f64 * 1024.0 / checks as f64
        );
    }
}
