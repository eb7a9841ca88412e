//! Prices over real gRPC: an oracle publishes, an admin classes assets and
//! reads prices; gaps, replays and other roles are refused.

mod common;
use common::*;
use interlock_client::pb;
use tonic::Code;

fn quote(asset: &str, price: &str, published_ms: i64) -> pb::Quote {
    pb::Quote {
        asset: asset.into(),
        price: price.into(),
        published_ms,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn an_oracle_publishes_and_the_desk_sees_the_price() {
    let s = start_server().await;
    let admin = s.admin().await;
    let oracle = s.client("dev-oracle").await;
    let set = admin
        .set_asset_class("ETH", pb::AssetClass::Major)
        .await
        .unwrap();
    assert_eq!(set.previous(), pb::AssetClass::Unspecified);
    assert_eq!(set.class(), pb::AssetClass::Major);

    let now = now_ms();
    let acks = oracle
        .publish(vec![pb::PublishRequest {
            sequence: 1,
            quotes: vec![
                quote("ETH", "2000.50", now),
                quote("DOGE", "0.1", now),
                quote("ETH", "0", now),
                quote("ETH", "2001", now - 3_600_000),
            ],
        }])
        .await
        .unwrap();
    let statuses: Vec<_> = acks[0].verdicts.iter().map(|v| v.status()).collect();
    assert_eq!(
        statuses,
        vec![
            pb::QuoteStatus::Accepted,
            pb::QuoteStatus::UnknownAsset,
            pb::QuoteStatus::RefusedNotPositive,
            pb::QuoteStatus::RefusedTooOld,
        ]
    );
    assert_eq!(acks[0].verdicts[0].price, "2000.5");
    assert_eq!(
        oracle.publish_state().await.unwrap().last_applied_sequence,
        1
    );

    let prices = admin.list_prices().await.unwrap();
    assert_eq!(prices.len(), 1);
    assert_eq!(prices[0].asset, "ETH");
    assert_eq!(prices[0].price, "2000.5");
    assert_eq!(prices[0].state(), pb::PriceState::Recovering);
    assert_eq!(prices[0].quotes[0].oracle, "oracle-1");

    // A gap ends the stream naming the expected sequence; nothing applied.
    let gap = oracle
        .publish(vec![pb::PublishRequest {
            sequence: 5,
            quotes: vec![quote("ETH", "3000", now)],
        }])
        .await
        .unwrap_err();
    assert_eq!(code(gap), Code::FailedPrecondition);
    assert_eq!(admin.list_prices().await.unwrap()[0].price, "2000.5");
    // A replayed sequence too.
    let replay = oracle
        .publish(vec![pb::PublishRequest {
            sequence: 1,
            quotes: vec![],
        }])
        .await
        .unwrap_err();
    assert_eq!(code(replay), Code::FailedPrecondition);
    // A malformed price is the oracle's fault, and no class is INVALID_ARGUMENT.
    let bad = oracle
        .publish(vec![pb::PublishRequest {
            sequence: 2,
            quotes: vec![quote("ETH", "-1", now)],
        }])
        .await
        .unwrap_err();
    assert_eq!(code(bad), Code::InvalidArgument);
    let no_class = admin
        .set_asset_class("ETH", pb::AssetClass::Unspecified)
        .await
        .unwrap_err();
    assert_eq!(code(no_class), Code::InvalidArgument);
    s.stop().await;
}

#[tokio::test]
async fn only_oracles_publish_and_only_admins_class_assets() {
    let s = start_server().await;
    let venue = s.client("dev-venue-a").await;
    let broker = s.client("dev-broker").await;
    let oracle = s.client("dev-oracle").await;
    for c in [&venue, &broker] {
        let e = c
            .publish(vec![pb::PublishRequest {
                sequence: 1,
                quotes: vec![],
            }])
            .await
            .unwrap_err();
        assert_eq!(code(e), Code::PermissionDenied);
    }
    let e = oracle
        .set_asset_class("ETH", pb::AssetClass::Major)
        .await
        .unwrap_err();
    assert_eq!(code(e), Code::PermissionDenied);
    assert_eq!(
        code(oracle.list_prices().await.unwrap_err()),
        Code::PermissionDenied
    );
    s.stop().await;
}
