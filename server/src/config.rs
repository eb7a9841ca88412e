//! The server's configuration: one typed struct from flags and environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use interlock_ledger::amount::parse_ratio;
use interlock_ledger::{idempotency_bytes_for, idempotency_records_for, LedgerConfig, PriceRules};
use rust_decimal::Decimal;

/// Which tokio runtime serves requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Runtime {
    CurrentThread,
    MultiThread,
}

/// Interlock: cross-venue pre-trade checks that stop one participant pledging
/// the same collateral on several venues at once.
///
/// Quick start (demo tokens, loopback only):  interlock-server --dev
#[derive(Debug, Clone, Parser)]
#[command(name = "interlock-server", version, about, long_about = None)]
pub struct Config {
    /// The tokio runtime. current-thread serves every connection on one
    /// thread (the journal writes on its own): it took the least server
    /// CPU per request in every measured cell (bench/RESULTS.md), so it is
    /// the default. multi-thread spreads connections over --worker-threads.
    #[arg(long, env = "INTERLOCK_RUNTIME", value_enum, default_value_t = Runtime::CurrentThread)]
    pub runtime: Runtime,

    /// Worker threads of the multi-thread runtime (0: one per core).
    #[arg(long, env = "INTERLOCK_WORKER_THREADS", default_value_t = 0)]
    pub worker_threads: usize,

    /// Benchmark only: serve the gRPC floor (an echo of the check messages,
    /// no ledger) instead of Interlock, with the same runtime settings.
    #[arg(long)]
    pub echo_floor: bool,

    /// Address to listen on. In --dev mode it must be a loopback address.
    #[arg(long, env = "INTERLOCK_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// JSON file of principals: {"principals": [{"id": "venue-a", "role":
    /// "venue", "token_sha256": "<hex>"}]}. Tokens are stored hashed.
    #[arg(long, env = "INTERLOCK_PRINCIPALS")]
    pub principals: Option<PathBuf>,

    /// JSON file of what each broker may sync: {"brokers": [{"id":
    /// "prime-1", "participants": ["fund-*"], "venues": ["venue-a"]}]}
    /// (exact ids, or prefixes ending in *). Brokers not listed may sync
    /// nothing. Without the file every broker may sync everything.
    #[arg(long, env = "INTERLOCK_BROKER_SCOPES")]
    pub broker_scopes: Option<PathBuf>,

    /// The server's TLS certificate (PEM). With --tls-key and
    /// --tls-client-ca it turns on mutual TLS: clients present certificates
    /// signed by the client CA, naming their principal as
    /// spiffe://interlock/<role>/<id>. `interlockctl certs init DIR` makes a
    /// dev set. Outside --dev, TLS is required.
    #[arg(long, env = "INTERLOCK_TLS_CERT", requires_all = ["tls_key", "tls_client_ca"])]
    pub tls_cert: Option<PathBuf>,

    /// The server's TLS private key (PEM).
    #[arg(long, env = "INTERLOCK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// The CA that signs client certificates (PEM).
    #[arg(long, env = "INTERLOCK_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// Also accept TLS clients without a certificate; they authenticate
    /// with a bearer token from --principals.
    #[arg(
        long,
        env = "INTERLOCK_TLS_CLIENT_CERT_OPTIONAL",
        requires = "tls_cert"
    )]
    pub tls_client_cert_optional: bool,

    /// A TLS handshake not finished within this time is dropped.
    #[arg(
        long,
        env = "INTERLOCK_TLS_HANDSHAKE_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub tls_handshake_timeout_ms: u64,

    /// A connection whose client has not sent its first 24 bytes (the
    /// HTTP/2 preface, or the start of a TLS handshake) within this time is
    /// closed, so sockets that never speak cannot pile up.
    #[arg(
        long,
        env = "INTERLOCK_PREFACE_TIMEOUT_MS",
        default_value_t = 5_000,
        value_parser = clap::value_parser!(u64).range(1..=600_000)
    )]
    pub preface_timeout_ms: u64,

    /// Most client connections open at once. Beyond it a new connection is
    /// accepted and closed at once (and the server logs it), so idle
    /// sockets cannot use up the process's file descriptors.
    #[arg(
        long,
        env = "INTERLOCK_MAX_CONNECTIONS",
        default_value_t = 4_096,
        value_parser = clap::value_parser!(u64).range(1..=1_000_000)
    )]
    pub max_connections: u64,

    /// Development mode: well-known demo tokens (printed at start-up), loopback
    /// only. Never use in production.
    #[arg(long, env = "INTERLOCK_DEV")]
    pub dev: bool,

    /// Directory of the journal and snapshots (created if missing). Every
    /// acknowledged change is in it; back it up, never share it between two
    /// servers.
    #[arg(long, env = "INTERLOCK_DATA_DIR", default_value = "interlock-data")]
    pub data_dir: PathBuf,

    /// `durable` (the default): every change is on disk before it is
    /// acknowledged. `none`: memory only, everything is lost on exit: for
    /// benchmarks, never for real use.
    #[arg(long, env = "INTERLOCK_DURABILITY", value_enum, default_value_t = Durability::Durable)]
    pub durability: Durability,

    /// This node's id in a replicated cluster (with --cluster).
    #[arg(long, env = "INTERLOCK_NODE_ID", requires = "cluster")]
    pub node_id: Option<u64>,

    /// This node's id as a 0-based index: the node id is INDEX + 1 (for a
    /// Kubernetes StatefulSet, whose pod N is given
    /// `apps.kubernetes.io/pod-index` N and runs node N + 1).
    #[arg(
        long,
        env = "INTERLOCK_NODE_INDEX",
        requires = "cluster",
        conflicts_with = "node_id"
    )]
    pub node_index: Option<u64>,

    /// Run as one node of a replicated cluster: every node of it, as
    /// `ID=CLUSTER_ADDR/API_ADDR` separated by commas (e.g.
    /// `1=10.0.0.1:7400/10.0.0.1:50051,2=...,3=...`). The ledger is
    /// replicated with Raft: a change is acknowledged once a majority has
    /// it on disk; only the leader answers changes, and a follower answers
    /// them UNAVAILABLE naming the leader's API address in the
    /// `interlock-leader` trailer. Without it the server is a single node
    /// with its own journal.
    #[arg(long, env = "INTERLOCK_CLUSTER")]
    pub cluster: Option<String>,

    /// Start as a new node of a cluster that is already running: the node
    /// waits, empty, until the leader adds it (`interlockctl cluster add`)
    /// and sends it the log, rather than proposing --cluster as the
    /// membership of a new cluster (which every node of a new cluster
    /// does). --cluster then lists the running cluster's nodes and this
    /// one. Without effect on a node that already has a log.
    #[arg(long, env = "INTERLOCK_JOIN", requires = "cluster")]
    pub join: bool,

    /// This node's certificate for the cluster port (PEM), naming it
    /// `spiffe://interlock/node/<node-id>` and the host names or addresses
    /// its peers reach it at: it serves the cluster port and is presented
    /// to the other nodes. With --cluster-tls-key and --cluster-tls-ca it
    /// turns on mutual TLS between nodes: only a certificate of that CA
    /// with the node role and the id of a node in --cluster may call the
    /// cluster port. Required once any cluster address is off loopback.
    #[arg(long, env = "INTERLOCK_CLUSTER_TLS_CERT", requires_all = ["cluster", "cluster_tls_key", "cluster_tls_ca"])]
    pub cluster_tls_cert: Option<std::path::PathBuf>,

    /// The key of --cluster-tls-cert (PEM).
    #[arg(long, env = "INTERLOCK_CLUSTER_TLS_KEY", requires = "cluster_tls_cert")]
    pub cluster_tls_key: Option<std::path::PathBuf>,

    /// The CA (PEM) that signs every node's certificate.
    #[arg(long, env = "INTERLOCK_CLUSTER_TLS_CA", requires = "cluster_tls_cert")]
    pub cluster_tls_ca: Option<std::path::PathBuf>,

    /// Where this node listens for its peers (default: its own
    /// CLUSTER_ADDR in --cluster).
    #[arg(long, env = "INTERLOCK_CLUSTER_LISTEN")]
    pub cluster_listen: Option<std::net::SocketAddr>,

    /// The election timeout T: a follower that hears nothing from its
    /// leader starts an election after 2.5 T to 3 T (openraft's leader
    /// lease of 1.5 T, then the node's own random timeout between T and
    /// 1.5 T); the leader sends a heartbeat every T / 5. The default, 150,
    /// starts an election 375-450 ms after a leader stops, and held with no
    /// election through 10 minutes of saturating load on 2 cores
    /// (bench/RESULTS.md, "Failover").
    #[arg(long, env = "INTERLOCK_ELECTION_TIMEOUT_MS", default_value_t = 150,
          value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub election_timeout_ms: u64,

    /// Raft entries after which a node snapshots its state and drops the
    /// log before it.
    #[arg(long, env = "INTERLOCK_SNAPSHOT_AFTER_ENTRIES", default_value_t = 500_000,
          value_parser = clap::value_parser!(u64).range(100..))]
    pub snapshot_after_entries: u64,

    /// Raft entries a node keeps in its log behind its snapshot, so that a
    /// follower a little behind catches up from the log rather than being
    /// sent the whole snapshot.
    #[arg(long, env = "INTERLOCK_LOG_KEPT_AFTER_SNAPSHOT", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub log_kept_after_snapshot: u64,

    /// Benchmark only: one fdatasync per journal record instead of group
    /// commit (many requests sharing one fdatasync).
    #[arg(long, env = "INTERLOCK_FSYNC_PER_REQUEST")]
    pub fsync_per_request: bool,

    /// Benchmark only: encode snapshots taken while serving from the live
    /// state under the ledger's lock (every check waits for the encoding:
    /// 0.35–0.5 s at 1M participants, bench/snapshot.sh), the way it was
    /// done before, instead of rebuilding the state at the cut from the
    /// files on another thread.
    #[arg(long, env = "INTERLOCK_SNAPSHOT_UNDER_LOCK")]
    pub snapshot_under_lock: bool,

    /// Microseconds the journal writer waits for more changes before each
    /// fdatasync: fewer, larger syncs for a little latency.
    #[arg(long, env = "INTERLOCK_COMMIT_DELAY_US", default_value_t = 0)]
    pub commit_delay_us: u64,

    /// Bytes of zeroed space the journal allocates at a time ahead of its
    /// records, so that they are written in place and an fdatasync need not
    /// record a new file size (0: plain appends; at most 64 MiB).
    #[arg(long, env = "INTERLOCK_JOURNAL_PREALLOC_BYTES",
          default_value_t = interlock_journal::writer::PREALLOC_BYTES_DEFAULT,
          value_parser = clap::value_parser!(u64).range(0..=interlock_journal::writer::PREALLOC_BYTES_MAX))]
    pub journal_prealloc_bytes: u64,

    /// Journal bytes after which a snapshot is written and the journal cut.
    #[arg(long, env = "INTERLOCK_SNAPSHOT_AFTER_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub snapshot_after_bytes: u64,

    /// Reuse ratio in force where no REUSE_RATIO limit applies (1 = no reuse
    /// beyond what is owned).
    #[arg(long, env = "INTERLOCK_DEFAULT_REUSE_RATIO", default_value = "1", value_parser = parse_ratio_arg)]
    pub default_reuse_ratio: Decimal,

    /// TTL of a reservation whose check asks for none.
    #[arg(long, env = "INTERLOCK_DEFAULT_TTL_MS", default_value_t = 30_000)]
    pub default_ttl_ms: u64,

    /// Longest TTL a check may ask for.
    #[arg(long, env = "INTERLOCK_MAX_TTL_MS", default_value_t = 600_000)]
    pub max_ttl_ms: u64,

    /// A broker silent for longer than this is stale: checks on its
    /// participants fail closed.
    #[arg(
        long,
        env = "INTERLOCK_BROKER_STALE_AFTER_MS",
        default_value_t = 30_000
    )]
    pub broker_stale_after_ms: u64,

    /// How often the server expires reservations and looks for stale brokers.
    #[arg(long, env = "INTERLOCK_TICK_INTERVAL_MS", default_value_t = 100)]
    pub tick_interval_ms: u64,

    /// Deadline for a unary request on the server side.
    #[arg(long, env = "INTERLOCK_REQUEST_TIMEOUT_MS", default_value_t = 5_000)]
    pub request_timeout_ms: u64,

    /// Largest request message accepted.
    #[arg(long, env = "INTERLOCK_MAX_MESSAGE_BYTES", default_value_t = 1024 * 1024)]
    pub max_message_bytes: usize,

    /// Requests served at once on one connection; beyond that, load is shed
    /// with UNAVAILABLE.
    #[arg(
        long,
        env = "INTERLOCK_CONCURRENCY_PER_CONNECTION",
        default_value_t = 256
    )]
    pub concurrency_per_connection: usize,

    /// Requests per second one principal may make (each CheckStream message
    /// counts); beyond it, RESOURCE_EXHAUSTED with a retry hint. It keeps
    /// one principal's runaway client from taking the server from the
    /// others; the default is about what a 2-core server takes in unary
    /// checks, so raise it on bigger machines or for venues that stream
    /// (README, "Secure setup"). 0: no limit.
    #[arg(long, env = "INTERLOCK_RATE_LIMIT_PER_SEC", default_value_t = 50_000)]
    pub rate_limit_per_sec: u64,

    /// Requests a principal may make at once above its rate (the bucket size).
    #[arg(long, env = "INTERLOCK_RATE_LIMIT_BURST", default_value_t = 5_000)]
    pub rate_limit_burst: u64,

    /// Most streams (calls in flight) open at once on one HTTP/2 connection.
    #[arg(
        long,
        env = "INTERLOCK_MAX_STREAMS_PER_CONNECTION",
        default_value_t = 1024
    )]
    pub max_streams_per_connection: u32,

    /// HTTP/2 flow-control window of each call, in bytes: what a client may
    /// send on one stream beyond what the server has read. A stream client
    /// that stops reading its answers stops being read, and then waits on
    /// this window. Each small DATA frame the server holds costs framing
    /// overhead that h2 budgets per connection (half the 1 MiB connection
    /// window); past the budget h2 closes the whole connection. With 32 KiB a
    /// stalled stream of the smallest checks stays inside it (about
    /// 1,300 frames), where 1 MiB let h2 cut the connection after about 2,400
    /// frames. Larger windows speed up large sync messages over long
    /// round trips.
    #[arg(
        long,
        env = "INTERLOCK_STREAM_WINDOW_BYTES",
        default_value_t = 32 * 1024,
        value_parser = clap::value_parser!(u32).range(16_384..=1_048_576)
    )]
    pub stream_window_bytes: u32,

    /// A connection is closed (after a grace period for open calls) once
    /// it is this old, so idle and forgotten connections do not pile up;
    /// clients reconnect transparently. 0: no limit.
    #[arg(
        long,
        env = "INTERLOCK_MAX_CONNECTION_AGE_SECS",
        default_value_t = 3600
    )]
    pub max_connection_age_secs: u64,

    /// A peer that does not answer an HTTP/2 keepalive ping within this
    /// time is disconnected.
    #[arg(long, env = "INTERLOCK_KEEPALIVE_TIMEOUT_MS", default_value_t = 20_000)]
    pub keepalive_timeout_ms: u64,

    /// Largest request metadata (headers) accepted, in bytes.
    #[arg(long, env = "INTERLOCK_MAX_HEADER_BYTES", default_value_t = 16 * 1024)]
    pub max_header_bytes: u32,

    /// Most messages on one CheckStream or Sync stream.
    #[arg(
        long,
        env = "INTERLOCK_STREAM_MESSAGES_MAX",
        default_value_t = 10_000_000
    )]
    pub stream_messages_max: u64,

    /// A limit may be raised by at most this percentage without a forced
    /// reason (deleting one always needs a reason).
    #[arg(long, env = "INTERLOCK_LIMIT_LOOSEN_STEP_PCT", default_value = "50", value_parser = parse_step_arg)]
    pub limit_loosen_step_pct: Decimal,

    /// Most participants the ledger tracks.
    #[arg(long, env = "INTERLOCK_PARTICIPANTS_MAX", default_value_t = 2_000_000)]
    pub participants_max: usize,

    /// Memory for remembered answers (idempotency), in bytes, or with a
    /// KiB, MiB or GiB suffix. An answer takes 144 bytes and its index
    /// slots about 24 more, so the default 1 GiB remembers 6,407,964. Full,
    /// the table forgets its oldest
    /// answer once that order's reservation has ended (committed, released
    /// or expired; at once for a rejection); a retry of a forgotten order is
    /// judged as a new one. Answers whose reservations are still open are
    /// never forgotten: a table full of them refuses new checks, so hold at
    /// least one answer per open reservation the traffic keeps (rate × TTL).
    #[arg(
        long,
        env = "INTERLOCK_IDEMPOTENCY_MEMORY",
        default_value = "1GiB",
        value_parser = parse_memory_arg
    )]
    pub idempotency_memory: usize,

    /// How long an order id's answer is remembered.
    #[arg(long, env = "INTERLOCK_IDEMPOTENCY_RETENTION_MS", default_value_t = 24 * 3600 * 1000)]
    pub idempotency_retention_ms: u64,

    /// Most open reservations of one participant.
    #[arg(
        long,
        env = "INTERLOCK_RESERVATIONS_PER_PARTICIPANT_MAX",
        default_value_t = 10_000
    )]
    pub reservations_per_participant_max: usize,

    /// Most audit records kept in memory. The audit log is append-only:
    /// every admin change and every refused call stays in it. Once memory
    /// holds half of this, the oldest records move to archive files in
    /// --data-dir (audit-*.log, kept for good; ListAudit and `interlockctl
    /// audit` read through them), down to a quarter. Refused calls may fill
    /// 90% of it, the rest is kept for admin changes; should it fill all the
    /// same (--durability none has no archive), admin changes are refused
    /// except halts, reduce-only and resumes, which have a reserve of 10,000
    /// beyond it. It may not be set below the records held.
    #[arg(long, env = "INTERLOCK_AUDIT_RECORDS_MAX", default_value_t = 1_000_000)]
    pub audit_records_max: usize,

    /// Oldest quote accepted for a STABLE asset, and how long its price
    /// stays fresh without a new one.
    #[arg(long, env = "INTERLOCK_PRICE_MAX_AGE_STABLE_MS", default_value_t = 300_000,
          value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub price_max_age_stable_ms: u64,

    /// The same for a MAJOR asset.
    #[arg(long, env = "INTERLOCK_PRICE_MAX_AGE_MAJOR_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub price_max_age_major_ms: u64,

    /// The same for an ALT asset.
    #[arg(long, env = "INTERLOCK_PRICE_MAX_AGE_ALT_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub price_max_age_alt_ms: u64,

    /// How far ahead of the server's clock a quote may be published.
    #[arg(long, env = "INTERLOCK_PRICE_FUTURE_SKEW_MS", default_value_t = 2_000,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub price_future_skew_ms: u64,

    /// Jump guard: a move of more than this percentage from the last
    /// accepted price is held (and alerted) unless --price-agree-oracles
    /// oracles agree within --price-agree-pct.
    #[arg(long, env = "INTERLOCK_PRICE_JUMP_PCT", default_value = "25", value_parser = parse_pct_arg)]
    pub price_jump_pct: Decimal,

    /// How many oracles must agree for a jump to be accepted.
    #[arg(long, env = "INTERLOCK_PRICE_AGREE_ORACLES", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=16))]
    pub price_agree_oracles: u64,

    /// How close (percent of the new price) their quotes must be.
    #[arg(long, env = "INTERLOCK_PRICE_AGREE_PCT", default_value = "1", value_parser = parse_pct_arg)]
    pub price_agree_pct: Decimal,

    /// How long a price that recovered from STALE waits before it is FRESH.
    #[arg(long, env = "INTERLOCK_PRICE_GRACE_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub price_grace_ms: u64,

    /// A participant whose HF^eco falls below this is alerted on
    /// (HEALTH_WARNING), with the venues that would call margin together.
    #[arg(long, env = "INTERLOCK_HEALTH_WARN_LEVEL", default_value = "1.2", value_parser = parse_level_arg)]
    pub health_warn_level: Decimal,

    /// Below this, HEALTH_CRITICAL. At most the warning level.
    #[arg(long, env = "INTERLOCK_HEALTH_CRITICAL_LEVEL", default_value = "1", value_parser = parse_level_arg)]
    pub health_critical_level: Decimal,

    /// Participants whose health each tick looks at, round-robin (0: no
    /// health alerts). Bounds the ledger lock each tick holds for it; a full
    /// round takes participants / this ticks.
    #[arg(long, env = "INTERLOCK_HEALTH_SCAN_PER_TICK", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub health_scan_per_tick: u64,

    /// How long one analytics run (stress, cascade) may take before it is
    /// stopped with DEADLINE_EXCEEDED; a client's own gRPC deadline or a
    /// cancelled call stops it sooner. Runs go one at a time, on a thread
    /// of their own, reading a moment of the ledger off its lock.
    #[arg(long, env = "INTERLOCK_ANALYTICS_DEADLINE_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub analytics_deadline_ms: u64,

    /// How long a systemic ranking (one cascade per participant ranked,
    /// streaming its progress) may take before it is stopped.
    #[arg(long, env = "INTERLOCK_SYSTEMIC_DEADLINE_MS", default_value_t = 1_800_000,
          value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub systemic_deadline_ms: u64,

    /// k: a venue reads its own reuse report only as aggregates over at
    /// least this many participants (buckets with fewer are merged; with
    /// fewer in all, no figure is given). Admins read every venue's exactly.
    #[arg(long, env = "INTERLOCK_REUSE_REPORT_MIN_PARTICIPANTS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(2..=1_000_000))]
    pub reuse_report_min_participants: u64,

    /// Run a stress every this many ms under --stress-scenario: its
    /// changes raise alerts (participants newly breaching on two venues or
    /// more at once, the hidden-by-reuse list) and `top --by stress` ranks
    /// by it. 0: never.
    #[arg(long, env = "INTERLOCK_STRESS_EVERY_MS", default_value_t = 60_000)]
    pub stress_every_ms: u64,

    /// The named scenario the scheduled stress runs.
    #[arg(long, env = "INTERLOCK_STRESS_SCENARIO", default_value = "CHAOS_TIERS")]
    pub stress_scenario: String,

    /// The operations port: plaintext HTTP with /livez, /readyz and
    /// /metrics (Prometheus text format), apart from the gRPC port. It
    /// shows aggregate counts only and asks for no certificate, so keep it
    /// on a network only probes and Prometheus reach. `off`: no port, and
    /// no metrics recorded.
    #[arg(long, env = "INTERLOCK_OPS_LISTEN", default_value = "127.0.0.1:9464", value_parser = parse_ops_listen)]
    pub ops_listen: OpsListen,

    /// Send traces (a span per RPC, a child of the caller's W3C
    /// `traceparent` when it sends one) over OTLP/gRPC to this collector,
    /// e.g. http://otel-collector:4317. Unset (the default): no tracing,
    /// at no cost. The OTEL_BSP_* variables tune the batching.
    #[arg(long, env = "INTERLOCK_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Log lines as plain text (the default) or one JSON object per line
    /// (for log shippers).
    #[arg(long, env = "INTERLOCK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Where the operations port listens, if anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpsListen {
    Off,
    At(SocketAddr),
}

fn parse_ops_listen(s: &str) -> Result<OpsListen, String> {
    if s == "off" {
        return Ok(OpsListen::Off);
    }
    s.parse()
        .map(OpsListen::At)
        .map_err(|_| format!("{s:?}: expected an address (127.0.0.1:9464) or off"))
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Whether changes are journaled before they are acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// Journal on disk, group commit (the default).
    Durable,
    /// Memory only. For benchmarks; loudly logged.
    None,
}

fn parse_step_arg(s: &str) -> Result<Decimal, String> {
    interlock_ledger::amount::parse_decimal(s, 2, 6).map_err(|e| format!("step {e}"))
}

/// A size in bytes: digits, optionally followed by KiB, MiB or GiB.
fn parse_memory_arg(s: &str) -> Result<usize, String> {
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let shift = match unit {
        "" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        _ => {
            return Err(format!(
                "{s:?}: expected bytes, or a number with KiB, MiB or GiB"
            ))
        }
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{s:?}: expected bytes, or a number with KiB, MiB or GiB"))?;
    let bytes = n
        .checked_mul(1 << shift)
        .filter(|&b| b <= IDEMPOTENCY_MEMORY_MAX)
        .ok_or_else(|| format!("{s:?}: at most 1024GiB"))?;
    if idempotency_records_for(bytes) == 0 {
        return Err(format!(
            "{s:?}: at least {} bytes (one answer)",
            idempotency_bytes_for(1)
        ));
    }
    Ok(bytes)
}

/// The most memory `--idempotency-memory` may name.
const IDEMPOTENCY_MEMORY_MAX: usize = 1 << 40;

/// A percentage: above 0, at most 100, up to 4 decimals.
fn parse_pct_arg(s: &str) -> Result<Decimal, String> {
    let pct =
        interlock_ledger::amount::parse_decimal(s, 4, 3).map_err(|e| format!("percentage {e}"))?;
    if pct <= Decimal::ZERO || pct > Decimal::ONE_HUNDRED {
        return Err(format!("{s:?}: a percentage above 0 and at most 100"));
    }
    Ok(pct)
}

fn parse_level_arg(s: &str) -> Result<Decimal, String> {
    parse_ratio(s).map_err(|e| format!("health level {e}"))
}

fn parse_ratio_arg(s: &str) -> Result<Decimal, String> {
    parse_ratio(s).map_err(|e| format!("reuse ratio {e}"))
}

impl Config {
    /// The ledger's part of the configuration.
    pub fn ledger(&self) -> LedgerConfig {
        LedgerConfig {
            default_reuse_ratio: self.default_reuse_ratio,
            default_ttl_ms: self.default_ttl_ms,
            max_ttl_ms: self.max_ttl_ms,
            broker_stale_after_ms: self.broker_stale_after_ms,
            idempotency_retention_ms: self.idempotency_retention_ms,
            participants_max: self.participants_max,
            idempotency_keys_max: idempotency_records_for(self.idempotency_memory),
            reservations_per_participant_max: self.reservations_per_participant_max,
            audit_records_max: self.audit_records_max,
            limit_loosen_step_pct: self.limit_loosen_step_pct,
            ..LedgerConfig::default()
        }
    }

    /// The price rules.
    pub fn price_rules(&self) -> PriceRules {
        PriceRules {
            max_age_stable_ms: self.price_max_age_stable_ms,
            max_age_major_ms: self.price_max_age_major_ms,
            max_age_alt_ms: self.price_max_age_alt_ms,
            future_skew_ms: self.price_future_skew_ms,
            jump: self.price_jump_pct / Decimal::ONE_HUNDRED,
            agree_oracles: self.price_agree_oracles as usize,
            agree: self.price_agree_pct / Decimal::ONE_HUNDRED,
            grace_ms: self.price_grace_ms,
        }
    }

    /// The journal's part of the configuration.
    pub fn journal(&self) -> interlock_journal::JournalConfig {
        interlock_journal::JournalConfig {
            group_commit: !self.fsync_per_request,
            snapshot_after_bytes: self.snapshot_after_bytes,
            commit_delay: std::time::Duration::from_micros(self.commit_delay_us.min(100_000)),
            prealloc_bytes: self.journal_prealloc_bytes,
        }
    }

    /// A dev-mode configuration on an ephemeral loopback port, for tests.
    pub fn dev_for_tests() -> Self {
        Config::parse_from(["interlock-server", "--dev", "--listen", "127.0.0.1:0"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c = Config::try_parse_from(["x", "--dev"]).unwrap();
        assert_eq!(c.default_ttl_ms, 30_000);
        assert!(
            Config::try_parse_from(["x", "--tls-cert", "c.pem"]).is_err(),
            "a TLS certificate needs its key and the client CA"
        );
        assert!(Config::try_parse_from(["x", "--dev", "--default-reuse-ratio", "1e3"]).is_err());
    }

    /// The server's defaults are the ledger's, and the table caps the
    /// server exposes reach the ledger.
    #[test]
    fn the_ledger_takes_the_servers_settings() {
        let c = Config::try_parse_from(["x", "--dev"]).unwrap();
        assert_eq!(c.ledger(), LedgerConfig::default());
        assert_eq!(c.price_rules(), PriceRules::default());
        let c = Config::try_parse_from(["x", "--dev", "--audit-records-max", "5000000"]).unwrap();
        assert_eq!(c.ledger().audit_records_max, 5_000_000);
        let c = Config::try_parse_from(["x", "--dev", "--idempotency-memory", "64KiB"]).unwrap();
        let records = c.ledger().idempotency_keys_max;
        assert!(idempotency_bytes_for(records) <= 64 << 10);
        assert!(idempotency_bytes_for(records + 1) > 64 << 10);
        // The figures --idempotency-memory's help quotes.
        assert_eq!(interlock_ledger::IDEMPOTENCY_RECORD_BYTES, 144);
        assert_eq!(LedgerConfig::default().idempotency_keys_max, 6_407_964);
    }

    #[test]
    fn memory_sizes_parse_with_units() {
        assert_eq!(parse_memory_arg("1GiB"), Ok(1 << 30));
        assert_eq!(parse_memory_arg("512MiB"), Ok(512 << 20));
        assert_eq!(parse_memory_arg("64KiB"), Ok(64 << 10));
        assert_eq!(parse_memory_arg("100000"), Ok(100_000));
        for bad in [
            "",
            "1GB",
            "1.5GiB",
            "-1",
            "GiB",
            "2000GiB",
            "99999999999999999999",
            "10",
        ] {
            assert!(parse_memory_arg(bad).is_err(), "{bad:?}");
        }
    }
}
