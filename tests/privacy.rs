//! The privacy promise through real gRPC, on the case that broke it: P owns
//! 1000 ETH and venue-a reserves 337.25; venue-b's two dry runs of 900 and
//! 1000 used to carry utilizations 1.23725 and 1.33725, from which the cap
//! (1000) and venue-a's reservation (337.25) followed exactly. The same
//! calls against a second server, where P owns 2000 and venue-a holds
//! 1337.25 (the same headroom for venue-b), must get byte-identical
//! answers, but for the reservation's deadline (each server's own clock).
//! (`server/tests/privacy.rs` is the property over any sequence.)

mod common;
use common::*;
use interlock_client::pb;
use prost::Message;

async fn venue_b_sees(owned: &str, venue_a_holds: &str) -> Vec<Vec<u8>> {
    let s = start_server().await;
    own(&s, "fund", owned).await;
    let a = s.client("dev-venue-a").await;
    let r = a.check(check("a1", "fund", venue_a_holds)).await.unwrap();
    assert_eq!(r.verdict(), pb::Verdict::Approved);
    let b = s.client("dev-venue-b").await;
    let mut seen = Vec::new();
    for (order, qty, dry_run, allow_partial) in [
        ("b1", "900", true, false),
        ("b2", "1000", true, false),
        ("b3", "662.75", true, false),
        ("b4", "100", true, false),
        ("b5", "700", false, true),
        ("b6", "1", false, false),
    ] {
        let req = pb::CheckRequest {
            dry_run,
            allow_partial,
            ..check(order, "fund", qty)
        };
        let mut answer = b.check(req).await.unwrap();
        // The two servers' clocks differ; the deadline is the venue's own
        // TTL from now, nothing about the participant.
        assert!(
            answer.verdict() == pb::Verdict::Rejected || answer.dry_run || answer.expires_at_ms > 0
        );
        answer.expires_at_ms = 0;
        if order == "b2" {
            let reason = answer.reason.as_ref().unwrap();
            assert_eq!(
                reason.utilization, "",
                "no utilization of a limit that spans venues"
            );
        }
        seen.push(answer.encode_to_vec());
    }
    s.stop().await;
    seen
}

#[tokio::test]
async fn another_venue_learns_neither_collateral_nor_other_venues_positions() {
    let one = venue_b_sees("1000", "337.25").await;
    let two = venue_b_sees("2000", "1337.25").await;
    assert_eq!(one, two);
}

/// ASSET_CAP 120 with another participant holding 100 of it: exposure
/// shows the 20 that are left as the participant's effective limit.
#[tokio::test]
async fn effective_limit_counts_a_shared_asset_cap() {
    let s = start_server().await;
    own(&s, "other", "1000").await;
    own(&s, "fund", "100").await;
    set_limit(
        &s,
        pb::LimitKind::AssetCap,
        pb::Scope {
            asset: "ETH".into(),
            ..Default::default()
        },
        "120",
    )
    .await;
    let venue = s.client("dev-venue-a").await;
    venue.check(check("o1", "other", "100")).await.unwrap();
    let e = s.admin().await.exposure("fund").await.unwrap();
    assert_eq!(e.assets[0].effective_limit, "20");
    s.stop().await;
}
