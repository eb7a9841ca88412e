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

/// The value layer's worked case W2 over gRPC: 100 ETH at 2,000 pledged
/// whole on venue-a (LT 0.83) and on venue-b (LLTV 0.86), 100,000 USDC owed
/// on each, Interlock's haircut 0.17.
/// W2's venues: ETH at LT 0.83 on venue-a and LLTV 0.86 on venue-b.
async fn w2_venues(admin: &interlock_client::Client) {
    for (venue, lt) in [("venue-a", "0.83"), ("venue-b", "0.86")] {
        admin
            .set_venue_asset(pb::SetVenueAssetRequest {
                venue: venue.into(),
                asset: "ETH".into(),
                threshold: lt.into(),
                ltv: String::new(),
            })
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_desk_sees_the_double_pledge_no_venue_can() {
    let s = start_server().await;
    let admin = s.admin().await;
    let mut alerts = admin.watch_alerts().await.unwrap();
    let oracle = s.client("dev-oracle").await;
    let broker = s.client("dev-broker").await;
    admin
        .set_asset_class("ETH", pb::AssetClass::Major)
        .await
        .unwrap();
    admin
        .set_asset_class("USDC", pb::AssetClass::Stable)
        .await
        .unwrap();
    w2_venues(&admin).await;
    assert_eq!(
        admin.set_haircut("ETH", "0.17", "").await.unwrap().previous,
        ""
    );
    // Lowering it past the step (50%) needs a reason, which is audited.
    let e = admin.set_haircut("ETH", "0.08", "").await.unwrap_err();
    assert_eq!(code(e), Code::FailedPrecondition);
    admin
        .set_haircut("ETH", "0.08", "model review")
        .await
        .unwrap();
    assert_eq!(
        admin.set_haircut("ETH", "0.17", "").await.unwrap().previous,
        "0.08",
        "raising is never a loosening"
    );
    let now = now_ms();
    oracle
        .publish(vec![pb::PublishRequest {
            sequence: 1,
            quotes: vec![quote("ETH", "2000", now), quote("USDC", "1", now)],
        }])
        .await
        .unwrap();
    let commitment = |venue: &str| pb::SyncUpdate {
        update: Some(pb::sync_update::Update::Commitment(pb::CommitmentUpdate {
            participant: "P".into(),
            venue: venue.into(),
            asset: "ETH".into(),
            quantity: "100".into(),
            covers_commit_seq: 0,
        })),
    };
    let liability = |venue: &str| pb::SyncUpdate {
        update: Some(pb::sync_update::Update::Liability(pb::LiabilityUpdate {
            participant: "P".into(),
            venue: venue.into(),
            asset: "USDC".into(),
            quantity: "100000".into(),
        })),
    };
    broker
        .sync(vec![pb::SyncRequest {
            sequence: 1,
            updates: vec![
                collateral("P", "100"),
                commitment("venue-a"),
                liability("venue-a"),
                commitment("venue-b"),
                liability("venue-b"),
            ],
        }])
        .await
        .unwrap();
    let h = admin.health_of("P").await.unwrap();
    assert_eq!(h.hf_eco, "0.83");
    assert_eq!(h.collateral_value, "166000");
    assert_eq!(h.total_debt, "200000");
    let figures: Vec<_> = h
        .venues
        .iter()
        .map(|v| (v.venue.as_str(), v.hf_claim.as_str(), v.hf_true.as_str()))
        .collect();
    assert_eq!(
        figures,
        vec![("venue-a", "1.66", "0.83"), ("venue-b", "1.72", "0.86")]
    );
    assert_eq!(h.liquidation_prices[0].asset, "ETH");
    assert!(h.liquidation_prices[0].price.starts_with("2409.638554"));
    assert!(h.venues[0].liquidation_prices[0]
        .price
        .starts_with("1204.819277"));
    assert_eq!(
        code(admin.health_of("nobody").await.unwrap_err()),
        Code::NotFound
    );
    // The ticks' health scan alerts the desk: HF^eco below the critical
    // level, and both venues under water if they call together.
    let (mut critical, mut together) = (None, None);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while critical.is_none() || together.is_none() {
        let a = tokio::time::timeout_at(deadline, alerts.message())
            .await
            .expect("health alerts within 10 s")
            .unwrap()
            .unwrap();
        match a.kind() {
            pb::AlertKind::HealthCritical => critical = Some(a.message),
            pb::AlertKind::VenuesAtRisk => together = Some(a.message),
            _ => {}
        }
    }
    assert_eq!(
        critical.unwrap(),
        "participant P: HF^eco 0.83 below the critical level 1"
    );
    assert!(
        together
            .unwrap()
            .contains("venue-a, venue-b would not recover"),
        "names both venues"
    );
    let bad = admin
        .set_venue_asset(pb::SetVenueAssetRequest {
            venue: "venue-a".into(),
            asset: "ETH".into(),
            threshold: "1.5".into(),
            ltv: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(code(bad), Code::InvalidArgument);
    // The exposure table has the value columns.
    let e = admin.exposure("P").await.unwrap();
    let eth = e.assets.iter().find(|a| a.asset == "ETH").unwrap();
    assert_eq!(
        (
            eth.price.as_str(),
            eth.haircut.as_str(),
            eth.collateral_value.as_str()
        ),
        ("2000", "0.17", "166000")
    );
    assert_eq!(e.hf_eco, "0.83");
    // How each venue liquidates, for stress and cascade.
    use pb::liquidation_rule::Rule;
    let aave = Rule::Aave(pb::AaveRule {
        close_factor: "0.5".into(),
        hf_full: "0.95".into(),
        min_full_base: "2000".into(),
        bonus: "1.05".into(),
    });
    let r = admin.set_venue_rule("venue-a", aave.clone()).await.unwrap();
    assert_eq!(r.previous, None);
    admin
        .set_venue_rule("venue-b", Rule::Morpho(pb::MorphoRule {}))
        .await
        .unwrap();
    let e = admin
        .set_venue_rule(
            "venue-c",
            Rule::Exchange(pb::ExchangeRule {
                penalty: "0.9".into(),
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(code(e), Code::InvalidArgument);
    let venues = admin.list_venues().await.unwrap();
    let summary: Vec<_> = venues
        .iter()
        .map(|v| {
            (
                v.venue.as_str(),
                v.assets.len(),
                v.rule.clone().and_then(|r| r.rule),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("venue-a", 1, Some(aave)),
            ("venue-b", 1, Some(Rule::Morpho(pb::MorphoRule {})))
        ]
    );
    s.stop().await;
}

/// Waits (bounded) until `asset`'s price is in `state`.
async fn until_state(admin: &interlock_client::Client, asset: &str, state: pb::PriceState) {
    for _ in 0..100 {
        let prices = admin.list_prices().await.unwrap();
        if prices
            .iter()
            .any(|p| p.asset == asset && p.state() == state)
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{asset} never reached {state:?}");
}

/// W2 before venue-b lends, over gRPC: MIN_HF_ECO 1.0 leaves venue-b
/// 66,000 of new debt against the 100 ETH venue-a already holds; a stale
/// price refuses new risk but never risk reduction; the stress shock is
/// set by the desk and shown with the prices.
#[tokio::test]
async fn value_limits_judge_checks_on_fresh_prices() {
    let mut config = interlock_server::config::Config::dev_for_tests();
    config.price_grace_ms = 0;
    let s = start_with(config).await;
    let admin = s.admin().await;
    let oracle = s.client("dev-oracle").await;
    let broker = s.client("dev-broker").await;
    let venue_b = s.client("dev-venue-b").await;
    for (asset, class) in [
        ("ETH", pb::AssetClass::Major),
        ("USDC", pb::AssetClass::Stable),
        ("SOL", pb::AssetClass::Alt),
    ] {
        admin.set_asset_class(asset, class).await.unwrap();
    }
    w2_venues(&admin).await;
    admin.set_haircut("ETH", "0.17", "").await.unwrap();
    admin.set_haircut("SOL", "0.3", "").await.unwrap();
    let now = now_ms();
    // SOL's only quote is 59.5 s old: fresh for half a second more.
    oracle
        .publish(vec![pb::PublishRequest {
            sequence: 1,
            quotes: vec![
                quote("ETH", "2000", now),
                quote("USDC", "1", now),
                quote("SOL", "150", now - 59_500),
            ],
        }])
        .await
        .unwrap();
    let owned = |p: &str, asset: &str, q: &str| pb::SyncUpdate {
        update: Some(pb::sync_update::Update::Collateral(pb::CollateralUpdate {
            participant: p.into(),
            asset: asset.into(),
            quantity: q.into(),
        })),
    };
    broker
        .sync(vec![pb::SyncRequest {
            sequence: 1,
            updates: vec![
                owned("P", "ETH", "100"),
                pb::SyncUpdate {
                    update: Some(pb::sync_update::Update::Commitment(pb::CommitmentUpdate {
                        participant: "P".into(),
                        venue: "venue-a".into(),
                        asset: "ETH".into(),
                        quantity: "100".into(),
                        covers_commit_seq: 0,
                    })),
                },
                pb::SyncUpdate {
                    update: Some(pb::sync_update::Update::Liability(pb::LiabilityUpdate {
                        participant: "P".into(),
                        venue: "venue-a".into(),
                        asset: "USDC".into(),
                        quantity: "100000".into(),
                    })),
                },
                owned("Q", "SOL", "1000"),
            ],
        }])
        .await
        .unwrap();
    let limit =
        |kind: pb::LimitKind, participant: &str, asset: &str, value: &str| pb::SetLimitRequest {
            kind: kind.into(),
            scope: Some(pb::Scope {
                participant: participant.into(),
                venue: String::new(),
                asset: asset.into(),
            }),
            value: value.into(),
            ..Default::default()
        };
    admin
        .set_limit(limit(pb::LimitKind::ReuseRatio, "", "", "2"))
        .await
        .unwrap();
    let floor = admin
        .set_limit(limit(pb::LimitKind::MinHfEco, "", "", "1"))
        .await
        .unwrap();
    // A floor names a participant or no one.
    let e = admin
        .set_limit(limit(pb::LimitKind::MinHfEco, "", "ETH", "1"))
        .await
        .unwrap_err();
    assert_eq!(code(e), Code::InvalidArgument);
    until_state(&admin, "ETH", pb::PriceState::Fresh).await;
    until_state(&admin, "USDC", pb::PriceState::Fresh).await;
    let loan = |order: &str, liability: &str, dry_run: bool| pb::CheckRequest {
        liability: liability.into(),
        dry_run,
        ..check(order, "P", "100")
    };
    let no = venue_b.check(loan("b1", "66000.01", false)).await.unwrap();
    assert_eq!(no.verdict(), pb::Verdict::Rejected);
    let reason = no.reason.unwrap();
    assert_eq!(reason.code(), pb::RejectCode::LimitExceeded);
    assert_eq!(reason.kind(), pb::LimitKind::MinHfEco);
    assert_eq!(reason.limit_id, floor.id);
    assert_eq!(reason.utilization, "", "a venue never learns a figure");
    let yes = venue_b.check(loan("b2", "66000", true)).await.unwrap();
    assert_eq!(yes.verdict(), pb::Verdict::Approved);
    let bad = venue_b.check(loan("b3", "-1", true)).await.unwrap_err();
    assert_eq!(code(bad), Code::InvalidArgument);

    // Q's SOL price ages out: new risk fails closed, risk reduction passes.
    until_state(&admin, "SOL", pb::PriceState::Stale).await;
    let sol = |order: &str, risk_reducing: bool| pb::CheckRequest {
        asset: "SOL".into(),
        risk_reducing,
        ..check(order, "Q", "1")
    };
    let stale = venue_b.check(sol("q1", false)).await.unwrap();
    assert_eq!(stale.reason.unwrap().code(), pb::RejectCode::PriceStale);
    let reducing = venue_b.check(sol("q2", true)).await.unwrap();
    assert_eq!(reducing.verdict(), pb::Verdict::Approved);

    // The desk sets the standard shock; milder past the step needs a reason.
    let r = admin
        .set_stress_shock(pb::AssetClass::Major, "-0.4", "")
        .await
        .unwrap();
    assert_eq!(r.previous, "-0.35");
    let e = admin
        .set_stress_shock(pb::AssetClass::Major, "-0.1", "")
        .await
        .unwrap_err();
    assert_eq!(code(e), Code::FailedPrecondition);
    let e = admin
        .set_stress_shock(pb::AssetClass::Major, "0.2", "")
        .await
        .unwrap_err();
    assert_eq!(code(e), Code::InvalidArgument);
    let shocks = admin
        .prices_and_shocks()
        .await
        .unwrap()
        .stress_shocks
        .unwrap();
    assert_eq!(
        (
            shocks.stable.as_str(),
            shocks.major.as_str(),
            shocks.alt.as_str()
        ),
        ("-0.05", "-0.4", "-0.5")
    );
    let h = admin.health_of("P").await.unwrap();
    assert_eq!(h.hf_eco, "1.66");
    assert_eq!(h.distance_to_default, "-0.39759");
    assert_eq!(h.top_debt[0].name, "venue-a");
    s.stop().await;
}
