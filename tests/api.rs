//! End to end over real gRPC: every RPC, denials, bad input, streams.

mod common;
use common::*;
use interlock_client::pb;
use tonic::Code;

#[tokio::test]
async fn venue_check_commit_release_round_trip() {
    let s = start_server().await;
    own(&s, "fund", "100").await;
    let venue = s.client("dev-venue-a").await;
    let a = venue.check(check("o1", "fund", "60")).await.unwrap();
    assert_eq!(a.verdict(), pb::Verdict::Approved);
    assert_eq!(a.reservation_id, "R1");
    assert!(a.expires_at_ms > 0);
    assert_eq!(
        venue.check(check("o1", "fund", "60")).await.unwrap(),
        a,
        "idempotent"
    );
    let e = venue.check(check("o1", "fund", "61")).await.unwrap_err();
    assert_eq!(code(e), Code::AlreadyExists);

    let r = venue.check(check("o2", "fund", "60")).await.unwrap();
    assert_eq!(r.verdict(), pb::Verdict::Rejected);
    let reason = r.reason.unwrap();
    assert_eq!(reason.code(), pb::RejectCode::LimitExceeded);
    assert_eq!(reason.kind(), pb::LimitKind::ReuseRatio);
    // The reuse ratio spans venues: no utilization for the venue.
    assert_eq!(
        (reason.limit_value.as_str(), reason.utilization.as_str()),
        ("1", "")
    );

    let c = venue.commit("R1").await.unwrap();
    assert_eq!(
        (c.state(), c.commit_seq),
        (pb::ReservationState::Committed, 1)
    );
    assert_eq!(venue.commit("R1").await.unwrap(), c);
    assert_eq!(
        code(venue.release("R1").await.unwrap_err()),
        Code::FailedPrecondition
    );

    let b = venue.check(check("o3", "fund", "40")).await.unwrap();
    assert_eq!(
        venue.release(&b.reservation_id).await.unwrap().state(),
        pb::ReservationState::Released
    );
    assert_eq!(
        code(venue.commit(&b.reservation_id).await.unwrap_err()),
        Code::FailedPrecondition
    );

    let e = s.admin().await.exposure("fund").await.unwrap();
    assert_eq!(
        (e.assets[0].committed.as_str(), e.assets[0].owned.as_str()),
        ("60", "100")
    );
    s.stop().await;
}

#[tokio::test]
async fn check_stream_pipelines_and_reports_bad_requests_inline() {
    let s = start_server().await;
    own(&s, "fund", "10").await;
    let venue = s.client("dev-venue-a").await;
    let mut reqs: Vec<pb::CheckRequest> = (0..20)
        .map(|i| check(&format!("s{i}"), "fund", "1"))
        .collect();
    reqs[3].quantity = "1e5".into();
    let mut answers = venue
        .pretrade()
        .check_stream(venue.request(tokio_stream::iter(reqs)))
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(a) = answers.message().await.unwrap() {
        got.push(a);
    }
    assert_eq!(got.len(), 20);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, a)| a.order_id == format!("s{i}")),
        "answers in order"
    );
    match &got[3].result {
        Some(pb::check_stream_response::Result::Error(e)) => {
            assert_eq!(e.code, Code::InvalidArgument as i32);
            assert!(e.message.starts_with("quantity:"), "{}", e.message);
        }
        other => panic!("expected an error entry, got {other:?}"),
    }
    let approved = got
        .iter()
        .filter(|a| matches!(&a.result, Some(pb::check_stream_response::Result::Response(r)) if r.verdict() == pb::Verdict::Approved))
        .count();
    assert_eq!(approved, 10, "exactly the 10 units of headroom");
    s.stop().await;
}

#[tokio::test]
async fn denial_matrix_changes_nothing_and_leaks_nothing() {
    let s = start_server().await;
    own(&s, "fund", "100").await;
    let a = s.client("dev-venue-a").await;
    let b = s.client("dev-venue-b").await;
    let broker = s.client("dev-broker").await;
    let admin = s.admin().await;
    let r = a.check(check("secret-order", "fund", "7")).await.unwrap();
    let before = admin.exposure("fund").await.unwrap();

    // Venue -> admin RPCs.
    assert_eq!(
        code(
            a.set_trading_state("fund", pb::TradingState::Halted, "")
                .await
                .unwrap_err()
        ),
        Code::PermissionDenied
    );
    assert_eq!(
        code(a.exposure("fund").await.unwrap_err()),
        Code::PermissionDenied
    );
    assert_eq!(
        code(a.list_limits().await.unwrap_err()),
        Code::PermissionDenied
    );
    // Broker -> check; admin -> check; venue -> sync.
    assert_eq!(
        code(broker.check(check("x", "fund", "1")).await.unwrap_err()),
        Code::PermissionDenied
    );
    assert_eq!(
        code(admin.check(check("x", "fund", "1")).await.unwrap_err()),
        Code::PermissionDenied
    );
    assert_eq!(
        code(a.sync_state().await.unwrap_err()),
        Code::PermissionDenied
    );
    // Venue B cannot see or touch venue A's reservation: same answer as a missing one.
    let e1 = b.commit(&r.reservation_id).await.unwrap_err();
    let e2 = b.commit("R999").await.unwrap_err();
    assert_eq!(message(&e1), message(&e2));
    assert_eq!(code(e1), Code::NotFound);
    assert_eq!(
        code(b.release(&r.reservation_id).await.unwrap_err()),
        Code::NotFound
    );
    // No token, unknown token.
    let anon = interlock_client::Client::connect(&s.endpoint, None)
        .await
        .unwrap();
    assert_eq!(
        code(anon.check(check("x", "fund", "1")).await.unwrap_err()),
        Code::Unauthenticated
    );
    let wrong = s.client("not-a-token").await;
    assert_eq!(
        code(wrong.list_limits().await.unwrap_err()),
        Code::Unauthenticated
    );
    // Venue B's own check must not reveal venue A's positions.
    let other = b.check(check("o-b", "fund", "1000")).await.unwrap();
    let text = format!("{other:?}");
    assert!(
        !text.contains("venue-a") && !text.contains("secret-order") && !text.contains("\"7\""),
        "{text}"
    );

    assert_eq!(
        admin.exposure("fund").await.unwrap(),
        before,
        "denied calls changed nothing"
    );
    assert_eq!(
        a.release(&r.reservation_id).await.unwrap().state(),
        pb::ReservationState::Released
    );
    s.stop().await;
}

/// `ttl_ms: 0` (the default by name) and the default by value are one
/// request for idempotency; a TTL above the maximum is INVALID_ARGUMENT even
/// under an order id already answered.
#[tokio::test]
async fn retries_compare_ttls_as_judged_and_bad_ttls_come_first() {
    let s = start_server().await;
    own(&s, "fund", "100").await;
    let venue = s.client("dev-venue-a").await;
    let first = venue.check(check("o1", "fund", "1")).await.unwrap();
    let explicit = pb::CheckRequest {
        ttl_ms: 30_000,
        ..check("o1", "fund", "1")
    };
    assert_eq!(venue.check(explicit).await.unwrap(), first);
    let too_long = pb::CheckRequest {
        ttl_ms: 600_001,
        ..check("o1", "fund", "1")
    };
    let e = venue.check(too_long).await.unwrap_err();
    let text = message(&e);
    assert_eq!(code(e), Code::InvalidArgument, "{text}");
    assert!(text.contains("ttl_ms"), "{text}");
    s.stop().await;
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field() {
    let s = start_server().await;
    own(&s, "fund", "100").await;
    let venue = s.client("dev-venue-a").await;
    let long = "x".repeat(65);
    let cases: Vec<(&str, pb::CheckRequest)> = vec![
        (
            "order_id",
            pb::CheckRequest {
                order_id: String::new(),
                ..check("o", "fund", "1")
            },
        ),
        (
            "order_id",
            pb::CheckRequest {
                order_id: long.clone(),
                ..check("o", "fund", "1")
            },
        ),
        ("participant", check("o", "", "1")),
        ("participant", check("o", &long, "1")),
        ("participant", check("o", "fu\nnd", "1")),
        (
            "asset",
            pb::CheckRequest {
                asset: "E TH".into(),
                ..check("o", "fund", "1")
            },
        ),
        ("quantity", check("o", "fund", "1e5")),
        ("quantity", check("o", "fund", "NaN")),
        ("quantity", check("o", "fund", "")),
        ("quantity", check("o", "fund", "1.2.3")),
        ("quantity", check("o", "fund", "-1")),
        ("quantity", check("o", "fund", "0")),
        ("quantity", check("o", "fund", "0.00000000001")),
        ("quantity", check("o", "fund", "1000000000000000")),
        (
            "ttl_ms",
            pb::CheckRequest {
                ttl_ms: 600_001,
                ..check("o", "fund", "1")
            },
        ),
    ];
    for (field, req) in cases {
        let e = venue.check(req.clone()).await.unwrap_err();
        let text = message(&e);
        assert_eq!(code(e), Code::InvalidArgument, "{req:?}");
        assert!(
            text.contains(&format!("INVALID_ARGUMENT: {field}")),
            "{field}: {text}"
        );
    }
    let admin = s.admin().await;
    let bad_limits = [
        (
            pb::SetLimitRequest {
                kind: 0,
                value: "1".into(),
                ..Default::default()
            },
            "kind",
        ),
        (
            pb::SetLimitRequest {
                kind: 42,
                value: "1".into(),
                ..Default::default()
            },
            "kind",
        ),
        (
            pb::SetLimitRequest {
                kind: pb::LimitKind::ReuseRatio.into(),
                value: "0".into(),
                ..Default::default()
            },
            "value",
        ),
        (
            pb::SetLimitRequest {
                kind: pb::LimitKind::AssetCap.into(),
                value: "5".into(),
                ..Default::default()
            },
            "scope",
        ),
        (
            pb::SetLimitRequest {
                kind: pb::LimitKind::ReuseRatio.into(),
                value: "2".into(),
                warn_levels_pct: vec!["101".into()],
                ..Default::default()
            },
            "warn_levels_pct",
        ),
    ];
    for (req, field) in bad_limits {
        let e = admin.set_limit(req).await.unwrap_err();
        assert!(
            message(&e).contains(&format!("INVALID_ARGUMENT: {field}")),
            "{field}: {e}"
        );
    }
    let e = admin
        .set_trading_state("fund", pb::TradingState::Unspecified, "")
        .await
        .unwrap_err();
    assert!(message(&e).contains("state"), "{e}");
    let e = admin
        .set_trading_state("fund", pb::TradingState::Halted, "bad\u{7}reason")
        .await
        .unwrap_err();
    assert!(message(&e).contains("reason"), "{e}");
    assert_eq!(
        code(venue.commit("not-an-id").await.unwrap_err()),
        Code::InvalidArgument
    );
    // Oversized messages are refused before any handler runs, on a unary
    // call and inside a stream, and the error names the limit.
    let huge = pb::CheckRequest {
        order_id: "x".repeat(2 * 1024 * 1024),
        ..check("o", "fund", "1")
    };
    let e = venue.check(huge.clone()).await.unwrap_err();
    assert!(message(&e).contains("max_message_bytes"), "{e}");
    assert_eq!(code(e), Code::ResourceExhausted);
    let mut answers = venue
        .pretrade()
        .check_stream(venue.request(tokio_stream::iter(vec![huge])))
        .await
        .unwrap()
        .into_inner();
    let e = answers.message().await.unwrap_err();
    assert!(e.message().contains("max_message_bytes"), "{e}");
    assert_eq!(e.code(), Code::ResourceExhausted);
    // Nothing above changed the ledger.
    let e = admin.exposure("fund").await.unwrap();
    assert_eq!(e.assets[0].committed, "0");
    assert_eq!(e.state(), pb::TradingState::Active);
    assert!(admin.list_limits().await.unwrap().is_empty());
    s.stop().await;
}

#[tokio::test]
async fn sync_stream_sequence_gaps_and_replays_name_the_expected_sequence() {
    let s = start_server().await;
    let broker = s.client("dev-broker").await;
    let msg = |seq, qty: &str| pb::SyncRequest {
        sequence: seq,
        updates: vec![collateral("fund", qty)],
    };
    let acks = broker.sync(vec![msg(1, "10"), msg(2, "20")]).await.unwrap();
    assert_eq!(
        acks.iter().map(|a| a.applied_sequence).collect::<Vec<_>>(),
        [1, 2]
    );
    let e = broker.sync(vec![msg(2, "30")]).await.unwrap_err();
    assert!(message(&e).contains("expected sequence 3"), "{e}");
    assert_eq!(code(e), Code::FailedPrecondition);
    let venue = s.client("dev-venue-a").await;
    assert_eq!(
        venue
            .check(check("o1", "fund", "1"))
            .await
            .unwrap()
            .verdict(),
        pb::Verdict::Approved
    );

    let e = broker.sync(vec![msg(5, "30")]).await.unwrap_err();
    assert!(message(&e).contains("expected sequence 3, got 5"), "{e}");
    let state = broker.sync_state().await.unwrap();
    assert!(state.gapped);
    let r = venue.check(check("o2", "fund", "1")).await.unwrap();
    assert_eq!(
        r.reason.unwrap().code(),
        pb::RejectCode::StaleSync,
        "fail closed after a gap"
    );
    broker.sync(vec![msg(3, "30")]).await.unwrap();
    assert_eq!(
        venue
            .check(check("o3", "fund", "1"))
            .await
            .unwrap()
            .verdict(),
        pb::Verdict::Approved
    );
    let exposure = s.admin().await.exposure("fund").await.unwrap();
    assert_eq!(exposure.assets[0].owned, "30");
    s.stop().await;
}

#[tokio::test]
async fn admin_limits_states_top_audit_and_alerts() {
    let s = start_server().await;
    let admin = s.admin().await;
    let mut alerts = admin.watch_alerts().await.unwrap();
    own(&s, "fund", "100").await;
    let scope = pb::Scope {
        participant: String::new(),
        venue: String::new(),
        asset: "ETH".into(),
    };
    let l = set_limit(&s, pb::LimitKind::ReuseRatio, scope.clone(), "2").await;
    assert_eq!((l.id.as_str(), l.version), ("L1", 1));
    let stale = pb::SetLimitRequest {
        kind: pb::LimitKind::ReuseRatio.into(),
        scope: Some(scope),
        value: "3".into(),
        expected_version: Some(7),
        ..Default::default()
    };
    assert_eq!(
        code(admin.set_limit(stale.clone()).await.unwrap_err()),
        Code::FailedPrecondition
    );
    // Version 0 means "must not exist yet".
    let create_only = pb::SetLimitRequest {
        expected_version: Some(0),
        ..stale.clone()
    };
    let e = admin.set_limit(create_only.clone()).await.unwrap_err();
    assert!(message(&e).contains("version"), "{e}");
    assert_eq!(code(e), Code::FailedPrecondition);
    assert_eq!(admin.list_limits().await.unwrap().len(), 1);
    let fresh = pb::SetLimitRequest {
        scope: Some(pb::Scope {
            participant: "fund".into(),
            ..Default::default()
        }),
        ..create_only
    };
    let l2 = admin.set_limit(fresh).await.unwrap();
    assert_eq!(l2.version, 1);
    admin.delete_limit(&l2.id, "test cleanup").await.unwrap();
    assert_eq!(admin.list_limits().await.unwrap().len(), 1);

    let venue = s.client("dev-venue-a").await;
    venue.check(check("o1", "fund", "150")).await.unwrap();
    assert_eq!(
        venue
            .check(check("o2", "fund", "100"))
            .await
            .unwrap()
            .verdict(),
        pb::Verdict::Rejected
    );
    let top = admin.top(5).await.unwrap();
    assert_eq!(
        (top[0].participant.as_str(), top[0].utilization.as_str()),
        ("fund", "0.75")
    );

    let h = admin
        .set_trading_state("fund", pb::TradingState::Halted, "risk desk")
        .await
        .unwrap();
    assert_eq!(
        (h.previous(), h.released_reservations),
        (pb::TradingState::Active, 1)
    );
    assert_eq!(
        venue
            .check(check("o3", "fund", "1"))
            .await
            .unwrap()
            .reason
            .unwrap()
            .code(),
        pb::RejectCode::TradingHalted
    );
    admin
        .set_trading_state("fund", pb::TradingState::Active, "")
        .await
        .unwrap();

    assert_eq!(
        admin
            .delete_limit("L1", "desk review")
            .await
            .unwrap()
            .deleted
            .unwrap()
            .id,
        "L1"
    );
    assert_eq!(
        code(admin.delete_limit("L1", "again").await.unwrap_err()),
        Code::NotFound
    );
    assert_eq!(
        code(admin.exposure("nobody").await.unwrap_err()),
        Code::NotFound
    );

    let audit = admin.audit(0, 100).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "set_limit",
            "set_limit",
            "delete_limit",
            "set_trading_state",
            "set_trading_state",
            "delete_limit"
        ]
    );
    assert_eq!(
        (audit[3].principal.as_str(), audit[3].new_value.as_str()),
        ("admin", "HALTED (risk desk)")
    );

    let mut kinds = Vec::new();
    while kinds.len() < 4 {
        let a = tokio::time::timeout(std::time::Duration::from_secs(5), alerts.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        kinds.push(a.kind());
    }
    use pb::AlertKind::{LimitRejection, TradingStateChanged};
    assert_eq!(
        kinds,
        [
            LimitRejection,
            TradingStateChanged,
            LimitRejection,
            TradingStateChanged
        ]
    );
    s.stop().await;
}

#[tokio::test]
async fn health_and_reflection_v1_and_v1alpha() {
    let s = start_server().await;
    let channel = s.admin().await.channel();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in [
        "",
        "interlock.v1.PreTradeService",
        "interlock.v1.AdminService",
    ] {
        let r = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap();
        assert_eq!(
            r.into_inner().status(),
            tonic_health::pb::health_check_response::ServingStatus::Serving
        );
    }
    let (mut v1, mut v1alpha) = reflection::list_services(channel).await;
    v1.sort();
    v1alpha.sort();
    // Exactly what is served: not the benchmark's echo service, whose
    // descriptor ships in the same set but which only --echo-floor serves,
    // nor the nodes' RaftService (only on a cluster port).
    let want = [
        "grpc.health.v1.Health",
        "interlock.cluster.v1.ClusterService",
        "interlock.v1.AdminService",
        "interlock.v1.AnalyticsService",
        "interlock.v1.PositionService",
        "interlock.v1.PreTradeService",
        "interlock.v1.PriceService",
    ];
    assert_eq!(v1, want, "v1");
    assert_eq!(v1alpha, want, "v1alpha");
    s.stop().await;
}

mod reflection {
    use tonic::transport::Channel;
    use tonic_reflection::pb::{v1, v1alpha};

    /// Service names listed by the v1 and v1alpha reflection services.
    pub async fn list_services(channel: Channel) -> (Vec<String>, Vec<String>) {
        let mut c1 = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
        let req = v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
        };
        let mut s = c1
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        let r1 = match s.message().await.unwrap().unwrap().message_response {
            Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(l)) => {
                l.service.into_iter().map(|s| s.name).collect()
            }
            other => panic!("{other:?}"),
        };
        let mut c2 = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
        let req = v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
            ),
        };
        let mut s = c2
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        let r2 = match s.message().await.unwrap().unwrap().message_response {
            Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(l)) => {
                l.service.into_iter().map(|s| s.name).collect()
            }
            other => panic!("{other:?}"),
        };
        (r1, r2)
    }
}

#[tokio::test]
async fn a_stream_longer_than_its_limit_is_cut_with_resource_exhausted() {
    let mut config = interlock_server::Config::dev_for_tests();
    config.stream_messages_max = 3;
    let s = start_with(config).await;
    let broker = s.client("dev-broker").await;
    let msgs: Vec<pb::SyncRequest> = (1..=5)
        .map(|seq| pb::SyncRequest {
            sequence: seq,
            updates: vec![collateral("fund", &seq.to_string())],
        })
        .collect();
    let mut acks = broker
        .position()
        .sync(broker.request(tokio_stream::iter(msgs)))
        .await
        .unwrap()
        .into_inner();
    let mut applied = Vec::new();
    let err = loop {
        match acks.message().await {
            Ok(Some(a)) => applied.push(a.applied_sequence),
            Ok(None) => panic!("stream ended without the limit error"),
            Err(e) => break e,
        }
    };
    assert_eq!(applied, vec![1, 2, 3]);
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.message().contains("3 messages"), "{err}");
    // The fourth message was never applied.
    assert_eq!(broker.sync_state().await.unwrap().last_applied_sequence, 3);
    let e = s.admin().await.exposure("fund").await.unwrap();
    assert_eq!(e.assets[0].owned, "3");
    s.stop().await;
}

#[tokio::test]
async fn oversized_metadata_is_refused_before_any_handler() {
    let mut config = interlock_server::Config::dev_for_tests();
    config.max_header_bytes = 4096;
    let s = start_with(config).await;
    own(&s, "fund", "10").await;
    let venue = s.client("dev-venue-a").await;
    let padded = |n: usize, order: &str| {
        let mut r = venue.request(check(order, "fund", "1"));
        r.metadata_mut()
            .insert("x-padding", "a".repeat(n).parse().unwrap());
        r
    };
    assert!(venue.pretrade().check(padded(1024, "small")).await.is_ok());
    assert!(venue
        .pretrade()
        .check(padded(8 * 1024, "big"))
        .await
        .is_err());
    let e = s.admin().await.exposure("fund").await.unwrap();
    assert_eq!(
        e.assets[0].committed, "1",
        "only the small request got through"
    );
    s.stop().await;
}

/// A watcher that lost its stream opens it again after the last seq it saw
/// and gets what was raised in between, then the new alerts, none twice.
#[tokio::test]
async fn a_watcher_resumes_after_the_last_alert_it_saw() {
    let s = start_server().await;
    let admin = s.admin().await;
    let mut alerts = admin.watch_alerts().await.unwrap();
    admin
        .set_trading_state("fund-1", pb::TradingState::Halted, "test")
        .await
        .unwrap();
    let first = alerts.message().await.unwrap().unwrap();
    drop(alerts);
    for state in [pb::TradingState::Halted, pb::TradingState::Active] {
        admin
            .set_trading_state("fund-2", state, "test")
            .await
            .unwrap();
    }
    let mut resumed = admin.watch_alerts_after(first.seq).await.unwrap();
    admin
        .set_trading_state("fund-3", pb::TradingState::Halted, "test")
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(resumed.message().await.unwrap().unwrap());
    }
    let seqs: Vec<u64> = got.iter().map(|a| a.seq).collect();
    assert_eq!(seqs, [first.seq + 1, first.seq + 2, first.seq + 3]);
    assert!(got[0].message.contains("fund-2") && got[2].message.contains("fund-3"));
}
