//! A broker reports only on the participants and venues it is configured
//! for; a message reaching outside is refused whole.

mod common;
use common::*;
use interlock_client::pb;
use tonic::Code;

fn commitment(participant: &str, venue: &str, qty: &str) -> pb::SyncUpdate {
    pb::SyncUpdate {
        update: Some(pb::sync_update::Update::Commitment(pb::CommitmentUpdate {
            participant: participant.into(),
            venue: venue.into(),
            asset: "ETH".into(),
            quantity: qty.into(),
            covers_commit_seq: 0,
        })),
    }
}

fn liability(participant: &str, venue: &str, qty: &str) -> pb::SyncUpdate {
    pb::SyncUpdate {
        update: Some(pb::sync_update::Update::Liability(pb::LiabilityUpdate {
            participant: participant.into(),
            venue: venue.into(),
            asset: "USDC".into(),
            quantity: qty.into(),
        })),
    }
}

#[tokio::test]
async fn a_broker_syncs_only_its_own_participants_and_venues() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scopes.json");
    let scopes = serde_json::json!({ "brokers": [
        { "id": "prime-1", "participants": ["fund-*", "desk-7"], "venues": ["venue-a"] },
    ]});
    std::fs::write(&file, scopes.to_string()).unwrap();
    let mut config = interlock_server::Config::dev_for_tests();
    config.broker_scopes = Some(file);
    let s = start_with(config).await;
    let broker = s.client("dev-broker").await;
    let sync = |seq: u64, updates: Vec<pb::SyncUpdate>| pb::SyncRequest {
        sequence: seq,
        updates,
    };

    broker
        .sync(vec![sync(
            1,
            vec![
                collateral("fund-1", "10"),
                commitment("fund-1", "venue-a", "4"),
            ],
        )])
        .await
        .unwrap();
    for (what, updates) in [
        ("another participant", vec![collateral("other", "5")]),
        ("another venue", vec![commitment("fund-1", "venue-b", "1")]),
        (
            "a liability on another venue",
            vec![liability("fund-1", "venue-b", "1000")],
        ),
        (
            "one bad update in a batch",
            vec![collateral("fund-1", "99"), collateral("rival", "1")],
        ),
    ] {
        let e = broker.sync(vec![sync(2, updates)]).await.unwrap_err();
        assert!(
            message(&e).contains("outside this broker's scope"),
            "{what}: {e}"
        );
        assert_eq!(code(e), Code::PermissionDenied, "{what}");
    }
    // A liability names a venue an admin has configured: before that the
    // message is bad input, refused whole.
    let e = broker
        .sync(vec![sync(2, vec![liability("fund-1", "venue-a", "1")])])
        .await
        .unwrap_err();
    assert!(message(&e).contains("updates.liability.venue"), "{e}");
    assert!(message(&e).contains("not configured"), "{e}");
    assert_eq!(code(e), Code::InvalidArgument);
    // Nothing of the refused messages was applied.
    assert_eq!(broker.sync_state().await.unwrap().last_applied_sequence, 1);
    let admin = s.admin().await;
    admin
        .set_venue_rule(
            "venue-a",
            pb::liquidation_rule::Rule::Morpho(pb::MorphoRule {}),
        )
        .await
        .unwrap();
    assert_eq!(
        admin.exposure("fund-1").await.unwrap().assets[0].owned,
        "10"
    );
    assert_eq!(
        code(admin.exposure("other").await.unwrap_err()),
        Code::NotFound
    );
    broker
        .sync(vec![sync(
            2,
            vec![
                collateral("desk-7", "3"),
                liability("fund-1", "venue-a", "2500.5"),
            ],
        )])
        .await
        .unwrap();
    // A liability is shown where it is owed; never reported is empty.
    let e = admin.exposure("fund-1").await.unwrap();
    let usdc = e.assets.iter().find(|a| a.asset == "USDC").unwrap();
    assert_eq!(usdc.venues[0].venue, "venue-a");
    assert_eq!(usdc.venues[0].owed, "2500.5");
    let eth = e.assets.iter().find(|a| a.asset == "ETH").unwrap();
    assert_eq!(eth.venues[0].owed, "");
    // The refusals are in the audit log.
    let audit = admin.audit(0, 100).await.unwrap();
    let refused = audit
        .iter()
        .filter(|r| {
            r.principal == "broker:prime-1" && r.outcome.contains("outside this broker's scope")
        })
        .count();
    assert_eq!(refused, 4, "{audit:#?}");
    s.stop().await;
}
