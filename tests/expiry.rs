//! Reservation expiry is driven by the server's clock, tested with paused
//! tokio time: no sleeping, no flakiness.
//!
//! These servers run with `--durability none`: the journal's writer is a
//! real thread, and while a paused runtime waits for it, tokio jumps the
//! clock to the next timer (HTTP/2 keepalive, request deadlines). Expiry
//! across a restart is tested in `durability.rs` with real time.

mod common;
use std::time::Duration;

use common::*;
use interlock_client::pb;
use tonic::Code;

#[tokio::test(start_paused = true)]
async fn reservations_expire_on_the_servers_clock() {
    let mut config = interlock_server::Config::dev_for_tests();
    config.durability = interlock_server::Durability::None;
    config.broker_stale_after_ms = 3_600_000;
    let s = start_with(config).await;
    own(&s, "fund", "10").await;
    let venue = s.client("dev-venue-a").await;
    let a = venue
        .check(pb::CheckRequest {
            ttl_ms: 2_000,
            ..check("o1", "fund", "10")
        })
        .await
        .unwrap();
    assert_eq!(a.verdict(), pb::Verdict::Approved);
    assert_eq!(
        venue
            .check(check("o2", "fund", "1"))
            .await
            .unwrap()
            .verdict(),
        pb::Verdict::Rejected
    );

    tokio::time::advance(Duration::from_millis(1_500)).await;
    let e = s.admin().await.exposure("fund").await.unwrap();
    assert_eq!(e.assets[0].committed, "10", "not yet expired");

    tokio::time::advance(Duration::from_millis(1_000)).await;
    // Let the ticker run.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let e = s.admin().await.exposure("fund").await.unwrap();
    assert_eq!(e.assets[0].committed, "0", "expired and freed");
    let err = venue.commit(&a.reservation_id).await.unwrap_err();
    assert_eq!(code(err), Code::FailedPrecondition);
    assert_eq!(
        venue.release(&a.reservation_id).await.unwrap().state(),
        pb::ReservationState::Expired
    );
    assert_eq!(
        venue
            .check(check("o3", "fund", "10"))
            .await
            .unwrap()
            .verdict(),
        pb::Verdict::Approved
    );
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_broker_makes_checks_fail_closed() {
    // Paused time auto-advances while the runtime waits on sockets (connects,
    // HTTP/2 timers), so the staleness window is wide and the advance wider.
    let mut config = interlock_server::Config::dev_for_tests();
    config.durability = interlock_server::Durability::None;
    config.broker_stale_after_ms = 600_000;
    let s = start_with(config).await;
    own(&s, "fund", "10").await;
    let venue = s.client("dev-venue-a").await;
    let admin = s.admin().await;
    let first = venue.check(check("o1", "fund", "1")).await.unwrap();
    assert_eq!(first.verdict(), pb::Verdict::Approved, "{first:?}");
    tokio::time::advance(Duration::from_secs(601)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = venue.check(check("o2", "fund", "1")).await.unwrap();
    assert_eq!(r.reason.unwrap().code(), pb::RejectCode::StaleSync);
    assert!(admin.exposure("fund").await.unwrap().stale);
    own(&s, "fund", "10").await;
    assert_eq!(
        venue
            .check(check("o3", "fund", "1"))
            .await
            .unwrap()
            .verdict(),
        pb::Verdict::Approved
    );
    s.stop().await;
}
