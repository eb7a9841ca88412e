//! kill -9 under load: the real `interlock-server` binary, 16 clients doing
//! checks, commits, releases, syncs (collateral and liabilities), price
//! quotes, and limit and value settings (asset class, venue parameters,
//! haircut), SIGKILL at a random
//! moment, restart on the same data directory, and then every answer a
//! client saw acknowledged must still be there, exactly once, and every
//! limit must still hold.
//!
//! `INTERLOCK_KILL_CYCLES` sets the number of cycles (default 20);
//! `INTERLOCK_KILL_SEED` replays a run (the seed is printed).

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use interlock_client::{pb, Client};
use rust_decimal::Decimal;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const CLIENTS: usize = 16;
const PARTICIPANTS: usize = 8;
const OWNED: u32 = 1000;

struct Rng(u64);

impl Rng {
    fn next(&mut self, m: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % m
    }
}

/// Everything clients saw acknowledged.
#[derive(Default, Clone)]
struct Acked {
    checks: Vec<(String, pb::CheckRequest, pb::CheckResponse)>,
    commits: HashMap<String, (String, u64)>,
    releases: HashMap<String, String>,
    sync_seq: u64,
    limit_version: u64,
    price_seq: u64,
    /// The admin's value settings were acknowledged.
    valued: bool,
}

async fn start(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_interlock-server"))
        .args([
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--default-reuse-ratio",
            "2",
            "--ops-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("interlock serving") {
                let at = line.find("127.0.0.1:").expect("address in the log");
                let addr: String = line[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect();
                return addr;
            }
        }
        panic!("server exited before serving");
    })
    .await
    .expect("server did not start");
    // Keep draining the log so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, format!("http://{addr}"))
}

fn participant(i: u64) -> String {
    format!("fund-{i}")
}

async fn load(
    endpoint: String,
    who: usize,
    cycle: u32,
    seed: u64,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Acked>>,
) {
    let mut rng =
        Rng((seed ^ (who as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(cycle)) | 1);
    let token = match who {
        0 => "dev-broker",
        1 => "dev-admin",
        2 => "dev-oracle",
        n => ["dev-venue-a", "dev-venue-b", "dev-venue-c"][n % 3],
    };
    let Ok(c) = Client::connect(&endpoint, Some(token)).await else {
        return;
    };
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        match who {
            0 => {
                let Ok(state) = c.sync_state().await else {
                    continue;
                };
                let seq = state.last_applied_sequence + 1;
                let mut updates: Vec<pb::SyncUpdate> = (0..PARTICIPANTS as u64)
                    .map(|p| pb::SyncUpdate {
                        update: Some(pb::sync_update::Update::Collateral(pb::CollateralUpdate {
                            participant: participant(p),
                            asset: "ETH".into(),
                            quantity: OWNED.to_string(),
                        })),
                    })
                    .collect();
                // A liability names a configured venue: once the admin's
                // parameters for venue-a are acknowledged.
                let configured = acked.lock().unwrap().valued;
                updates.extend(configured.then(|| pb::SyncUpdate {
                    update: Some(pb::sync_update::Update::Liability(pb::LiabilityUpdate {
                        participant: participant(rng.next(PARTICIPANTS as u64)),
                        venue: "venue-a".into(),
                        asset: "USDC".into(),
                        quantity: rng.next(10_000).to_string(),
                    })),
                }));
                if let Ok(acks) = c
                    .sync(vec![pb::SyncRequest {
                        sequence: seq,
                        updates,
                    }])
                    .await
                {
                    if let Some(a) = acks.last() {
                        let mut g = acked.lock().unwrap();
                        g.sync_seq = g.sync_seq.max(a.applied_sequence);
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            1 if n == 1 => {
                let valued = c
                    .set_asset_class("ETH", pb::AssetClass::Major)
                    .await
                    .is_ok()
                    && c.set_venue_asset(pb::SetVenueAssetRequest {
                        venue: "venue-a".into(),
                        asset: "ETH".into(),
                        threshold: "0.8".into(),
                        ltv: "0.7".into(),
                    })
                    .await
                    .is_ok()
                    && c.set_haircut("ETH", "0.2", "kill test").await.is_ok();
                if valued {
                    acked.lock().unwrap().valued = true;
                }
            }
            2 => {
                let Ok(state) = c.publish_state().await else {
                    continue;
                };
                let published_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as i64;
                let msg = pb::PublishRequest {
                    sequence: state.last_applied_sequence + 1,
                    quotes: vec![pb::Quote {
                        asset: "ETH".into(),
                        price: (1990 + rng.next(20)).to_string(),
                        published_ms,
                    }],
                };
                if let Ok(acks) = c.publish(vec![msg]).await {
                    if let Some(a) = acks.last() {
                        let mut g = acked.lock().unwrap();
                        g.price_seq = g.price_seq.max(a.applied_sequence);
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            1 => {
                let r = pb::SetLimitRequest {
                    kind: pb::LimitKind::MaxOrderQuantity.into(),
                    scope: Some(pb::Scope {
                        asset: "ETH".into(),
                        ..Default::default()
                    }),
                    value: (50 + n % 2).to_string(),
                    ..Default::default()
                };
                if let Ok(l) = c.set_limit(r).await {
                    let mut g = acked.lock().unwrap();
                    g.limit_version = g.limit_version.max(l.version);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            _ => {
                let req = pb::CheckRequest {
                    order_id: format!("c{cycle}-w{who}-{n}"),
                    participant: participant(rng.next(PARTICIPANTS as u64)),
                    asset: "ETH".into(),
                    quantity: (1 + rng.next(60)).to_string(),
                    ttl_ms: 600_000,
                    ..Default::default()
                };
                let Ok(resp) = c.check(req.clone()).await else {
                    continue;
                };
                let approved = resp.verdict() == pb::Verdict::Approved;
                let rid = resp.reservation_id.clone();
                acked
                    .lock()
                    .unwrap()
                    .checks
                    .push((token.to_owned(), req, resp));
                let then = if approved { rng.next(4) } else { 3 };
                if then < 2 {
                    if let Ok(r) = c.commit(&rid).await {
                        acked
                            .lock()
                            .unwrap()
                            .commits
                            .insert(rid, (token.to_owned(), r.commit_seq));
                    }
                } else if then == 2 && c.release(&rid).await.is_ok() {
                    acked.lock().unwrap().releases.insert(rid, token.to_owned());
                }
            }
        }
    }
}

/// Checks acknowledged answers against the restarted server: every check
/// since `since` (the last cycle's) and every 7th older one, every commit
/// and release, the sync sequence, the limit version, and the limits.
async fn verify(endpoint: &str, acked: &Acked, since: usize) {
    let admin = Client::connect(endpoint, Some("dev-admin")).await.unwrap();
    let mut clients: HashMap<&str, Client> = HashMap::new();
    for token in ["dev-venue-a", "dev-venue-b", "dev-venue-c"] {
        clients.insert(token, Client::connect(endpoint, Some(token)).await.unwrap());
    }
    let mut by_venue: HashMap<&str, Vec<(&pb::CheckRequest, &pb::CheckResponse)>> = HashMap::new();
    for (i, (token, req, resp)) in acked.checks.iter().enumerate() {
        if i >= since || i % 7 == 0 {
            by_venue.entry(token).or_default().push((req, resp));
        }
    }
    for (token, checks) in by_venue {
        let c = &clients[token];
        let reqs: Vec<pb::CheckRequest> = checks.iter().map(|(r, _)| (*r).clone()).collect();
        let mut answers = c
            .pretrade()
            .check_stream(c.request(tokio_stream::iter(reqs)))
            .await
            .unwrap()
            .into_inner();
        for (req, want) in checks {
            let got = answers
                .message()
                .await
                .unwrap()
                .expect("an answer per check");
            assert_eq!(got.order_id, req.order_id);
            match got.result {
                Some(pb::check_stream_response::Result::Response(r)) => assert_eq!(
                    &r, want,
                    "order {} answered differently after the restart",
                    req.order_id
                ),
                other => panic!("order {}: {other:?} after the restart", req.order_id),
            }
        }
    }
    for (rid, (token, seq)) in &acked.commits {
        let c = &clients[token.as_str()];
        let r = c.commit(rid).await.unwrap();
        assert_eq!(
            (r.state(), r.commit_seq),
            (pb::ReservationState::Committed, *seq),
            "{rid}"
        );
    }
    for (rid, token) in &acked.releases {
        let c = &clients[token.as_str()];
        let r = c.release(rid).await.unwrap();
        assert_eq!(r.state(), pb::ReservationState::Released, "{rid}");
    }
    let broker = Client::connect(endpoint, Some("dev-broker")).await.unwrap();
    assert!(broker.sync_state().await.unwrap().last_applied_sequence >= acked.sync_seq);
    let oracle = Client::connect(endpoint, Some("dev-oracle")).await.unwrap();
    assert!(oracle.publish_state().await.unwrap().last_applied_sequence >= acked.price_seq);
    if acked.valued {
        let prices = admin.list_prices().await.unwrap();
        let eth = prices
            .iter()
            .find(|p| p.asset == "ETH")
            .expect("ETH classed");
        assert_eq!(eth.haircut, "0.2");
        let venues = admin.list_venues().await.unwrap();
        assert!(venues
            .iter()
            .any(|v| v.venue == "venue-a" && v.assets.iter().any(|a| a.ltv == "0.7")));
    }
    if acked.limit_version > 0 {
        let limits = admin.list_limits().await.unwrap();
        assert!(limits.iter().any(|l| l.version >= acked.limit_version));
    }
    // Every limit holds: nothing committed beyond 2 × owned.
    for p in 0..PARTICIPANTS as u64 {
        let Ok(e) = admin.exposure(&participant(p)).await else {
            continue;
        };
        for a in e.assets {
            let owned: Decimal = a.owned.parse().unwrap();
            let committed: Decimal = a.committed.parse().unwrap();
            assert!(
                committed <= owned * Decimal::TWO,
                "{}: {committed} committed on {owned}",
                e.participant
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_nothing_acknowledged() {
    let cycles: u32 = std::env::var("INTERLOCK_KILL_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("INTERLOCK_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("INTERLOCK_KILL_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut total_checks = 0;
    let mut verified = 0;
    for cycle in 0..cycles {
        let (mut child, endpoint) = start(dir.path()).await;
        let seen = acked.lock().unwrap().clone();
        verify(&endpoint, &seen, verified).await;
        verified = seen.checks.len();
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..CLIENTS)
            .map(|who| {
                tokio::spawn(load(
                    endpoint.clone(),
                    who,
                    cycle,
                    seed,
                    stop.clone(),
                    acked.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(150 + rng.next(500))).await;
        child.start_kill().unwrap(); // SIGKILL
        child.wait().await.unwrap();
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
        }
        total_checks = acked.lock().unwrap().checks.len();
    }
    // A last restart checks the last cycle's answers.
    let (mut child, endpoint) = start(dir.path()).await;
    let a = acked.lock().unwrap().clone();
    verify(&endpoint, &a, verified).await;
    child.start_kill().unwrap();
    let _ = child.wait().await;
    println!(
        "{cycles} kill -9 cycles: {total_checks} acknowledged checks, {} commits, {} releases, sync sequence {}, limit version {}",
        a.commits.len(),
        a.releases.len(),
        a.sync_seq,
        a.limit_version
    );
    assert!(
        total_checks > 0 && !a.commits.is_empty(),
        "the load did nothing"
    );
}

/// SIGTERM: the server drains, writes a snapshot and exits 0; the next
/// start replays nothing and answers as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_snapshots_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, endpoint) = start(dir.path()).await;
    let broker = Client::connect(&endpoint, Some("dev-broker"))
        .await
        .unwrap();
    broker
        .sync(vec![pb::SyncRequest {
            sequence: 1,
            updates: vec![pb::SyncUpdate {
                update: Some(pb::sync_update::Update::Collateral(pb::CollateralUpdate {
                    participant: "fund".into(),
                    asset: "ETH".into(),
                    quantity: "10".into(),
                })),
            }],
        }])
        .await
        .unwrap();
    let venue = Client::connect(&endpoint, Some("dev-venue-a"))
        .await
        .unwrap();
    let req = pb::CheckRequest {
        order_id: "o1".into(),
        participant: "fund".into(),
        asset: "ETH".into(),
        quantity: "4".into(),
        ttl_ms: 600_000,
        ..Default::default()
    };
    let first = venue.check(req.clone()).await.unwrap();
    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exit after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.ends_with(".snap")), "{names:?}");

    let (mut child, endpoint) = start(dir.path()).await;
    let venue = Client::connect(&endpoint, Some("dev-venue-a"))
        .await
        .unwrap();
    assert_eq!(venue.check(req).await.unwrap(), first);
    child.start_kill().unwrap();
    let _ = child.wait().await;
}
