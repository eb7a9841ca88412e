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

// ---- venues ------------------------------------------------------------

/// `PreTradeService`.
#[derive(Debug, Clone)]
pub struct PreTradeApi(pub Shared);

impl PreTradeApi {
    /// Judges a check now; the answer waits for the journal.
    fn settle_check(
        &self,
        venue: &domain::VenueId,
        req: pb::CheckRequest,
    ) -> Result<Settled<pb::CheckResponse>, Status> {
        let request = convert::check_request(req)?;
        let pending = self.0.apply_now(Command::Check {
            at_ms: self.0.clock.now_ms(),
            venue: venue.clone(),
            request,
        });
        let metrics = self.0.metrics.clone();
        Ok(self.0.settle(pending, move |outcome| match outcome {
            Outcome::Check(answer) => {
                metrics.check(answer.verdict, answer.reason.as_ref().map(|r| r.code));
                Ok(convert::check_response(answer))
            }
            _ => Err(mismatch()),
        }))
    }

    /// A stream's check, as a future of its own.
    fn check_one(
        &self,
        venue: &domain::VenueId,
        req: pb::CheckRequest,
    ) -> Answer<pb::CheckResponse> {
        let settled = self.settle_check(venue, req);
        let shared = self.0.clone();
        Box::pin(async move { shared.finish_settled(settled?).await })
    }

    async fn end(
        &self,
        venue: domain::VenueId,
        id: &str,
        commit: bool,
    ) -> Result<domain::ReservationAnswer, Status> {
        let reservation = convert::reservation_id(id)?;
        let at_ms = self.0.clock.now_ms();
        let cmd = if commit {
            Command::Commit {
                at_ms,
                venue,
                reservation,
            }
        } else {
            Command::Release {
                at_ms,
                venue,
                reservation,
            }
        };
        match self.0.apply(cmd).await? {
            Outcome::Reservation(r) => Ok(r),
            _ => Err(mismatch()),
        }
    }
}

#[tonic::async_trait]
impl pb::pre_trade_service_server::PreTradeService for PreTradeApi {
    async fn check(
        &self,
        req: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::CheckResponse>, Status> {
        let venue = venue_of(&req)?;
        // Not through `check_one`: no future boxed per check besides the
        // trait's own.
        let settled = self.settle_check(&venue, req.into_inner())?;
        self.0.finish_settled(settled).await.map(Response::new)
    }

    type CheckStreamStream = BoxStream<pb::CheckStreamResponse>;

    async fn check_stream(
        &self,
        req: Request<Streaming<pb::CheckRequest>>,
    ) -> Result<Response<Self::CheckStreamStream>, Status> {
        let venue = venue_of(&req)?;
        let api = self.clone();
        let who = format!("venue:{venue}");
        let answers = pump(
            req.into_inner(),
            &self.0,
            crate::metrics::StreamKind::CheckStream,
            move |r: pb::CheckRequest| {
                let order_id = r.order_id.clone();
                let answer = match api.0.limiter.admit(&who) {
                    Ok(()) => api.check_one(&venue, r),
                    Err(e) => Box::pin(std::future::ready(Err(e))),
                };
                Box::pin(async move {
                    let result = match answer.await {
                        Ok(resp) => pb::check_stream_response::Result::Response(resp),
                        Err(s) => {
                            pb::check_stream_response::Result::Error(convert::stream_error(&s))
                        }
                    };
                    // A bad request is answered inline; the stream goes on.
                    Ok(pb::CheckStreamResponse {
                        order_id,
                        result: Some(result),
                    })
                })
            },
        );
        Ok(Response::new(answers))
    }

    async fn commit(
        &self,
        req: Request<pb::CommitRequest>,
    ) -> Result<Response<pb::CommitResponse>, Status> {
        let venue = venue_of(&req)?;
        let r = self.end(venue, &req.get_ref().reservation_id, true).await?;
        Ok(Response::new(convert::commit_response(r)))
    }

    async fn release(
        &self,
        req: Request<pb::ReleaseRequest>,
    ) -> Result<Response<pb::ReleaseResponse>, Status> {
        let venue = venue_of(&req)?;
        let r = self
            .end(venue, &req.get_ref().reservation_id, false)
            .await?;
        Ok(Response::new(convert::release_response(r)))
    }
}

// ---- brokers -----------------------------------------------------------

/// `PositionService`.
#[derive(Debug, Clone)]
pub struct PositionApi(pub Shared);

fn broker_of<T>(req: &Request<T>) -> Result<domain::BrokerId, Status> {
    domain::BrokerId::new(&principal(req)?.id)
        .map_err(|_| Status::permission_denied("principal id is not a broker id"))
}

impl PositionApi {
    /// Applies a sync message now; the ack waits for the journal.
    fn sync_one(&self, broker: &domain::BrokerId, msg: pb::SyncRequest) -> Answer<pb::SyncAck> {
        let pending = convert::sync_batch(msg)
            .map_err(Status::from)
            .and_then(|batch| {
                if let Err(status) = self.0.broker_scopes.check(broker.as_str(), &batch) {
                    self.0.denials.record(
                        &format!("broker:{broker}"),
                        "interlock.v1.PositionService/Sync",
                        &status,
                    );
                    return Err(status);
                }
                Ok(batch)
            })
            .map(|batch| {
                self.0.apply_now(Command::Sync {
                    at_ms: self.0.clock.now_ms(),
                    broker: broker.clone(),
                    batch,
                })
            });
        let shared = self.0.clone();
        Box::pin(async move {
            match shared.finish(pending?).await? {
                Outcome::Sync(domain::SyncAnswer::Applied { sequence }) => Ok(pb::SyncAck { applied_sequence: sequence }),
                Outcome::Sync(domain::SyncAnswer::Gap { expected, got }) => Err(Status::failed_precondition(format!(
                    "sequence gap: expected sequence {expected}, got {got}; checks on this broker's participants fail closed until {expected} arrives"
                ))),
                _ => Err(mismatch()),
            }
        })
    }
}

#[tonic::async_trait]
impl pb::position_service_server::PositionService for PositionApi {
    type SyncStream = BoxStream<pb::SyncAck>;

    async fn sync(
        &self,
        req: Request<Streaming<pb::SyncRequest>>,
    ) -> Result<Response<Self::SyncStream>, Status> {
        let broker = broker_of(&req)?;
        let api = self.clone();
        // Any error ends the stream: the broker resumes from the sequence
        // the error names.
        let acks = pump(
            req.into_inner(),
            &self.0,
            crate::metrics::StreamKind::Sync,
            move |m| api.sync_one(&broker, m),
        );
        Ok(Response::new(acks))
    }

    async fn get_sync_state(
        &self,
        req: Request<pb::GetSyncStateRequest>,
    ) -> Result<Response<pb::SyncState>, Status> {
        let broker = broker_of(&req)?;
        // Where a broker resumes: the leader's, never a follower's that may
        // lag behind it.
        self.0.current().await?;
        let b = self
            .0
            .read(|s| s.broker(&broker).cloned())?
            .unwrap_or_default();
        Ok(Response::new(pb::SyncState {
            broker: broker.to_string(),
            last_applied_sequence: b.last_seq,
            gapped: b.gapped,
            last_seen_ms: b.last_seen_ms,
        }))
    }
}

// ---- oracles: `api/price.rs` -------------------------------------------

mod price;
pub use price::PriceApi;

// ---- admins ------------------------------------------------------------

/// `AdminService`.
#[derive(Debug, Clone)]
pub struct AdminApi(pub Shared);

impl AdminApi {
    /// The admin making a change (auditors may only read; a refusal is
    /// audited).
    fn admin_of<T>(&self, req: &Request<T>) -> Result<String, Status> {
        match crate::auth::admin(req) {
            Ok(p) => Ok(p.id.clone()),
            Err(status) => {
                let who = crate::auth::source_of(req, principal(req).ok());
                self.0
                    .denials
                    .record(&who, &crate::auth::method_of(req), &status);
                Err(status)
            }
        }
    }
}

#[tonic::async_trait]
impl pb::admin_service_server::AdminService for AdminApi {
    async fn set_asset_class(
        &self,
        req: Request<pb::SetAssetClassRequest>,
    ) -> Result<Response<pb::SetAssetClassResponse>, Status> {
        let by = self.admin_of(&req)?;
        let r = req.into_inner();
        let asset = convert::asset(&r.asset)?;
        let class = convert::asset_class(r.class)?;
        let cmd = Command::SetAssetClass {
            at_ms: self.0.clock.now_ms(),
            by,
            asset,
            class,
        };
        match self.0.apply(cmd).await? {
            Outcome::AssetClassSet {
                previous,
                class,
                version,
            } => Ok(Response::new(pb::SetAssetClassResponse {
                previous: previous
                    .map_or(pb::AssetClass::Unspecified, convert::asset_class_pb)
                    .into(),
                class: convert::asset_class_pb(class).into(),
                version,
            })),
            _ => Err(mismatch()),
        }
    }

    async fn set_venue_asset(
        &self,
        req: Request<pb::SetVenueAssetRequest>,
    ) -> Result<Response<pb::SetVenueAssetResponse>, Status> {
        let by = self.admin_of(&req)?;
        let r = req.into_inner();
        let cmd = Command::SetVenueAsset {
            at_ms: self.0.clock.now_ms(),
            by,
            venue: convert::venue(&r.venue)?,
            asset: convert::asset(&r.asset)?,
            params: convert::venue_asset_params(&r)?,
        };
        match self.0.apply(cmd).await? {
            Outcome::VenueAssetSet {
                previous, version, ..
            } => Ok(Response::new(pb::SetVenueAssetResponse {
                version,
                previous_threshold: previous
                    .map(|p| p.threshold.normalize().to_string())
                    .unwrap_or_default(),
                previous_ltv: previous
                    .and_then(|p| p.ltv)
                    .map(|l| l.normalize().to_string())
                    .unwrap_or_default(),
            })),
            _ => Err(mismatch()),
        }
    }

    async fn set_haircut(
        &self,
        req: Request<pb::SetHaircutRequest>,
    ) -> Result<Response<pb::SetHaircutResponse>, Status> {
        let by = self.admin_of(&req)?;
        let r = req.into_inner();
        let cmd = Command::SetHaircut {
            at_ms: self.0.clock.now_ms(),
            by,
            asset: convert::asset(&r.asset)?,
            haircut: convert::haircut(&r.haircut)?,
            force: convert::force_reason(&r.force_reason)?,
        };
        match self.0.apply(cmd).await? {
            Outcome::HaircutSet {
                previous, version, ..
            } => Ok(Response::new(pb::SetHaircutResponse {
                version,
                previous: previous
                    .map(|h| h.normalize().to_string())
                    .unwrap_or_default(),
            })),
            _ => Err(mismatch()),
        }
    }

    async fn set_stress_shock(
        &self,
        req: Request<pb::SetStressShockRequest>,
    ) -> Result<Response<pb::SetStressShockResponse>, Status> {
        let by = self.admin_of(&req)?;
        let r = req.into_inner();
        let cmd = Command::SetStressShock {
            at_ms: self.0.clock.now_ms(),
            by,
            class: convert::asset_class(r.class)?,
            shock: convert::stress_shock(&r.shock)?,
            force: convert::force_reason(&r.force_reason)?,
        };
        match self.0.apply(cmd).await? {
            Outcome::StressShockSet {
                previous, version, ..
            } => Ok(Response::new(pb::SetStressShockResponse {
                version,
                previous: previous.normalize().to_string(),
            })),
            _ => Err(mismatch()),
        }
    }

    async fn set_venue_rule(
        &self,
        req: Request<pb::SetVenueRuleRequest>,
    ) -> Result<Response<pb::SetVenueRuleResponse>, Status> {
        let by = self.admin_of(&req)?;
        let r = req.into_inner();
        let cmd = Command::SetVenueRule {
            at_ms: self.0.clock.now_ms(),
            by,
            venue: convert::venue(&r.venue)?,
            rule: convert::liquidation_rule(r.rule)?,
        };
        match self.0.apply(cmd).await? {
            Outcome::VenueRuleSet { previous, version } => {
                Ok(Response::new(pb::SetVenueRuleResponse {
                    version,
                    previous: previous.map(convert::liquidation_rule_pb),
                }))
            }
            _ => Err(mismatch()),
        }
    }

    async fn set_stress_guard(
        &self,
        req: Request<pb::SetStressGuardRequest>,
    ) -> Result<Response<pb::SetStressGuardResponse>, Status> {
        let by = self.admin_of(&req)?;
        let r = req.into_inner();
        let cmd = Command::SetStressGuard {
            at_ms: self.0.clock.now_ms(),
            by,
            participant: convert::participant(&r.participant)?,
            min_venues: (r.min_venues > 0).then_some(r.min_venues),
        };
        match self.0.apply(cmd).await? {
            Outcome::StressGuardSet { previous, version } => {
                Ok(Response::new(pb::SetStressGuardResponse {
                    previous: previous.unwrap_or(0),
                    version,
                }))
            }
            _ => Err(mismatch()),
        }
    }

    async fn set_scenario(
        &self,
        req: Request<pb::SetScenarioRequest>,
    ) -> Result<Response<pb::SetScenarioResponse>, Status> {
        let by = self.admin_of(&req)?;
        let r = req.into_inner();
        let scenario = if r.delete {
            None
        } else {
            Some(convert::scenario_spec(&r)?)
        };
        let name = r.name.trim().to_owned();
        let cmd = Command::SetScenario {
            at_ms: self.0.clock.now_ms(),
            by,
            name: name.clone(),
            scenario,
        };
        match self.0.apply(cmd).await? {
            Outcome::ScenarioSet { previous, version } => {
                Ok(Response::new(pb::SetScenarioResponse {
                    previous: previous.map(|p| convert::scenario_pb(&name, &p, version - 1)),
                    version,
                }))
            }
            _ => Err(mismatch()),
        }
    }

    async fn list_venues(
        &self,
        _req: Request<pb::ListVenuesRequest>,
    ) -> Result<Response<pb::ListVenuesResponse>, Status> {
        let venues = self.0.read(|s| s.venues())?;
        Ok(Response::new(pb::ListVenuesResponse {
            venues: venues.into_iter().map(convert::venue_config_pb).collect(),
        }))
    }

    async fn get_health(
        &self,
        req: Request<pb::GetHealthRequest>,
    ) -> Result<Response<pb::ParticipantHealth>, Status> {
        let participant = convert::participant(&req.get_ref().participant)?;
        self.0.current().await?;
        match self.0.read(|s| s.health(&participant))? {
            Ok(Some(h)) => Ok(Response::new(convert::health_pb(h))),
            Ok(None) => Err(Status::not_found(format!(
                "participant {participant} not found"
            ))),
            Err(e) => Err(convert::status(e)),
        }
    }

    async fn list_prices(
        &self,
        _req: Request<pb::ListPricesRequest>,
    ) -> Result<Response<pb::ListPricesResponse>, Status> {
        let (assets, shocks) = self.0.read(|s| {
            let assets = s
                .prices()
                .into_iter()
                .map(|(a, p)| convert::asset_price_pb(a, p, s.haircut_of(a), s.model_haircut(a)))
                .collect();
            (assets, s.stress_shocks())
        })?;
        Ok(Response::new(pb::ListPricesResponse {
            assets,
            stress_shocks: Some(convert::stress_shocks_pb(shocks)),
        }))
    }

    async fn set_limit(
        &self,
        req: Request<pb::SetLimitRequest>,
    ) -> Result<Response<pb::Limit>, Status> {
        let by = self.admin_of(&req)?;
        let (spec, expected_version, force) = convert::limit_spec(req.into_inner())?;
        let cmd = Command::SetLimit {
            at_ms: self.0.clock.now_ms(),
            by,
            spec,
            expected_version,
            force,
        };
        match self.0.apply(cmd).await? {
            Outcome::Limit(l) => Ok(Response::new(convert::limit_pb(l))),
            _ => Err(mismatch()),
        }
    }

    async fn delete_limit(
        &self,
        req: Request<pb::DeleteLimitRequest>,
    ) -> Result<Response<pb::DeleteLimitResponse>, Status> {
        let by = self.admin_of(&req)?;
        let id = convert::limit_id(&req.get_ref().id)?;
        let force = convert::force_reason(&req.get_ref().force_reason)?;
        let cmd = Command::DeleteLimit {
            at_ms: self.0.clock.now_ms(),
            by,
            id,
            force,
        };
        match self.0.apply(cmd).await? {
            Outcome::LimitDeleted(l) => Ok(Response::new(pb::DeleteLimitResponse {
                deleted: Some(convert::limit_pb(l)),
            })),
            _ => Err(mismatch()),
        }
    }

    async fn list_limits(
        &self,
        _req: Request<pb::ListLimitsRequest>,
    ) -> Result<Response<pb::ListLimitsResponse>, Status> {
        let limits = self.0.read(|s| s.limits())?;
        Ok(Response::new(pb::ListLimitsResponse {
            limits: limits.into_iter().map(convert::limit_pb).collect(),
        }))
    }

    async fn set_trading_state(
        &self,
        req: Request<pb::SetTradingStateRequest>,
    ) -> Result<Response<pb::SetTradingStateResponse>, Status> {
        let by = self.admin_of(&req)?;
        let r = req.into_inner();
        let participant = convert::participant(&r.participant)?;
        let state = convert::trading_state(r.state)?;
        let reason = convert::reason(&r.reason)?;
        let cmd = Command::SetTradingState {
            at_ms: self.0.clock.now_ms(),
            by,
            participant: participant.clone(),
            state,
            reason,
        };
        match self.0.apply(cmd).await? {
            Outcome::TradingState(t) => Ok(Response::new(pb::SetTradingStateResponse {
                participant: participant.to_string(),
                previous: convert::trading_state_pb(t.previous).into(),
                state: convert::trading_state_pb(t.state).into(),
                released_reservations: t.released_reservations,
            })),
            _ => Err(mismatch()),
        }
    }

    async fn get_exposure(
        &self,
        req: Request<pb::GetExposureRequest>,
    ) -> Result<Response<pb::Exposure>, Status> {
        let participant = convert::participant(&req.get_ref().participant)?;
        self.0.current().await?;
        let now = self.0.clock.now_ms();
        let exposure = self
            .0
            .read(|s| -> Result<_, interlock_ledger::LedgerError> {
                let Some(e) = s.exposure(&participant, now)? else {
                    return Ok(None);
                };
                let values: Vec<_> = e
                    .assets
                    .iter()
                    .map(|a| (a.owned, s.price(&a.asset), s.haircut_of(&a.asset)))
                    .collect();
                let mut pb = convert::exposure_pb(e);
                for (a, (owned, price, haircut)) in pb.assets.iter_mut().zip(values) {
                    convert::value_columns(a, owned, price, haircut);
                }
                pb.hf_eco = s
                    .health(&participant)?
                    .map(|h| convert::health_str(h.eco))
                    .unwrap_or_default();
                Ok(Some(pb))
            })?
            .map_err(status)?;
        exposure
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("participant {participant} not found")))
    }

    async fn top_participants(
        &self,
        req: Request<pb::TopParticipantsRequest>,
    ) -> Result<Response<pb::TopParticipantsResponse>, Status> {
        let n = match req.get_ref().limit {
            0 => 10,
            n if n <= TOP_MAX => n,
            _ => {
                return Err(Status::invalid_argument(format!(
                    "limit: at most {TOP_MAX}"
                )))
            }
        };
        let by = pb::TopBy::try_from(req.get_ref().by)
            .map_err(|_| Status::invalid_argument("by: unknown value"))?;
        if by == pb::TopBy::Stress {
            let last = self
                .0
                .last_stress
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let Some(last) = last else {
                return Err(Status::failed_precondition(
                    "no scheduled stress has run yet (it runs every --stress-every-ms)",
                ));
            };
            return Ok(Response::new(pb::TopParticipantsResponse {
                by_stress: last
                    .worst
                    .iter()
                    .take(n as usize)
                    .map(convert::stress_rank_pb)
                    .collect(),
                stress_scenario: last.scenario,
                stress_at_ms: last.at_ms,
                ..Default::default()
            }));
        }
        if by == pb::TopBy::Hf {
            let ranks = self
                .0
                .read(|s| s.top_by_health(n as usize))?
                .map_err(status)?;
            return Ok(Response::new(pb::TopParticipantsResponse {
                by_hf: ranks.into_iter().map(convert::health_rank_pb).collect(),
                ..Default::default()
            }));
        }
        let top = self.0.read(|s| s.top(n as usize))?.map_err(status)?;
        Ok(Response::new(pb::TopParticipantsResponse {
            entries: top.into_iter().map(convert::top_entry_pb).collect(),
            ..Default::default()
        }))
    }

    type WatchAlertsStream = BoxStream<pb::Alert>;

    async fn watch_alerts(
        &self,
        req: Request<pb::WatchAlertsRequest>,
    ) -> Result<Response<Self::WatchAlertsStream>, Status> {
        let after = req.into_inner().after_seq;
        // Alerts are raised where changes are answered: on a cluster, the
        // leader. A follower refuses the stream naming the leader, and a
        // stream ends (UNAVAILABLE, naming the new leader if known) when
        // its node stops leading, rather than going silent.
        self.0.current().await?;
        let cluster = self.0.cluster.clone();
        let (held, mut rx) = self.0.alerts.subscribe_after(after);
        let mut stopping = self.0.stopping.clone();
        let (tx, out) = mpsc::channel(STREAM_BUFFER);
        let open = self
            .0
            .metrics
            .stream_opened(crate::metrics::StreamKind::WatchAlerts);
        tokio::spawn(async move {
            let _open = open;
            for alert in held {
                if tx.send(Ok(alert)).await.is_err() {
                    return;
                }
            }
            loop {
                let alert = tokio::select! {
                    a = rx.recv() => a,
                    // Stopping (SIGTERM): the watcher is told, so that it
                    // opens the stream again elsewhere (on a cluster, the
                    // next leader) after the last alert it saw.
                    _ = stopping.changed() => {
                        let _ = tx
                            .send(Err(Status::unavailable("this node is stopping")))
                            .await;
                        break;
                    }
                    _ = crate::cluster::until_not_leading(cluster.as_deref()) => {
                        let leader = cluster.as_ref().and_then(|n| n.leader());
                        let _ = tx
                            .send(Err(crate::cluster::not_leader(
                                leader.as_ref().map(|l| l.0),
                                leader.map(|l| l.1),
                            )))
                            .await;
                        break;
                    }
                    // The watcher went away: end now, not at the next alert.
                    _ = tx.closed() => break,
                };
                let alert = match alert {
                    Ok(alert) => alert,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => pb::Alert {
                        kind: pb::AlertKind::AlertsDropped.into(),
                        message: format!("this watcher fell behind; {n} alerts were dropped"),
                        ..Default::default()
                    },
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                };
                if tx.send(Ok(alert)).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out))))
    }

    async fn get_state_digest(
        &self,
        _req: Request<pb::GetStateDigestRequest>,
    ) -> Result<Response<pb::StateDigest>, Status> {
        let (digest, n) = self.0.read(|s| (s.digest_without_audit(), s.audit_len()))?;
        Ok(Response::new(pb::StateDigest {
            sha256: hex::encode(digest),
            audit_records: n as u64,
        }))
    }

    async fn list_audit(
        &self,
        req: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, Status> {
        let r = req.get_ref();
        let n = match r.limit {
            0 => 100,
            n if n <= AUDIT_PAGE_MAX => n,
            _ => {
                return Err(Status::invalid_argument(format!(
                    "limit: at most {AUDIT_PAGE_MAX}"
                )))
            }
        };
        let records = self.0.audit_page(r.after_seq, n as usize).await?;
        Ok(Response::new(pb::ListAuditResponse {
            records: records.into_iter().map(convert::audit_record_pb).collect(),
        }))
    }
}
