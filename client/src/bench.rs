//! `interlockctl bench`: a load generator for pre-trade checks.
//!
//! Sets up participants with collateral (as a broker), then runs `clients`
//! concurrent venues doing checks for `duration` over `connections` HTTP/2
//! connections, unary or pipelined on `CheckStream`. It prints throughput,
//! latency percentiles (HdrHistogram), errors and, given the server's pid,
//! the server's CPU time per request (from /proc/PID/stat) and peak RSS.
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
    /// work). Setup is skipped.
    Echo,
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
    /// Distinct participants checked (uniformly).
    #[arg(long, default_value_t = 1000)]
    pub participants: u64,
    #[arg(long, value_enum, default_value_t = Mode::Unary)]
    pub mode: Mode,
    /// Checks in flight per stream (stream mode).
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
    /// Token of the broker that syncs collateral before the run (empty:
    /// skip the setup).
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
}

/// What a run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchResult {
    pub label: String,
    pub mode: String,
    pub clients: usize,
    pub connections: usize,
    pub duration_secs: f64,
    pub requests: u64,
    pub errors: u64,
    pub approved: u64,
    pub rejected: u64,
    pub throughput_per_sec: f64,
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
    requests: u64,
    errors: u64,
    approved: u64,
    rejected: u64,
}

impl Tally {
    fn new() -> Self {
        Tally {
            hist: Histogram::new_with_bounds(1, 60_000_000, 3).ok(),
            ..Tally::default()
        }
    }

    fn record(&mut self, latency: Duration, answer: Option<pb::Verdict>) {
        if let Some(h) = self.hist.as_mut() {
            let _ = h.record((latency.as_micros() as u64).max(1));
        }
        self.requests += 1;
        match answer {
            Some(pb::Verdict::Rejected) => self.rejected += 1,
            Some(_) => self.approved += 1,
            None => self.errors += 1,
        }
    }

    fn merge(&mut self, other: Tally) {
        if let (Some(a), Some(b)) = (self.hist.as_mut(), other.hist.as_ref()) {
            let _ = a.add(b);
        }
        self.requests += other.requests;
        self.errors += other.errors;
        self.approved += other.approved;
        self.rejected += other.rejected;
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

/// Gives every participant ample collateral so checks are judged on the
/// full path (limits evaluated, reservation made).
async fn setup(endpoint: &str, tls: Option<&TlsOptions>, args: &BenchArgs) -> anyhow::Result<()> {
    if args.broker_token.is_empty() {
        return Ok(());
    }
    let broker = Client::connect_with(endpoint, tls, Some(&args.broker_token)).await?;
    let mut seq = broker.sync_state().await?.last_applied_sequence;
    let ids: Vec<u64> = (0..args.participants).collect();
    let mut messages = Vec::new();
    for chunk in ids.chunks(1000) {
        seq += 1;
        messages.push(pb::SyncRequest {
            sequence: seq,
            updates: chunk
                .iter()
                .map(|&i| pb::SyncUpdate {
                    update: Some(pb::sync_update::Update::Collateral(pb::CollateralUpdate {
                        participant: participant(i),
                        asset: "ETH".into(),
                        quantity: "1000000000000".into(),
                    })),
                })
                .collect(),
        });
    }
    broker.sync(messages).await?;
    Ok(())
}

fn request(run: u64, client: usize, n: u64, participants: u64, ttl_ms: u64) -> pb::CheckRequest {
    // A cheap, well-spread participant choice (splitmix64 of the counter).
    let mut z = n
        .wrapping_add(client as u64 * 0x9e37_79b9_7f4a_7c15)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    pb::CheckRequest {
        order_id: format!("b{run}-{client}-{n}"),
        participant: participant(z % participants.max(1)),
        asset: "ETH".into(),
        quantity: "1".into(),
        ttl_ms,
        ..Default::default()
    }
}

async fn unary_client(
    c: Client,
    target: Target,
    run: u64,
    id: usize,
    participants: (u64, u64),
    measure_from: Instant,
    until: Instant,
) -> Tally {
    let mut t = Tally::new();
    let mut n = 0;
    let mut echo = pb::bench_echo_service_client::BenchEchoServiceClient::new(c.channel());
    loop {
        let start = Instant::now();
        if start >= until {
            return t;
        }
        n += 1;
        let req = request(run, id, n, participants.0, participants.1);
        let r = match target {
            Target::Interlock => c.check(req).await.ok(),
            Target::Echo => echo
                .check(c.request(req))
                .await
                .ok()
                .map(|r| r.into_inner()),
        };
        if start >= measure_from {
            t.record(start.elapsed(), r.map(|r| r.verdict()));
        }
    }
}

async fn stream_client(
    c: Client,
    target: Target,
    run: u64,
    id: usize,
    args: (u64, usize, u64),
    measure_from: Instant,
    until: Instant,
) -> Tally {
    let (participants, in_flight, ttl_ms) = args;
    let mut t = Tally::new();
    let (tx, rx) = mpsc::channel::<pb::CheckRequest>(in_flight.max(1));
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
    let Ok(resp) = resp else {
        t.errors += 1;
        return t;
    };
    let mut answers = resp.into_inner();
    let mut n = 0;
    let mut tx = Some(tx);
    loop {
        // Keep `in_flight` checks outstanding until the deadline.
        while sent.len() < in_flight && Instant::now() < until {
            let Some(s) = tx.as_ref() else { break };
            n += 1;
            sent.push_back(Instant::now());
            if s.send(request(run, id, n, participants, ttl_ms))
                .await
                .is_err()
            {
                break;
            }
        }
        if Instant::now() >= until {
            tx = None;
        }
        if sent.is_empty() {
            return t;
        }
        match answers.message().await {
            Ok(Some(a)) => {
                let start = sent.pop_front().unwrap_or_else(Instant::now);
                if start >= measure_from {
                    let verdict = match a.result {
                        Some(pb::check_stream_response::Result::Response(r)) => Some(r.verdict()),
                        _ => None,
                    };
                    t.record(start.elapsed(), verdict);
                }
            }
            _ => {
                t.errors += sent.len() as u64;
                return t;
            }
        }
    }
}

/// Runs the benchmark and returns its figures.
pub async fn run(
    endpoint: &str,
    tls: Option<&TlsOptions>,
    token: Option<&str>,
    args: &BenchArgs,
) -> anyhow::Result<BenchResult> {
    anyhow::ensure!(
        (1..=BENCH_CLIENTS_MAX).contains(&args.clients),
        "--clients must be 1..={BENCH_CLIENTS_MAX}"
    );
    anyhow::ensure!(
        (1..=BENCH_DURATION_MAX_SECS).contains(&args.duration_secs),
        "--duration-secs must be 1..={BENCH_DURATION_MAX_SECS}"
    );
    anyhow::ensure!(args.participants > 0, "--participants must be positive");
    if args.target == Target::Interlock {
        setup(endpoint, tls, args).await?;
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
    let cpu_before = Arc::new(std::sync::Mutex::new(None));
    if let Some(pid) = args.server_pid {
        let slot = cpu_before.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = cpu_secs(pid);
        });
    }
    let mut tasks = Vec::with_capacity(args.clients);
    for id in 0..args.clients {
        let c = conns[id % connections].clone();
        tasks.push(match args.mode {
            Mode::Unary => tokio::spawn(unary_client(
                c,
                args.target,
                run,
                id,
                (args.participants, args.ttl_ms),
                measure_from,
                until,
            )),
            Mode::Stream => tokio::spawn(stream_client(
                c,
                args.target,
                run,
                id,
                (args.participants, args.in_flight, args.ttl_ms),
                measure_from,
                until,
            )),
        });
    }
    let mut total = Tally::new();
    for t in tasks {
        total.merge(t.await?);
    }
    let cpu_after = args.server_pid.and_then(cpu_secs);
    let cpu_before = *cpu_before.lock().unwrap_or_else(|p| p.into_inner());
    let secs = args.duration_secs as f64;
    let q = |p: f64| total.hist.as_ref().map_or(0, |h| h.value_at_quantile(p));
    Ok(BenchResult {
        label: args.label.clone(),
        mode: format!("{:?}", args.mode).to_lowercase(),
        clients: args.clients,
        connections,
        duration_secs: secs,
        requests: total.requests,
        errors: total.errors,
        approved: total.approved,
        rejected: total.rejected,
        throughput_per_sec: total.requests as f64 / secs,
        p50_us: q(0.5),
        p99_us: q(0.99),
        p999_us: q(0.999),
        max_us: total.hist.as_ref().map_or(0, |h| h.max()),
        server_cpu_us_per_request: match (cpu_before, cpu_after) {
            (Some(a), Some(b)) if total.requests > 0 => Some((b - a) * 1e6 / total.requests as f64),
            _ => None,
        },
        server_peak_rss_kib: args.server_pid.and_then(peak_rss_kib),
    })
}

/// Prints a result as a table row block.
pub fn print(r: &BenchResult) {
    let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    println!(
        "{:<12} {:<6} clients={:<4} conns={:<4} req/s={:>10.0} p50={:>6}us p99={:>6}us p99.9={:>6}us errors={} cpu/req={}us rss={}KiB",
        if r.label.is_empty() { "-" } else { &r.label },
        r.mode,
        r.clients,
        r.connections,
        r.throughput_per_sec,
        r.p50_us,
        r.p99_us,
        r.p999_us,
        r.errors,
        opt(r.server_cpu_us_per_request),
        r.server_peak_rss_kib.map_or("-".to_owned(), |v| v.to_string()),
    );
}
