//! Interlock's gRPC server: transport, authentication, configuration and
//! wiring around the ledger (`interlock-ledger`), which knows none of them.
//!
//! Map:
//! - [`config`]: the typed [`Config`] (flags and environment).
//! - [`auth`]: bearer tokens → principals, role interceptors.
//! - [`convert`]: protobuf ↔ domain, and ledger errors → `Status`.
//! - [`api`]: the services; handlers convert, call the ledger, convert.
//! - [`audit`]: the audit archive: archiving, checking, reading whole.
//! - [`analytics`]: stress and cascade runs, off the ledger's lock.
//! - [`scheduled`]: the scheduled stress, its alerts and `top --by stress`.
//! - [`alerts`]: fan-out of ledger alerts to admin watchers.
//! - [`echo`]: the gRPC floor for benchmarks (`--echo-floor`).
//! - [`durable`]: answers waiting for the journal, woken exactly when due.
//! - [`scopes`]: which participants and venues each broker may sync.
//! - [`ratelimit`]: a token bucket per principal.
//! - [`oversize`]: oversized requests answer RESOURCE_EXHAUSTED.
//! - [`clock`]: wall-clock time that follows tokio's (pausable) clock.
//! - [`ops`]: the operations port (probes and `/metrics`); [`metrics`]:
//!   what it shows; [`telemetry`]: spans per RPC over OTLP.
//! - [`serve`]: one entry point shared by `main` and the tests.

#![forbid(unsafe_code)]

pub mod alerts;
pub mod analytics;
pub mod api;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod convert;
pub mod durable;
pub mod echo;
pub mod lograte;
pub mod metrics;
pub mod ops;
pub mod oversize;
pub mod ratelimit;
pub mod scheduled;
pub mod scopes;
pub mod telemetry;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use interlock::v1 as pb;
use interlock_journal::audit::AuditArchive;
use interlock_journal::{DiskStorage, JournalHandle, JournalStatus, Progress, Storage};
use interlock_ledger::state::HealthLevel;
use interlock_ledger::{Alert, AlertKind, Command, Ledger};
use rust_decimal::Decimal;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic_health::ServingStatus;

pub use config::{Config, Durability};

use crate::alerts::AlertHub;
use crate::api::{AdminApi, PositionApi, PreTradeApi, PriceApi, Shared};
use crate::auth::{Principals, Role};
use crate::clock::Clock;
use crate::durable::Waiters;

/// gRPC service names, for health checks.
pub const SERVICE_NAMES: [&str; 3] = [PRETRADE_SERVICE, POSITION_SERVICE, ADMIN_SERVICE];
const PRETRADE_SERVICE: &str = "interlock.v1.PreTradeService";
const POSITION_SERVICE: &str = "interlock.v1.PositionService";
const ADMIN_SERVICE: &str = "interlock.v1.AdminService";

/// Reflection that lists what the API port serves: Interlock's services,
/// the cluster's status and membership service, and health. The descriptor
/// set also holds the benchmark's echo service (served only by
/// `--echo-floor`) and the nodes' `RaftService` (only on a cluster port):
/// not listed.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    let mut b = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(interlock::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name(HEALTH_SERVICE_NAME);
    for name in SERVICE_NAMES.iter().chain(&API_PORT_ALSO_SERVES) {
        b = b.with_service_name(*name);
    }
    b
}

/// Served on the API port besides [`SERVICE_NAMES`] (which gRPC health
/// reports on).
const API_PORT_ALSO_SERVES: [&str; 3] = [
    "interlock.v1.PriceService",
    "interlock.v1.AnalyticsService",
    "interlock.cluster.v1.ClusterService",
];

/// The standard health service's name.
const HEALTH_SERVICE_NAME: &str = "grpc.health.v1.Health";

/// Accepted connections ([`conn::incoming`]) within the configured limits,
/// with TCP_NODELAY: the builder's `tcp_nodelay` applies only to listeners
/// tonic binds itself, and without it small answers wait for the peer's
/// delayed ACK (~40 ms).
pub fn incoming(
    listener: TcpListener,
    config: &Config,
) -> tokio_stream::wrappers::ReceiverStream<std::io::Result<conn::Conn>> {
    conn::incoming(
        listener,
        conn::ConnLimits {
            preface_timeout: Duration::from_millis(config.preface_timeout_ms),
            max_connections: usize::try_from(config.max_connections).unwrap_or(usize::MAX),
        },
    )
}

/// Loads the principals the configuration names (or the demo ones). With
/// mutual TLS and no file, principals come from certificates only.
pub fn principals(config: &Config) -> anyhow::Result<Principals> {
    match (&config.principals, config.dev) {
        (Some(path), _) => Principals::load(path),
        (None, true) => Ok(Principals::dev()),
        (None, false) if config.tls_cert.is_some() => Ok(Principals::default()),
        (None, false) => anyhow::bail!(
            "outside --dev, give --tls-cert/--tls-key/--tls-client-ca (and --principals FILE for bearer tokens)"
        ),
    }
}

/// The server's TLS settings, if TLS is configured.
fn tls(config: &Config) -> anyhow::Result<Option<tonic::transport::ServerTlsConfig>> {
    let (Some(cert), Some(key), Some(ca)) =
        (&config.tls_cert, &config.tls_key, &config.tls_client_ca)
    else {
        anyhow::ensure!(
            config.dev,
            "plaintext is only for --dev on loopback: give --tls-cert, --tls-key and --tls-client-ca"
        );
        return Ok(None);
    };
    let read = |p: &std::path::PathBuf| {
        std::fs::read(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
    };
    let identity = tonic::transport::Identity::from_pem(read(cert)?, read(key)?);
    Ok(Some(
        tonic::transport::ServerTlsConfig::new()
            .identity(identity)
            .client_ca_root(tonic::transport::Certificate::from_pem(read(ca)?))
            .client_auth_optional(config.tls_client_cert_optional)
            .timeout(Duration::from_millis(config.tls_handshake_timeout_ms)),
    ))
}

/// The HTTP/2 transport settings: deadlines, per-connection limits,
/// keep-alive and connection age. Interlock and the benchmark floor
/// (`--echo-floor`) are both served with exactly these, so that the floor
/// measures gRPC as Interlock configures it, and only Interlock's own
/// layers (auth, size and call-path checks) and work make the difference.
pub fn transport(config: &Config) -> Server {
    let mut builder = Server::builder()
        .timeout(Duration::from_millis(config.request_timeout_ms))
        .concurrency_limit_per_connection(config.concurrency_per_connection)
        .load_shed(true)
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_millis(config.keepalive_timeout_ms)))
        .max_concurrent_streams(Some(config.max_streams_per_connection))
        .initial_stream_window_size(Some(config.stream_window_bytes))
        .initial_connection_window_size(Some(CONNECTION_WINDOW_BYTES))
        .http2_max_header_list_size(Some(config.max_header_bytes))
        .max_connection_age_grace(Duration::from_secs(30));
    if config.max_connection_age_secs > 0 {
        builder = builder.max_connection_age(Duration::from_secs(config.max_connection_age_secs));
    }
    builder
}

/// HTTP/2 flow-control window of a whole connection (hyper's default, set
/// here because h2's budget for buffered frames is half of it; see
/// `Config::stream_window_bytes`).
pub const CONNECTION_WINDOW_BYTES: u32 = 1024 * 1024;

/// Serves Interlock on `listener` until `shutdown` completes, with no
/// operations port (and so no metrics recorded).
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    serve_on(config, listener, None, shutdown, None).await
}

/// [`serve`], with the operations port ([`ops`]) on `ops` if given (it
/// answers `/livez` from the start, `/readyz` once the ledger is
/// recovered), and the journal on `storage` if given instead of
/// `--data-dir` (tests use a fault-injecting disk).
pub async fn serve_on(
    config: Config,
    listener: TcpListener,
    ops: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send,
    storage: Option<Arc<dyn Storage>>,
) -> anyhow::Result<()> {
    let metrics = Arc::new(metrics::Metrics::new(ops.is_some()));
    let readiness = Arc::new(ops::Readiness::default());
    let sources = Arc::new(std::sync::OnceLock::new());
    let (ops_stop, ops_stopped) = tokio::sync::oneshot::channel::<()>();
    let ops_task = ops.map(|l| {
        if let Ok(a) = l.local_addr() {
            tracing::info!(addr = %a, "operations port: /livez /readyz /metrics");
        }
        let exporter = Arc::new(metrics::Exporter::new(
            metrics.clone(),
            sources.clone(),
            readiness.clone(),
        ));
        tokio::spawn(ops::run(l, exporter, readiness.clone(), async move {
            let _ = ops_stopped.await;
        }))
    });
    let result = serve_grpc(
        config,
        listener,
        shutdown,
        storage,
        Observed {
            metrics,
            readiness: readiness.clone(),
            sources,
        },
    )
    .await;
    readiness.stopping();
    let _ = ops_stop.send(());
    if let Some(t) = ops_task {
        match t.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "the operations port stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "the operations port's task failed"),
            Ok(Ok(())) => {}
        }
    }
    result
}

/// What the operations port reads of a running server.
struct Observed {
    metrics: Arc<metrics::Metrics>,
    readiness: Arc<ops::Readiness>,
    sources: Arc<std::sync::OnceLock<metrics::Sources>>,
}

async fn serve_grpc(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    storage: Option<Arc<dyn Storage>>,
    observed: Observed,
) -> anyhow::Result<()> {
    let Observed {
        metrics,
        readiness,
        sources,
    } = observed;
    let addr = listener.local_addr()?;
    if config.dev {
        anyhow::ensure!(
            addr.ip().is_loopback(),
            "--dev mode only binds to loopback, not {addr}"
        );
        tracing::warn!(
            "DEV MODE: demo tokens are active, loopback only. Never use this in production."
        );
        for (token, role, id) in auth::DEV_TOKENS {
            tracing::warn!("DEV MODE token {token:>12} -> {role:?} {id}");
        }
    }
    let principals = principals(&config)?;
    let tls = tls(&config)?;
    let broker_scopes = match &config.broker_scopes {
        Some(path) => scopes::BrokerScopes::load(path)?,
        None => {
            if !config.dev {
                tracing::warn!(
                    "no --broker-scopes: every broker may sync every participant and venue"
                );
            }
            scopes::BrokerScopes::unrestricted()
        }
    };
    let clock = Clock::new();
    let spec = cluster::ClusterSpec::from_config(&config)?;
    let (ledger, journal, durable, node) = match &spec {
        Some(spec) => {
            let node = open_cluster(&config, spec, storage).await?;
            (node.machine.ledger().clone(), None, None, Some(node))
        }
        None => {
            let (ledger, journal, durable) =
                open_ledger(&config, &clock, storage, &metrics).await?;
            (ledger, journal, durable, None)
        }
    };
    // Without the operations port nothing would read the figure: no clock
    // read per entry then.
    if let Some(node) = node.as_ref().filter(|_| metrics.on()) {
        let m = metrics.clone();
        let observed = node.machine.observe_applies(Box::new(move |at_ms| {
            m.entry_applied(u64::try_from(clock.now_ms().saturating_sub(at_ms)).unwrap_or(0))
        }));
        assert!(observed.is_ok(), "a node's applies are observed once");
    }
    if let Some(j) = &journal {
        let m = metrics.clone();
        j.observe_syncs(Box::new(move |records, took| {
            m.journal_synced(records, took)
        }));
    }
    let (stop_tx, stopping) = tokio::sync::watch::channel(false);
    let stopping_ready = readiness.clone();
    let shutdown = async move {
        shutdown.await;
        stopping_ready.stopping();
        // Ends open streams so the graceful shutdown can finish.
        let _ = stop_tx.send(true);
    };
    let mut denials = auth::DenialLog::new(ledger.clone(), clock);
    if let Some(node) = &node {
        denials = denials.replicated(node.clone());
    }
    let limiter = Arc::new(ratelimit::RateLimiter::new(
        config.rate_limit_per_sec,
        config.rate_limit_burst,
    ));
    let _ = sources.set(metrics::Sources {
        ledger: ledger.clone(),
        limiter: limiter.clone(),
        clock,
    });
    let alerts = match &node {
        None => AlertHub::counted(metrics.clone()),
        Some(node) => {
            // Every node holds the alerts of the changes it applies, under
            // the same numbers; the leader's watchers get them live. The
            // observer lives in the node's machine: a weak reference back.
            let hub = AlertHub::counted(metrics.clone()).replicated();
            let (h, weak) = (hub.clone(), Arc::downgrade(node));
            let observed = node.machine.observe_alerts(Box::new(move |index, raised| {
                let leading = !raised.is_empty() && weak.upgrade().is_some_and(|n| n.is_leader());
                h.applied(index, raised, leading)
            }));
            assert!(observed.is_ok(), "a node's alerts are observed once");
            hub
        }
    };
    let shared = Shared {
        stopping,
        denials: denials.clone(),
        ledger,
        clock,
        alerts,
        metrics: metrics.clone(),
        stream_messages_max: config.stream_messages_max,
        max_message_bytes: config.max_message_bytes,
        limiter: limiter.clone(),
        broker_scopes: Arc::new(broker_scopes),
        durable: durable.clone(),
        archive: match &node {
            Some(node) => Some(node.archive.clone()),
            None => journal
                .as_ref()
                .map(|j| Arc::new(AuditArchive::new(j.storage().clone()))),
        },
        last_stress: Default::default(),
        cluster: node.clone(),
    };
    if let (Some(archive), None) = (&shared.archive, &node) {
        audit::check_archive(&shared.ledger, archive)?;
    }

    let (health, health_service) = tonic_health::server::health_reporter();
    // A node of a cluster is SERVING only while it leads (`cluster::lead`).
    let serving = if node.is_some() {
        ServingStatus::NotServing
    } else {
        ServingStatus::Serving
    };
    for name in SERVICE_NAMES {
        health.set_service_status(name, serving).await;
    }
    let (cluster_stop, cluster_stopped) = tokio::sync::watch::channel(false);
    let cluster_tasks = match (&spec, &node) {
        (Some(spec), Some(node)) => {
            let listener = TcpListener::bind(spec.listen)
                .await
                .map_err(|e| anyhow::anyhow!("cluster port {}: {e}", spec.listen))?;
            tracing::info!(node = spec.id, addr = %spec.listen, "cluster port");
            let mut stopped = cluster_stopped.clone();
            let (node_c, spec_c) = (node.clone(), spec.clone());
            let server = tokio::spawn(async move {
                cluster::serve(node_c, &spec_c, listener, async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
            });
            let lead = tokio::spawn(cluster::lead(
                node.clone(),
                health.clone(),
                SERVICE_NAMES,
                config.ledger(),
                config.price_rules(),
                clock,
                cluster_stopped.clone(),
            ));
            tokio::spawn(cluster::archive::Copier::new(node.clone()).run(cluster_stopped.clone()));
            tokio::spawn(node.clone().record_disks(cluster_stopped.clone()));
            Some((server, lead))
        }
        _ => None,
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    let max = config.max_message_bytes;
    let pretrade =
        pb::pre_trade_service_server::PreTradeServiceServer::new(PreTradeApi(shared.clone()))
            .max_decoding_message_size(max);
    let position =
        pb::position_service_server::PositionServiceServer::new(PositionApi(shared.clone()))
            .max_decoding_message_size(max);
    let admin = pb::admin_service_server::AdminServiceServer::new(AdminApi(shared.clone()))
        .max_decoding_message_size(max);
    let prices = pb::price_service_server::PriceServiceServer::new(PriceApi(shared.clone()))
        .max_decoding_message_size(max);
    let analytics_api = crate::analytics::AnalyticsApi::new(
        shared.clone(),
        Duration::from_millis(config.analytics_deadline_ms),
        Duration::from_millis(config.systemic_deadline_ms),
        config.reuse_report_min_participants as usize,
    );
    let scheduled = (config.stress_every_ms > 0).then(|| {
        tokio::spawn(crate::scheduled::run(
            analytics_api.clone(),
            shared.clone(),
            Duration::from_millis(config.stress_every_ms),
            config.stress_scenario.clone(),
        ))
    });
    let analytics = pb::analytics_service_server::AnalyticsServiceServer::new(analytics_api)
        .max_decoding_message_size(max);

    if config.health_critical_level > config.health_warn_level {
        anyhow::bail!("--health-critical-level must be at most --health-warn-level");
    }
    let scan = HealthScanner {
        warn: config.health_warn_level,
        critical: config.health_critical_level,
        per_tick: config.health_scan_per_tick as usize,
        cursor: 0,
        seen: std::collections::HashMap::new(),
    };
    let ticker = tokio::spawn(tick(
        shared.clone(),
        journal.clone(),
        Duration::from_millis(config.tick_interval_ms.max(1)),
        config.snapshot_under_lock,
        scan,
    ));
    if let Some(durable) = durable.clone() {
        tokio::spawn(watch_journal(durable, health.clone()));
    }
    tracing::info!(%addr, "interlock serving");
    let mut builder = transport(&config);
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
        tracing::info!("mutual TLS on: principals come from client certificates");
    }
    readiness.serving(durable.clone());
    if let Some(node) = node.clone() {
        readiness.cluster(Box::new(move || {
            if node.is_leader() {
                return Ok(());
            }
            Err(match node.leader() {
                Some((id, api)) => format!("follower: node {id} leads (API {api})"),
                None => "no leader is known (an election, or too few nodes)".to_owned(),
            })
        }));
    }
    let rpc_layer =
        tower::util::option_layer(metrics.on().then(|| metrics::RpcLayer(metrics.clone())));
    let trace_layer = tower::util::option_layer(
        config
            .otlp_endpoint
            .is_some()
            .then_some(telemetry::TraceLayer),
    );
    let stamp_layer = tower::util::option_layer(node.clone().map(|node| {
        tower::util::MapResponseLayer::new(move |r: http::Response<tonic::body::Body>| {
            node.stamp(r)
        })
    }));
    let result = builder
        .layer(stamp_layer)
        .layer(trace_layer)
        .layer(rpc_layer)
        .layer(oversize::layer(max))
        .layer(auth::call_path_layer())
        .add_service(tonic::service::interceptor::InterceptedService::new(
            pretrade,
            principals.require(&[Role::Venue], Some(denials.clone()), limiter.clone()),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            position,
            principals.require(&[Role::Broker], Some(denials.clone()), limiter.clone()),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            prices,
            principals.require(&[Role::Oracle], Some(denials.clone()), limiter.clone()),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            admin,
            principals.require(
                &[Role::Admin, Role::Auditor],
                Some(denials.clone()),
                limiter.clone(),
            ),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            analytics,
            // Venues for their own reuse report only: the service checks
            // each call's role.
            principals.require(
                &[Role::Admin, Role::Auditor, Role::Venue],
                Some(denials.clone()),
                limiter.clone(),
            ),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            interlock::cluster::v1::cluster_service_server::ClusterServiceServer::new(
                cluster::status::ClusterApi {
                    node: node.clone(),
                    tls: spec.as_ref().is_some_and(|s| s.tls.is_some()),
                },
            ),
            principals.require(
                &[Role::Admin, Role::Auditor],
                Some(denials.clone()),
                limiter.clone(),
            ),
        ))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(incoming(listener, &config), shutdown)
        .await;
    ticker.abort();
    let _ = ticker.await;
    if let Some(node) = &node {
        // No change is taken any more: a leader hands over before the
        // cluster port closes.
        node.hand_over().await;
    }
    let _ = cluster_stop.send(true);
    if let Some((server, lead)) = cluster_tasks {
        let _ = lead.await;
        if let Ok(Err(e)) = server.await {
            tracing::warn!(error = %e, "the cluster port stopped with an error");
        }
    }
    if let Some(node) = &node {
        node.shutdown().await;
    }
    if let Some(s) = scheduled {
        s.abort();
        let _ = s.await;
    }
    result?;
    if let Some(journal) = journal {
        // Every request has drained: write a snapshot so the next start
        // replays nothing, then stop the writer.
        let ledger = shared.ledger.clone();
        let (done, closed) = tokio::task::spawn_blocking(move || {
            let snap = interlock_journal::snapshot(&ledger, &journal);
            journal.close();
            (snap, journal.progress().status)
        })
        .await?;
        match (done, closed) {
            (Ok(info), JournalStatus::Closed) => tracing::info!(
                lsn = info.lsn,
                bytes = info.bytes,
                "snapshot written at shutdown"
            ),
            // A supervisor must be able to tell this from a clean stop.
            (Err(e), JournalStatus::Closed) => {
                anyhow::bail!("no snapshot at shutdown ({e}); every acknowledged change is in the journal, which the next start replays")
            }
            (snapshot, status) => anyhow::bail!(
                "the journal did not close cleanly ({status:?}; snapshot: {}): changes applied but never acknowledged are lost, every acknowledged one is on disk",
                match snapshot {
                    Ok(_) => "written".to_owned(),
                    Err(e) => e.to_string(),
                }
            ),
        }
    }
    tracing::info!("interlock stopped");
    Ok(())
}

/// `storage` if given (a test's simulated disk), else `--data-dir`.
fn data_storage(
    config: &Config,
    storage: Option<Arc<dyn Storage>>,
) -> anyhow::Result<Arc<dyn Storage>> {
    Ok(match storage {
        Some(s) => s,
        None => {
            Arc::new(DiskStorage::open(&config.data_dir).map_err(|e| {
                anyhow::anyhow!("data directory {}: {e}", config.data_dir.display())
            })?)
        }
    })
}

/// This server's node of a replicated cluster, over the data directory.
async fn open_cluster(
    config: &Config,
    spec: &cluster::ClusterSpec,
    storage: Option<Arc<dyn Storage>>,
) -> anyhow::Result<Arc<cluster::Node>> {
    anyhow::ensure!(
        config.durability == Durability::Durable,
        "--cluster needs --durability durable: a replicated change is acknowledged once a majority has it on disk"
    );
    let storage = data_storage(config, storage)?;
    let started = std::time::Instant::now();
    let node = cluster::Node::start(
        spec,
        storage,
        config.ledger(),
        config.journal(),
        cluster::network::Network {
            tls: spec.tls.as_ref().map(|t| t.client()),
            heard: Default::default(),
        },
    )
    .await?;
    tracing::info!(
        node = spec.id,
        data_dir = %config.data_dir.display(),
        last_applied = ?node.machine.last_applied(),
        ms = started.elapsed().as_millis() as u64,
        "opened the replicated ledger"
    );
    Ok(node)
}

/// The ledger: recovered from the data directory and journaled, or (with
/// `--durability none`) empty and in memory only.
async fn open_ledger(
    config: &Config,
    clock: &Clock,
    storage: Option<Arc<dyn Storage>>,
    metrics: &metrics::Metrics,
) -> anyhow::Result<(Arc<Ledger>, Option<JournalHandle>, Option<Arc<Waiters>>)> {
    if config.durability == Durability::None {
        tracing::warn!(
            "DURABILITY NONE: nothing is written to disk; every reservation, limit and sync is lost on exit. Benchmarks only."
        );
        let ledger = Ledger::new(config.ledger());
        let (result, _) = ledger.apply(Command::ConfigurePrices {
            at_ms: clock.now_ms(),
            rules: config.price_rules(),
        });
        result.map_err(|e| anyhow::anyhow!("applying the price rules: {e}"))?;
        return Ok((Arc::new(ledger), None, None));
    }
    let storage = data_storage(config, storage)?;
    let waiters = Arc::new(Waiters::new(Progress {
        durable_lsn: 0,
        status: JournalStatus::Ok,
        segment_first_lsn: 1,
        epoch: 0,
    }));
    tokio::spawn(waiters.clone().dispatch());
    let notify = waiters.clone();
    let cfg = config.ledger();
    let jcfg = config.journal();
    let started = std::time::Instant::now();
    let (recovered, journal) = tokio::task::spawn_blocking(move || {
        interlock_journal::open(storage, cfg, jcfg, Box::new(move |p| notify.publish(p)))
    })
    .await??;
    // The writer only reports changes: start from where recovery left it.
    waiters.publish(journal.progress());
    metrics.recovered(started.elapsed(), recovered.records_replayed);
    tracing::info!(
        data_dir = %config.data_dir.display(),
        snapshot_lsn = ?recovered.snapshot_lsn,
        records_replayed = recovered.records_replayed,
        last_lsn = recovered.last_lsn,
        ms = started.elapsed().as_millis() as u64,
        "recovered the ledger"
    );
    let ledger = Arc::new(Ledger::with_journal(
        recovered.state,
        Box::new(journal.clone()),
    ));
    // The settings of this start are a journaled change like any other, so
    // a replay judges every command under the settings it was judged under;
    // then reservations that expired while the server was down are released.
    let now = clock.now_ms();
    for cmd in [
        Command::Configure {
            at_ms: now,
            config: config.ledger(),
        },
        Command::ConfigurePrices {
            at_ms: now,
            rules: config.price_rules(),
        },
        Command::Tick { at_ms: now },
    ] {
        let (result, ticket) = ledger.apply(cmd);
        result.map_err(|e| anyhow::anyhow!("applying the start-up settings: {e}"))?;
        let j = journal.clone();
        let durable =
            tokio::task::spawn_blocking(move || j.wait_durable(ticket.0, Duration::from_secs(30)))
                .await?;
        anyhow::ensure!(durable, "the journal could not write the start-up settings");
    }
    Ok((ledger, Some(journal), Some(waiters)))
}

/// Turns health NOT_SERVING once the journal fails: the server acknowledges
/// nothing more, and load balancers should stop sending to it.
async fn watch_journal(durable: Arc<Waiters>, health: tonic_health::server::HealthReporter) {
    let mut every = tokio::time::interval(JOURNAL_HEALTH_POLL);
    let mut shown = JournalStatus::Ok;
    loop {
        every.tick().await;
        let status = durable.progress().status;
        if status == shown {
            continue;
        }
        let (changes, all) = match status {
            JournalStatus::Ok => {
                tracing::info!("journal writing again: health is SERVING");
                (ServingStatus::Serving, ServingStatus::Serving)
            }
            JournalStatus::DiskFull => {
                tracing::error!(
                    "journal disk full: health is NOT_SERVING for the services that change state (and the server as a whole) until space is freed; AdminService still serves reads"
                );
                (ServingStatus::NotServing, ServingStatus::Serving)
            }
            JournalStatus::Failed => {
                tracing::error!(
                    "journal failed: health is NOT_SERVING; restart the server once the disk is fixed"
                );
                (ServingStatus::NotServing, ServingStatus::NotServing)
            }
            // Shutting down: serving stops anyway.
            JournalStatus::Closed => return,
        };
        for name in ["", PRETRADE_SERVICE, POSITION_SERVICE] {
            health.set_service_status(name, changes).await;
        }
        health.set_service_status(ADMIN_SERVICE, all).await;
        if status == JournalStatus::Failed {
            return;
        }
        shown = status;
    }
}

/// How often health looks at the journal.
pub const JOURNAL_HEALTH_POLL: Duration = Duration::from_millis(250);

/// Health alerts: each tick looks at a few participants (round-robin) and
/// alerts when one's HF^eco falls below a level, or when two or more of its
/// venues would not recover their debt if they called at once. What it
/// alerted on is remembered here, not in the ledger (alerts are not
/// state): a restart alerts once more on what is still true.
struct HealthScanner {
    warn: Decimal,
    critical: Decimal,
    per_tick: usize,
    cursor: usize,
    /// Per participant slot: the level and the number of venues at risk
    /// last alerted on (absent: healthy).
    seen: std::collections::HashMap<interlock_ledger::state::ParticipantSlot, (HealthLevel, usize)>,
}

impl HealthScanner {
    fn step(&mut self, shared: &Shared, at_ms: i64) {
        if self.per_tick == 0 {
            return;
        }
        let scanned = shared
            .ledger
            .read(|s| s.health_scan(self.cursor, self.per_tick, self.warn, self.critical));
        let (found, next) = match scanned {
            Ok(Ok(x)) => x,
            // A failed read (a poisoned lock) or an overflow: try again next tick.
            _ => return,
        };
        self.cursor = next;
        let mut alerts = Vec::new();
        for h in found {
            let at_risk = h.venues_at_risk.len();
            let before = self
                .seen
                .get(&h.slot)
                .copied()
                .unwrap_or((HealthLevel::Ok, 0));
            if h.level == HealthLevel::Ok {
                self.seen.remove(&h.slot);
                continue;
            }
            self.seen.insert(h.slot, (h.level, at_risk));
            let eco = match h.eco {
                interlock_ledger::value::health::Health::Ratio(x) => {
                    x.round_dp(6).normalize().to_string()
                }
                _ => "unknown".to_owned(),
            };
            if h.level > before.0 {
                let (kind, level, name) = match h.level {
                    HealthLevel::Critical => (AlertKind::HealthCritical, self.critical, "critical"),
                    _ => (AlertKind::HealthWarning, self.warn, "warning"),
                };
                let mut a = Alert::new(
                    at_ms,
                    kind,
                    format!(
                        "participant {}: HF^eco {eco} below the {name} level {level}",
                        h.participant
                    ),
                );
                a.participant = Some(h.participant.clone());
                alerts.push(a);
            }
            if at_risk >= 2 && before.1 < 2 {
                let names: Vec<String> = h.venues_at_risk.iter().map(|v| v.to_string()).collect();
                let mut a = Alert::new(
                    at_ms,
                    AlertKind::VenuesAtRisk,
                    format!(
                        "participant {}: {} would not recover their debt if they called together (HF^true < 1; HF^eco {eco})",
                        h.participant,
                        names.join(", ")
                    ),
                );
                a.participant = Some(h.participant);
                alerts.push(a);
            }
        }
        if !alerts.is_empty() {
            shared.alerts.publish(alerts);
        }
    }
}

/// Drives time inside the ledger (expiry, stale brokers, retention) and
/// writes a snapshot when the journal has grown enough: rebuilt from the
/// files on a blocking thread (`snapshot_replayed`), so checks never wait
/// for it, unless `under_lock` (benchmarks only).
async fn tick(
    shared: Shared,
    journal: Option<JournalHandle>,
    every: Duration,
    under_lock: bool,
    mut scan: HealthScanner,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut snapshotting: Option<tokio::task::JoinHandle<()>> = None;
    let mut archiving: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        interval.tick().await;
        let at_ms = shared.clock.now_ms();
        // In a cluster the leader's ticks are replicated like any change,
        // and only when one would change something: every entry is a record
        // on three disks (a single node journals only the ticks that did).
        let ticks = match &shared.cluster {
            None => true,
            Some(n) => n.is_leader() && shared.ledger.read(|s| s.tick_due(at_ms)).unwrap_or(false),
        };
        if ticks {
            if let Err(e) = shared.apply(Command::Tick { at_ms }).await {
                tracing::warn!(error = %e.message(), "tick not applied");
            }
        }
        scan.step(&shared, at_ms);
        if let Some(archive) = &shared.archive {
            if archiving.as_ref().is_none_or(|t| t.is_finished()) {
                let (shared, archive) = (shared.clone(), archive.clone());
                archiving = Some(tokio::spawn(async move {
                    if let Err(e) = audit::archive_oldest(&shared, &archive).await {
                        tracing::error!(error = %e, "archiving audit records failed; they stay in memory");
                    }
                }));
            }
        }
        let Some(journal) = &journal else { continue };
        if snapshotting.as_ref().is_some_and(|t| !t.is_finished()) || !journal.snapshot_wanted() {
            continue;
        }
        let (ledger, journal) = (shared.ledger.clone(), journal.clone());
        let metrics = shared.metrics.clone();
        snapshotting = Some(tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let done = if under_lock {
                interlock_journal::snapshot(&ledger, &journal)
            } else {
                interlock_journal::snapshot_replayed(&ledger, &journal)
            };
            metrics.snapshot(started.elapsed(), done.as_ref().ok().map(|i| i.bytes));
            match done {
                Ok(info) => tracing::info!(
                    lsn = info.lsn,
                    bytes = info.bytes,
                    removed = info.removed_files,
                    lock_held_us = info.lock_held.as_micros() as u64,
                    "snapshot written"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "snapshot failed; the journal keeps growing until one succeeds")
                }
            }
        }));
    }
}
