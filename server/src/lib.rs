//! Interlock's gRPC server: transport, authentication, configuration and
//! wiring around the ledger (`interlock-ledger`), which knows none of them.
//!
//! Map:
//! - [`config`]: the typed [`Config`] (flags and environment).
//! - [`auth`]: bearer tokens → principals, role interceptors.
//! - [`convert`]: protobuf ↔ domain, and ledger errors → `Status`.
//! - [`api`]: the three services; handlers convert, call the ledger, convert.
//! - [`alerts`]: fan-out of ledger alerts to admin watchers.
//! - [`oversize`]: oversized requests answer RESOURCE_EXHAUSTED.
//! - [`clock`]: wall-clock time that follows tokio's (pausable) clock.
//! - [`serve`]: one entry point shared by `main` and the tests.

#![forbid(unsafe_code)]

pub mod alerts;
pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod convert;
pub mod oversize;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use interlock::v1 as pb;
use interlock_ledger::{Command, Ledger};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic_health::ServingStatus;

pub use config::Config;

use crate::alerts::AlertHub;
use crate::api::{AdminApi, PositionApi, PreTradeApi, Shared};
use crate::auth::{Principals, Role};
use crate::clock::Clock;

/// gRPC service names, for health checks.
pub const SERVICE_NAMES: [&str; 3] = [
    "interlock.v1.PreTradeService",
    "interlock.v1.PositionService",
    "interlock.v1.AdminService",
];

/// Loads the principals the configuration names (or the demo ones).
pub fn principals(config: &Config) -> anyhow::Result<Principals> {
    match (&config.principals, config.dev) {
        (Some(path), _) => Principals::load(path),
        (None, true) => Ok(Principals::dev()),
        (None, false) => anyhow::bail!("--principals FILE is required outside --dev mode"),
    }
}

/// Serves Interlock on `listener` until `shutdown` completes.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
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
    let (stop_tx, stopping) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        // Ends open streams so the graceful shutdown can finish.
        let _ = stop_tx.send(true);
    };
    let shared = Shared {
        stopping,
        ledger: Arc::new(Ledger::new(config.ledger())),
        clock: Clock::new(),
        alerts: AlertHub::new(),
        stream_messages_max: config.stream_messages_max,
        max_message_bytes: config.max_message_bytes,
    };

    let (health, health_service) = tonic_health::server::health_reporter();
    for name in SERVICE_NAMES {
        health
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(interlock::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(interlock::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let max = config.max_message_bytes;
    let pretrade =
        pb::pre_trade_service_server::PreTradeServiceServer::new(PreTradeApi(shared.clone()))
            .max_decoding_message_size(max);
    let position =
        pb::position_service_server::PositionServiceServer::new(PositionApi(shared.clone()))
            .max_decoding_message_size(max);
    let admin = pb::admin_service_server::AdminServiceServer::new(AdminApi(shared.clone()))
        .max_decoding_message_size(max);

    let ticker = tokio::spawn(tick(
        shared.clone(),
        Duration::from_millis(config.tick_interval_ms.max(1)),
    ));
    tracing::info!(%addr, "interlock serving");
    let result = Server::builder()
        .timeout(Duration::from_millis(config.request_timeout_ms))
        .concurrency_limit_per_connection(config.concurrency_per_connection)
        .load_shed(true)
        .tcp_nodelay(true)
        .layer(oversize::layer(max))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            pretrade,
            principals.require(Role::Venue),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            position,
            principals.require(Role::Broker),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            admin,
            principals.require(Role::Admin),
        ))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await;
    ticker.abort();
    result?;
    tracing::info!("interlock stopped");
    Ok(())
}

/// Drives time inside the ledger: expiry, stale brokers, retention.
async fn tick(shared: Shared, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(e) = shared.apply(Command::Tick {
            at_ms: shared.clock.now_ms(),
        }) {
            tracing::error!(error = %e.message(), "tick failed");
        }
    }
}
