//! Restarts over real gRPC: what was acknowledged before a graceful stop is
//! there after it, a retried check gets its original answer, and a
//! reservation whose TTL ran out while the server was down is released.
//! (kill -9 under load is `server/tests/kill9.rs`; crash points, corruption
//! and disk faults are `server/journal/tests/crash.rs`.)

mod common;
use std::time::Duration;

use common::*;
use interlock_client::pb;
use tonic::Code;

fn config_in(dir: &std::path::Path) -> interlock_server::Config {
    let mut c = interlock_server::Config::dev_for_tests();
    c.data_dir = dir.to_path_buf();
    c
}

#[tokio::test]
async fn a_restart_keeps_reservations_limits_audit_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(config_in(dir.path())).await;
    own(&s, "fund", "100").await;
    let l = set_limit(
        &s,
        pb::LimitKind::ReuseRatio,
        pb::Scope {
            participant: "fund".into(),
            ..Default::default()
        },
        "2",
    )
    .await;
    let venue = s.client("dev-venue-a").await;
    let long = |order: &str, qty: &str| pb::CheckRequest {
        ttl_ms: 600_000,
        ..check(order, "fund", qty)
    };
    let kept = venue.check(long("kept", "120")).await.unwrap();
    let rejected = venue.check(long("too-much", "500")).await.unwrap();
    assert_eq!(rejected.verdict(), pb::Verdict::Rejected);
    let committed = venue.check(long("posted", "30")).await.unwrap();
    let c = venue.commit(&committed.reservation_id).await.unwrap();
    let short = venue
        .check(pb::CheckRequest {
            ttl_ms: 500,
            ..check("short", "fund", "10")
        })
        .await
        .unwrap();
    assert_eq!(short.verdict(), pb::Verdict::Approved);
    s.admin()
        .await
        .set_trading_state("other", pb::TradingState::ReduceOnly, "desk")
        .await
        .unwrap();
    let audit_before = s.admin().await.audit(0, 100).await.unwrap();
    s.stop().await;

    // The server is down for longer than the short reservation's TTL.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // Besides the empty one the data directory started with.
    let first = interlock_journal::format::snapshot_name(0);
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("snapshot-") && *f != first),
        "a snapshot at shutdown: {files:?}"
    );

    let s = start_with(config_in(dir.path())).await;
    let venue = s.client("dev-venue-a").await;
    let admin = s.admin().await;
    // Retried checks get their original answers, rejections included.
    assert_eq!(venue.check(long("kept", "120")).await.unwrap(), kept);
    assert_eq!(
        venue.check(long("too-much", "500")).await.unwrap(),
        rejected
    );
    // The same order id with another payload is still refused.
    assert_eq!(
        code(venue.check(long("kept", "121")).await.unwrap_err()),
        Code::AlreadyExists
    );
    // The commit is still a commit, with its sequence.
    let again = venue.commit(&committed.reservation_id).await.unwrap();
    assert_eq!(again.commit_seq, c.commit_seq);
    // The short reservation expired while the server was down.
    let e = venue.commit(&short.reservation_id).await.unwrap_err();
    assert_eq!(code(e), Code::FailedPrecondition);
    let exp = admin.exposure("fund").await.unwrap();
    let a = &exp.assets[0];
    assert_eq!((a.owned.as_str(), a.committed.as_str()), ("100", "150"));
    let limits = admin.list_limits().await.unwrap();
    assert_eq!(limits, vec![l]);
    assert_eq!(
        admin.exposure("other").await.unwrap().state(),
        pb::TradingState::ReduceOnly
    );
    let audit_after = admin.audit(0, 100).await.unwrap();
    assert_eq!(&audit_after[..audit_before.len()], &audit_before[..]);
    // The broker resumes after its last applied sequence.
    let broker = s.client("dev-broker").await;
    assert_eq!(broker.sync_state().await.unwrap().last_applied_sequence, 1);
    // New reservations get new ids, never a reused one.
    let next = venue.check(long("next", "1")).await.unwrap();
    let ids = [&kept, &committed, &short, &next].map(|r| r.reservation_id.clone());
    assert!(
        ids.iter()
            .all(|i| ids.iter().filter(|j| *j == i).count() == 1),
        "{ids:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_damaged_journal_refuses_to_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let s = start_with(config.clone()).await;
    own(&s, "fund", "100").await;
    let venue = s.client("dev-venue-a").await;
    for i in 0..20 {
        venue
            .check(check(&format!("o{i}"), "fund", "1"))
            .await
            .unwrap();
    }
    // No graceful stop, so no snapshot: everything is in the journal. Flip
    // a bit early in it: start-up must refuse, naming the file and offset.
    s.abort().await;
    let mut segments = Vec::new();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("snapshot-") {
            std::fs::remove_file(&p).unwrap();
        } else if name.starts_with("journal-") {
            segments.push(p);
        }
    }
    segments.sort();
    let first = &segments[0];
    let mut bytes = std::fs::read(first).unwrap();
    assert!(bytes.len() > 200, "{} bytes", bytes.len());
    bytes[60] ^= 0x04;
    std::fs::write(first, &bytes).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let e = interlock_server::serve(config, listener, async {})
        .await
        .unwrap_err()
        .to_string();
    let name = first.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        e.contains(&name) && e.contains("corrupt at byte offset"),
        "{e}"
    );
}

/// Polls `f` every 20 ms for up to `within`; true once it holds.
async fn eventually(within: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < within {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn serving(endpoint: &str) -> bool {
    serving_as(endpoint, "interlock.v1.PreTradeService").await
}

async fn serving_as(endpoint: &str, service: &str) -> bool {
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let r = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner();
    r.status() == tonic_health::pb::health_check_response::ServingStatus::Serving
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_fsync_error_nothing_is_acknowledged_and_health_says_so() {
    use interlock_journal::sim::{Fault, SimStorage};
    let disk = SimStorage::new();
    let s = start_on_with_ops(
        interlock_server::Config::dev_for_tests(),
        std::sync::Arc::new(disk.clone()),
    )
    .await;
    own(&s, "fund", "100").await;
    let venue = s.client("dev-venue-a").await;
    let acked = venue.check(check("before", "fund", "10")).await.unwrap();
    assert!(serving(&s.endpoint).await);
    assert_eq!(ops_get(&s, "/readyz").await.0, 200);

    disk.inject(Fault::SyncFailsAt(disk.ops()));
    let e = venue
        .check(check("during", "fund", "10"))
        .await
        .unwrap_err();
    assert_eq!(code(e), Code::Unavailable);
    assert!(
        eventually(Duration::from_secs(2), async || !serving(&s.endpoint).await).await,
        "health still SERVING after the journal failed"
    );
    // The operations port says so too, with the reason, and a probe needs
    // no certificate to read it.
    let (status, _, body) = ops_get(&s, "/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("journal failed"), "{body}");
    assert_eq!(ops_get(&s, "/livez").await.0, 200);
    let e = venue.check(check("after", "fund", "1")).await.unwrap_err();
    assert!(message(&e).contains("journal failed"), "{e}");
    // Reads still answer.
    assert_eq!(
        s.admin().await.exposure("fund").await.unwrap().assets.len(),
        1
    );
    s.abort().await;

    // The machine restarts: the acknowledged check is there, the refused
    // ones are not.
    let s = start_on(
        interlock_server::Config::dev_for_tests(),
        std::sync::Arc::new(disk.crash()),
    )
    .await;
    let venue = s.client("dev-venue-a").await;
    assert_eq!(
        venue.check(check("before", "fund", "10")).await.unwrap(),
        acked
    );
    let exp = s.admin().await.exposure("fund").await.unwrap();
    assert_eq!(exp.assets[0].committed, "10");
    s.stop().await;
}

/// A server on a simulated disk, "fund" owning 100 ETH and one check of 10
/// acknowledged ("before"): the start of the disk-fault tests.
async fn on_a_simulated_disk() -> (
    TestServer,
    interlock_journal::sim::SimStorage,
    interlock_client::Client,
) {
    let disk = interlock_journal::sim::SimStorage::new();
    let s = start_on(
        interlock_server::Config::dev_for_tests(),
        std::sync::Arc::new(disk.clone()),
    )
    .await;
    own(&s, "fund", "100").await;
    let venue = s.client("dev-venue-a").await;
    venue.check(check("before", "fund", "10")).await.unwrap();
    (s, disk, venue)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_unavailable_within_a_second_then_recovers() {
    use interlock_journal::sim::Fault;
    let (s, disk, venue) = on_a_simulated_disk().await;

    disk.inject(Fault::DiskFull);
    let started = std::time::Instant::now();
    let e = venue
        .check(check("full-1", "fund", "10"))
        .await
        .unwrap_err();
    assert_eq!(code(e), Code::Unavailable);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let started = std::time::Instant::now();
    let e = venue
        .check(check("full-2", "fund", "10"))
        .await
        .unwrap_err();
    assert!(message(&e).contains("disk is full"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(1));
    // Health sends writers elsewhere: the services that change state (and
    // the server as a whole) are NOT_SERVING; admins' reads still serve.
    assert!(
        eventually(Duration::from_secs(2), async || {
            !serving(&s.endpoint).await
                && !serving_as(&s.endpoint, "").await
                && !serving_as(&s.endpoint, "interlock.v1.PositionService").await
        })
        .await,
        "health still SERVING with a full disk"
    );
    assert!(serving_as(&s.endpoint, "interlock.v1.AdminService").await);
    // Reads still work.
    s.admin().await.exposure("fund").await.unwrap();
    s.admin().await.list_limits().await.unwrap();

    // Space comes back: new checks go through; the check that was applied
    // but not acknowledged gets its answer on a retry.
    disk.clear_faults();
    assert!(
        eventually(Duration::from_secs(3), async || {
            venue.check(check("after", "fund", "1")).await.is_ok()
        })
        .await
    );
    let retried = venue.check(check("full-1", "fund", "10")).await.unwrap();
    assert_eq!(retried.verdict(), pb::Verdict::Approved);
    assert!(
        eventually(Duration::from_secs(2), async || serving(&s.endpoint).await).await,
        "health must come back once space is freed"
    );
    s.abort().await;
    let s = start_on(
        interlock_server::Config::dev_for_tests(),
        std::sync::Arc::new(disk.crash()),
    )
    .await;
    let exp = s.admin().await.exposure("fund").await.unwrap();
    assert_eq!(exp.assets[0].committed, "21", "before + full-1 + after");
    s.stop().await;
}

/// A graceful stop (SIGTERM) while the disk is full cannot write its
/// snapshot: the server must say so with an error (a non-zero exit), not
/// stop as if all were well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_with_a_full_disk_is_an_error() {
    use interlock_journal::sim::{Fault, SimStorage};
    let (s, disk, venue) = on_a_simulated_disk().await;
    disk.inject(Fault::DiskFull);
    let e = venue.check(check("full", "fund", "10")).await.unwrap_err();
    assert_eq!(code(e), Code::Unavailable);
    drop(venue);
    let e = s.stop_result().await.unwrap_err();
    assert!(e.to_string().contains("did not close cleanly"), "{e:#}");

    // A clean stop is still Ok.
    let s = start_on(
        interlock_server::Config::dev_for_tests(),
        std::sync::Arc::new(SimStorage::new()),
    )
    .await;
    own(&s, "fund", "100").await;
    s.stop_result().await.unwrap();
}

/// Snapshots taken while serving (by journal size) are rebuilt from the
/// files, off the ledger's lock; checks go on meanwhile, and a server
/// killed afterwards recovers the state it had, digest for digest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_taken_while_serving_recover_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.snapshot_after_bytes = 4096;
    config.tick_interval_ms = 20;
    let s = start_with(config.clone()).await;
    own(&s, "fund", "1000000").await;
    let venue = s.client("dev-venue-a").await;
    let snapshots = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                match interlock_journal::format::parse_name(&name) {
                    Some((interlock_journal::format::FileKind::Snapshot, lsn)) => Some(lsn),
                    _ => None,
                }
            })
            .max()
    };
    let mut last = 0;
    let mut taken = 0;
    for i in 0..400 {
        let a = venue
            .check(check(&format!("o{i}"), "fund", "1"))
            .await
            .unwrap();
        assert_eq!(a.verdict(), pb::Verdict::Approved);
        if let Some(lsn) = snapshots().filter(|&l| l > last) {
            last = lsn;
            taken += 1;
        }
    }
    assert!(taken >= 2, "only {taken} snapshots while serving");
    let digest = s.admin().await.state_digest().await.unwrap();
    s.abort().await;
    let s = start_with(config).await;
    assert_eq!(s.admin().await.state_digest().await.unwrap(), digest);
    s.stop().await;
}
