//! Stress and cascade over real gRPC: analytics.md's worked case through
//! the whole stack, the cascade it starts in a thin market, bad input
//! named by field, and who may run them.

mod common;
use common::*;
use interlock_client::{pb, Client};
use tonic::Code;

fn update(u: pb::sync_update::Update) -> pb::SyncUpdate {
    pb::SyncUpdate { update: Some(u) }
}

fn pledge(p: &str, venue: &str, eth: &str, usdc_debt: &str) -> Vec<pb::SyncUpdate> {
    vec![
        update(pb::sync_update::Update::Commitment(pb::CommitmentUpdate {
            participant: p.into(),
            venue: venue.into(),
            asset: "ETH".into(),
            quantity: eth.into(),
            covers_commit_seq: 0,
        })),
        update(pb::sync_update::Update::Liability(pb::LiabilityUpdate {
            participant: p.into(),
            venue: venue.into(),
            asset: "USDC".into(),
            quantity: usdc_debt.into(),
        })),
    ]
}

/// ETH at 2,000 (haircut 0.17), venue-a Aave-style (LT 0.83, LB 1.05),
/// venue-b Morpho-style (LLTV 0.86). P owns 50 ETH and pledges all of it
/// on both (debts 70,000 and 40,000); Q owns 100 ETH, all on venue-b
/// against 100,000.
async fn worked_case(s: &TestServer) -> Client {
    let admin = s.admin().await;
    admin
        .set_asset_class("ETH", pb::AssetClass::Major)
        .await
        .unwrap();
    admin
        .set_asset_class("USDC", pb::AssetClass::Stable)
        .await
        .unwrap();
    admin.set_haircut("ETH", "0.17", "").await.unwrap();
    use pb::liquidation_rule::Rule;
    for (venue, lt, rule) in [
        (
            "venue-a",
            "0.83",
            Rule::Aave(pb::AaveRule {
                close_factor: "0.5".into(),
                hf_full: "0.95".into(),
                min_full_base: "2000".into(),
                bonus: "1.05".into(),
            }),
        ),
        ("venue-b", "0.86", Rule::Morpho(pb::MorphoRule {})),
    ] {
        admin
            .set_venue_asset(pb::SetVenueAssetRequest {
                venue: venue.into(),
                asset: "ETH".into(),
                threshold: lt.into(),
                ltv: String::new(),
            })
            .await
            .unwrap();
        admin.set_venue_rule(venue, rule).await.unwrap();
    }
    let oracle = s.client("dev-oracle").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    oracle
        .publish(vec![pb::PublishRequest {
            sequence: 1,
            quotes: ["ETH=2000", "USDC=1"]
                .iter()
                .map(|q| {
                    let (a, p) = q.split_once('=').unwrap();
                    pb::Quote {
                        asset: a.into(),
                        price: p.into(),
                        published_ms: now,
                    }
                })
                .collect(),
        }])
        .await
        .unwrap();
    let mut updates = vec![collateral("P", "50"), collateral("Q", "100")];
    updates.extend(pledge("P", "venue-a", "50", "70000"));
    updates.extend(pledge("P", "venue-b", "50", "40000"));
    updates.extend(pledge("Q", "venue-b", "100", "100000"));
    s.client("dev-broker")
        .await
        .sync(vec![pb::SyncRequest {
            sequence: 1,
            updates,
        }])
        .await
        .unwrap();
    admin
}

fn shock(asset: &str, s: &str) -> Option<pb::ScenarioSpec> {
    Some(pb::ScenarioSpec {
        shocks: vec![pb::Shock {
            asset: asset.into(),
            shock: s.into(),
        }],
        ..Default::default()
    })
}

#[tokio::test]
async fn the_worked_case_over_grpc() {
    let s = start_server().await;
    let admin = worked_case(&s).await;
    let r = admin
        .stress(pb::StressRequest {
            scenario: shock("ETH", "-0.2"),
            markets: vec![pb::Market {
                asset: "ETH".into(),
                depth: "1000".into(),
                floor: String::new(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    let p = &r.participants[0];
    assert_eq!(p.participant, "P");
    assert_eq!(p.hf_eco_after, "0.603636");
    let (a, b) = (&p.venues[0], &p.venues[1]);
    assert_eq!(
        (a.venue.as_str(), a.hf_claim.as_str(), a.breached),
        ("venue-a", "0.948571", true)
    );
    assert_eq!(
        (b.venue.as_str(), b.hf_claim.as_str(), b.breached),
        ("venue-b", "1.72", false)
    );
    assert_eq!(b.hf_true, "0.86");
    let va = &r.venues[0];
    assert_eq!(va.accounts_breached, 1);
    assert_eq!(va.seized[0].quantity, "25");
    assert_eq!(va.repaid, "38095.238095");
    assert_eq!(va.bad_debt, "31904.761905");
    assert_eq!(va.cover1, "30000");
    let e = r.ecosystem.clone().unwrap();
    assert_eq!(
        (e.participants, e.breached_on_one, e.breached_on_two),
        (2, 1, 0)
    );
    assert_eq!(r.assets[0].share_of_depth, "0.025");
    // Bit-identical when asked again.
    let again = admin
        .stress(pb::StressRequest {
            scenario: shock("ETH", "-0.2"),
            markets: vec![pb::Market {
                asset: "ETH".into(),
                depth: "1000".into(),
                floor: String::new(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(format!("{again:?}"), format!("{r:?}"));

    // In a thin market V1's 25 ETH sale breaks venue-b: Q is a victim.
    let c = admin
        .cascade(pb::CascadeRequest {
            scenario: shock("ETH", "-0.2"),
            impact: pb::PriceImpact::Exp.into(),
            markets: vec![pb::Market {
                asset: "ETH".into(),
                depth: "20".into(),
                floor: String::new(),
            }],
            max_rounds: 0,
            rules: Vec::new(),
        })
        .await
        .unwrap();
    assert!(c.settled);
    assert_eq!(c.rounds.len(), 3);
    assert_eq!(c.rounds[0].prices[0], "1600");
    assert_eq!(c.rounds[1].newly_breached, vec!["Q".to_owned()]);
    assert_eq!(
        (c.victims_count, c.victims.clone()),
        (1, vec!["Q".to_owned()])
    );
    assert_eq!(c.amplification_debt_closed, "3");
    s.stop().await;
}

#[tokio::test]
async fn bad_input_is_named_and_venues_may_not_run_analytics() {
    let s = start_server().await;
    let admin = worked_case(&s).await;
    let stress = |scenario: Option<pb::ScenarioSpec>, rows: u32, depth: &str| pb::StressRequest {
        scenario,
        rows,
        markets: if depth.is_empty() {
            Vec::new()
        } else {
            vec![pb::Market {
                asset: "ETH".into(),
                depth: depth.into(),
                floor: String::new(),
            }]
        },
        ..Default::default()
    };
    let named = |n: &str, k: u32| {
        Some(pb::ScenarioSpec {
            name: n.into(),
            multiple: k,
            ..Default::default()
        })
    };
    let both = Some(pb::ScenarioSpec {
        name: "CHAOS_TIERS".into(),
        shocks: shock("ETH", "-0.1").unwrap().shocks,
        multiple: 0,
    });
    for (what, req, field) in [
        (
            "an unknown asset",
            stress(shock("DOGE", "-0.1"), 0, ""),
            "shocks.asset",
        ),
        ("-100%", stress(shock("ETH", "-1"), 0, ""), "shocks.shock"),
        (
            "+1001%",
            stress(shock("ETH", "10.01"), 0, ""),
            "shocks.shock",
        ),
        (
            "not a number",
            stress(shock("ETH", "lots"), 0, ""),
            "shocks.shock",
        ),
        ("no scenario", stress(None, 0, ""), "scenario"),
        ("both", stress(both.clone(), 0, ""), "scenario"),
        (
            "an unknown scenario",
            stress(named("NOPE", 0), 0, ""),
            "scenario",
        ),
        (
            "a multiple of 11",
            stress(named("CHAOS_TIERS", 11), 0, ""),
            "multiple",
        ),
        (
            "too many rows",
            stress(named("CHAOS_TIERS", 0), 1001, ""),
            "rows",
        ),
        (
            "a depth of 0",
            stress(named("CHAOS_TIERS", 0), 0, "0"),
            "depth",
        ),
    ] {
        let e = admin.stress(req).await.unwrap_err();
        assert!(message(&e).contains(&format!("{field}:")), "{what}: {e}");
        assert_eq!(code(e), Code::InvalidArgument, "{what}");
    }
    let e = admin
        .cascade(pb::CascadeRequest {
            scenario: named("CHAOS_TIERS", 0),
            impact: pb::PriceImpact::Linear.into(),
            markets: Vec::new(),
            max_rounds: 201,
            rules: Vec::new(),
        })
        .await
        .unwrap_err();
    assert!(message(&e).contains("max_rounds:"), "{e}");
    assert_eq!(code(e), Code::InvalidArgument);
    // A rule override is checked as SetVenueRule checks a rule.
    let e = admin
        .stress(pb::StressRequest {
            rules: vec![pb::RuleOverride {
                venue: "venue-a".into(),
                rule: Some(pb::LiquidationRule {
                    rule: Some(pb::liquidation_rule::Rule::Exchange(pb::ExchangeRule {
                        penalty: "0.9".into(),
                    })),
                }),
            }],
            ..stress(named("CHAOS_TIERS", 0), 0, "")
        })
        .await
        .unwrap_err();
    assert!(message(&e).contains("penalty:"), "{e}");
    assert_eq!(code(e), Code::InvalidArgument);
    // A venue may not: the same refusal as for every admin service.
    let venue = s.client("dev-venue-a").await;
    let e = venue
        .stress(stress(named("CHAOS_TIERS", 0), 0, ""))
        .await
        .unwrap_err();
    assert_eq!(code(e), Code::PermissionDenied);
    assert_eq!(
        code(venue.scenarios().await.unwrap_err()),
        Code::PermissionDenied
    );
    // The library, with its sources.
    let names: Vec<String> = admin
        .scenarios()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["BLACK_THURSDAY_2020", "CHAOS_TIERS", "LUNA_2022"]);
    s.stop().await;
}

/// Checks go on while a run reads its moment: the moment is taken under
/// the lock in O(1) and the run computes without it; what a check
/// changes afterwards is not in the run's figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reads_one_moment_while_checks_go_on() {
    let s = start_server().await;
    let admin = worked_case(&s).await;
    own(&s, "R", "10").await;
    let venue = s.client("dev-venue-a").await;
    let checks = tokio::spawn(async move {
        let mut approved = 0;
        for i in 0..200 {
            let mut r = check(&format!("o{i}"), "R", "0.01");
            r.ttl_ms = 60_000;
            if venue.check(r).await.unwrap().verdict() == pb::Verdict::Approved {
                approved += 1;
            }
        }
        approved
    });
    let mut runs = 0;
    while !checks.is_finished() {
        let r = admin
            .stress(pb::StressRequest {
                scenario: shock("ETH", "-0.2"),
                ..Default::default()
            })
            .await
            .unwrap();
        // Whatever moment it read, P's figures are the worked case's.
        assert_eq!(r.participants[0].hf_eco_after, "0.603636");
        runs += 1;
    }
    assert_eq!(checks.await.unwrap(), 200);
    assert!(runs > 0);
    s.stop().await;
}

/// The ranking streams one progress message per participant, then the
/// report: P's positions close Q's debt through the cascade, Q's close
/// nobody else's.
#[tokio::test]
async fn systemic_ranking_streams_progress_then_the_ranking() {
    let s = start_server().await;
    let admin = worked_case(&s).await;
    let mut stream = admin
        .systemic(pb::SystemicRequest {
            cascade: Some(pb::CascadeRequest {
                scenario: shock("ETH", "-0.2"),
                impact: pb::PriceImpact::Exp.into(),
                markets: vec![pb::Market {
                    asset: "ETH".into(),
                    depth: "20".into(),
                    floor: String::new(),
                }],
                max_rounds: 0,
                rules: Vec::new(),
            }),
            top: 10,
            by: pb::RankBy::Size.into(),
        })
        .await
        .unwrap();
    let mut progress = Vec::new();
    let mut report = None;
    while let Some(u) = stream.message().await.unwrap() {
        match u.update.unwrap() {
            pb::systemic_update::Update::Progress(p) => {
                progress.push((p.done, p.total, p.row.unwrap().participant))
            }
            pb::systemic_update::Update::Report(r) => report = Some(r),
        }
    }
    assert_eq!(progress, [(1, 2, "P".to_owned()), (2, 2, "Q".to_owned())]);
    let r = report.unwrap();
    assert_eq!(r.closed, "210000");
    assert_eq!(
        (r.rows[0].participant.as_str(), r.rows[0].impact.as_str()),
        ("P", "100000")
    );
    assert_eq!(
        (r.rows[1].participant.as_str(), r.rows[1].impact.as_str()),
        ("Q", "0")
    );
    s.stop().await;
}

/// A venue reads its own reuse report, only as aggregates over k
/// participants (here fewer: withheld); another venue's is refused without
/// naming it; an admin reads every venue's, exactly, with the overlap.
#[tokio::test]
async fn reuse_reports_keep_the_privacy_model() {
    let s = start_server().await;
    let admin = worked_case(&s).await;
    let venue = s.client("dev-venue-a").await;
    let own = venue.reuse_report("").await.unwrap();
    assert_eq!(own.venues.len(), 1);
    let v = &own.venues[0];
    assert_eq!(
        (v.venue.as_str(), v.withheld, v.min_participants),
        ("venue-a", true, 5)
    );
    assert!(v.buckets.is_empty() && v.overlap.is_empty());
    assert_eq!(v.committed_value, "0");
    let e = venue.reuse_report("venue-b").await.unwrap_err();
    assert_eq!(code(e), Code::PermissionDenied);

    let all = admin.reuse_report("").await.unwrap();
    let names: Vec<&str> = all.venues.iter().map(|v| v.venue.as_str()).collect();
    assert_eq!(names, ["venue-a", "venue-b"]);
    let a = &all.venues[0];
    assert_eq!(
        (a.participants, a.min_participants, a.withheld),
        (1, 0, false)
    );
    // P's 50 ETH at 2,000 on venue-a, half of it over-pledged.
    assert_eq!(a.committed_value, "100000");
    assert_eq!(a.over_pledged_value, "50000");
    assert_eq!(a.over_pledged_share, "0.5");
    assert_eq!(a.overlap[0].venue, "venue-b");
    assert_eq!(a.overlap[0].value, "100000");
    s.stop().await;
}

/// The scheduled stress: the desk's scenario DESK, run every 100 ms. At
/// ETH −10% P is hidden by reuse (every venue healthy, HF^eco 0.68); the
/// desk deepens DESK to −60% and P would breach on both venues at once:
/// each change is one alert, and `top --by stress` ranks by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_stress_alerts_on_what_changed() {
    let mut config = interlock_server::Config::dev_for_tests();
    config.stress_every_ms = 100;
    config.stress_scenario = "DESK".into();
    let s = start_with(config).await;
    let admin = worked_case(&s).await;
    // The desk opts P into reduce-only at two venues breached.
    admin.set_stress_guard("P", 2).await.unwrap();
    let e = admin.top_by_stress(10).await.unwrap_err();
    assert_eq!(
        code(e),
        Code::FailedPrecondition,
        "no run yet: DESK does not exist"
    );
    let mut alerts = admin.watch_alerts().await.unwrap();
    let desk = |fall: &str| pb::SetScenarioRequest {
        name: "DESK".into(),
        source: "the desk".into(),
        shocks: vec![pb::Shock {
            asset: "ETH".into(),
            shock: fall.into(),
        }],
        ..Default::default()
    };
    admin.set_scenario(desk("-0.1")).await.unwrap();
    let a = next_alert(&mut alerts, pb::AlertKind::StressHiddenByReuse).await;
    assert!(
        a.message
            .contains("under DESK 1 participant(s) are hidden by reuse"),
        "{}",
        a.message
    );
    assert!(a.message.contains("new: P"), "{}", a.message);

    // At -10% P breaches nowhere: still ACTIVE.
    assert_eq!(
        admin.exposure("P").await.unwrap().state(),
        pb::TradingState::Active
    );
    admin.set_scenario(desk("-0.6")).await.unwrap();
    let a = next_alert(&mut alerts, pb::AlertKind::StressMultiVenue).await;
    assert_eq!(a.participant, "P");
    // Its guard tripped (before the run's alerts went out): REDUCE_ONLY
    // everywhere, audited by the stress.
    assert_eq!(
        admin.exposure("P").await.unwrap().state(),
        pb::TradingState::ReduceOnly
    );
    let audit = admin.audit(0, 100).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.principal.contains("scheduled-stress")
                && r.action == "set_trading_state"
                && r.new_value.contains("REDUCE_ONLY")),
        "{audit:#?}"
    );
    let a = next_alert(&mut alerts, pb::AlertKind::StressHiddenByReuse).await;
    assert!(a.message.contains("no longer: P"), "{}", a.message);
    let top = admin.top_by_stress(10).await.unwrap();
    assert_eq!(top.stress_scenario, "DESK");
    assert_eq!(top.by_stress[0].participant, "P");
    assert_eq!(top.by_stress[0].breached_on, ["venue-a", "venue-b"]);
    s.stop().await;
}

/// The next alert of `kind` (others are skipped), within 20 s.
async fn next_alert(alerts: &mut tonic::Streaming<pb::Alert>, kind: pb::AlertKind) -> pb::Alert {
    loop {
        let a = tokio::time::timeout(std::time::Duration::from_secs(20), alerts.message())
            .await
            .expect("no alert within 20 s")
            .unwrap()
            .unwrap();
        if a.kind() == kind {
            return a;
        }
    }
}

/// A run that outlasts --analytics-deadline-ms is stopped where it stands
/// and answers DEADLINE_EXCEEDED (reading 5,000 participants takes longer
/// than the 1 ms allowed here, whatever the machine).
#[tokio::test]
async fn a_run_past_its_deadline_is_stopped() {
    let mut config = interlock_server::Config::dev_for_tests();
    config.analytics_deadline_ms = 1;
    let s = start_with(config).await;
    let broker = s.client("dev-broker").await;
    let messages = (0..5u64)
        .map(|m| pb::SyncRequest {
            sequence: m + 1,
            updates: (0..1000)
                .map(|i| collateral(&format!("p{m}-{i}"), "1"))
                .collect(),
        })
        .collect();
    broker.sync(messages).await.unwrap();
    let admin = s.admin().await;
    let e = admin
        .stress(pb::StressRequest {
            scenario: Some(pb::ScenarioSpec {
                name: "CHAOS_TIERS".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(message(&e).contains("--analytics-deadline-ms"), "{e}");
    assert_eq!(code(e), Code::DeadlineExceeded);
    s.stop().await;
}
