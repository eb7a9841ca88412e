//! The operations port against a real server: probes answer without a
//! certificate or token, and `/metrics` is Prometheus text whose figures
//! follow what the server did.

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use interlock_client::pb;
use interlock_server::Config;

/// Every sample line of a scrape, as (series with labels, value), after
/// checking the text's shape: each sample belongs to a family declared by
/// `# TYPE` before it, each value is a number, each family is declared
/// once.
fn samples(text: &str) -> Vec<(String, f64)> {
    let mut declared: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(
                declared.insert(name.to_owned(), kind.to_owned()).is_none(),
                "{name} declared twice"
            );
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("not a number: {line}")),
        };
        let name = series.split('{').next().unwrap();
        let family = declared.keys().find(|f| {
            name == f.as_str()
                || ["_total", "_bucket", "_sum", "_count"]
                    .iter()
                    .any(|sfx| name.strip_suffix(sfx) == Some(f.as_str()))
        });
        assert!(family.is_some(), "{name} has no # TYPE before it");
        out.push((series.to_owned(), value));
    }
    out
}

fn value(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find(|(s, _)| s == series)
        .unwrap_or_else(|| panic!("no {series}"))
        .1
}

#[tokio::test]
async fn probes_and_metrics_follow_the_server() {
    let server = start_with_ops(Config::dev_for_tests()).await;
    let (status, _, body) = ops_get(&server, "/livez").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    // The gRPC side serves: readiness follows.
    own(&server, "zz-fund-7", "10").await;
    let (status, _, body) = ops_get(&server, "/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));

    let venue = server.client("dev-venue-a").await;
    venue
        .check(check("zz-order-1", "zz-fund-7", "4"))
        .await
        .unwrap();
    venue
        .check(check("zz-order-2", "zz-fund-7", "4"))
        .await
        .unwrap();
    let r = venue
        .check(check("zz-order-3", "zz-fund-7", "400"))
        .await
        .unwrap();
    assert_eq!(r.verdict(), pb::Verdict::Rejected);
    // A venue may not set limits: PERMISSION_DENIED, counted as such.
    let denied = venue
        .set_limit(pb::SetLimitRequest::default())
        .await
        .unwrap_err();
    assert_eq!(code(denied), tonic::Code::PermissionDenied);

    let (status, head, text) = ops_get(&server, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let s = samples(&text);
    assert_eq!(
        value(&s, r#"interlock_checks_total{verdict="approved"}"#),
        2.0
    );
    assert_eq!(
        value(
            &s,
            r#"interlock_checks_total{verdict="rejected",code="LIMIT_EXCEEDED"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            r#"interlock_grpc_server_handling_seconds_count{grpc_service="interlock.v1.PreTradeService",grpc_method="Check"}"#
        ),
        3.0
    );
    assert_eq!(
        value(
            &s,
            r#"interlock_grpc_server_handled_total{grpc_service="interlock.v1.AdminService",grpc_method="SetLimit",grpc_code="PERMISSION_DENIED"}"#
        ),
        1.0
    );
    assert_eq!(
        value(&s, r#"interlock_table_entries{table="participants"}"#),
        1.0
    );
    assert_eq!(
        value(&s, r#"interlock_table_entries{table="idempotency"}"#),
        3.0
    );
    assert_eq!(
        value(&s, r#"interlock_broker_stale{broker="prime-1"}"#),
        0.0
    );
    assert_eq!(value(&s, "interlock_ready"), 1.0);
    // Durable by default: every acknowledged change went through an
    // fdatasync the journal's figures saw.
    assert!(value(&s, "interlock_journal_fdatasync_seconds_count") >= 4.0);
    assert!(value(&s, "interlock_journal_batch_records_sum") >= 4.0);
    // Buckets never fall as the bound rises, and +Inf is the count.
    let buckets: Vec<f64> = s
        .iter()
        .filter(|(k, _)| k.starts_with("interlock_journal_fdatasync_seconds_bucket"))
        .map(|(_, v)| *v)
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert_eq!(
        *buckets.last().unwrap(),
        value(&s, "interlock_journal_fdatasync_seconds_count")
    );
    // Nothing about positions or orders: no participant, no order id.
    assert!(
        !text.contains("zz-fund") && !text.contains("zz-order"),
        "{text}"
    );

    // An unknown path is 404, and nothing asked for a token.
    let (status, _, _) = ops_get(&server, "/nope").await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn open_streams_are_counted_while_open() {
    let server = start_with_ops(Config::dev_for_tests()).await;
    let admin = server.admin().await;
    let mut alerts = admin.watch_alerts().await.unwrap();
    let series = r#"interlock_open_streams{stream="AdminService/WatchAlerts"}"#;
    let mut seen = 0.0;
    // The stream is counted once its task runs: look a few times.
    for _ in 0..50 {
        let (_, _, text) = ops_get(&server, "/metrics").await;
        seen = value(&samples(&text), series);
        if seen == 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(seen, 1.0);
    // An alert arrives through it and is counted by kind.
    admin
        .set_trading_state("p9", pb::TradingState::Halted, "test")
        .await
        .unwrap();
    let a = tokio::time::timeout(std::time::Duration::from_secs(10), alerts.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(a.kind(), pb::AlertKind::TradingStateChanged);
    let (_, _, text) = ops_get(&server, "/metrics").await;
    assert_eq!(
        value(
            &samples(&text),
            r#"interlock_alerts_total{kind="TRADING_STATE_CHANGED"}"#
        ),
        1.0
    );
    drop(alerts);
    for _ in 0..50 {
        let (_, _, text) = ops_get(&server, "/metrics").await;
        seen = value(&samples(&text), series);
        if seen == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(seen, 0.0, "the stream's count goes when it closes");
    server.stop().await;
}

/// Waits (at most 10 s) for `/readyz` to answer 200; until then it
/// answers 503 with a reason.
async fn ready(server: &TestServer) {
    for _ in 0..500 {
        let (status, _, body) = ops_get(server, "/readyz").await;
        if status == 200 {
            return;
        }
        assert_eq!(status, 503);
        assert!(body.starts_with("not ready: "), "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("not ready after 10 s");
}

#[tokio::test]
async fn every_family_is_shown_once_ready() {
    let server = start_with_ops(Config::dev_for_tests()).await;
    ready(&server).await;
    let (_, _, text) = ops_get(&server, "/metrics").await;
    let s = samples(&text);
    let names: HashSet<&str> = s
        .iter()
        .map(|(k, _)| k.split('{').next().unwrap())
        .collect();
    for want in [
        "interlock_ready",
        "interlock_checks_total",
        "interlock_open_streams",
        "interlock_alerts_total",
        "interlock_journal_batch_records_count",
        "interlock_snapshot_duration_seconds_count",
        "interlock_recovery_seconds",
        "interlock_rate_limited_total",
        "interlock_table_capacity",
    ] {
        assert!(names.contains(want), "{want} missing from:\n{text}");
    }
    server.stop().await;
}

/// Every metric the Grafana dashboard (`deploy/grafana/interlock.json`)
/// queries is one a live server exports, once it has done what the panels
/// show (a check, a sync, a price).
#[tokio::test]
async fn the_dashboard_queries_only_exported_metrics() {
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/interlock.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut wanted = HashSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(at) = rest.find("interlock_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                wanted.insert(name);
            }
        }
    }
    assert!(wanted.len() >= 15, "{wanted:?}");

    let server = start_with_ops(Config::dev_for_tests()).await;
    own(&server, "p1", "10").await;
    let admin = server.admin().await;
    admin
        .set_asset_class("ETH", pb::AssetClass::Major)
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    server
        .client("dev-oracle")
        .await
        .publish(vec![pb::PublishRequest {
            sequence: 1,
            quotes: vec![pb::Quote {
                asset: "ETH".into(),
                price: "2000".into(),
                published_ms: now,
            }],
        }])
        .await
        .unwrap();
    let venue = server.client("dev-venue-a").await;
    venue.check(check("o1", "p1", "1")).await.unwrap();
    let (_, _, text) = ops_get(&server, "/metrics").await;
    let exported: HashSet<String> = samples(&text)
        .into_iter()
        .map(|(k, _)| k.split('{').next().unwrap().to_owned())
        .collect();
    let missing: Vec<&String> = wanted.iter().filter(|w| !exported.contains(*w)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries {missing:?}, which the server does not export"
    );
    server.stop().await;
}

/// An analytics run is timed, its book refresh within it too.
#[tokio::test]
async fn an_analytics_run_is_timed() {
    let server = start_with_ops(Config::dev_for_tests()).await;
    own(&server, "zz-fund-8", "10").await;
    server
        .admin()
        .await
        .stress(pb::StressRequest {
            scenario: Some(pb::ScenarioSpec {
                name: "CHAOS_TIERS".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let (_, _, text) = ops_get(&server, "/metrics").await;
    let s = samples(&text);
    assert!(value(&s, "interlock_analytics_run_seconds_count") >= 1.0);
    assert!(value(&s, "interlock_analytics_refresh_seconds_count") >= 1.0);
    assert_eq!(value(&s, "interlock_analytics_past_deadline_total"), 0.0);
    server.stop().await;
}
