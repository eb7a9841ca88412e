//! `interlockctl bench`: a load generator for pre-trade checks.
//!
//! Sets up participants with collateral (as a broker), then runs `clients`
//! concurrent venues doing checks for `duration` over `connections` HTTP/2
//! connections, unary or pipelined on `CheckStream`. The mix is
//! configurable: participants chosen uniformly or with Zipf skew, a share
//! of checks that must be rejected (they ask for more than the participant
//! owns), a share of approved reservations committed or released
//! afterwards, and broker syncs in the background. It prints throughput,
//! check latency percentiles (HdrHistogram), counts per kind, errors and,
//! given the server's pid, the server's CPU time per request and peak RSS.
//! Every run is bounded in time; point it at loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use interlock_client::{pb, Client, TlsOptions};
use tokio::sync::mpsc;

/// Longest run accepted.
pub const BENCH_DURATION_MAX_SECS: u64 = 3600;
/// Most concurrent clients.
pub const BENCH_CLIENTS_MAX: usize = 4096;
/// Most participants (the Zipf table holds one f64 per participant).
pub const BENCH_PARTICIPANTS_MAX: u64 = 10_000_000;
/// Most checks in flight on one stream.
pub const BENCH_IN_FLIGHT_MAX: usize = 4096;
/// Most background sync messages per second.
pub const BENCH_SYNC_PER_SEC_MAX: u32 = 10_000;
/// Participants whose collateral one background sync message refreshes.
pub const SYNC_REFRESH_BATCH: u64 = 100;
/// Collateral each participant gets, per the setup and every refresh.
const COLLATERAL: &str = "1000000000000";
/// What an approved check asks for: far below the collateral, so approvals
/// never run out during a run.
const APPROVED_QUANTITY: &str = "1";
/// What a check meant to be rejected asks for: more than the participant
/// owns, so the reuse limit rejects it (LIMIT_EXCEEDED) on the full path.
const REJECTED_QUANTITY: &str = "10000000000000";
/// Clock ticks per second of /proc/PID/stat (USER_HZ, fixed at 100 in the
/// Linux ABI).
const USER_HZ: f64 = 100.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// One unary Check per request.
    Unary,
    /// Checks pipelined on one CheckStream per client.
    Stream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// Interlock's PreTradeService.
    Interlock,
    /// The gRPC floor: `interlock-server --echo-floor` (same messages, no
    /// work). Setup, commits, releases and syncs are skipped.
    Echo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Skew {
    /// Every participant equally likely.
    Uniform,
    /// The k-th participant chosen with weight 1/k^s (see --zipf-s): a few
    /// hot participants take most of the checks.
    Zipf,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// What to load.
    #[arg(long, value_enum, default_value_t = Target::Interlock)]
    pub target: Target,
    /// Concurrent clients (venues issuing checks).
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// HTTP/2 connections shared by the clients (0: one per client).
    #[arg(long, default_value_t = 0)]
    pub connections: usize,
    /// Seconds of measured load.
    #[arg(long, default_value_t = 5)]
    pub duration_secs: u64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 1)]
    pub warmup_secs: u64,
    /// Distinct participants checked (1: one hot participant).
    #[arg(long, default_value_t = 1000)]
    pub participants: u64,
    /// How checks spread over the participants.
    #[arg(long, value_enum, default_value_t = Skew::Uniform)]
    pub skew: Skew,
    /// The Zipf exponent s (with --skew zipf); 1.0 is the classic Zipf law.
    #[arg(long, default_value_t = 1.0)]
    pub zipf_s: f64,
    #[arg(long, value_enum, default_value_t = Mode::Unary)]
    pub mode: Mode,
    /// Checks in flight per stream (stream mode).
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
    /// Percent of checks that ask for more than the participant owns, and
    /// so are rejected by its reuse limit.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub reject_pct: u8,
    /// Percent of approved reservations committed right after the check
    /// (a unary Commit each).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub commit_pct: u8,
    /// Percent of approved reservations released right after the check (a
    /// unary Release each). With --commit-pct at most 100; the rest expire
    /// after --ttl-ms.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub release_pct: u8,
    /// Broker sync messages per second during the run, each refreshing the
    /// collateral of 100 random participants (0: none). Runs longer than
    /// the server's broker staleness bound (30 s by default) need it, or
    /// checks fail closed as STALE_SYNC.
    #[arg(long, default_value_t = 0)]
    pub sync_per_sec: u32,
    /// Token of the broker that syncs collateral before and during the run
    /// (empty: skip the setup).
    #[arg(long, default_value = "dev-broker")]
    pub broker_token: String,
    /// Server process id, to report its CPU time per request and peak RSS.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Lifetime of each reservation the bench makes, in ms.
    #[arg(long, default_value_t = 1_000)]
    pub ttl_ms: u64,
    /// A label for the run in the output.
    #[arg(long, default_value = "")]
    pub label: String,
    /// Put value limits in force before the run (as --admin-token and
    /// --oracle-token): ETH classed MAJOR and priced at 2,000, a 20%
    /// haircut, MIN_HF_ECO 1.1 and STRESS_HF_ECO 1.0 for everyone; waits
    /// (up to 60 s) for the price to be FRESH: start the server with
    /// --price-grace-ms 0 to skip the wait. Quotes age out after 60 s:
    /// for short runs.
    #[arg(long)]
    pub value_limits: bool,
    #[arg(long, default_value = "dev-admin")]
    pub admin_token: String,
    #[arg(long, default_value = "dev-oracle")]
    pub oracle_token: String,
}

/// What a run measured. `requests` counts every call a venue made (checks,
/// commits, releases); latency percentiles are of checks only.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchResult {
    pub label: String,
    pub mode: String,
    pub skew: String,
    pub clients: usize,
    pub connections: usize,
    pub participants: u64,
    pub duration_secs: f64,
    pub requests: u64,
    pub checks: u64,
    pub approved: u64,
    pub rejected: u64,
    pub commits: u64,
    pub releases: u64,
    pub sync_messages: u64,
    pub errors: u64,
    /// The first error seen, to tell what went wrong.
    pub first_error: Option<String>,
    pub throughput_per_sec: f64,
    pub checks_per_sec: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub server_cpu_us_per_request: Option<f64>,
    pub server_peak_rss_kib: Option<u64>,
}

#[derive(Default)]
struct Tally {
    hist: Option<Histogram<u64>>,
    checks: u64,
    approved: u64,
    rejected: u64,
    commits: u64,
    releases: u64,
    syncs: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Self {
        Tally {
            hist: Histogram::new_with_bounds(1, 60_000_000, 3).ok(),
            ..Tally::default()
        }
    }

    fn check(&mut self, latency: Duration, verdict: pb::Verdict) {
        if let Some(h) = self.hist.as_mut() {
            let _ = h.record((latency.as_micros() as u64).max(1));
        }
        self.checks += 1;
        match verdict {
            pb::Verdict::Rejected => self.rejected += 1,
            _ => self.approved += 1,
        }
    }

    fn error(&mut self, what: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what());
        }
    }

    fn merge(&mut self, other: Tally) {
        if let (Some(a), Some(b)) = (self.hist.as_mut(), other.hist.as_ref()) {
            let _ = a.add(b);
        }
        self.checks += other.checks;
        self.approved += other.approved;
        self.rejected += other.rejected;
        self.commits += other.commits;
        self.releases += other.releases;
        self.syncs += other.syncs;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// splitmix64: a small, fast, well-spread generator; the bench needs no
/// more (and no extra crate).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..100.
    fn pct(&mut self) -> u8 {
        (self.next() % 100) as u8
    }
}

/// Chooses the participant of each check.
#[derive(Clone)]
enum Picker {
    Uniform(u64),
    /// Cumulative weights of participants 0..n (participant 0 the hottest).
    Zipf(Arc<[f64]>),
}

impl Picker {
    fn new(args: &BenchArgs) -> Self {
        match args.skew {
            Skew::Uniform => Picker::Uniform(args.participants),
            Skew::Zipf => {
                let mut sum = 0.0;
                let cdf: Vec<f64> = (1..=args.participants)
                    .map(|k| {
                        sum += 1.0 / (k as f64).powf(args.zipf_s);
                        sum
                    })
                    .collect();
                Picker::Zipf(cdf.into())
            }
        }
    }

    fn pick(&self, rng: &mut Rng) -> u64 {
        match self {
            Picker::Uniform(n) => rng.next() % n,
            Picker::Zipf(cdf) => {
                let total = cdf.last().copied().unwrap_or(0.0);
                let u = rng.unit() * total;
                (cdf.partition_point(|&c| c <= u) as u64).min(cdf.len() as u64 - 1)
            }
        }
    }
}

/// What one client needs to build its requests.
#[derive(Clone)]
struct Plan {
    run: u64,
    picker: Picker,
    reject_pct: u8,
    commit_pct: u8,
    release_pct: u8,
    ttl_ms: u64,
    measure_from: Instant,
    until: Instant,
}

impl Plan {
    fn request(&self, rng: &mut Rng, client: usize, n: u64) -> pb::CheckRequest {
        let quantity = if rng.pct() < self.reject_pct {
            REJECTED_QUANTITY
        } else {
            APPROVED_QUANTITY
        };
        pb::CheckRequest {
            order_id: format!("b{}-{client}-{n}", self.run),
            participant: participant(self.picker.pick(rng)),
            asset: "ETH".into(),
            quantity: quantity.into(),
            ttl_ms: self.ttl_ms,
            ..Default::default()
        }
    }

    /// What to do with an approved reservation.
    fn follow_up(&self, rng: &mut Rng) -> Option<FollowUp> {
        let roll = rng.pct();
        if roll < self.commit_pct {
            Some(FollowUp::Commit)
        } else if roll < self.commit_pct.saturating_add(self.release_pct) {
            Some(FollowUp::Release)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum FollowUp {
    Commit,
    Release,
}

/// Commits or releases a reservation, counting the outcome.
async fn follow_up(c: &Client, t: &mut Tally, what: FollowUp, reservation: &str) {
    let r = match what {
        FollowUp::Commit => c.commit(reservation).await.map(|_| ()),
        FollowUp::Release => c.release(reservation).await.map(|_| ()),
    };
    match (r, what) {
        (Ok(()), FollowUp::Commit) => t.commits += 1,
        (Ok(()), FollowUp::Release) => t.releases += 1,
        (Err(e), _) => t.error(|| format!("{what:?}: {e}")),
    }
}

/// (utime + stime) of a process, in seconds.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields resume after ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn participant(i: u64) -> String {
    format!("bench-p{i}")
}

fn collateral(participant_index: u64) -> pb::SyncUpdate {
    pb::SyncUpdate {
        update: Some(pb::sync_update::Update::Collateral(pb::CollateralUpdate {
            participant: participant(participant_index),
            asset: "ETH".into(),
            quantity: COLLATERAL.into(),
        })),
    }
}

/// Gives every participant ample collateral so checks are judged on the
/// full path (limits evaluated, reservation made). Returns the broker's
/// client and its last sequence, for background syncs.
async fn setup(
    endpoint: &str,
    tls: Option<&TlsOptions>,
    args: &BenchArgs,
) -> anyhow::Result<Option<(Client, u64)>> {
    if args.broker_token.is_empty() {
        return Ok(None);
    }
    let broker = Client::connect_with(endpoint, tls, Some(&args.broker_token)).await?;
    let mut seq = broker.sync_state().await?.last_applied_sequence;
    let ids: Vec<u64> = (0..args.participants).collect();
    for chunk in ids.chunks(100_000) {
        let mut messages = Vec::new();
        for part in chunk.chunks(1000) {
            seq += 1;
            messages.push(pb::SyncRequest {
                sequence: seq,
                updates: part.iter().map(|&i| collateral(i)).collect(),
            });
        }
        broker.sync(messages).await?;
    }
    Ok(Some((broker, seq)))
}

/// Value limits in force and ETH's price FRESH (see `--value-limits`).
async fn value_setup(
    endpoint: &str,
    tls: Option<&TlsOptions>,
    args: &BenchArgs,
) -> anyhow::Result<()> {
    let admin = Client::connect_with(endpoint, tls, Some(&args.admin_token)).await?;
    let oracle = Client::connect_with(endpoint, tls, Some(&args.oracle_token)).await?;
    admin.set_asset_class("ETH", pb::AssetClass::Major).await?;
    admin.set_haircut("ETH", "0.2", "").await?;
    let sequence = oracle.publish_state().await?.last_applied_sequence + 1;
    let published_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    oracle
        .publish(vec![pb::PublishRequest {
            sequence,
            quotes: vec![pb::Quote {
                asset: "ETH".into(),
                price: "2000".into(),
                published_ms,
            }],
        }])
        .await?;
    for (kind, value) in [
        (pb::LimitKind::MinHfEco, "1.1"),
        (pb::LimitKind::StressHfEco, "1"),
    ] {
        admin
            .set_limit(pb::SetLimitRequest {
                kind: kind.into(),
                scope: Some(pb::Scope::default()),
                value: value.into(),
                force_reason: "bench".into(),
                ..Default::default()
            })
            .await?;
    }
    let started = Instant::now();
    loop {
        let prices = admin.list_prices().await?;
        if prices
            .iter()
            .any(|p| p.asset == "ETH" && p.state() == pb::PriceState::Fresh)
        {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(60) {
            anyhow::bail!("ETH's price is not FRESH after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends `per_sec` sync messages a second on one stream until the run
/// ends, each refreshing random participants' collateral.
async fn background_syncs(
    broker: Client,
    mut seq: u64,
    per_sec: u32,
    participants: u64,
    until: Instant,
) -> Tally {
    let mut t = Tally::new();
    let (tx, rx) = mpsc::channel::<pb::SyncRequest>(64);
    let acks = broker
        .position()
        .sync(broker.request(tokio_stream::wrappers::ReceiverStream::new(rx)))
        .await;
    let mut acks = match acks {
        Ok(a) => a.into_inner(),
        Err(e) => {
            t.error(|| format!("sync: {e}"));
            return t;
        }
    };
    let mut rng = Rng::new(seq ^ 0x5eed);
    let mut every = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(per_sec)));
    let mut sent = 0u64;
    while Instant::now() < until {
        every.tick().await;
        seq += 1;
        let updates = (0..SYNC_REFRESH_BATCH.min(participants))
            .map(|_| collateral(rng.next() % participants))
            .collect();
        if tx
            .send(pb::SyncRequest {
                sequence: seq,
                updates,
            })
            .await
            .is_err()
        {
            break;
        }
        sent += 1;
    }
    drop(tx);
    for _ in 0..sent {
        match acks.message().await {
            Ok(Some(_)) => t.syncs += 1,
            Ok(None) => {
                t.error(|| "sync: stream ended early".into());
                break;
            }
            Err(e) => {
                t.error(|| format!("sync: {e}"));
                break;
            }
        }
    }
    t
}

async fn unary_client(c: Client, target: Target, plan: Plan, id: usize) -> Tally {
    let mut t = Tally::new();
    let mut rng = Rng::new(plan.run ^ (id as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut n = 0;
    let mut echo = pb::bench_echo_service_client::BenchEchoServiceClient::new(c.channel());
    loop {
        let start = Instant::now();
        if start >= plan.until {
            return t;
        }
        n += 1;
        let req = plan.request(&mut rng, id, n);
        let r = match target {
            Target::Interlock => c.check(req).await.map_err(|e| e.to_string()),
            Target::Echo => echo
                .check(c.request(req))
                .await
                .map(|r| r.into_inner())
                .map_err(|e| e.to_string()),
        };
        let measured = start >= plan.measure_from;
        let answer = match r {
            Ok(a) => a,
            Err(e) => {
                if measured {
                    t.error(|| format!("check: {e}"));
                }
                continue;
            }
        };
        if measured {
            t.check(start.elapsed(), answer.verdict());
        }
        if target == Target::Interlock && !answer.reservation_id.is_empty() {
            if let Some(what) = plan.follow_up(&mut rng) {
                let mut scratch = Tally::default();
                let tally = if measured { &mut t } else { &mut scratch };
                follow_up(&c, tally, what, &answer.reservation_id).await;
            }
        }
    }
}

/// Commits and releases the reservations a stream client hands over, as
/// unary calls beside the stream, up to `in_flight` at a time (one at a
/// time would throttle the stream to the speed of one unary round trip).
async fn stream_follow_ups(
    c: Client,
    mut rx: mpsc::Receiver<(FollowUp, String, bool)>,
    in_flight: usize,
    until: Instant,
) -> Tally {
    let mut t = Tally::new();
    let mut running = tokio::task::JoinSet::new();
    while let Some((what, reservation, measured)) = rx.recv().await {
        if Instant::now() >= until {
            continue;
        }
        while running.len() >= in_flight {
            if let Some(Ok((one, measured))) = running.join_next().await {
                if measured {
                    t.merge(one);
                }
            }
        }
        let c = c.clone();
        running.spawn(async move {
            let mut one = Tally::default();
            follow_up(&c, &mut one, what, &reservation).await;
            (one, measured)
        });
    }
    while let Some(done) = running.join_next().await {
        if let Ok((one, true)) = done {
            t.merge(one);
        }
    }
    t
}

async fn stream_client(
    c: Client,
    target: Target,
    plan: Plan,
    id: usize,
    in_flight: usize,
) -> Tally {
    let mut t = Tally::new();
    let mut rng = Rng::new(plan.run ^ (id as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let (tx, rx) = mpsc::channel::<pb::CheckRequest>(in_flight);
    let (follow_tx, follow_rx) = mpsc::channel(in_flight);
    let followers = tokio::spawn(stream_follow_ups(
        c.clone(),
        follow_rx,
        in_flight,
        plan.until,
    ));
    let mut sent: std::collections::VecDeque<Instant> = std::collections::VecDeque::new();
    let requests = c.request(tokio_stream::wrappers::ReceiverStream::new(rx));
    let resp = match target {
        Target::Interlock => c.pretrade().check_stream(requests).await,
        Target::Echo => {
            pb::bench_echo_service_client::BenchEchoServiceClient::new(c.channel())
                .check_stream(requests)
                .await
        }
    };
    let mut answers = match resp {
        Ok(r) => r.into_inner(),
        Err(e) => {
            t.error(|| format!("check stream: {e}"));
            return t;
        }
    };
    let mut n = 0;
    let mut tx = Some(tx);
    loop {
        // Keep `in_flight` checks outstanding until the deadline.
        while sent.len() < in_flight && Instant::now() < plan.until {
            let Some(s) = tx.as_ref() else { break };
            n += 1;
            sent.push_back(Instant::now());
            if s.send(plan.request(&mut rng, id, n)).await.is_err() {
                break;
            }
        }
        if Instant::now() >= plan.until {
            tx = None;
        }
        if sent.is_empty() {
            break;
        }
        let start = sent.pop_front().unwrap_or_else(Instant::now);
        let measured = start >= plan.measure_from;
        match answers.message().await {
            Ok(Some(a)) => match a.result {
                Some(pb::check_stream_response::Result::Response(r)) => {
                    if measured {
                        t.check(start.elapsed(), r.verdict());
                    }
                    if target == Target::Interlock && !r.reservation_id.is_empty() {
                        if let Some(what) = plan.follow_up(&mut rng) {
                            let _ = follow_tx.send((what, r.reservation_id, measured)).await;
                        }
                    }
                }
                other => {
                    if measured {
                        t.error(|| format!("check stream answer: {other:?}"));
                    }
                }
            },
            Ok(None) => {
                t.error(|| "check stream ended early".into());
                t.errors += sent.len() as u64;
                break;
            }
            Err(e) => {
                t.error(|| format!("check stream: {e}"));
                t.errors += sent.len() as u64;
                break;
            }
        }
    }
    drop(follow_tx);
    if let Ok(f) = followers.await {
        t.merge(f);
    }
    t
}

fn validate(args: &BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=BENCH_CLIENTS_MAX).contains(&args.clients),
        "--clients must be 1..={BENCH_CLIENTS_MAX}"
    );
    anyhow::ensure!(
        (1..=BENCH_DURATION_MAX_SECS).contains(&args.duration_secs),
        "--duration-secs must be 1..={BENCH_DURATION_MAX_SECS}"
    );
    anyhow::ensure!(
        args.warmup_secs <= BENCH_DURATION_MAX_SECS,
        "--warmup-secs must be at most {BENCH_DURATION_MAX_SECS}"
    );
    anyhow::ensure!(
        (1..=BENCH_PARTICIPANTS_MAX).contains(&args.participants),
        "--participants must be 1..={BENCH_PARTICIPANTS_MAX}"
    );
    anyhow::ensure!(
        (1..=BENCH_IN_FLIGHT_MAX).contains(&args.in_flight),
        "--in-flight must be 1..={BENCH_IN_FLIGHT_MAX}"
    );
    anyhow::ensure!(
        args.zipf_s.is_finite() && args.zipf_s > 0.0 && args.zipf_s <= 10.0,
        "--zipf-s must be in (0, 10]"
    );
    anyhow::ensure!(
        u16::from(args.commit_pct) + u16::from(args.release_pct) <= 100,
        "--commit-pct plus --release-pct must be at most 100"
    );
    anyhow::ensure!(
        args.sync_per_sec <= BENCH_SYNC_PER_SEC_MAX,
        "--sync-per-sec must be at most {BENCH_SYNC_PER_SEC_MAX}"
    );
    anyhow::ensure!(
        args.sync_per_sec == 0 || !args.broker_token.is_empty() || args.target == Target::Echo,
        "--sync-per-sec needs a --broker-token"
    );
    Ok(())
}

/// Runs the benchmark and returns its figures.
pub async fn run(
    endpoint: &str,
    tls: Option<&TlsOptions>,
    token: Option<&str>,
    args: &BenchArgs,
) -> anyhow::Result<BenchResult> {
    validate(args)?;
    let broker = match args.target {
        Target::Interlock => setup(endpoint, tls, args).await?,
        Target::Echo => None,
    };
    if args.value_limits && args.target == Target::Interlock {
        value_setup(endpoint, tls, args).await?;
    }
    let connections = if args.connections == 0 {
        args.clients
    } else {
        args.connections.min(args.clients)
    };
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(Client::connect_with(endpoint, tls, token).await?);
    }
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    let measure_from = Instant::now() + Duration::from_secs(args.warmup_secs);
    let until = measure_from + Duration::from_secs(args.duration_secs);
    let plan = Plan {
        run,
        picker: Picker::new(args),
        reject_pct: args.reject_pct,
        commit_pct: args.commit_pct,
        release_pct: args.release_pct,
        ttl_ms: args.ttl_ms,
        measure_from,
        until,
    };
    let cpu_before = Arc::new(std::sync::Mutex::new(None));
    if let Some(pid) = args.server_pid {
        let slot = cpu_before.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = cpu_secs(pid);
        });
    }
    let syncs = match broker {
        Some((b, seq)) if args.sync_per_sec > 0 => Some(tokio::spawn(background_syncs(
            b,
            seq,
            args.sync_per_sec,
            args.participants,
            until,
        ))),
        _ => None,
    };
    let mut tasks = Vec::with_capacity(args.clients);
    for id in 0..args.clients {
        let c = conns[id % connections].clone();
        let plan = plan.clone();
        tasks.push(match args.mode {
            Mode::Unary => tokio::spawn(unary_client(c, args.target, plan, id)),
            Mode::Stream => tokio::spawn(stream_client(c, args.target, plan, id, args.in_flight)),
        });
    }
    let mut total = Tally::new();
    for t in tasks {
        total.merge(t.await?);
    }
    // The server's CPU is read when the venues stop; the background syncs
    // run until the same deadline.
    let cpu_after = args.server_pid.and_then(cpu_secs);
    if let Some(s) = syncs {
        total.merge(s.await?);
    }
    let cpu_before = *cpu_before.lock().unwrap_or_else(|p| p.into_inner());
    let secs = args.duration_secs as f64;
    let requests = total.checks + total.commits + total.releases;
    let q = |p: f64| total.hist.as_ref().map_or(0, |h| h.value_at_quantile(p));
    Ok(BenchResult {
        label: args.label.clone(),
        mode: format!("{:?}", args.mode).to_lowercase(),
        skew: match args.skew {
            Skew::Uniform => "uniform".into(),
            Skew::Zipf => format!("zipf(s={})", args.zipf_s),
        },
        clients: args.clients,
        connections,
        participants: args.participants,
        duration_secs: secs,
        requests,
        checks: total.checks,
        approved: total.approved,
        rejected: total.rejected,
        commits: total.commits,
        releases: total.releases,
        sync_messages: total.syncs,
        errors: total.errors,
        first_error: total.first_error,
        throughput_per_sec: requests as f64 / secs,
        checks_per_sec: total.checks as f64 / secs,
        p50_us: q(0.5),
        p99_us: q(0.99),
        p999_us: q(0.999),
        max_us: total.hist.as_ref().map_or(0, |h| h.max()),
        server_cpu_us_per_request: match (cpu_before, cpu_after) {
            (Some(a), Some(b)) if requests > 0 => Some((b - a) * 1e6 / requests as f64),
            _ => None,
        },
        server_peak_rss_kib: args.server_pid.and_then(peak_rss_kib),
    })
}

/// Prints a result as a table row block.
pub fn print(r: &BenchResult) {
    let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    outln!(
        "{:<12} {:<6} {} clients={:<4} conns={:<4} req/s={:>10.0} checks/s={:>10.0} p50={:>6}us p99={:>6}us p99.9={:>6}us approved={} rejected={} commits={} releases={} syncs={} errors={} cpu/req={}us rss={}KiB",
        if r.label.is_empty() { "-" } else { &r.label },
        r.mode,
        r.skew,
        r.clients,
        r.connections,
        r.throughput_per_sec,
        r.checks_per_sec,
        r.p50_us,
        r.p99_us,
        r.p999_us,
        r.approved,
        r.rejected,
        r.commits,
        r.releases,
        r.sync_messages,
        r.errors,
        opt(r.server_cpu_us_per_request),
        r.server_peak_rss_kib.map_or("-".to_owned(), |v| v.to_string()),
    );
    if let Some(e) = &r.first_error {
        outln!("first error: {e}");
    }
}
