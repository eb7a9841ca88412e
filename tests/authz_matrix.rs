//! The authorization matrix: every RPC × every kind of caller × own /
//! another's / non-existent object. Every cell that must be denied is
//! denied, the ledger is byte-identical afterwards (state digest, which
//! leaves out the audit log that records the refusals), and no refusal
//! carries another tenant's ids or amounts.

mod common;
use common::*;
use interlock_client::pki::{Ca, Pem};
use interlock_client::{pb, Client, ClientError, TlsOptions};
use tonic::Code;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Rpc {
    Check,
    CheckStream,
    Commit,
    Release,
    Sync,
    GetSyncState,
    SetLimit,
    DeleteLimit,
    ListLimits,
    SetTradingState,
    GetExposure,
    Top,
    WatchAlerts,
    ListAudit,
    GetStateDigest,
    ClusterStatus,
    AddNode,
    RemoveNode,
    Publish,
    GetPublishState,
    SetAssetClass,
    ListPrices,
    SetVenueAsset,
    SetHaircut,
    SetStressShock,
    SetVenueRule,
    ListVenues,
    GetHealth,
    Stress,
    Cascade,
    ListScenarios,
    Systemic,
    ReuseReport,
    SetScenario,
    SetStressGuard,
}

const RPCS: [Rpc; 35] = [
    Rpc::Check,
    Rpc::CheckStream,
    Rpc::Commit,
    Rpc::Release,
    Rpc::Sync,
    Rpc::GetSyncState,
    Rpc::SetLimit,
    Rpc::DeleteLimit,
    Rpc::ListLimits,
    Rpc::SetTradingState,
    Rpc::GetExposure,
    Rpc::Top,
    Rpc::WatchAlerts,
    Rpc::ListAudit,
    Rpc::GetStateDigest,
    Rpc::ClusterStatus,
    Rpc::AddNode,
    Rpc::RemoveNode,
    Rpc::Publish,
    Rpc::GetPublishState,
    Rpc::SetAssetClass,
    Rpc::ListPrices,
    Rpc::SetVenueAsset,
    Rpc::SetHaircut,
    Rpc::SetStressShock,
    Rpc::SetVenueRule,
    Rpc::ListVenues,
    Rpc::GetHealth,
    Rpc::Stress,
    Rpc::Cascade,
    Rpc::ListScenarios,
    Rpc::Systemic,
    Rpc::ReuseReport,
    Rpc::SetScenario,
    Rpc::SetStressGuard,
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Obj {
    Own,
    Another,
    Missing,
}

/// Who may call what (the role table of the issue).
fn role_allows(who: &str, rpc: Rpc) -> bool {
    use Rpc::*;
    match who {
        // A venue's reuse report: its own only (see `own_only`).
        "venue-a" | "venue-b" => {
            matches!(rpc, Check | CheckStream | Commit | Release | ReuseReport)
        }
        "broker" => matches!(rpc, Sync | GetSyncState),
        "oracle" => matches!(rpc, Publish | GetPublishState),
        "admin" => matches!(
            rpc,
            SetLimit
                | DeleteLimit
                | ListLimits
                | SetTradingState
                | GetExposure
                | Top
                | WatchAlerts
                | ListAudit
                | GetStateDigest
                | ClusterStatus
                | AddNode
                | RemoveNode
                | SetAssetClass
                | ListPrices
                | SetVenueAsset
                | SetHaircut
                | SetStressShock
                | SetVenueRule
                | ListVenues
                | GetHealth
                | Stress
                | Cascade
                | ListScenarios
                | Systemic
                | ReuseReport
                | SetScenario
                | SetStressGuard
        ),
        "auditor" => matches!(
            rpc,
            ListLimits
                | GetExposure
                | Top
                | WatchAlerts
                | ListAudit
                | GetStateDigest
                | ClusterStatus
                | ListPrices
                | ListVenues
                | GetHealth
                | Stress
                | Cascade
                | ListScenarios
                | Systemic
                | ReuseReport
        ),
        _ => false,
    }
}

struct Objects {
    own: String,
    another: String,
    own_venue: &'static str,
    another_venue: &'static str,
}

async fn call(c: &Client, rpc: Rpc, obj: Obj, ids: &Objects) -> Result<String, ClientError> {
    let reservation = match obj {
        Obj::Own => ids.own.clone(),
        Obj::Another => ids.another.clone(),
        Obj::Missing => "R999".to_owned(),
    };
    let limit = match obj {
        Obj::Missing => "L999",
        _ => "L1",
    };
    let participant = match obj {
        Obj::Missing => "nobody",
        _ => "fund-secret",
    };
    match rpc {
        Rpc::Check => c
            .check(check("probe", participant, "1"))
            .await
            .map(|r| format!("{r:?}")),
        Rpc::CheckStream => c
            .pretrade()
            .check_stream(c.request(tokio_stream::iter(vec![check("probe-s", participant, "1")])))
            .await
            .map(|_| "stream".to_owned())
            .map_err(ClientError::Status),
        Rpc::Commit => c.commit(&reservation).await.map(|r| format!("{r:?}")),
        Rpc::Release => c.release(&reservation).await.map(|r| format!("{r:?}")),
        Rpc::Sync => c
            .sync(vec![pb::SyncRequest {
                sequence: 99,
                updates: vec![collateral(participant, "1")],
            }])
            .await
            .map(|r| format!("{r:?}")),
        Rpc::GetSyncState => c.sync_state().await.map(|r| format!("{r:?}")),
        Rpc::SetLimit => c
            .set_limit(pb::SetLimitRequest {
                kind: pb::LimitKind::ReuseRatio.into(),
                scope: Some(pb::Scope {
                    participant: participant.into(),
                    ..Default::default()
                }),
                value: "1".into(),
                ..Default::default()
            })
            .await
            .map(|r| format!("{r:?}")),
        Rpc::DeleteLimit => c
            .delete_limit(limit, "probe")
            .await
            .map(|r| format!("{r:?}")),
        Rpc::ListLimits => c.list_limits().await.map(|r| format!("{r:?}")),
        Rpc::SetTradingState => c
            .set_trading_state(participant, pb::TradingState::Halted, "probe")
            .await
            .map(|r| format!("{r:?}")),
        Rpc::GetExposure => c.exposure(participant).await.map(|r| format!("{r:?}")),
        Rpc::Top => c.top(10).await.map(|r| format!("{r:?}")),
        Rpc::WatchAlerts => c.watch_alerts().await.map(|_| "stream".to_owned()),
        Rpc::ListAudit => c.audit(0, 10).await.map(|r| format!("{r:?}")),
        Rpc::GetStateDigest => c.state_digest().await.map(|r| format!("{r:?}")),
        Rpc::ClusterStatus => c.cluster_status().await.map(|r| format!("{r:?}")),
        Rpc::AddNode => c
            .add_node(2, "127.0.0.1:7402", "127.0.0.1:50052")
            .await
            .map(|r| format!("{r:?}")),
        Rpc::RemoveNode => c.remove_node(2).await.map(|r| format!("{r:?}")),
        Rpc::Publish => c
            .publish(vec![pb::PublishRequest {
                sequence: 99,
                quotes: vec![pb::Quote {
                    asset: "ETH".into(),
                    price: "1".into(),
                    published_ms: 0,
                }],
            }])
            .await
            .map(|r| format!("{r:?}")),
        Rpc::GetPublishState => c.publish_state().await.map(|r| format!("{r:?}")),
        Rpc::SetAssetClass => c
            .set_asset_class("ETH", pb::AssetClass::Major)
            .await
            .map(|r| format!("{r:?}")),
        Rpc::ListPrices => c.list_prices().await.map(|r| format!("{r:?}")),
        Rpc::SetVenueAsset => c
            .set_venue_asset(pb::SetVenueAssetRequest {
                venue: "venue-a".into(),
                asset: "ETH".into(),
                threshold: "0.8".into(),
                ltv: String::new(),
            })
            .await
            .map(|r| format!("{r:?}")),
        Rpc::SetHaircut => c
            .set_haircut("ETH", "0.1", "")
            .await
            .map(|r| format!("{r:?}")),
        Rpc::SetStressShock => c
            .set_stress_shock(pb::AssetClass::Major, "-0.4", "")
            .await
            .map(|r| format!("{r:?}")),
        Rpc::SetVenueRule => c
            .set_venue_rule(
                "venue-a",
                pb::liquidation_rule::Rule::Morpho(pb::MorphoRule {}),
            )
            .await
            .map(|r| format!("{r:?}")),
        Rpc::ListVenues => c.list_venues().await.map(|r| format!("{r:?}")),
        Rpc::GetHealth => c.health_of(participant).await.map(|r| format!("{r:?}")),
        Rpc::Stress => c
            .stress(pb::StressRequest {
                scenario: Some(pb::ScenarioSpec {
                    name: "CHAOS_TIERS".into(),
                    ..Default::default()
                }),
                participants: vec![participant.into()],
                ..Default::default()
            })
            .await
            .map(|r| format!("{r:?}")),
        Rpc::Cascade => c
            .cascade(pb::CascadeRequest {
                scenario: Some(pb::ScenarioSpec {
                    name: "CHAOS_TIERS".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .map(|r| format!("{r:?}")),
        Rpc::ListScenarios => c.scenarios().await.map(|r| format!("{r:?}")),
        Rpc::Systemic => c
            .systemic(pb::SystemicRequest {
                cascade: Some(pb::CascadeRequest {
                    scenario: Some(pb::ScenarioSpec {
                        name: "CHAOS_TIERS".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                top: 1,
                by: 0,
            })
            .await
            .map(|_| "stream".to_owned()),
        Rpc::SetStressGuard => c
            .set_stress_guard(participant, 2)
            .await
            .map(|r| format!("{r:?}")),
        Rpc::SetScenario => c
            .set_scenario(pb::SetScenarioRequest {
                name: "PROBE".into(),
                major: "-0.3".into(),
                ..Default::default()
            })
            .await
            .map(|r| format!("{r:?}")),
        Rpc::ReuseReport => c
            .reuse_report(match obj {
                Obj::Own => ids.own_venue,
                Obj::Another => ids.another_venue,
                Obj::Missing => "venue-nowhere",
            })
            .await
            .map(|r| format!("{r:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_deny_cell_is_denied_changes_nothing_and_leaks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n);
    let ca = Ca::new("matrix CA").unwrap();
    std::fs::write(path("ca.pem"), ca.cert_pem()).unwrap();
    let server = ca.server(&["localhost", "127.0.0.1"]).unwrap();
    std::fs::write(path("server.pem"), &server.cert).unwrap();
    std::fs::write(path("server.key"), &server.key).unwrap();
    let mut config = interlock_server::Config::dev_for_tests();
    config.dev = false;
    config.tls_cert = Some(path("server.pem"));
    config.tls_key = Some(path("server.key"));
    config.tls_client_ca = Some(path("ca.pem"));
    // So that a caller with no credential at all reaches the interceptor.
    config.tls_client_cert_optional = true;
    let s = start_with(config).await;
    let ep = format!("https://127.0.0.1:{}", s.addr.port());
    let tls = |pem: Option<&Pem>| TlsOptions {
        ca_pem: ca.cert_pem().to_owned(),
        identity: pem.map(|p| (p.cert.clone(), p.key.clone())),
        domain: None,
    };
    let cert = |role: &str, id: &str| ca.client(role, id, None).unwrap();
    let callers: Vec<(&str, TlsOptions)> = vec![
        ("venue-a", tls(Some(&cert("venue", "venue-a")))),
        ("venue-b", tls(Some(&cert("venue", "venue-b")))),
        ("broker", tls(Some(&cert("broker", "prime-1")))),
        ("admin", tls(Some(&cert("admin", "admin")))),
        ("auditor", tls(Some(&cert("auditor", "auditor")))),
        ("oracle", tls(Some(&cert("oracle", "oracle-1")))),
        ("none", tls(None)),
        (
            "wrong-ca",
            tls(Some(
                &Ca::new("other")
                    .unwrap()
                    .client("admin", "admin", None)
                    .unwrap(),
            )),
        ),
        (
            "expired",
            tls(Some(
                &ca.client("admin", "admin", Some(((2001, 1, 1), (2002, 1, 1))))
                    .unwrap(),
            )),
        ),
    ];
    let connect = |t: &TlsOptions| {
        let (ep, t) = (ep.clone(), t.clone());
        async move { Client::connect_with(&ep, Some(&t), None).await }
    };

    // The world: a participant with collateral, a limit, one reservation
    // per venue (quantities chosen to be recognisable in any text).
    let broker = connect(&callers[2].1).await.unwrap();
    broker
        .sync(vec![pb::SyncRequest {
            sequence: 1,
            updates: vec![collateral("fund-secret", "777.77")],
        }])
        .await
        .unwrap();
    let admin = connect(&callers[3].1).await.unwrap();
    admin
        .set_limit(pb::SetLimitRequest {
            kind: pb::LimitKind::ReuseRatio.into(),
            scope: Some(pb::Scope {
                participant: "fund-secret".into(),
                ..Default::default()
            }),
            value: "2".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let va = connect(&callers[0].1).await.unwrap();
    let vb = connect(&callers[1].1).await.unwrap();
    let ra = va
        .check(pb::CheckRequest {
            ttl_ms: 600_000,
            ..check("order-a", "fund-secret", "11.11")
        })
        .await
        .unwrap();
    let rb = vb
        .check(pb::CheckRequest {
            ttl_ms: 600_000,
            ..check("order-b", "fund-secret", "13.13")
        })
        .await
        .unwrap();
    let before = admin.state_digest().await.unwrap();

    let mut denied = 0;
    let mut not_found_texts: Vec<(String, String)> = Vec::new();
    for (who, t) in &callers {
        let ids = match *who {
            "venue-b" => Objects {
                own: rb.reservation_id.clone(),
                another: ra.reservation_id.clone(),
                own_venue: "venue-b",
                another_venue: "venue-a",
            },
            _ => Objects {
                own: ra.reservation_id.clone(),
                another: rb.reservation_id.clone(),
                own_venue: "venue-a",
                another_venue: "venue-b",
            },
        };
        let client = connect(t).await;
        for rpc in RPCS {
            for obj in [Obj::Own, Obj::Another, Obj::Missing] {
                let object_level = matches!(rpc, Rpc::Commit | Rpc::Release);
                let own_only = rpc == Rpc::ReuseReport && who.starts_with("venue");
                // Allowed cells change state; this test runs the deny cells
                // (and, for venues, another's / missing reservations, and
                // another venue's reuse report).
                let expect = if role_allows(who, rpc) {
                    if object_level && obj != Obj::Own {
                        Code::NotFound
                    } else if own_only && obj != Obj::Own {
                        Code::PermissionDenied
                    } else {
                        continue;
                    }
                } else {
                    match *who {
                        "none" => Code::Unauthenticated,
                        "wrong-ca" | "expired" => Code::Unavailable, // refused by TLS
                        _ => Code::PermissionDenied,
                    }
                };
                let result = match &client {
                    Ok(c) => call(c, rpc, obj, &ids).await,
                    Err(e) => Err(ClientError::Endpoint(e.to_string())),
                };
                let e = result.expect_err(&format!("{who} {rpc:?} {obj:?} was allowed"));
                let text = e.to_string();
                match (&e, expect) {
                    (ClientError::Status(st), Code::Unavailable) => {
                        assert!(
                            !matches!(
                                st.code(),
                                Code::Ok | Code::PermissionDenied | Code::NotFound
                            ),
                            "{who} {rpc:?}: {text}"
                        )
                    }
                    (ClientError::Status(st), want) => {
                        assert_eq!(st.code(), want, "{who} {rpc:?} {obj:?}: {text}")
                    }
                    (_, Code::Unavailable) => {}
                    (other, want) => panic!("{who} {rpc:?} {obj:?}: {other} (wanted {want:?})"),
                }
                if expect == Code::NotFound {
                    not_found_texts.push((format!("{who} {rpc:?} {obj:?}"), text.clone()));
                }
                // No refusal names another tenant or shows an amount.
                let other_venue = if *who == "venue-b" {
                    "venue-a"
                } else {
                    "venue-b"
                };
                for secret in [
                    "777.77",
                    "11.11",
                    "13.13",
                    "fund-secret",
                    other_venue,
                    &ids.another,
                ] {
                    assert!(
                        !text.contains(secret),
                        "{who} {rpc:?} {obj:?} leaked {secret:?}: {text}"
                    );
                }
                denied += 1;
            }
        }
    }
    // "Not yours" reads exactly like "does not exist".
    for pair in not_found_texts.chunks(2) {
        assert_eq!(pair[0].1, pair[1].1, "{} vs {}", pair[0].0, pair[1].0);
    }
    let after = admin.state_digest().await.unwrap();
    assert_eq!(
        after.sha256, before.sha256,
        "a denied call changed the ledger"
    );
    assert!(
        after.audit_records > before.audit_records,
        "refusals are audited"
    );
    println!("{denied} deny cells denied");
    assert!(denied >= 250, "only {denied} cells");
    s.stop().await;
}
