//! What the operations port's `/metrics` shows, in the Prometheus text
//! format (`prometheus-client` encodes it).
//!
//! Recording is an atomic add on a counter made when the server starts:
//! no allocation, no lock, no map lookup keyed by a string built per
//! request. Histograms are our own [`Histogram`] (atomic buckets), because
//! `prometheus-client`'s takes a mutex shared by every request. Figures the
//! ledger already keeps (table fill, broker and price ages) are read when
//! scraped, never maintained per command.
//!
//! With the operations port off (`--ops-listen off`) nothing is recorded:
//! [`Metrics::on`] is false and the RPC layer is not installed.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use interlock_ledger::{AlertKind, Ledger, RejectCode, Verdict};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::auth::Role;
use crate::clock::Clock;

/// A histogram of integer observations (nanoseconds, records), each an
/// atomic add. Bucket `i` counts observations `<= bounds[i]` and above the
/// bound before it; the last bucket counts the rest. The count is the sum
/// of the buckets, so a scrape never sees a `+Inf` bucket below a finite
/// one.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    /// Multiplies bounds and sum when shown (1e-9: nanoseconds as seconds).
    scale: f64,
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [u64], scale: f64) -> Histogram {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        Histogram {
            bounds,
            scale,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, v: u64) {
        let i = self.bounds.partition_point(|&b| b < v);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
    }

    pub fn observe_duration(&self, d: Duration) {
        self.observe(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    fn encode(&self, mut e: prometheus_client::encoding::MetricEncoder) -> std::fmt::Result {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let finite: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .zip(&counts)
            .map(|(b, c)| (*b as f64 * self.scale, *c))
            .collect();
        let sum = self.sum.load(Ordering::Relaxed) as f64 * self.scale;
        e.encode_histogram::<NoLabelSet>(sum, counts.iter().sum(), &finite, None)
    }
}

/// Latency buckets, in nanoseconds: 25 µs to 10 s.
pub const LATENCY_BOUNDS_NS: &[u64] = &[
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    1_000_000_000,
    2_500_000_000,
    10_000_000_000,
];

/// Snapshot durations, in nanoseconds: 1 ms to 5 minutes.
pub const SNAPSHOT_BOUNDS_NS: &[u64] = &[
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    5_000_000_000,
    30_000_000_000,
    300_000_000_000,
];

/// A replicated entry's age when applied, in milliseconds: 1 ms to 10 s
/// (the clock the commands carry counts milliseconds).
pub const APPLY_AGE_BOUNDS_MS: &[u64] = &[
    1, 2, 5, 10, 15, 20, 30, 40, 50, 75, 100, 250, 500, 1_000, 2_500, 10_000,
];

/// Records per fdatasync.
pub const BATCH_BOUNDS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

/// What a check ended as: a verdict and, for a rejection, its code.
pub const CHECK_OUTCOMES: [(&str, &str); 8] = [
    ("approved", ""),
    ("partially_approved", ""),
    ("rejected", "LIMIT_EXCEEDED"),
    ("rejected", "NO_COLLATERAL"),
    ("rejected", "TRADING_HALTED"),
    ("rejected", "REDUCE_ONLY"),
    ("rejected", "STALE_SYNC"),
    ("rejected", "PRICE_STALE"),
];

fn check_outcome(verdict: Verdict, code: Option<RejectCode>) -> usize {
    match (verdict, code) {
        (Verdict::Approved, _) => 0,
        (Verdict::PartiallyApproved, _) => 1,
        (Verdict::Rejected, Some(RejectCode::LimitExceeded) | None) => 2,
        (Verdict::Rejected, Some(RejectCode::NoCollateral)) => 3,
        (Verdict::Rejected, Some(RejectCode::TradingHalted)) => 4,
        (Verdict::Rejected, Some(RejectCode::ReduceOnly)) => 5,
        (Verdict::Rejected, Some(RejectCode::StaleSync)) => 6,
        (Verdict::Rejected, Some(RejectCode::PriceStale)) => 7,
    }
}

/// Streams that stay open: what `interlock_open_streams` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    CheckStream,
    Sync,
    WatchAlerts,
    Systemic,
    Publish,
}

const STREAM_KINDS: [(StreamKind, &str); 5] = [
    (StreamKind::CheckStream, "PreTradeService/CheckStream"),
    (StreamKind::Sync, "PositionService/Sync"),
    (StreamKind::Publish, "PriceService/Publish"),
    (StreamKind::WatchAlerts, "AdminService/WatchAlerts"),
    (StreamKind::Systemic, "AnalyticsService/Systemic"),
];

/// Holds one open stream in the gauge until dropped.
#[derive(Debug)]
pub struct StreamGuard {
    metrics: Arc<Metrics>,
    kind: usize,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.metrics.streams[self.kind].fetch_sub(1, Ordering::Relaxed);
    }
}

/// gRPC status codes, by number (`tonic::Code`).
const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// One gRPC method's figures.
#[derive(Debug)]
struct Rpc {
    service: String,
    method: String,
    latency: Histogram,
    /// Calls by the status code their response headers carried.
    codes: [AtomicU64; GRPC_CODES.len()],
}

/// Every figure recorded as requests come, shared by the server's parts.
#[derive(Debug)]
pub struct Metrics {
    on: bool,
    started: Instant,
    checks: [AtomicU64; CHECK_OUTCOMES.len()],
    rpcs: Vec<Rpc>,
    /// `/package.Service/Method` → index in `rpcs` (foldhash: the path is
    /// hashed once per call).
    rpc_index: HashMap<String, usize, foldhash::fast::FixedState>,
    streams: [AtomicI64; STREAM_KINDS.len()],
    alerts: [AtomicU64; crate::alerts::ALERT_KINDS],
    journal_batch: Histogram,
    journal_sync: Histogram,
    snapshot_duration: Histogram,
    apply_age: Histogram,
    snapshot_bytes: AtomicU64,
    snapshot_failures: AtomicU64,
    recovery_ns: AtomicU64,
    recovery_records: AtomicU64,
    analytics_refresh: Histogram,
    analytics_run: Histogram,
    analytics_past_deadline: AtomicU64,
}

impl Metrics {
    /// Figures for every method of the served services (from the
    /// descriptor set), recording only if `on`.
    pub fn new(on: bool) -> Metrics {
        let mut rpcs = Vec::new();
        let mut rpc_index = HashMap::with_hasher(foldhash::fast::FixedState::default());
        // Off, no call is timed: no table to build.
        let methods = if on { grpc_methods() } else { Vec::new() };
        for (service, method) in methods {
            rpc_index.insert(format!("/{service}/{method}"), rpcs.len());
            rpcs.push(Rpc {
                service,
                method,
                latency: Histogram::new(LATENCY_BOUNDS_NS, 1e-9),
                codes: Default::default(),
            });
        }
        Metrics {
            on,
            started: Instant::now(),
            checks: Default::default(),
            rpcs,
            rpc_index,
            streams: Default::default(),
            alerts: Default::default(),
            journal_batch: Histogram::new(BATCH_BOUNDS, 1.0),
            journal_sync: Histogram::new(LATENCY_BOUNDS_NS, 1e-9),
            snapshot_duration: Histogram::new(SNAPSHOT_BOUNDS_NS, 1e-9),
            apply_age: Histogram::new(APPLY_AGE_BOUNDS_MS, 1e-3),
            snapshot_bytes: AtomicU64::new(0),
            snapshot_failures: AtomicU64::new(0),
            recovery_ns: AtomicU64::new(0),
            recovery_records: AtomicU64::new(0),
            analytics_refresh: Histogram::new(SNAPSHOT_BOUNDS_NS, 1e-9),
            analytics_run: Histogram::new(SNAPSHOT_BOUNDS_NS, 1e-9),
            analytics_past_deadline: AtomicU64::new(0),
        }
    }

    /// Whether anything is recorded.
    pub fn on(&self) -> bool {
        self.on
    }

    pub fn check(&self, verdict: Verdict, code: Option<RejectCode>) {
        if self.on {
            self.checks[check_outcome(verdict, code)].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn alert(&self, kind: AlertKind) {
        if self.on {
            self.alerts[crate::alerts::kind_index(kind)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a stream open until the guard is dropped (nothing when off).
    pub fn stream_opened(self: &Arc<Self>, kind: StreamKind) -> Option<StreamGuard> {
        if !self.on {
            return None;
        }
        let i = STREAM_KINDS
            .iter()
            .position(|(k, _)| *k == kind)
            .expect("every stream kind is listed");
        self.streams[i].fetch_add(1, Ordering::Relaxed);
        Some(StreamGuard {
            metrics: self.clone(),
            kind: i,
        })
    }

    /// A journal fdatasync: the records it made durable, and its time.
    pub fn journal_synced(&self, records: u64, took: Duration) {
        if self.on {
            self.journal_batch.observe(records);
            self.journal_sync.observe_duration(took);
        }
    }

    /// A node of a cluster applied an entry of commands `age_ms` after the
    /// leader stamped its oldest one: on a follower, an upper bound of how
    /// far behind the leader it applies (it includes the leader's own wait
    /// for the commit).
    pub fn entry_applied(&self, age_ms: u64) {
        if self.on {
            self.apply_age.observe(age_ms);
        }
    }

    pub fn snapshot(&self, took: Duration, bytes: Option<u64>) {
        if !self.on {
            return;
        }
        match bytes {
            Some(b) => {
                self.snapshot_duration.observe_duration(took);
                self.snapshot_bytes.store(b, Ordering::Relaxed);
            }
            None => {
                self.snapshot_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// An analytics run (a call's or the scheduled stress's): the book's
    /// refresh, and the whole run with it.
    pub fn analytics_run(&self, refresh: Duration, run: Duration) {
        if self.on {
            self.analytics_refresh.observe_duration(refresh);
            self.analytics_run.observe_duration(run);
        }
    }

    pub fn analytics_past_deadline(&self) {
        if self.on {
            self.analytics_past_deadline.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn recovered(&self, took: Duration, records: u64) {
        if !self.on {
            return;
        }
        self.recovery_ns.store(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.recovery_records.store(records, Ordering::Relaxed);
    }
}

/// (service, method) of every RPC in the descriptor set, with the standard
/// health service's.
fn grpc_methods() -> Vec<(String, String)> {
    use prost::Message as _;
    let mut out = Vec::new();
    for set in [
        interlock::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
    ] {
        let Ok(set) = prost_types::FileDescriptorSet::decode(set) else {
            continue;
        };
        for file in set.file {
            let package = file.package.unwrap_or_default();
            for s in file.service {
                let service = format!("{package}.{}", s.name.unwrap_or_default());
                for m in s.method {
                    out.push((service.clone(), m.name.unwrap_or_default()));
                }
            }
        }
    }
    out
}

/// The tower layer that times every call and counts its status code.
#[derive(Debug, Clone)]
pub struct RpcLayer(pub Arc<Metrics>);

impl<S> tower::Layer<S> for RpcLayer {
    type Service = RpcService<S>;
    fn layer(&self, inner: S) -> RpcService<S> {
        RpcService {
            inner,
            metrics: self.0.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RpcService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B, R> tower::Service<http::Request<B>> for RpcService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = RpcFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let rpc = self
            .metrics
            .rpc_index
            .get(req.uri().path())
            .map(|&i| (self.metrics.clone(), i));
        RpcFuture {
            inner: self.inner.call(req),
            started: Instant::now(),
            rpc,
        }
    }
}

pin_project_lite::pin_project! {
    /// A call's future, timed: no allocation of its own.
    pub struct RpcFuture<F> {
        #[pin]
        inner: F,
        started: Instant,
        rpc: Option<(Arc<Metrics>, usize)>,
    }
}

impl<F, R, E> std::future::Future for RpcFuture<F>
where
    F: std::future::Future<Output = Result<http::Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Some((metrics, i)) = this.rpc.take() {
            let rpc = &metrics.rpcs[i];
            rpc.latency.observe_duration(this.started.elapsed());
            // A handler's error travels in the headers (a trailers-only
            // response); a success's status comes later, in the trailers,
            // so a call without one in its headers counts as OK.
            let code = match &result {
                Ok(resp) => resp
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0),
                Err(_) => 2,
            };
            if let Some(c) = rpc.codes.get(code) {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        Poll::Ready(result)
    }
}

/// What a scrape reads besides the recorded figures: the ledger (table
/// fill, broker and price ages), the rate limiter, readiness. Filled in
/// once the ledger is recovered; before that a scrape shows only the
/// process's figures.
#[derive(Debug)]
pub struct Sources {
    pub ledger: Arc<Ledger>,
    pub limiter: Arc<crate::ratelimit::RateLimiter>,
    pub clock: Clock,
}

/// `/metrics`: the recorded figures and the scraped ones.
#[derive(Debug)]
pub struct Exporter {
    registry: Registry,
}

#[derive(Debug)]
struct Scraped {
    metrics: Arc<Metrics>,
    sources: Arc<OnceLock<Sources>>,
    ready: Arc<crate::ops::Readiness>,
}

impl Exporter {
    pub fn new(
        metrics: Arc<Metrics>,
        sources: Arc<OnceLock<Sources>>,
        ready: Arc<crate::ops::Readiness>,
    ) -> Exporter {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Scraped {
            metrics,
            sources,
            ready,
        }));
        Exporter { registry }
    }

    /// The text a scrape gets.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(64 * 1024);
        // Writing to a String cannot fail; an encoder error would be a bug
        // in a metric's own encoding.
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            let _ = writeln!(out, "# encoding failed: {e}");
        }
        out
    }
}

/// Labels of one series.
type Labels<'a> = Vec<(&'a str, &'a str)>;

fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: Vec<(Labels<'_>, u64)>,
) -> std::fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        let c = ConstCounter::new(v);
        if labels.is_empty() {
            c.encode(m.encode_family(&NoLabels)?)?;
        } else {
            c.encode(m.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

fn gauge<V>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: Vec<(Labels<'_>, V)>,
) -> std::fmt::Result
where
    ConstGauge<V>: EncodeMetric,
{
    let mut m = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in rows {
        let g = ConstGauge::new(v);
        if labels.is_empty() {
            g.encode(m.encode_family(&NoLabels)?)?;
        } else {
            g.encode(m.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// An empty label set.
struct NoLabels;

impl prometheus_client::encoding::EncodeLabelSet for NoLabels {
    fn encode(
        &self,
        _: &mut prometheus_client::encoding::LabelSetEncoder,
    ) -> Result<(), std::fmt::Error> {
        Ok(())
    }
}

fn histogram(e: &mut DescriptorEncoder, name: &str, help: &str, h: &Histogram) -> std::fmt::Result {
    h.encode(e.encode_descriptor(name, help, None, MetricType::Histogram)?)
}

impl Collector for Scraped {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let m = &self.metrics;
        gauge(
            &mut e,
            "interlock_ready",
            "1 when recovered and serving with a healthy journal (what /readyz answers 200 for)",
            vec![(vec![], i64::from(self.ready.ready().is_ok()))],
        )?;
        gauge(
            &mut e,
            "interlock_uptime_seconds",
            "Seconds since the server started",
            vec![(vec![], m.started.elapsed().as_secs_f64())],
        )?;
        let rows: Vec<(Vec<(&str, &str)>, u64)> = CHECK_OUTCOMES
            .iter()
            .zip(&m.checks)
            .map(|((verdict, code), n)| {
                let mut l = vec![("verdict", *verdict)];
                if !code.is_empty() {
                    l.push(("code", *code));
                }
                (l, n.load(Ordering::Relaxed))
            })
            .collect();
        counter(
            &mut e,
            "interlock_checks",
            "Pre-trade checks answered, by verdict and, for rejections, reject code (dry runs and answers to retried order ids included)",
            rows,
        )?;
        // Per RPC: only methods called at least once, to keep scrapes small.
        let mut lat = e.encode_descriptor(
            "interlock_grpc_server_handling_seconds",
            "Server-side time from a call's arrival to its response headers (for a unary call, the whole call; for a stream, until it is accepted)",
            None,
            MetricType::Histogram,
        )?;
        for r in m.rpcs.iter().filter(|r| r.latency.count() > 0) {
            let labels = [
                ("grpc_service", r.service.as_str()),
                ("grpc_method", r.method.as_str()),
            ];
            r.latency.encode(lat.encode_family(&labels)?)?;
        }
        let mut handled = e.encode_descriptor(
            "interlock_grpc_server_handled",
            "Calls answered, by the gRPC status code of their response headers (OK when the status comes only in the trailers)",
            None,
            MetricType::Counter,
        )?;
        for r in &m.rpcs {
            for (code, n) in GRPC_CODES.iter().zip(&r.codes) {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    let labels = [
                        ("grpc_service", r.service.as_str()),
                        ("grpc_method", r.method.as_str()),
                        ("grpc_code", code),
                    ];
                    ConstCounter::new(n).encode(handled.encode_family(&labels)?)?;
                }
            }
        }
        let streams: Vec<(Vec<(&str, &str)>, i64)> = STREAM_KINDS
            .iter()
            .zip(&m.streams)
            .map(|((_, name), n)| (vec![("stream", *name)], n.load(Ordering::Relaxed)))
            .collect();
        gauge(
            &mut e,
            "interlock_open_streams",
            "Streams open now, by RPC",
            streams,
        )?;
        let alerts: Vec<(Vec<(&str, &str)>, u64)> = crate::alerts::ALL_ALERT_KINDS
            .iter()
            .zip(&m.alerts)
            .map(|(k, n)| {
                (
                    vec![("kind", crate::convert::alert_kind_name(*k))],
                    n.load(Ordering::Relaxed),
                )
            })
            .collect();
        counter(&mut e, "interlock_alerts", "Alerts raised, by kind", alerts)?;
        histogram(
            &mut e,
            "interlock_journal_batch_records",
            "Records made durable by one fdatasync of the journal (group commit)",
            &m.journal_batch,
        )?;
        histogram(
            &mut e,
            "interlock_journal_fdatasync_seconds",
            "Time of one fdatasync of the journal",
            &m.journal_sync,
        )?;
        histogram(
            &mut e,
            "interlock_snapshot_duration_seconds",
            "Time to write one snapshot",
            &m.snapshot_duration,
        )?;
        histogram(
            &mut e,
            "interlock_cluster_apply_age_seconds",
            "On a node of a cluster, time from the leader stamping a replicated entry's oldest command to this node applying the entry",
            &m.apply_age,
        )?;
        gauge(
            &mut e,
            "interlock_snapshot_bytes",
            "Size of the last snapshot written",
            vec![(vec![], m.snapshot_bytes.load(Ordering::Relaxed) as i64)],
        )?;
        counter(
            &mut e,
            "interlock_snapshot_failures",
            "Snapshots that failed (the journal keeps growing until one succeeds)",
            vec![(vec![], m.snapshot_failures.load(Ordering::Relaxed))],
        )?;
        gauge(
            &mut e,
            "interlock_recovery_seconds",
            "Time the last start took to recover the ledger from the data directory",
            vec![(vec![], m.recovery_ns.load(Ordering::Relaxed) as f64 * 1e-9)],
        )?;
        gauge(
            &mut e,
            "interlock_recovery_records_replayed",
            "Journal records the last start replayed after its snapshot",
            vec![(vec![], m.recovery_records.load(Ordering::Relaxed) as i64)],
        )?;
        histogram(
            &mut e,
            "interlock_analytics_run_seconds",
            "Time of one analytics run (stress, cascade, systemic ranking, reuse report, the scheduled stress), the book's refresh included",
            &m.analytics_run,
        )?;
        histogram(
            &mut e,
            "interlock_analytics_refresh_seconds",
            "Time to bring the analytics book up to the ledger's moment at the start of a run",
            &m.analytics_refresh,
        )?;
        counter(
            &mut e,
            "interlock_analytics_past_deadline",
            "Analytics runs stopped at their deadline (--analytics-deadline-ms, --systemic-deadline-ms)",
            vec![(vec![], m.analytics_past_deadline.load(Ordering::Relaxed))],
        )?;
        let Some(s) = self.sources.get() else {
            return Ok(());
        };
        let limited = s.limiter.refused_by_role();
        counter(
            &mut e,
            "interlock_rate_limited",
            "Calls and stream messages refused by the per-principal rate limit, by role",
            [
                Role::Venue,
                Role::Broker,
                Role::Oracle,
                Role::Admin,
                Role::Auditor,
            ]
            .iter()
            .zip(limited)
            .map(|(r, n)| (vec![("role", r.name())], n))
            .collect(),
        )?;
        let now = s.clock.now_ms();
        let read = s.ledger.read(|st| {
            let prices: Vec<(String, Option<i64>, &'static str)> = st
                .prices()
                .into_iter()
                .map(|(a, p)| {
                    (
                        a.to_string(),
                        p.accepted_at_ms().map(|t| now.saturating_sub(t).max(0)),
                        crate::convert::price_state_name(p.state()),
                    )
                })
                .collect();
            (st.fill(), st.broker_ages(now), prices)
        });
        // A poisoned lock: the scrape shows what it has; /readyz says why.
        let Ok((fill, brokers, prices)) = read else {
            return Ok(());
        };
        let tables = [
            ("participants", fill.participants),
            ("reservations", fill.reservations),
            ("idempotency", fill.idempotency),
            ("audit", fill.audit),
        ];
        gauge(
            &mut e,
            "interlock_table_entries",
            "Entries in each bounded table of the ledger (reservations: open and ended ones still kept; audit: records in memory)",
            tables
                .iter()
                .map(|(t, (n, _))| (vec![("table", *t)], *n as i64))
                .collect(),
        )?;
        gauge(
            &mut e,
            "interlock_table_capacity",
            "The cap of each bounded table (a full table refuses what would add to it)",
            tables
                .iter()
                .map(|(t, (_, max))| (vec![("table", *t)], *max as i64))
                .collect(),
        )?;
        let ids: Vec<String> = brokers.iter().map(|b| b.0.to_string()).collect();
        gauge(
            &mut e,
            "interlock_broker_sync_age_seconds",
            "Seconds since each broker's last sync",
            brokers
                .iter()
                .zip(&ids)
                .map(|((_, age, _), id)| (vec![("broker", id.as_str())], *age as f64 / 1e3))
                .collect(),
        )?;
        gauge(
            &mut e,
            "interlock_broker_stale",
            "1 when a broker is silent too long or gapped: checks of its participants fail closed",
            brokers
                .iter()
                .zip(&ids)
                .map(|((_, _, stale), id)| (vec![("broker", id.as_str())], i64::from(*stale)))
                .collect(),
        )?;
        gauge(
            &mut e,
            "interlock_price_age_seconds",
            "Seconds since each classed asset's price was last accepted (assets never priced are left out)",
            prices
                .iter()
                .filter_map(|(a, age, _)| age.map(|age| (vec![("asset", a.as_str())], age as f64 / 1e3)))
                .collect(),
        )?;
        gauge(
            &mut e,
            "interlock_price_state",
            "1 for each classed asset's price state (FRESH, STALE, ...)",
            prices
                .iter()
                .map(|(a, _, state)| (vec![("asset", a.as_str()), ("state", *state)], 1i64))
                .collect(),
        )?;
        Ok(())
    }
}

/// Names of the served services' methods, for tests and the dashboard's
/// check.
pub fn method_paths() -> Vec<String> {
    grpc_methods()
        .into_iter()
        .map(|(s, m)| format!("/{s}/{m}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_sum_to_the_count() {
        let h = Histogram::new(&[10, 100], 1.0);
        for v in [1, 10, 11, 100, 101, 5000] {
            h.observe(v);
        }
        assert_eq!(h.count(), 6);
        let mut reg = Registry::default();
        #[derive(Debug)]
        struct One(Histogram);
        impl Collector for One {
            fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
                histogram(&mut e, "h", "help", &self.0)
            }
        }
        reg.register_collector(Box::new(One(h)));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &reg).unwrap();
        assert!(out.contains("h_bucket{le=\"10\"} 2\n"), "{out}");
        assert!(out.contains("h_bucket{le=\"100\"} 4\n"), "{out}");
        assert!(out.contains("h_bucket{le=\"+Inf\"} 6\n"), "{out}");
        assert!(out.contains("h_sum 5223.0\n"), "{out}");
        assert!(out.contains("h_count 6\n"), "{out}");
    }

    #[test]
    fn every_served_method_is_known() {
        let m = Metrics::new(true);
        for path in [
            "/interlock.v1.PreTradeService/Check",
            "/interlock.v1.PositionService/Sync",
            "/interlock.v1.AdminService/WatchAlerts",
            "/interlock.v1.AnalyticsService/Stress",
            "/grpc.health.v1.Health/Check",
        ] {
            assert!(m.rpc_index.contains_key(path), "{path}");
        }
        assert!(!m.rpc_index.contains_key("/nope/Nope"));
    }

    #[test]
    fn nothing_is_recorded_when_off() {
        let m = Metrics::new(false);
        m.check(Verdict::Approved, None);
        m.journal_synced(3, Duration::from_millis(1));
        m.entry_applied(7);
        assert_eq!(m.checks[0].load(Ordering::Relaxed), 0);
        assert_eq!(m.journal_batch.count(), 0);
        assert_eq!(m.apply_age.count(), 0);
        let on = Metrics::new(true);
        on.check(Verdict::Rejected, Some(RejectCode::StaleSync));
        on.entry_applied(7);
        assert_eq!(on.checks[6].load(Ordering::Relaxed), 1);
        assert_eq!(on.apply_age.count(), 1);
    }
}
