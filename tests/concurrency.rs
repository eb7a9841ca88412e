//! 64 concurrent venues racing for the last headroom: the approved total
//! equals the limit exactly, for one participant and for one ASSET_CAP.

mod common;
use common::*;
use interlock_client::pb;
use rust_decimal::Decimal;

const CLIENTS: usize = 64;

async fn race(s: &TestServer, participant_of: impl Fn(usize) -> String, qty: &str) -> Decimal {
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let venue = s
            .client(["dev-venue-a", "dev-venue-b", "dev-venue-c"][i % 3])
            .await;
        let participant = participant_of(i);
        let qty = qty.to_owned();
        tasks.push(tokio::spawn(async move {
            let r = venue
                .check(check(&format!("race-{i}"), &participant, &qty))
                .await
                .unwrap();
            match r.verdict() {
                pb::Verdict::Approved => r.approved_quantity.parse::<Decimal>().unwrap(),
                _ => Decimal::ZERO,
            }
        }));
    }
    let mut total = Decimal::ZERO;
    for t in tasks {
        total += t.await.unwrap();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_for_one_participants_last_headroom() {
    let s = start_server().await;
    own(&s, "fund", "10").await;
    // 64 requests of 0.5 against 10 of headroom: exactly 20 may win.
    let total = race(&s, |_| "fund".to_owned(), "0.5").await;
    assert_eq!(total, Decimal::from(10));
    let e = s.admin().await.exposure("fund").await.unwrap();
    assert_eq!(e.assets[0].committed, "10");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_for_the_last_of_an_asset_cap() {
    let s = start_server().await;
    for i in 0..CLIENTS {
        own(&s, &format!("fund-{i}"), "100").await;
    }
    let scope = pb::Scope {
        asset: "ETH".into(),
        ..Default::default()
    };
    set_limit(&s, pb::LimitKind::AssetCap, scope, "25").await;
    let total = race(&s, |i| format!("fund-{i}"), "1").await;
    assert_eq!(total, Decimal::from(25));
    s.stop().await;
}
