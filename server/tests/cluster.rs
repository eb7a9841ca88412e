//! Three real `interlock-server` processes as one replicated cluster on
//! loopback, the leader killed by pid (SIGKILL) again and again under load,
//! and then: every check a client saw acknowledged is still there with the
//! same answer (a retry with its order id gets it back), and every node
//! holds the same state (equal digests).
//!
//! `INTERLOCK_CLUSTER_KILLS` sets the number of leader kills (default 20);
//! `INTERLOCK_CLUSTER_PAUSES` adds that many pauses of the leader (SIGSTOP
//! for 3 s, then SIGCONT) after the kills, and
//! `INTERLOCK_CLUSTER_HANDOVERS` that many planned stops (SIGTERM; default
//! 3), each of which must end with the process exiting cleanly. Each
//! round's write outage (from the signal to the first check acknowledged
//! by the next leader) is printed; the figures are recorded in
//! bench/RESULTS.md, not asserted here.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use interlock_client::{pb, Client, ClientError};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::Endpoint;

const NODES: usize = 3;
const CLIENTS: usize = 4;
/// Participants the checks spread over: each holds at most 10,000 open
/// reservations (the server's default), and a long run makes ~1,000 checks
/// a second with a TTL of a minute.
const PARTICIPANTS: usize = 64;
/// How long a client keeps retrying one order before it gives up (and
/// records nothing: an order never acknowledged may or may not exist).
const RETRY_BUDGET: Duration = Duration::from_secs(15);

#[path = "../../tests/support/ports.rs"]
mod ports;
use ports::free_port;

/// Where node `i`'s output goes when INTERLOCK_CLUSTER_LOGS names a
/// folder.
fn log_file(i: usize, ext: &str) -> Option<std::path::PathBuf> {
    let dir = std::path::PathBuf::from(std::env::var_os("INTERLOCK_CLUSTER_LOGS")?);
    std::fs::create_dir_all(&dir).expect("INTERLOCK_CLUSTER_LOGS names a folder it can create");
    Some(dir.join(format!("node-{}.{ext}", i + 1)))
}

/// What a stopping leader logs once its successor accepted the handover.
const HANDED_OVER: &str = "handed over to node";

/// Reads a child's output to its end, into `keep` if given, counting the
/// handovers it logs in `handed_over`.
fn drain<R>(
    mut lines: tokio::io::Lines<R>,
    keep: Option<std::path::PathBuf>,
    handed_over: Arc<std::sync::atomic::AtomicUsize>,
) where
    R: tokio::io::AsyncBufRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        use std::io::Write;
        let mut file = keep.map(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .unwrap()
        });
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains(HANDED_OVER) {
                handed_over.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(f) = file.as_mut() {
                let _ = writeln!(f, "{line}");
            }
        }
    });
}

struct Cluster {
    api: Vec<String>,
    /// Each node's `--cluster` (a node added later lists the founders and
    /// itself, and starts with `--join`).
    specs: Vec<String>,
    /// Each node's cluster address.
    raft: Vec<String>,
    founders: usize,
    dirs: Vec<tempfile::TempDir>,
    children: Vec<Option<Child>>,
    /// Handovers the nodes logged (see [`HANDED_OVER`]).
    handed_over: Arc<std::sync::atomic::AtomicUsize>,
    /// Flags every node starts with, besides the ones above.
    args: Vec<String>,
}

impl Cluster {
    fn new() -> Cluster {
        let api: Vec<String> = (0..NODES)
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect();
        let raft: Vec<String> = (0..NODES)
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect();
        let spec = (0..NODES)
            .map(|i| format!("{}={}/{}", i + 1, raft[i], api[i]))
            .collect::<Vec<_>>()
            .join(",");
        Cluster {
            api,
            specs: vec![spec; NODES],
            raft,
            founders: NODES,
            dirs: (0..NODES).map(|_| tempfile::tempdir().unwrap()).collect(),
            children: (0..NODES).map(|_| None).collect(),
            handed_over: Default::default(),
            args: Vec::new(),
        }
    }

    /// Three nodes, started.
    async fn started() -> Cluster {
        let mut cluster = Cluster::new();
        for i in 0..NODES {
            cluster.start(i).await;
        }
        cluster
    }

    /// Every node's endpoint, in order.
    fn endpoints(&self) -> Vec<String> {
        (0..self.api.len()).map(|i| self.endpoint(i)).collect()
    }

    /// Kills every node still running.
    async fn kill_all(&mut self) {
        for i in 0..self.children.len() {
            self.kill(i).await;
        }
    }

    /// Room for one more node, to be started with `--join` and added by
    /// the leader: its index.
    fn another(&mut self) -> usize {
        let i = self.api.len();
        self.api.push(format!("127.0.0.1:{}", free_port()));
        self.raft.push(format!("127.0.0.1:{}", free_port()));
        let spec = format!(
            "{},{}={}/{}",
            self.specs[0],
            i + 1,
            self.raft[i],
            self.api[i]
        );
        self.specs.push(spec);
        self.dirs.push(tempfile::tempdir().unwrap());
        self.children.push(None);
        i
    }

    fn endpoint(&self, i: usize) -> String {
        format!("http://{}", self.api[i])
    }

    async fn start(&mut self, i: usize) {
        if let Err(said) = self.try_start(i).await {
            panic!("{said}");
        }
    }

    /// Starts node `i`; if it exits before serving, what it said.
    async fn try_start(&mut self, i: usize) -> Result<(), String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_interlock-server"))
            .args(["--dev", "--ops-listen", "off", "--listen", &self.api[i]])
            .args([
                "--node-id",
                &(i + 1).to_string(),
                "--cluster",
                &self.specs[i],
            ])
            .args(if i < self.founders {
                None
            } else {
                Some("--join")
            })
            .args(&self.args)
            .args(["--broker-stale-after-ms", "3600000"])
            // More flags for experiments (e.g. another election timeout).
            .args(
                std::env::var("INTERLOCK_CLUSTER_ARGS")
                    .unwrap_or_default()
                    .split_whitespace(),
            )
            .arg("--data-dir")
            .arg(self.dirs[i].path())
            .env(
                "RUST_LOG",
                std::env::var("INTERLOCK_CLUSTER_RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        tokio::time::timeout(Duration::from_secs(60), async {
            // What the node said before it stopped, for the failure message.
            let mut said = std::collections::VecDeque::new();
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains("interlock serving") {
                    return Ok(());
                }
                if said.len() == 20 {
                    said.pop_front();
                }
                said.push_back(line);
            }
            let status = child.wait().await.unwrap();
            let mut err = String::new();
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut err).await;
            Err(format!(
                "node {} exited before serving ({status}); its last lines:\n{}\n{err}",
                i + 1,
                Vec::from(said).join("\n")
            ))
        })
        .await
        .expect("node did not start")?;
        // A panic's message goes to stderr: into a file beside the log.
        drain(
            BufReader::new(stderr).lines(),
            log_file(i, "stderr"),
            Default::default(),
        );
        // Keep draining the log so the node never blocks on a full pipe.
        drain(lines, log_file(i, "log"), self.handed_over.clone());
        self.children[i] = Some(child);
        Ok(())
    }

    async fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            c.kill().await.unwrap();
            let _ = c.wait().await;
        }
    }

    fn signal(&self, i: usize, sig: &str) {
        let pid = self.children[i].as_ref().unwrap().id().unwrap();
        let ok = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    fn client(&self, i: usize, token: &str) -> Client {
        let channel = Endpoint::from_shared(self.endpoint(i))
            .unwrap()
            .connect_timeout(Duration::from_millis(300))
            .timeout(Duration::from_millis(500))
            .connect_lazy();
        Client::with_channel(channel, Some(token)).unwrap()
    }

    /// The node whose health says SERVING (the leader), waiting until
    /// exactly one does (a restarted former leader may believe it leads for
    /// a moment, until its peers answer it with their newer term).
    async fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let running: Vec<usize> = (0..self.children.len())
                .filter(|i| self.children[*i].is_some())
                .collect();
            if let Some(one) = self.leader_among(&running).await {
                return one;
            }
            assert!(Instant::now() < deadline, "no leader within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Cluster {
    /// The one node of `among` whose health says SERVING, if exactly one
    /// does now.
    async fn leader_among(&self, among: &[usize]) -> Option<usize> {
        let mut serving = Vec::new();
        for &i in among {
            let c = self.client(i, "dev-admin");
            let mut health = tonic_health::pb::health_client::HealthClient::new(c.channel());
            let r = health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: "interlock.v1.PreTradeService".into(),
                })
                .await;
            if r.is_ok_and(|r| {
                r.into_inner().status
                    == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
            }) {
                serving.push(i);
            }
        }
        match serving[..] {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Waits until the leader's log matches on node `i` up to where the
    /// leader's log ended when the wait began (a restarted node has caught
    /// up with what it missed); returns how long that took.
    async fn caught_up(&self, i: usize) -> Duration {
        let started = Instant::now();
        let mut target = None;
        loop {
            let leader = self.leader().await;
            if let Ok(s) = self.client(leader, "dev-admin").cluster_status().await {
                let goal = *target.get_or_insert(s.last_log_index.unwrap_or(0));
                let matched = s
                    .nodes
                    .iter()
                    .find(|n| n.node_id == i as u64 + 1)
                    .and_then(|n| n.matched_index);
                if matched.is_some_and(|m| m >= goal) {
                    return started.elapsed();
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "node {} did not catch up in 30 s",
                i + 1
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[derive(Default)]
struct Seen {
    acked: HashMap<String, pb::CheckResponse>,
    /// Time of each acknowledgement.
    at: Vec<Instant>,
    /// Errors no failover explains (the test fails on any).
    unexpected: Vec<String>,
}

/// An error a failover explains: a node refusing (not the leader, or no
/// leader yet), not answering, or not answering in time.
fn failover_error(e: &ClientError) -> bool {
    match e {
        ClientError::Status(s) => interlock_client::failover::worth_another_node(s),
        _ => true,
    }
}

fn check(order: &str, participant: &str) -> pb::CheckRequest {
    pb::CheckRequest {
        order_id: order.into(),
        participant: participant.into(),
        asset: "ETH".into(),
        quantity: "1".into(),
        ttl_ms: 60_000,
        ..Default::default()
    }
}

/// One venue's order flow through the client library, which follows the
/// leader by itself; an order the library gives up on (its budget spent
/// during an election) is tried again with the same id.
async fn load(client: Client, who: usize, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) -> usize {
    let mut n = 0u64;
    let mut moves = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let order = format!("c{who}-o{n}");
        let req = check(&order, &format!("fund-{}", n as usize % PARTICIPANTS));
        let started = Instant::now();
        loop {
            let result = client.check(req.clone()).await;
            moves += client.failovers().len();
            match result {
                Ok(resp) => {
                    let mut s = seen.lock().unwrap();
                    s.acked.insert(order.clone(), resp);
                    s.at.push(Instant::now());
                    break;
                }
                Err(e) if !failover_error(&e) => {
                    seen.lock()
                        .unwrap()
                        .unexpected
                        .push(format!("{order}: {e}"));
                    break;
                }
                Err(_) => {
                    if started.elapsed() > RETRY_BUDGET || stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
            }
        }
    }
    moves
}

/// The time of day in UTC (hh:mm:ss.mmm), to find a round in the logs.
/// A broker's sync message `seq` setting `participant`'s ETH to `quantity`.
fn collateral(seq: u64, participant: &str, quantity: &str) -> pb::SyncRequest {
    pb::SyncRequest {
        sequence: seq,
        updates: vec![pb::SyncUpdate {
            update: Some(pb::sync_update::Update::Collateral(pb::CollateralUpdate {
                participant: participant.into(),
                asset: "ETH".into(),
                quantity: quantity.into(),
            })),
        }],
    }
}

fn utc_now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let s = t.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        t.subsec_millis()
    )
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_kills_lose_nothing_acknowledged() {
    let kills = env_count("INTERLOCK_CLUSTER_KILLS", 20);
    let pauses = env_count("INTERLOCK_CLUSTER_PAUSES", 0);
    let handovers = env_count("INTERLOCK_CLUSTER_HANDOVERS", 3);
    let mut cluster = Cluster::started().await;
    let leader = cluster.leader().await;

    // A follower refuses a change and names the leader (once it has heard
    // from it: until then it says no leader is known).
    let follower = (leader + 1) % NODES;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let e = cluster
            .client(follower, "dev-venue-a")
            .check(check("probe", "fund-0"))
            .await
            .unwrap_err();
        let ClientError::Status(s) = &e else {
            panic!("{e}")
        };
        assert_eq!(s.code(), tonic::Code::Unavailable, "{s:?}");
        if let Some(hint) = s.metadata().get("interlock-leader") {
            assert_eq!(hint.to_str().unwrap(), cluster.api[leader]);
            break;
        }
        assert!(s.message().contains("no leader is known"), "{s:?}");
        assert!(
            Instant::now() < deadline,
            "the follower never named the leader"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Collateral for every participant, through the leader.
    let broker = cluster.client(leader, "dev-broker");
    let updates = (0..PARTICIPANTS)
        .map(|p| pb::SyncUpdate {
            update: Some(pb::sync_update::Update::Collateral(pb::CollateralUpdate {
                participant: format!("fund-{p}"),
                asset: "ETH".into(),
                quantity: "1000000".into(),
            })),
        })
        .collect();
    broker
        .sync(vec![pb::SyncRequest {
            sequence: 1,
            updates,
        }])
        .await
        .unwrap();

    let endpoints = cluster.endpoints();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut tasks = Vec::new();
    for who in 0..CLIENTS {
        let client = Client::connect_cluster(&endpoints, None, Some("dev-venue-a")).unwrap();
        tasks.push(tokio::spawn(load(client, who, stop.clone(), seen.clone())));
    }

    let mut outages = Vec::new();
    let mut handed_over = Vec::new();
    let mut rejoins = Vec::new();
    for round in 0..kills + pauses + handovers {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let leader = cluster.leader().await;
        let paused = (kills..kills + pauses).contains(&round);
        let planned = round >= kills + pauses;
        let mut stopping = None;
        if paused {
            cluster.signal(leader, "-STOP");
        } else if planned {
            cluster.signal(leader, "-TERM");
            stopping = cluster.children[leader].take();
        } else {
            cluster.kill(leader).await;
        }
        // From the moment the leader is gone (its process reaped, or
        // stopped) or told to go (SIGTERM): an answer it gave before
        // counts for before.
        let before = seen.lock().unwrap().at.len();
        let at = Instant::now();
        let killed_at = utc_now();
        // A node told to stop finishes what it has and exits; the outage
        // is over once the next leader acknowledges (a check after the
        // exit), and is the longest time without any acknowledgement from
        // the signal to then.
        let mut since = at;
        if let Some(mut child) = stopping {
            let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .expect("a node told to stop (SIGTERM) did not exit in 30 s")
                .unwrap();
            assert!(status.success(), "a stopped leader exited with {status}");
            since = Instant::now();
        }
        let first = loop {
            let first = seen.lock().unwrap().at[before..]
                .iter()
                .find(|t| **t > since)
                .copied();
            if let Some(t) = first {
                break t;
            }
            if at.elapsed() > Duration::from_secs(30) {
                for i in 0..NODES {
                    if cluster.children[i].is_some() {
                        let st = cluster.client(i, "dev-admin").cluster_status().await;
                        println!("node {}: {st:?}", i + 1);
                    }
                }
                let unexpected = seen.lock().unwrap().unexpected.clone();
                panic!(
                    "no write for 30 s after losing the leader; errors no failover explains: {:?}",
                    &unexpected[..unexpected.len().min(3)]
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let outage = {
            let s = seen.lock().unwrap();
            let mut last = at;
            let mut longest = Duration::ZERO;
            for t in s.at[before..].iter().filter(|t| **t > at && **t <= first) {
                longest = longest.max(*t - last);
                last = *t;
            }
            longest
        };
        println!(
            "round {round}, at {killed_at} UTC: {} node {}: writes resumed after {} ms",
            if paused {
                "paused"
            } else if planned {
                "stopped (SIGTERM)"
            } else {
                "killed"
            },
            leader + 1,
            outage.as_millis()
        );
        if planned {
            handed_over.push(outage);
        } else {
            outages.push(outage);
        }
        if paused {
            tokio::time::sleep(Duration::from_secs(3).saturating_sub(at.elapsed())).await;
            cluster.signal(leader, "-CONT");
        } else {
            cluster.start(leader).await;
        }
        // One failure at a time: the next comes once this node is back in
        // step (a leader lost while another node still catches up is a
        // double failure).
        let rejoined = cluster.caught_up(leader).await;
        rejoins.push(rejoined);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut moves = 0;
    for t in tasks {
        moves += t.await.unwrap();
    }
    assert!(moves > 0, "the clients never moved to another node");

    let unexpected = std::mem::take(&mut seen.lock().unwrap().unexpected);
    assert!(
        unexpected.is_empty(),
        "{} errors no failover explains, first: {:?}",
        unexpected.len(),
        &unexpected[..unexpected.len().min(3)]
    );

    // Every acknowledged check is still there, with its answer.
    let leader = cluster.leader().await;
    let venue = cluster.client(leader, "dev-venue-a");
    let acked = std::mem::take(&mut seen.lock().unwrap().acked);
    assert!(
        acked.len() > 100,
        "only {} checks acknowledged",
        acked.len()
    );
    // Asked again, in parallel (a long run acknowledges ~1M checks).
    let acked: Vec<(String, pb::CheckResponse)> = acked.into_iter().collect();
    let chunks: Vec<Vec<(String, pb::CheckResponse)>> = acked
        .chunks(acked.len().div_ceil(16))
        .map(|c| c.to_vec())
        .collect();
    let mut askers = Vec::new();
    for chunk in chunks {
        let venue = venue.clone();
        askers.push(tokio::spawn(async move {
            let mut lost = Vec::new();
            for (order, resp) in &chunk {
                let p = order.rsplit_once("-o").unwrap().1.parse::<usize>().unwrap() % PARTICIPANTS;
                let again = venue
                    .check(check(order, &format!("fund-{p}")))
                    .await
                    .unwrap();
                if again.reservation_id != resp.reservation_id
                    || again.verdict != resp.verdict
                    || again.approved_quantity != resp.approved_quantity
                {
                    lost.push(order.clone());
                }
            }
            lost
        }));
    }
    let mut lost = Vec::new();
    for a in askers {
        lost.extend(a.await.unwrap());
    }
    assert!(
        lost.is_empty(),
        "{} acknowledged checks lost or altered: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );

    // Every node reaches the same state.
    same_state(&cluster, &(0..NODES).collect::<Vec<_>>()).await;

    outages.sort();
    handed_over.sort();
    rejoins.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    if let Some(p99) = outages
        .get((outages.len() * 99).div_ceil(100).saturating_sub(1))
        .copied()
    {
        println!(
        "cluster: {} leader kills, {} pauses, {} checks acknowledged, 0 lost, {} moves between nodes by the clients; write outage ms: p50 {:.0}, p99 {:.0}, max {:.0}; back in step after restart ms: p50 {:.0}, max {:.0}",
        kills,
        pauses,
        acked.len(),
        moves,
        ms(outages[outages.len() / 2]),
        ms(p99),
        ms(*outages.last().unwrap()),
        ms(rejoins[rejoins.len() / 2]),
        ms(*rejoins.last().unwrap()),
    );
    }
    if std::env::var_os("INTERLOCK_CLUSTER_RUST_LOG").is_none() {
        // Each planned stop handed over (rather than leaving the followers
        // to their timers).
        assert_eq!(
            cluster.handed_over.load(Ordering::Relaxed),
            handovers,
            "planned stops that did not hand over"
        );
    }
    if !handed_over.is_empty() {
        println!(
            "cluster: {} planned stops of the leader (SIGTERM), each exited cleanly; write outage ms: p50 {:.0}, max {:.0}",
            handed_over.len(),
            ms(handed_over[handed_over.len() / 2]),
            ms(*handed_over.last().unwrap()),
        );
    }
    cluster.kill_all().await;
}

/// With two of three nodes gone the last one fails closed: every change is
/// refused UNAVAILABLE, reads still answer but say they may be stale; when
/// a second node returns, service resumes with nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_down_fail_closed_then_resume() {
    let mut cluster = Cluster::started().await;
    let leader = cluster.leader().await;
    let endpoints = cluster.endpoints();
    cluster
        .client(leader, "dev-broker")
        .sync(vec![collateral(1, "fund-1", "100")])
        .await
        .unwrap();
    let venue = Client::connect_cluster(&endpoints, None, Some("dev-venue-a")).unwrap();
    let before = venue.check(check("before", "fund-1")).await.unwrap();
    assert!(!before.reservation_id.is_empty(), "{before:?}");

    // The leader and one follower go.
    let last = (leader + 1) % NODES;
    let gone = (leader + 2) % NODES;
    cluster.kill(leader).await;
    cluster.kill(gone).await;
    let alone = cluster.client(last, "dev-venue-a");
    let e = alone.check(check("during", "fund-1")).await.unwrap_err();
    let ClientError::Status(s) = e else {
        panic!("{e}")
    };
    assert_eq!(s.code(), tonic::Code::Unavailable, "{s:?}");

    // Reads answer, marked stale once the node knows it has no leader.
    let admin = cluster.client(last, "dev-admin");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut req = tonic::Request::new(pb::GetStateDigestRequest {});
        req.metadata_mut()
            .insert("authorization", "Bearer dev-admin".parse().unwrap());
        let r = admin.admin().get_state_digest(req).await.unwrap();
        let stale = r
            .metadata()
            .get("interlock-stale")
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(r.metadata().get("interlock-node-role").is_some());
        if stale.as_deref() == Some("true") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a node alone never said its reads may be stale"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = alone.check(check("during", "fund-1")).await.unwrap_err();
    assert!(
        matches!(&e, ClientError::Status(s) if s.code() == tonic::Code::Unavailable),
        "{e}"
    );

    // One returns: a leader again, and the answer given before is intact.
    cluster.start(gone).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let again = loop {
        match venue.check(check("before", "fund-1")).await {
            Ok(r) => break r,
            Err(e) if failover_error(&e) && Instant::now() < deadline => {}
            Err(e) => panic!("no leader again: {e}"),
        }
    };
    assert_eq!(again.reservation_id, before.reservation_id);
    assert_eq!(again.verdict, before.verdict);
    venue.check(check("after", "fund-1")).await.unwrap();
    cluster.kill_all().await;
}

/// The digest of node `i`'s state, once it has applied everything the
/// leader committed (asked until two reads agree with the leader's).
async fn digest(cluster: &Cluster, i: usize) -> String {
    cluster
        .client(i, "dev-admin")
        .state_digest()
        .await
        .unwrap()
        .sha256
}

/// Waits (at most 20 s) until `nodes` hold the same state (equal digests):
/// each applies what was committed in its own time.
async fn same_state(cluster: &Cluster, nodes: &[usize]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut digests = Vec::with_capacity(nodes.len());
        for &i in nodes {
            digests.push(digest(cluster, i).await);
        }
        if digests.iter().all(|d| *d == digests[0]) {
            return;
        }
        assert!(Instant::now() < deadline, "nodes differ: {digests:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_is_added_and_another_removed_while_checks_go_on() {
    let mut cluster = Cluster::started().await;
    let leader = cluster.leader().await;
    cluster
        .client(leader, "dev-broker")
        .sync(vec![collateral(1, "fund-1", "1000000")])
        .await
        .unwrap();

    // Checks go on through every change below.
    let new = cluster.another();
    let endpoints = cluster.endpoints();
    let venue = Client::connect_cluster(&endpoints, None, Some("dev-venue-a")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let checks = {
        let (venue, stop) = (venue.clone(), stop.clone());
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let order = format!("m-o{n}");
                let deadline = Instant::now() + RETRY_BUDGET;
                loop {
                    match venue.check(check(&order, "fund-1")).await {
                        Ok(r) => {
                            acked.push((order, r));
                            break;
                        }
                        Err(e) if failover_error(&e) && Instant::now() < deadline => {}
                        Err(e) => panic!("{order}: {e}"),
                    }
                }
            }
            acked
        })
    };

    // A fourth node, started with --join, waits to be added.
    cluster.start(new).await;
    let waiting = cluster
        .client(new, "dev-admin")
        .cluster_status()
        .await
        .unwrap();
    assert!(waiting.nodes.is_empty(), "{waiting:?}");

    // Bad asks change nothing. The admin's client starts at a follower and
    // is sent on to the leader.
    let follower = (leader + 1) % NODES;
    let order: Vec<String> = std::iter::once(follower)
        .chain((0..=new).filter(|i| *i != follower))
        .map(|i| cluster.endpoint(i))
        .collect();
    let admin = Client::connect_cluster(&order, None, Some("dev-admin")).unwrap();
    let code = |r: Result<_, ClientError>| match r {
        Err(ClientError::Status(s)) => s.code(),
        other => panic!("{:?}", other.map(|_: ()| ())),
    };
    let add = |id: u64, raft: &str, api: &str| {
        let (admin, raft, api) = (admin.clone(), raft.to_owned(), api.to_owned());
        async move { admin.add_node(id, &raft, &api).await.map(|_| ()) }
    };
    assert_eq!(
        code(add(0, &cluster.raft[new], &cluster.api[new]).await),
        tonic::Code::InvalidArgument
    );
    assert_eq!(
        code(add(new as u64 + 1, "127.0.0.1", &cluster.api[new]).await),
        tonic::Code::InvalidArgument
    );
    assert_eq!(
        code(add(new as u64 + 1, "10.1.2.3:7400", &cluster.api[new]).await),
        tonic::Code::FailedPrecondition
    );
    assert_eq!(
        code(add(new as u64 + 1, &cluster.raft[0], &cluster.api[new]).await),
        tonic::Code::AlreadyExists
    );
    let broker = Client::connect_cluster(&order, None, Some("dev-broker")).unwrap();
    assert_eq!(
        code(
            broker
                .add_node(new as u64 + 1, &cluster.raft[new], &cluster.api[new])
                .await
                .map(|_| ())
        ),
        tonic::Code::PermissionDenied
    );

    // Added: a learner until it caught up, then a voter.
    let added = admin
        .add_node(new as u64 + 1, &cluster.raft[new], &cluster.api[new])
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(added.nodes.len(), NODES + 1, "{added:?}");
    assert!(added.nodes.iter().all(|n| n.voter), "{added:?}");
    // Its disk was recorded before it could vote.
    assert!(
        added
            .nodes
            .iter()
            .any(|n| n.node_id == new as u64 + 1 && n.disk.len() == 16),
        "{added:?}"
    );
    // Asked again (a retry after a lost answer): nothing more to do.
    add(new as u64 + 1, &cluster.raft[new], &cluster.api[new])
        .await
        .unwrap();

    // A follower that is not the new node is removed; the leader may not be.
    let leader = cluster.leader().await;
    assert_eq!(
        code(admin.remove_node(leader as u64 + 1).await.map(|_| ())),
        tonic::Code::FailedPrecondition
    );
    let gone = (0..NODES).find(|i| *i != leader).unwrap();
    let removed = admin
        .remove_node(gone as u64 + 1)
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(removed.nodes.len(), NODES, "{removed:?}");
    assert!(removed.nodes.iter().all(|n| n.node_id != gone as u64 + 1));
    assert_eq!(
        code(admin.remove_node(gone as u64 + 1).await.map(|_| ())),
        tonic::Code::NotFound
    );
    cluster.kill(gone).await;

    // Both changes are in the audit log, once each (the repeated add
    // changed nothing and recorded nothing), with who asked.
    let leader_client = cluster.client(cluster.leader().await, "dev-admin");
    let changes: Vec<pb::AuditRecord> = leader_client
        .audit(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action.ends_with("_node"))
        .collect();
    let shown: Vec<(&str, &str)> = changes
        .iter()
        .map(|r| (r.action.as_str(), r.target.as_str()))
        .collect();
    let (added_id, gone_id) = (format!("node {}", new + 1), format!("node {}", gone + 1));
    assert_eq!(
        shown,
        [
            ("add_node", added_id.as_str()),
            ("remove_node", gone_id.as_str())
        ],
        "{changes:?}"
    );
    assert!(changes
        .iter()
        .all(|r| r.outcome == "ok" && r.principal.contains("admin")));
    assert_eq!(changes[0].old_value, "voters 1,2,3");
    assert!(
        changes[0]
            .new_value
            .starts_with("voters 1,2,3,4; node 4 at "),
        "{changes:?}"
    );

    // The leader goes too: the new node and the remaining founder are a
    // majority of the three voters, and elect.
    cluster.kill(leader).await;
    let leader = cluster.leader().await;
    assert!(leader != gone, "a removed node leads");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let acked = checks.await.unwrap();
    assert!(acked.len() > 10, "only {} checks", acked.len());

    // Nothing acknowledged is lost, and the two left hold the same state.
    for (order, r) in &acked {
        let again = venue.check(check(order, "fund-1")).await.unwrap();
        assert_eq!(
            (&again.reservation_id, again.verdict),
            (&r.reservation_id, r.verdict),
            "{order}"
        );
    }
    let live: Vec<usize> = (0..=new)
        .filter(|i| cluster.children[*i].is_some())
        .collect();
    assert_eq!(live.len(), 2);
    same_state(&cluster, &live).await;
    cluster.kill_all().await;
}

/// A broker's sync through the client library, the leader killed while a
/// batch streams: the client resumes on the new leader from the sequence
/// it applied, so every message is applied once, in order, none skipped
/// (the broker is not gapped and every sequence is acknowledged once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_stream_resumes_on_the_new_leader() {
    let mut cluster = Cluster::started().await;
    let leader = cluster.leader().await;
    let endpoints = cluster.endpoints();
    let broker = Client::connect_cluster(&endpoints, None, Some("dev-broker")).unwrap();
    let message = |seq: u64| collateral(seq, &format!("fund-{}", seq % 50), &seq.to_string());
    const BATCH: u64 = 400;
    const BATCHES: u64 = 6;
    let sending = {
        let broker = broker.clone();
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for b in 0..BATCHES {
                let batch: Vec<_> = (b * BATCH + 1..=(b + 1) * BATCH).map(message).collect();
                let acks = broker.sync(batch).await.unwrap();
                acked.extend(acks.into_iter().map(|a| a.applied_sequence));
            }
            acked
        })
    };
    // Kill the leader once some of the messages are in.
    let watch = cluster.client(leader, "dev-broker");
    let deadline = Instant::now() + Duration::from_secs(30);
    while watch
        .sync_state()
        .await
        .map_or(0, |s| s.last_applied_sequence)
        < BATCH + BATCH / 2
    {
        assert!(Instant::now() < deadline, "the sync did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cluster.kill(leader).await;
    let acked = sending.await.unwrap();
    assert_eq!(
        acked,
        (1..=BATCH * BATCHES).collect::<Vec<_>>(),
        "every sequence acknowledged once, in order"
    );
    assert!(
        !broker.failovers().is_empty(),
        "the stream never moved: the kill came too late to test anything"
    );
    let state = broker.sync_state().await.unwrap();
    assert_eq!(state.last_applied_sequence, BATCH * BATCHES);
    assert!(!state.gapped);
    cluster.kill_all().await;
}

/// Alerts are raised on the leader: a follower refuses the alert stream
/// naming the leader (the cluster client follows it), and a stream ends
/// with UNAVAILABLE when its node stops leading rather than going silent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_stream_is_the_leaders() {
    let mut cluster = Cluster::started().await;
    let leader = cluster.leader().await;
    let follower = (leader + 1) % NODES;
    let e = cluster
        .client(follower, "dev-admin")
        .watch_alerts()
        .await
        .unwrap_err();
    let ClientError::Status(s) = e else {
        panic!("{e}")
    };
    assert_eq!(s.code(), tonic::Code::Unavailable, "{s:?}");
    assert_eq!(
        s.metadata()
            .get("interlock-leader")
            .map(|v| v.to_str().unwrap()),
        Some(cluster.api[leader].as_str())
    );

    let order: Vec<String> = std::iter::once(follower)
        .chain((0..NODES).filter(|i| *i != follower))
        .map(|i| cluster.endpoint(i))
        .collect();
    let admin = Client::connect_cluster(&order, None, Some("dev-admin")).unwrap();
    let mut alerts = admin.watch_alerts().await.unwrap();
    let halt = |who: &'static str, state: pb::TradingState| {
        let admin = admin.clone();
        async move {
            let deadline = Instant::now() + RETRY_BUDGET;
            loop {
                match admin.set_trading_state(who, state, "alert test").await {
                    Ok(_) => return,
                    Err(e) if failover_error(&e) && Instant::now() < deadline => {}
                    Err(e) => panic!("{who}: {e}"),
                }
            }
        }
    };
    halt("fund-1", pb::TradingState::Halted).await;
    let first = tokio::time::timeout(Duration::from_secs(10), alerts.message())
        .await
        .expect("no alert")
        .unwrap()
        .unwrap();
    assert!(first.message.contains("fund-1"), "{first:?}");

    // The leader pauses, the others elect; back, it follows, and its
    // stream ends.
    cluster.signal(leader, "-STOP");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let next = cluster
            .leader_among(&(0..NODES).filter(|i| *i != leader).collect::<Vec<_>>())
            .await;
        if next.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "no new leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Raised while the watcher's node is paused.
    halt("fund-2", pb::TradingState::Halted).await;
    halt("fund-2", pb::TradingState::Active).await;
    cluster.signal(leader, "-CONT");
    // Back, the old leader applies what it missed: its stream may pass on
    // those alerts (under the seqs every node gives them) before it ends.
    let deadline = Instant::now() + Duration::from_secs(10);
    let s = loop {
        let next = tokio::time::timeout_at(deadline.into(), alerts.message())
            .await
            .expect("the old leader's alert stream did not end");
        match next {
            Ok(Some(a)) => assert!(a.message.contains("fund-2") && a.seq > first.seq, "{a:?}"),
            Ok(None) => panic!("the old leader's alert stream ended without a status"),
            Err(s) => break s,
        }
    };
    assert_eq!(s.code(), tonic::Code::Unavailable, "{s:?}");

    // Resumed on the new leader from just before the first alert: the same
    // alert under the same seq (every node numbers it alike), then the two
    // the watcher missed.
    let mut resumed = admin.watch_alerts_after(first.seq - 1).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        let a = tokio::time::timeout(Duration::from_secs(10), resumed.message())
            .await
            .expect("no alert replayed")
            .unwrap()
            .unwrap();
        got.push(a);
    }
    assert_eq!(got[0], first);
    assert!(
        got[0].seq < got[1].seq && got[1].seq < got[2].seq,
        "{got:?}"
    );
    for a in &got[1..] {
        assert_eq!(a.kind, pb::AlertKind::TradingStateChanged as i32, "{a:?}");
        assert!(a.message.contains("fund-2"), "{a:?}");
    }
    cluster.kill_all().await;
}

/// Audit files (`audit-*.log`) in node `i`'s data directory.
fn audit_files(cluster: &Cluster, i: usize) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cluster.dirs[i].path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("audit-") && n.ends_with(".log"))
        .collect();
    names.sort();
    names
}

/// `n` admin changes through `admin` (each an audit record), from limit
/// number `from` on.
async fn admin_changes(admin: &Client, from: usize, n: usize) {
    for p in from..from + n {
        let limit = pb::SetLimitRequest {
            kind: pb::LimitKind::ReuseRatio.into(),
            scope: Some(pb::Scope {
                participant: format!("p-{p}"),
                ..Default::default()
            }),
            value: "1".into(),
            ..Default::default()
        };
        let deadline = Instant::now() + RETRY_BUDGET;
        loop {
            match admin.set_limit(limit.clone()).await {
                Ok(_) => break,
                // Memory full until the next tick archives: wait for it.
                Err(ClientError::Status(s))
                    if s.code() == tonic::Code::ResourceExhausted && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) if failover_error(&e) && Instant::now() < deadline => {}
                Err(e) => panic!("limit {p}: {e}"),
            }
        }
    }
}

/// Node `i`'s whole audit log, verified from its first record: its count
/// and head hash. Waits while the node answers UNAVAILABLE (copying
/// archived records from a peer) or has fewer than `at_least` records.
async fn whole_audit(cluster: &Cluster, i: usize, at_least: u64) -> (u64, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match cluster.client(i, "dev-admin").audit_verify().await {
            Ok(v) if v.0 >= at_least => return v,
            Ok(_) => {}
            Err(ClientError::Status(s)) if s.code() == tonic::Code::Unavailable => {}
            Err(e) => panic!("node {}: {e}", i + 1),
        }
        assert!(
            Instant::now() < deadline,
            "node {} did not have {at_least} audit records in 30 s",
            i + 1
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A node's disk goes bad, and the audit log stays whole on every node.
/// Memory holds few audit records, so the leader archives often: each node
/// writes the records to its own archive as it applies. A follower's log is
/// damaged while it is down: it refuses to start, naming the file, and the
/// other two go on. It is removed, and a node on a new disk is added under
/// a new id (a voter that forgot its log and vote may not come back under
/// its old one): it is sent a snapshot, which takes it past the archived
/// records, and copies them from a peer, checked against the hash chain.
/// A node restarted on its own disk checks its archive again. Every node
/// then reads the same log, verified from its first record, and holds the
/// same state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_disk_is_replaced_and_the_audit_log_stays_whole() {
    let mut cluster = Cluster::new();
    // Memory holds 200 records (archived from 100 down to 50); snapshots
    // every 100 entries with no log kept behind them.
    cluster.args = [
        "--audit-records-max",
        "200",
        "--snapshot-after-entries",
        "100",
        "--log-kept-after-snapshot",
        "0",
    ]
    .map(String::from)
    .to_vec();
    for i in 0..NODES {
        cluster.start(i).await;
    }
    let admin = Client::connect_cluster(&cluster.endpoints(), None, Some("dev-admin")).unwrap();
    admin_changes(&admin, 0, 300).await;
    let leader = cluster.leader().await;
    let before = whole_audit(&cluster, leader, 300).await;
    for i in 0..NODES {
        assert!(
            audit_files(&cluster, i).len() >= 3,
            "node {} archived {:?}",
            i + 1,
            audit_files(&cluster, i)
        );
        assert_eq!(whole_audit(&cluster, i, before.0).await, before);
    }

    // A follower's log segment is damaged while it is down: a byte in its
    // first records, with good records after it.
    let lost = (0..NODES).rev().find(|i| *i != leader).unwrap();
    cluster.kill(lost).await;
    let segment = std::fs::read_dir(cluster.dirs[lost].path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("journal-"))
        })
        .expect("a log segment");
    let mut bytes = std::fs::read(&segment).unwrap();
    assert!(bytes.len() > 200, "{} bytes", bytes.len());
    bytes[200] ^= 0x40;
    std::fs::write(&segment, bytes).unwrap();
    let refused = cluster.try_start(lost).await.unwrap_err();
    let name = segment.file_name().unwrap().to_string_lossy().into_owned();
    assert!(refused.contains(&name), "{refused}");

    // Started again on an empty directory under its old id (the procedure
    // below not followed): the leader, which had seen it hold the log,
    // sends it nothing more rather than panic (openraft's leader does when
    // a follower's log goes back), and the other two go on.
    cluster.dirs[lost] = tempfile::tempdir().unwrap();
    cluster.start(lost).await;
    admin_changes(&admin, 300, 100).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (i, child) in cluster.children.iter_mut().enumerate() {
        let exited = child.as_mut().unwrap().try_wait().unwrap();
        assert!(exited.is_none(), "node {} exited: {exited:?}", i + 1);
    }
    cluster.kill(lost).await;

    // Removed; a node on a new disk is added under a new id.
    admin.remove_node(lost as u64 + 1).await.unwrap();
    let new = cluster.another();
    cluster.start(new).await;
    admin
        .add_node(new as u64 + 1, &cluster.raft[new], &cluster.api[new])
        .await
        .unwrap();
    // 100 limits, the removal and the addition.
    let leader = cluster.leader().await;
    let after = whole_audit(&cluster, leader, before.0 + 102).await;
    assert_eq!(whole_audit(&cluster, new, after.0).await, after);
    // Copied, not replayed: its archive starts at the first record, in
    // fewer, larger files than the batches the leader archived.
    let (copied, archived) = (audit_files(&cluster, new), audit_files(&cluster, leader));
    assert_eq!(
        copied.first().map(String::as_str),
        Some("audit-00000000000000000001.log")
    );
    assert!(copied.len() < archived.len(), "{copied:?} {archived:?}");

    // The third node restarts on its own disk and checks its archive again.
    let third = (0..NODES).find(|i| *i != leader && *i != lost).unwrap();
    cluster.kill(third).await;
    cluster.start(third).await;
    let live = [leader, third, new];
    for i in live {
        assert_eq!(
            whole_audit(&cluster, i, after.0).await,
            after,
            "node {}",
            i + 1
        );
    }
    same_state(&cluster, &live).await;
    cluster.kill_all().await;
}

/// Waits (at most 10 s) until every node's membership records the disk of
/// every node.
async fn disks_recorded(cluster: &Cluster, nodes: &[usize]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut all = true;
        for &i in nodes {
            let s = cluster.client(i, "dev-admin").cluster_status().await;
            all &= s.is_ok_and(|s| {
                s.nodes.len() == nodes.len() && s.nodes.iter().all(|n| n.disk.len() == 16)
            });
        }
        if all {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the nodes' disks were not recorded within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Raft counts on a node keeping what it acknowledged. Here checks are
/// committed by the leader and one follower while the other follower is
/// paused; the first follower's disk is then lost and it comes back empty
/// under its old id, and the leader dies. Had the empty node voted, the
/// paused follower, which lacks those checks, would have been elected
/// with it and the acknowledged checks would be gone. It refuses instead
/// (its peers know it by the disk it had), so no leader is elected until
/// the old leader returns; then every acknowledged check is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_back_on_an_empty_disk_under_its_old_id_cannot_vote() {
    let mut cluster = Cluster::started().await;
    let leader = cluster.leader().await;
    disks_recorded(&cluster, &[0, 1, 2]).await;
    let (behind, wiped) = ((leader + 1) % NODES, (leader + 2) % NODES);
    let first = cluster
        .client(leader, "dev-admin")
        .cluster_status()
        .await
        .unwrap();
    let known_disk = first
        .nodes
        .iter()
        .find(|n| n.node_id == wiped as u64 + 1)
        .unwrap()
        .disk
        .clone();
    cluster
        .client(leader, "dev-broker")
        .sync(vec![collateral(1, "fund-1", "100")])
        .await
        .unwrap();
    // The sync is on every node before one of them is paused.
    same_state(&cluster, &[0, 1, 2]).await;

    cluster.signal(behind, "-STOP");
    let venue = cluster.client(leader, "dev-venue-a");
    let mut acked = Vec::new();
    for n in 0..10 {
        let order = format!("while-paused-{n}");
        let r = venue.check(check(&order, "fund-1")).await.unwrap();
        assert!(!r.reservation_id.is_empty(), "{r:?}");
        acked.push((order, r));
    }

    // The other follower's disk is lost; it comes back empty under its
    // old id; the leader dies; the paused follower resumes.
    cluster.kill(wiped).await;
    cluster.dirs[wiped] = tempfile::tempdir().unwrap();
    cluster.start(wiped).await;
    cluster.kill(leader).await;
    cluster.signal(behind, "-CONT");

    // Twenty election timeouts (T = 150 ms) and more: no leader.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        assert_eq!(
            cluster.leader_among(&[behind, wiped]).await,
            None,
            "a leader was elected with a vote from an empty disk"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let e = cluster
        .client(behind, "dev-venue-a")
        .check(check("no-leader", "fund-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ClientError::Status(s) if s.code() == tonic::Code::Unavailable),
        "{e}"
    );
    // The empty node says what it is and what to do, to whoever asks.
    let refused = {
        let channel = Endpoint::from_shared(format!("http://{}", cluster.raft[wiped]))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut raft =
            interlock_client::cluster_pb::raft_service_client::RaftServiceClient::new(channel);
        let mut req = tonic::Request::new(interlock_client::cluster_pb::ReadAuditRequest {
            after: 0,
            max: 1,
        });
        req.metadata_mut()
            .insert("interlock-expect-disk", known_disk.parse().unwrap());
        raft.read_audit(req).await.unwrap_err()
    };
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    assert!(
        refused
            .message()
            .contains(&format!("remove node {}", wiped + 1)),
        "{refused:?}"
    );

    // The old leader returns: it and the resumed follower elect a leader
    // (the empty node still refuses), and every acknowledged check is
    // there with the answer it was given.
    cluster.start(leader).await;
    let admin = Client::connect_cluster(&cluster.endpoints(), None, Some("dev-admin")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let exposure = loop {
        match admin.exposure("fund-1").await {
            Ok(r) => break r,
            Err(e) if failover_error(&e) && Instant::now() < deadline => {}
            Err(e) => panic!("no leader again: {e}"),
        }
    };
    // Before any retry: the ten reservations are held (answers alone
    // would not show a loss: a leader without them numbers its own
    // reservations the same way).
    assert_eq!(exposure.assets[0].committed, "10", "{exposure:?}");
    let venue = Client::connect_cluster(&cluster.endpoints(), None, Some("dev-venue-a")).unwrap();
    for (order, before) in &acked {
        let again = loop {
            match venue.check(check(order, "fund-1")).await {
                Ok(r) => break r,
                Err(e) if failover_error(&e) && Instant::now() < deadline => {}
                Err(e) => panic!("{order}: {e}"),
            }
        };
        assert_eq!(again.reservation_id, before.reservation_id, "{order}");
        assert_eq!(again.verdict, before.verdict, "{order}");
    }
    let now = cluster.leader_among(&[leader, behind, wiped]).await;
    assert!(now.is_some_and(|l| l != wiped), "{now:?}");
    same_state(&cluster, &[leader, behind]).await;

    // A node whose identity file is gone (or whose directory holds another
    // node's files) refuses to start, saying so.
    cluster.kill(behind).await;
    std::fs::remove_file(cluster.dirs[behind].path().join("raft-disk.bin")).unwrap();
    let refused = cluster.try_start(behind).await.unwrap_err();
    assert!(
        refused.contains("raft-disk.bin")
            && refused.contains(&format!("remove node {}", behind + 1)),
        "{refused}"
    );
    cluster.kill_all().await;
}
