//! The operations port (`--ops-listen`): plaintext HTTP for Kubernetes
//! probes and Prometheus, apart from the gRPC port.
//!
//! - `GET /livez`: 200 while the process serves HTTP at all.
//! - `GET /readyz`: 200 once the ledger is recovered and serving with a
//!   healthy journal; 503 with the reason otherwise (recovering, journal
//!   failed or disk full, shutting down).
//! - `GET /leaderz`: on a node of a cluster, 200 on the leader and 503
//!   naming the leader (or saying none is known) elsewhere; 200 on a
//!   single node, which leads itself. For a probe or a check that must
//!   tell the leader from its followers (readiness does not: a follower in
//!   step is ready, it answers reads and points changes at the leader).
//! - `GET /metrics`: the Prometheus text format ([`crate::metrics`]).
//!
//! It shows aggregate counts and ages only (no participant, position or
//! order), so it asks for no client certificate; ARCHITECTURE.md's
//! security notes say what it exposes.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use interlock_journal::JournalStatus;
use tokio::net::TcpListener;

use crate::durable::Waiters;
use crate::metrics::Exporter;

const RECOVERING: u8 = 0;
const SERVING: u8 = 1;
const STOPPING: u8 = 2;

/// Whether the server should be sent traffic.
#[derive(Default)]
pub struct Readiness {
    phase: AtomicU8,
    /// The journal's progress; unset with `--durability none`.
    journal: OnceLock<Arc<Waiters>>,
    /// Whether this node leads, and if not who does; unset on a single
    /// node.
    leading: OnceLock<Leading>,
}

/// `Ok` on the leader; else who leads, as a sentence.
pub type Leading = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("ready", &self.ready())
            .field("leader", &self.leader())
            .finish()
    }
}

impl Readiness {
    pub fn serving(&self, journal: Option<Arc<Waiters>>) {
        if let Some(j) = journal {
            let _ = self.journal.set(j);
        }
        self.phase.store(SERVING, Ordering::Release);
    }

    pub fn stopping(&self) {
        self.phase.store(STOPPING, Ordering::Release);
    }

    /// Makes `/leaderz` ask `leading` (a node of a cluster).
    pub fn cluster(&self, leading: Leading) {
        let _ = self.leading.set(leading);
    }

    /// `Ok` on the leader (or a single node); else who leads.
    pub fn leader(&self) -> Result<(), String> {
        match self.leading.get() {
            Some(f) => f(),
            None => Ok(()),
        }
    }

    /// `Ok` when ready; else why not.
    pub fn ready(&self) -> Result<(), &'static str> {
        match self.phase.load(Ordering::Acquire) {
            RECOVERING => return Err("recovering the ledger"),
            STOPPING => return Err("shutting down"),
            _ => {}
        }
        match self.journal.get().map(|j| j.progress().status) {
            None | Some(JournalStatus::Ok) => Ok(()),
            Some(JournalStatus::DiskFull) => {
                Err("journal disk full: changes are refused until space is freed")
            }
            Some(JournalStatus::Failed) => Err("journal failed: restart once the disk is fixed"),
            Some(JournalStatus::Closed) => Err("shutting down"),
        }
    }
}

/// Serves the operations port on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    exporter: Arc<Exporter>,
    ready: Arc<Readiness>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let readyz = ready.clone();
    let app = axum::Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let r = readyz.clone();
                async move {
                    match r.ready() {
                        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
                        Err(why) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("not ready: {why}\n"),
                        ),
                    }
                }
            }),
        )
        .route(
            "/leaderz",
            get(move || {
                let r = ready.clone();
                async move {
                    match r.leader() {
                        Ok(()) => (StatusCode::OK, "leader\n".to_owned()),
                        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let e = exporter.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                        )],
                        e.render(),
                    )
                        .into_response()
                }
            }),
        );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_node_leads_and_a_node_of_a_cluster_says_who_does() {
        let r = Readiness::default();
        assert_eq!(r.leader(), Ok(()));
        r.cluster(Box::new(|| Err("follower: node 2 leads".into())));
        assert_eq!(r.leader(), Err("follower: node 2 leads".into()));
    }

    #[test]
    fn ready_only_between_recovery_and_shutdown() {
        let r = Readiness::default();
        assert_eq!(r.ready(), Err("recovering the ledger"));
        r.serving(None);
        assert_eq!(r.ready(), Ok(()));
        r.stopping();
        assert_eq!(r.ready(), Err("shutting down"));
    }
}
