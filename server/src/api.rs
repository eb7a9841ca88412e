//! The gRPC services. Each handler reads: convert → one ledger call →
//! convert. Authentication and roles are checked by the interceptor before a
//! handler runs (see `auth`).

use std::pin::Pin;
use std::sync::Arc;

use interlock::v1 as pb;
use interlock_ledger::{self as domain, Applied, Command, Ledger, LedgerError, Outcome, Ticket};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::alerts::AlertHub;
use crate::auth::principal;
use crate::clock::Clock;
use crate::convert::{self, status};
use crate::durable::Waiters;
use crate::oversize;

/// Answers buffered per stream before the server stops reading requests
/// (back-pressure on a fast venue or broker).
pub const STREAM_BUFFER: usize = 1024;
/// Most top entries one call returns.
pub const TOP_MAX: u32 = 1000;
/// Most audit records one call returns.
pub const AUDIT_PAGE_MAX: u32 = 1000;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;
/// An answer whose command is applied and which waits for the journal.
type Answer<T> = Pin<Box<dyn std::future::Future<Output = Result<T, Status>> + Send + 'static>>;

/// What every service shares.
#[derive(Debug, Clone)]
pub struct Shared {
    pub ledger: Arc<Ledger>,
    pub clock: Clock,
    pub alerts: AlertHub,
    pub stream_messages_max: u64,
    /// Largest request message accepted (for the error text).
    pub max_message_bytes: usize,
    /// Becomes `true` when the server starts shutting down: open streams end
    /// so that a graceful shutdown never waits on a watcher or a broker.
    pub stopping: watch::Receiver<bool>,
    /// Answers waiting for the journal; `None` with `--durability none`.
    pub durable: Option<Arc<Waiters>>,
    /// Where refused calls are audited.
    pub denials: crate::auth::DenialLog,
    /// Per-principal rate limits (stream messages count too).
    pub limiter: Arc<crate::ratelimit::RateLimiter>,
    /// What each broker may sync.
    pub broker_scopes: Arc<crate::scopes::BrokerScopes>,
    /// Audit records that left memory; `None` with `--durability none`.
    pub archive: Option<Arc<interlock_journal::audit::AuditArchive>>,
    /// What the last scheduled stress found (`top --by stress`).
    pub last_stress: crate::scheduled::LastStressCell,
    /// What the operations port shows.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// This server's node of a replicated cluster: changes are proposed to
    /// it instead of applied here. `None` for a single node.
    pub cluster: Option<Arc<crate::cluster::Node>>,
}

/// A converted answer that may not leave before its ticket is durable.
pub enum Settled<T> {
    Local {
        answer: Result<(T, Vec<domain::Alert>), Status>,
        ticket: Ticket,
    },
    /// Proposed to the cluster: the answer comes once the entry is
    /// committed and applied.
    Replicated(Answer<(T, Vec<domain::Alert>)>),
}

/// A command applied to the ledger whose answer may not leave yet.
// The local answer is the hot path of a single node: boxing it to match
// the proposal's size would allocate once per check.
#[allow(clippy::large_enum_variant)]
pub enum Pending {
    Local {
        result: Result<Applied, LedgerError>,
        ticket: Ticket,
    },
    Replicated(Answer<Result<Applied, LedgerError>>),
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pending::Local { result, ticket } => f
                .debug_struct("Pending::Local")
                .field("result", result)
                .field("ticket", ticket)
                .finish(),
            Pending::Replicated(_) => f.write_str("Pending::Replicated"),
        }
    }
}

impl<T> std::fmt::Debug for Settled<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Settled::Local { ticket, .. } => f
                .debug_struct("Settled::Local")
                .field("ticket", ticket)
                .finish(),
            Settled::Replicated(_) => f.write_str("Settled::Replicated"),
        }
    }
}

impl Shared {
    /// Applies a command now; the answer comes from [`Shared::finish`].
    /// On a node of a cluster the command is proposed instead, and
    /// [`Shared::finish`] waits for its commit and apply.
    pub fn apply_now(&self, cmd: Command) -> Pending {
        if let Some(node) = &self.cluster {
            let node = node.clone();
            return Pending::Replicated(Box::pin(async move { node.propose(cmd).await }));
        }
        let (result, ticket) = self.ledger.apply(cmd);
        Pending::Local { result, ticket }
    }

    /// Waits until everything the answer may depend on is durable, then
    /// publishes the command's alerts and returns its outcome.
    pub async fn finish(&self, pending: Pending) -> Result<Outcome, Status> {
        let result = match pending {
            Pending::Local { result, ticket } => {
                self.durable(ticket).await?;
                result
            }
            Pending::Replicated(proposed) => proposed.await?,
        };
        let Applied { outcome, alerts } = result.map_err(status)?;
        self.publish(alerts);
        Ok(outcome)
    }

    /// Converts a pending command's answer now, so that what waits for the
    /// journal is the converted answer, not the whole outcome. With it the
    /// unary check needs no future of its own besides the trait's: 5–9%
    /// less server CPU per check (`bench/RESULTS.md`).
    pub fn settle<T: Send + 'static>(
        &self,
        pending: Pending,
        convert: impl FnOnce(Outcome) -> Result<T, Status> + Send + 'static,
    ) -> Settled<T> {
        let settle = |result: Result<Applied, LedgerError>| {
            result
                .map_err(status)
                .and_then(|Applied { outcome, alerts }| Ok((convert(outcome)?, alerts)))
        };
        match pending {
            Pending::Local { result, ticket } => Settled::Local {
                answer: settle(result),
                ticket,
            },
            Pending::Replicated(proposed) => {
                Settled::Replicated(Box::pin(async move { settle(proposed.await?) }))
            }
        }
    }

    /// [`Shared::finish`] for a settled answer: waits until everything it
    /// may depend on is durable, then publishes its alerts and returns it.
    pub async fn finish_settled<T>(&self, settled: Settled<T>) -> Result<T, Status> {
        let (answer, alerts) = match settled {
            Settled::Local { answer, ticket } => {
                self.durable(ticket).await?;
                answer?
            }
            Settled::Replicated(answer) => answer.await?,
        };
        self.publish(alerts);
        Ok(answer)
    }

    /// Publishes the alerts a command raised. On a cluster every node's
    /// state machine has already handed them to its hub as it applied the
    /// command ([`crate::alerts::AlertHub::applied`]).
    fn publish(&self, alerts: Vec<domain::Alert>) {
        if self.cluster.is_none() && !alerts.is_empty() {
            self.alerts.publish(alerts);
        }
    }

    /// Before a read a risk decision rests on (exposure, health): on a
    /// cluster, only the leader answers, and only once it has confirmed it
    /// still leads and applied everything committed before the call. A
    /// single node's reads are current already.
    pub async fn current(&self) -> Result<(), Status> {
        match &self.cluster {
            Some(node) => node.current().await,
            None => Ok(()),
        }
    }

    /// Applies a command and returns its outcome once it is durable.
    pub async fn apply(&self, cmd: Command) -> Result<Outcome, Status> {
        let pending = self.apply_now(cmd);
        self.finish(pending).await
    }

    async fn durable(&self, ticket: Ticket) -> Result<(), Status> {
        match &self.durable {
            Some(waiters) => waiters.wait(ticket.0).await,
            None => Ok(()),
        }
    }

    /// Audit records with `seq > after`, at most `n` ([`crate::audit::page`]).
    /// A node of a cluster that a snapshot took past records its archive
    /// lacks answers UNAVAILABLE until it has copied them from a peer.
    pub async fn audit_page(
        &self,
        after: u64,
        n: usize,
    ) -> Result<Vec<domain::AuditRecord>, Status> {
        let copying = self.cluster.as_ref().map(|node| node.audit_copied());
        crate::audit::page(&self.ledger, self.archive.as_ref(), after, n, |e| {
            match copying {
                Some(copied) => Status::unavailable(format!(
                    "this node is still copying archived audit records from its peers (whole through seq {copied}; {e}): ask another node or retry"
                )),
                None => Status::data_loss(format!("the audit archive: {e}")),
            }
        })
        .await
    }

    fn read<R>(&self, f: impl FnOnce(&domain::State) -> R) -> Result<R, Status> {
        self.ledger.read(f).map_err(status)
    }
}

/// The next message of a client stream, or `None` once the server is
/// stopping or the client closed the stream.
async fn next_or_stop<T>(
    inbound: &mut Streaming<T>,
    stopping: &mut watch::Receiver<bool>,
) -> Option<Result<T, Status>> {
    if *stopping.borrow() {
        return None;
    }
    tokio::select! {
        msg = inbound.next() => msg,
        _ = stopping.changed() => None,
    }
}

/// Serves a client stream: applies `handle` to each message in order and
/// streams the answers back, with back-pressure ([`STREAM_BUFFER`]), the
/// stream length limit, and an end on shutdown. The first error ends it.
///
/// Commands are applied as messages arrive; their answers wait for the
/// journal in order, so one `fdatasync` releases many pipelined answers.
fn pump<I, O>(
    mut inbound: Streaming<I>,
    shared: &Shared,
    kind: crate::metrics::StreamKind,
    mut handle: impl FnMut(I) -> Answer<O> + Send + 'static,
) -> BoxStream<O>
where
    I: Send + 'static,
    O: Send + 'static,
{
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    let (answers_tx, mut answers) = mpsc::channel::<Answer<O>>(STREAM_BUFFER);
    let mut stopping = shared.stopping.clone();
    let max = shared.stream_messages_max;
    let max_bytes = shared.max_message_bytes;
    let open = shared.metrics.stream_opened(kind);
    tokio::spawn(async move {
        let _open = open;
        let mut count = 0u64;
        while let Some(msg) = next_or_stop(&mut inbound, &mut stopping).await {
            count += 1;
            let answer: Answer<O> = if count > max {
                let e = Status::resource_exhausted(format!("stream longer than {max} messages"));
                Box::pin(std::future::ready(Err(e)))
            } else {
                match msg {
                    Ok(m) => handle(m),
                    Err(e) => Box::pin(std::future::ready(Err(oversize::status(e, max_bytes)))),
                }
            };
            if answers_tx.send(answer).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(answer) = answers.recv().await {
            let item = answer.await;
            let fatal = item.is_err();
            if tx.send(item).await.is_err() || fatal {
                break;
            }
        }
    });
    Box::pin(ReceiverStream::new(rx))
}

fn mismatch() -> Status {
    Status::internal("ledger answered a different command")
}

fn venue_of<T>(req: &Request<T>) -> Result<domain::VenueId, Status> {
    domain::VenueId::new(&principal(req)?.id)
        .map_err(|_| Status::permission_denied("principal id is not a venue id"))
}

// One file per service.
mod admin;
mod position;
mod pretrade;
mod price;
pub use admin::AdminApi;
pub use position::PositionApi;
pub use pretrade::PreTradeApi;
pub use price::PriceApi;
