//! A typed Rust client for Interlock, used by `interlockctl` and usable by
//! any Rust program (a venue gateway, a broker's sync job, a risk tool).
//!
//! ```no_run
//! # async fn demo() -> Result<(), interlock_client::ClientError> {
//! use interlock_client::{pb, Client};
//! let venue = Client::connect("http://127.0.0.1:50051", Some("dev-venue-a")).await?;
//! let answer = venue
//!     .check(pb::CheckRequest {
//!         order_id: "o-1".into(),
//!         participant: "fund-7".into(),
//!         asset: "ETH".into(),
//!         quantity: "100".into(),
//!         ..Default::default()
//!     })
//!     .await?;
//! println!("{:?}", answer.verdict());
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod pki;

use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub mod failover;

pub use failover::Failover;
pub use interlock::cluster::v1 as cluster_pb;
pub use interlock::v1 as pb;
use pb::admin_service_client::AdminServiceClient;
use pb::analytics_service_client::AnalyticsServiceClient;
use pb::position_service_client::PositionServiceClient;
use pb::pre_trade_service_client::PreTradeServiceClient;
use pb::price_service_client::PriceServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Request, Status, Streaming};

/// Default deadline of a unary call.
pub const CALL_TIMEOUT_MS: u64 = 10_000;
/// How long an analytics run may take before the client gives up (the
/// server stops it then too, and at its own `--analytics-deadline-ms`).
pub const ANALYTICS_TIMEOUT_MS: u64 = 120_000;
/// The same for a systemic ranking (the server's `--systemic-deadline-ms`
/// is 30 minutes by default).
pub const SYSTEMIC_TIMEOUT_MS: u64 = 1_800_000;
/// Deadline for connecting.
pub const CONNECT_TIMEOUT_MS: u64 = 5_000;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        endpoint: String,
        source: tonic::transport::Error,
    },
    #[error("invalid endpoint {0:?}")]
    Endpoint(String),
    #[error("the token is not valid header text")]
    Token,
    #[error("TLS setup: {0}")]
    Tls(String),
    // Not a `#[source]`: the text already says everything, once.
    #[error("{}: {}", code_name(.0.code()), .0.message())]
    Status(Status),
}

impl From<Status> for ClientError {
    fn from(s: Status) -> Self {
        ClientError::Status(s)
    }
}

/// Every ack of a stream, in order (`n` expected); the first error ends it.
async fn collect<T>(mut acks: Streaming<T>, n: usize) -> Result<Vec<T>, ClientError> {
    let mut out = Vec::with_capacity(n);
    while let Some(ack) = acks.message().await? {
        out.push(ack);
    }
    Ok(out)
}

/// The canonical upper-case name of a gRPC code ("INVALID_ARGUMENT").
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The deadline of a membership change: the server waits up to a minute
/// for an added node to catch up (`CATCH_UP_MAX`), then commits two
/// membership entries.
pub const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(75);

/// A call's result, boxed (the streams' steps, [`Sequenced`]).
type Step<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ClientError>> + Send>>;

/// How a stream of sequenced messages (a broker's sync, an oracle's
/// prices) is sent and, on a cluster, resumed ([`Client::sequenced`]).
struct Sequenced<M, A> {
    sequence: fn(&M) -> u64,
    /// The sequence an ack says is applied.
    acked: fn(&A) -> u64,
    /// The ack of a message found applied on a retry, when one can be made
    /// from its sequence alone.
    ack_of: Option<fn(u64) -> A>,
    /// The last sequence the leader applied for the caller.
    applied: fn(Client) -> Step<u64>,
    open: fn(Client, Vec<M>) -> Step<Streaming<A>>,
}

/// A connection plus the caller's bearer token. Cheap to clone.
///
/// Connected to a cluster ([`Client::connect_cluster`]), it follows the
/// leader: the venue calls and the admin's changes move to the node a
/// follower names, or past a node that does not answer, and retry the same
/// request (`failover`). Streams (sync, publish, alerts) stay on the node
/// they started on.
#[derive(Debug, Clone)]
pub struct Client {
    channel: Channel,
    token: Option<MetadataValue<Ascii>>,
    nodes: Option<std::sync::Arc<failover::Nodes>>,
    /// The deadline of a unary call.
    call_timeout: Duration,
}

/// Runs a unary call sending `$r`, on a cluster through
/// [`failover::Nodes::call`]: the body is run with `$c`, a client on one
/// node, and a copy of `$r`, as many times as the failover needs.
macro_rules! failover {
    ($self:ident, $r:ident, |$c:ident| $body:expr) => {
        match &$self.nodes {
            None => {
                let $c = $self;
                $body
            }
            Some(nodes) => {
                nodes
                    .call(|channel| {
                        let $c = $self.on(channel);
                        let $r = $r.clone();
                        async move { $body }
                    })
                    .await
            }
        }
    };
}

/// Mutual TLS for a client: the CA that signed the server's certificate,
/// and the client's own certificate and key (PEM).
#[derive(Debug, Clone)]
pub struct TlsOptions {
    pub ca_pem: String,
    pub identity: Option<(String, String)>,
    /// The name the server's certificate must carry (default: the
    /// endpoint's host).
    pub domain: Option<String>,
}

impl TlsOptions {
    /// Reads the CA, certificate and key files.
    pub fn from_files(
        ca: &std::path::Path,
        cert_key: Option<(&std::path::Path, &std::path::Path)>,
    ) -> Result<Self, ClientError> {
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p)
                .map_err(|e| ClientError::Tls(format!("{}: {e}", p.display())))
        };
        let identity = match cert_key {
            Some((c, k)) => Some((read(c)?, read(k)?)),
            None => None,
        };
        Ok(TlsOptions {
            ca_pem: read(ca)?,
            identity,
            domain: None,
        })
    }
}

/// An endpoint with the client's timeouts, over mutual TLS when `tls` is
/// given.
fn endpoint(url: &str, tls: Option<&TlsOptions>) -> Result<Endpoint, ClientError> {
    let mut ep = Endpoint::from_shared(url.to_owned())
        .map_err(|_| ClientError::Endpoint(url.to_owned()))?
        .connect_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS))
        .tcp_nodelay(true);
    if let Some(tls) = tls {
        let mut cfg = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&tls.ca_pem));
        if let Some((cert, key)) = &tls.identity {
            cfg = cfg.identity(Identity::from_pem(cert, key));
        }
        if let Some(d) = &tls.domain {
            cfg = cfg.domain_name(d.clone());
        }
        ep = ep
            .tls_config(cfg)
            .map_err(|e| ClientError::Tls(e.to_string()))?;
    }
    Ok(ep)
}

impl Client {
    /// Connects to `endpoint` ("http://host:port"), in plaintext.
    pub async fn connect(endpoint: &str, token: Option<&str>) -> Result<Self, ClientError> {
        Client::connect_with(endpoint, None, token).await
    }

    /// Connects to `endpoint`, over mutual TLS when `tls` is given ("https://host:port").
    pub async fn connect_with(
        endpoint_url: &str,
        tls: Option<&TlsOptions>,
        token: Option<&str>,
    ) -> Result<Self, ClientError> {
        let channel = endpoint(endpoint_url, tls)?
            .connect()
            .await
            .map_err(|source| ClientError::Connect {
                endpoint: endpoint_url.to_owned(),
                source,
            })?;
        Client::with_channel(channel, token)
    }

    /// Wraps an existing channel.
    pub fn with_channel(channel: Channel, token: Option<&str>) -> Result<Self, ClientError> {
        let token = token
            .map(|t| {
                format!("Bearer {t}")
                    .parse::<MetadataValue<Ascii>>()
                    .map_err(|_| ClientError::Token)
            })
            .transpose()?;
        Ok(Client {
            channel,
            token,
            nodes: None,
            call_timeout: Duration::from_millis(CALL_TIMEOUT_MS),
        })
    }

    /// A client of a cluster: `endpoints` are its nodes' API addresses
    /// ("http://host:port" or "https://..."), in any order. Connections are
    /// made when first used, so a node that is down does not stop it.
    pub fn connect_cluster(
        endpoints: &[String],
        tls: Option<&TlsOptions>,
        token: Option<&str>,
    ) -> Result<Self, ClientError> {
        if endpoints.is_empty() {
            return Err(ClientError::Endpoint(String::new()));
        }
        let channels = endpoints
            .iter()
            .map(|e| {
                Ok(endpoint(e, tls)?
                    .connect_timeout(Duration::from_millis(failover::CONNECT_TIMEOUT_MS))
                    .connect_lazy())
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        let mut c = Client::with_channel(channels[0].clone(), token)?;
        c.call_timeout = Duration::from_millis(failover::CALL_TIMEOUT_MS);
        c.nodes = Some(std::sync::Arc::new(failover::Nodes::new(
            endpoints.to_vec(),
            channels,
        )));
        Ok(c)
    }

    /// The moves to another node made since the last call (at most
    /// [`failover::FAILOVERS_KEPT`]); empty for a single endpoint.
    pub fn failovers(&self) -> Vec<Failover> {
        self.nodes
            .as_ref()
            .map(|n| n.take_moves())
            .unwrap_or_default()
    }

    /// This client's token on one node's channel, without failover.
    fn on(&self, channel: Channel) -> Client {
        Client {
            channel,
            token: self.token.clone(),
            nodes: None,
            call_timeout: self.call_timeout,
        }
    }

    /// The channel calls go on: the node believed to lead, on a cluster.
    fn chan(&self) -> Channel {
        match &self.nodes {
            Some(n) => n.channel(),
            None => self.channel.clone(),
        }
    }

    /// The same connection with another token.
    pub fn as_token(&self, token: &str) -> Result<Self, ClientError> {
        Client::with_channel(self.chan(), Some(token))
    }

    /// A request with the token attached.
    pub fn request<T>(&self, msg: T) -> Request<T> {
        let mut req = Request::new(msg);
        if let Some(t) = &self.token {
            req.metadata_mut().insert("authorization", t.clone());
        }
        req
    }

    fn unary<T>(&self, msg: T) -> Request<T> {
        let mut req = self.request(msg);
        req.set_timeout(self.call_timeout);
        req
    }

    pub fn pretrade(&self) -> PreTradeServiceClient<Channel> {
        PreTradeServiceClient::new(self.chan())
    }

    pub fn position(&self) -> PositionServiceClient<Channel> {
        PositionServiceClient::new(self.chan())
    }

    pub fn price(&self) -> PriceServiceClient<Channel> {
        PriceServiceClient::new(self.chan())
    }

    pub fn admin(&self) -> AdminServiceClient<Channel> {
        AdminServiceClient::new(self.chan())
    }

    pub fn analytics(&self) -> AnalyticsServiceClient<Channel> {
        AnalyticsServiceClient::new(self.chan())
    }

    pub fn cluster(&self) -> cluster_pb::cluster_service_client::ClusterServiceClient<Channel> {
        cluster_pb::cluster_service_client::ClusterServiceClient::new(self.chan())
    }

    /// The cluster as the node this client talks to sees it (admin,
    /// auditor). FAILED_PRECONDITION from a single node.
    pub async fn cluster_status(
        &self,
    ) -> Result<cluster_pb::GetClusterStatusResponse, ClientError> {
        Ok(self
            .cluster()
            .get_cluster_status(self.unary(cluster_pb::GetClusterStatusRequest {}))
            .await?
            .into_inner())
    }

    /// Adds node `node_id` to the cluster (admin; the leader answers, a
    /// cluster client finds it): as a learner until it has caught up, then
    /// as a voter. Waits up to [`MEMBERSHIP_TIMEOUT`].
    pub async fn add_node(
        &self,
        node_id: u64,
        cluster_addr: &str,
        api_addr: &str,
    ) -> Result<cluster_pb::AddNodeResponse, ClientError> {
        let r = cluster_pb::AddNodeRequest {
            node_id,
            cluster_addr: cluster_addr.into(),
            api_addr: api_addr.into(),
        };
        failover!(self, r, |c| {
            let mut req = c.request(r);
            req.set_timeout(MEMBERSHIP_TIMEOUT);
            Ok(c.cluster().add_node(req).await?.into_inner())
        })
    }

    /// Removes node `node_id` from the cluster (admin; on the leader).
    pub async fn remove_node(
        &self,
        node_id: u64,
    ) -> Result<cluster_pb::RemoveNodeResponse, ClientError> {
        let r = cluster_pb::RemoveNodeRequest { node_id };
        failover!(self, r, |c| {
            let mut req = c.request(r);
            req.set_timeout(MEMBERSHIP_TIMEOUT);
            Ok(c.cluster().remove_node(req).await?.into_inner())
        })
    }

    fn long<T>(&self, msg: T) -> Request<T> {
        let mut req = self.request(msg);
        req.set_timeout(Duration::from_millis(ANALYTICS_TIMEOUT_MS));
        req
    }

    // ---- analytics (admin, auditor) ----

    /// Every price moved once by a scenario.
    pub async fn stress(&self, r: pb::StressRequest) -> Result<pb::StressReport, ClientError> {
        Ok(self.analytics().stress(self.long(r)).await?.into_inner())
    }

    /// Shock, liquidate, sell, re-price, until nothing more breaks.
    pub async fn cascade(&self, r: pb::CascadeRequest) -> Result<pb::CascadeReport, ClientError> {
        Ok(self.analytics().cascade(self.long(r)).await?.into_inner())
    }

    /// The systemic ranking's stream: progress, then the report.
    pub async fn systemic(
        &self,
        r: pb::SystemicRequest,
    ) -> Result<Streaming<pb::SystemicUpdate>, ClientError> {
        let mut req = self.request(r);
        req.set_timeout(Duration::from_millis(SYSTEMIC_TIMEOUT_MS));
        Ok(self.analytics().systemic(req).await?.into_inner())
    }

    /// A venue's reuse report (empty: the caller's own, or every venue for
    /// an admin).
    pub async fn reuse_report(&self, venue: &str) -> Result<pb::ReuseReportResponse, ClientError> {
        Ok(self
            .analytics()
            .reuse_report(self.long(pb::ReuseReportRequest {
                venue: venue.to_owned(),
            }))
            .await?
            .into_inner())
    }

    /// Opts a participant into reduce-only by the scheduled stress at
    /// `min_venues` breached venues (0: out).
    pub async fn set_stress_guard(
        &self,
        participant: &str,
        min_venues: u32,
    ) -> Result<pb::SetStressGuardResponse, ClientError> {
        Ok(self
            .admin()
            .set_stress_guard(self.unary(pb::SetStressGuardRequest {
                participant: participant.into(),
                min_venues,
            }))
            .await?
            .into_inner())
    }

    /// Sets (or deletes) a named scenario of the library.
    pub async fn set_scenario(
        &self,
        r: pb::SetScenarioRequest,
    ) -> Result<pb::SetScenarioResponse, ClientError> {
        Ok(self.admin().set_scenario(self.unary(r)).await?.into_inner())
    }

    pub async fn scenarios(&self) -> Result<Vec<pb::ScenarioShocks>, ClientError> {
        Ok(self
            .analytics()
            .list_scenarios(self.unary(pb::ListScenariosRequest {}))
            .await?
            .into_inner()
            .scenarios)
    }

    pub fn channel(&self) -> Channel {
        self.chan()
    }

    // ---- venue ----

    pub async fn check(&self, r: pb::CheckRequest) -> Result<pb::CheckResponse, ClientError> {
        failover!(self, r, |c| Ok(c
            .pretrade()
            .check(c.unary(r))
            .await?
            .into_inner()))
    }

    pub async fn commit(&self, reservation_id: &str) -> Result<pb::CommitResponse, ClientError> {
        let r = pb::CommitRequest {
            reservation_id: reservation_id.to_owned(),
        };
        failover!(self, r, |c| Ok(c
            .pretrade()
            .commit(c.unary(r))
            .await?
            .into_inner()))
    }

    pub async fn release(&self, reservation_id: &str) -> Result<pb::ReleaseResponse, ClientError> {
        let r = pb::ReleaseRequest {
            reservation_id: reservation_id.to_owned(),
        };
        failover!(self, r, |c| Ok(c
            .pretrade()
            .release(c.unary(r))
            .await?
            .into_inner()))
    }

    // ---- broker ----

    pub async fn sync_state(&self) -> Result<pb::SyncState, ClientError> {
        Ok(self
            .position()
            .get_sync_state(self.unary(pb::GetSyncStateRequest {}))
            .await?
            .into_inner())
    }

    /// Sends sync messages and collects the acks; stops at the first error.
    ///
    /// On a cluster a stream cut by a failover resumes on the leader: the
    /// client asks it the last sequence it applied for this broker
    /// (`GetSyncState`, answered by a confirmed leader only) and sends the
    /// messages after it, so none is applied twice or skipped. A message
    /// the old leader applied without its ack arriving is acknowledged by
    /// that answer: its ack here is the sequence the leader reports. Only
    /// messages this call had already sent are looked for that way: one
    /// sent again that the server applied before this call (the caller's
    /// replay) is refused as on a single node, unless the first node tried
    /// was a follower, in which case it is acknowledged by sequence.
    pub async fn sync(
        &self,
        messages: Vec<pb::SyncRequest>,
    ) -> Result<Vec<pb::SyncAck>, ClientError> {
        self.sequenced(
            messages,
            Sequenced {
                sequence: |m: &pb::SyncRequest| m.sequence,
                acked: |a: &pb::SyncAck| a.applied_sequence,
                ack_of: Some(|seq| pb::SyncAck {
                    applied_sequence: seq,
                }),
                applied: |c| {
                    Box::pin(async move { Ok(c.sync_state().await?.last_applied_sequence) })
                },
                open: |c, todo| {
                    Box::pin(async move {
                        Ok(c.position()
                            .sync(c.request(tokio_stream::iter(todo)))
                            .await?
                            .into_inner())
                    })
                },
            },
        )
        .await
    }

    /// Sends a stream of sequenced messages and collects the acks; on a
    /// cluster, resumes a stream a failover cut (see [`Client::sync`]).
    async fn sequenced<M, A>(
        &self,
        messages: Vec<M>,
        how: Sequenced<M, A>,
    ) -> Result<Vec<A>, ClientError>
    where
        M: Clone + Send + Sync + 'static,
        A: Send + 'static,
    {
        let Some(nodes) = &self.nodes else {
            let n = messages.len();
            return collect((how.open)(self.clone(), messages).await?, n).await;
        };
        let acks: Arc<Mutex<Vec<A>>> = Default::default();
        // The highest sequence handed to a stream by this call: only those
        // may be found applied on a retry (an earlier one is the caller's
        // replay, refused as on a single node).
        let sent = Arc::new(AtomicU64::new(0));
        let messages = Arc::new(messages);
        nodes
            .call(|channel| {
                let (c, acks, sent) = (self.on(channel), acks.clone(), sent.clone());
                let messages = messages.clone();
                async move {
                    let mut done = acks
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .last()
                        .map_or(0, how.acked);
                    let handed = sent.load(AtomicOrdering::Relaxed);
                    if handed > done {
                        let applied = (how.applied)(c.clone()).await?.min(handed);
                        if let Some(ack_of) = how.ack_of {
                            let mut a = acks.lock().unwrap_or_else(|p| p.into_inner());
                            for m in messages.iter() {
                                let seq = (how.sequence)(m);
                                if seq > done && seq <= applied {
                                    a.push(ack_of(seq));
                                }
                            }
                        }
                        done = done.max(applied);
                    }
                    let todo: Vec<M> = messages
                        .iter()
                        .filter(|m| (how.sequence)(m) > done)
                        .cloned()
                        .collect();
                    let Some(last) = todo.iter().map(how.sequence).max() else {
                        return Ok(());
                    };
                    sent.fetch_max(last, AtomicOrdering::Relaxed);
                    let mut stream = (how.open)(c, todo).await?;
                    while let Some(ack) = stream.message().await? {
                        acks.lock().unwrap_or_else(|p| p.into_inner()).push(ack);
                    }
                    Ok(())
                }
            })
            .await?;
        let acks = std::mem::take(&mut *acks.lock().unwrap_or_else(|p| p.into_inner()));
        Ok(acks)
    }

    // ---- oracle ----

    pub async fn publish_state(&self) -> Result<pb::PublishState, ClientError> {
        Ok(self
            .price()
            .get_publish_state(self.unary(pb::GetPublishStateRequest {}))
            .await?
            .into_inner())
    }

    /// Sends price messages and collects the acks; stops at the first error.
    ///
    /// On a cluster a stream cut by a failover resumes on the leader from
    /// the last sequence it applied for this oracle (`GetPublishState`), as
    /// [`Client::sync`] does. A message the old leader applied without its
    /// ack arriving has no ack here (its quotes' verdicts are not known to
    /// the client); the next ack's sequence covers it.
    pub async fn publish(
        &self,
        messages: Vec<pb::PublishRequest>,
    ) -> Result<Vec<pb::PublishAck>, ClientError> {
        self.sequenced(
            messages,
            Sequenced {
                sequence: |m: &pb::PublishRequest| m.sequence,
                acked: |a: &pb::PublishAck| a.applied_sequence,
                ack_of: None,
                applied: |c| {
                    Box::pin(async move { Ok(c.publish_state().await?.last_applied_sequence) })
                },
                open: |c, todo| {
                    Box::pin(async move {
                        Ok(c.price()
                            .publish(c.request(tokio_stream::iter(todo)))
                            .await?
                            .into_inner())
                    })
                },
            },
        )
        .await
    }

    // ---- admin ----

    pub async fn set_asset_class(
        &self,
        asset: &str,
        class: pb::AssetClass,
    ) -> Result<pb::SetAssetClassResponse, ClientError> {
        Ok(self
            .admin()
            .set_asset_class(self.unary(pb::SetAssetClassRequest {
                asset: asset.into(),
                class: class.into(),
            }))
            .await?
            .into_inner())
    }

    pub async fn set_venue_asset(
        &self,
        r: pb::SetVenueAssetRequest,
    ) -> Result<pb::SetVenueAssetResponse, ClientError> {
        Ok(self
            .admin()
            .set_venue_asset(self.unary(r))
            .await?
            .into_inner())
    }

    /// Pins `haircut` for `asset`; an empty string unpins it. Lowering it
    /// past the loosening step needs `force_reason`.
    pub async fn set_haircut(
        &self,
        asset: &str,
        haircut: &str,
        force_reason: &str,
    ) -> Result<pb::SetHaircutResponse, ClientError> {
        Ok(self
            .admin()
            .set_haircut(self.unary(pb::SetHaircutRequest {
                asset: asset.into(),
                haircut: haircut.into(),
                force_reason: force_reason.into(),
            }))
            .await?
            .into_inner())
    }

    pub async fn health_of(&self, participant: &str) -> Result<pb::ParticipantHealth, ClientError> {
        let r = pb::GetHealthRequest {
            participant: participant.into(),
        };
        failover!(self, r, |c| Ok(c
            .admin()
            .get_health(c.unary(r))
            .await?
            .into_inner()))
    }

    pub async fn list_prices(&self) -> Result<Vec<pb::AssetPrice>, ClientError> {
        Ok(self.prices_and_shocks().await?.assets)
    }

    /// Every classed asset's price, and the standard shock vector.
    pub async fn prices_and_shocks(&self) -> Result<pb::ListPricesResponse, ClientError> {
        Ok(self
            .admin()
            .list_prices(self.unary(pb::ListPricesRequest {}))
            .await?
            .into_inner())
    }

    /// Sets how `venue` liquidates.
    pub async fn set_venue_rule(
        &self,
        venue: &str,
        rule: pb::liquidation_rule::Rule,
    ) -> Result<pb::SetVenueRuleResponse, ClientError> {
        Ok(self
            .admin()
            .set_venue_rule(self.unary(pb::SetVenueRuleRequest {
                venue: venue.into(),
                rule: Some(pb::LiquidationRule { rule: Some(rule) }),
            }))
            .await?
            .into_inner())
    }

    /// Every configured venue.
    pub async fn list_venues(&self) -> Result<Vec<pb::VenueConfig>, ClientError> {
        Ok(self
            .admin()
            .list_venues(self.unary(pb::ListVenuesRequest {}))
            .await?
            .into_inner()
            .venues)
    }

    /// Sets the standard shock of an asset class (`shock` in [-1, 0]).
    /// Making it milder past the loosening step needs `force_reason`.
    pub async fn set_stress_shock(
        &self,
        class: pb::AssetClass,
        shock: &str,
        force_reason: &str,
    ) -> Result<pb::SetStressShockResponse, ClientError> {
        Ok(self
            .admin()
            .set_stress_shock(self.unary(pb::SetStressShockRequest {
                class: class.into(),
                shock: shock.into(),
                force_reason: force_reason.into(),
            }))
            .await?
            .into_inner())
    }

    pub async fn set_limit(&self, r: pb::SetLimitRequest) -> Result<pb::Limit, ClientError> {
        failover!(self, r, |c| Ok(c
            .admin()
            .set_limit(c.unary(r))
            .await?
            .into_inner()))
    }

    /// Deletes a limit; deleting loosens, so the server requires a reason.
    pub async fn delete_limit(
        &self,
        id: &str,
        force_reason: &str,
    ) -> Result<pb::DeleteLimitResponse, ClientError> {
        let r = pb::DeleteLimitRequest {
            id: id.to_owned(),
            force_reason: force_reason.to_owned(),
        };
        failover!(self, r, |c| Ok(c
            .admin()
            .delete_limit(c.unary(r))
            .await?
            .into_inner()))
    }

    pub async fn list_limits(&self) -> Result<Vec<pb::Limit>, ClientError> {
        Ok(self
            .admin()
            .list_limits(self.unary(pb::ListLimitsRequest {}))
            .await?
            .into_inner()
            .limits)
    }

    pub async fn set_trading_state(
        &self,
        participant: &str,
        state: pb::TradingState,
        reason: &str,
    ) -> Result<pb::SetTradingStateResponse, ClientError> {
        let r = pb::SetTradingStateRequest {
            participant: participant.to_owned(),
            state: state.into(),
            reason: reason.to_owned(),
        };
        failover!(self, r, |c| Ok(c
            .admin()
            .set_trading_state(c.unary(r))
            .await?
            .into_inner()))
    }

    pub async fn exposure(&self, participant: &str) -> Result<pb::Exposure, ClientError> {
        let r = pb::GetExposureRequest {
            participant: participant.to_owned(),
        };
        failover!(self, r, |c| Ok(c
            .admin()
            .get_exposure(c.unary(r))
            .await?
            .into_inner()))
    }

    pub async fn top(&self, limit: u32) -> Result<Vec<pb::TopEntry>, ClientError> {
        let r = pb::TopParticipantsRequest {
            limit,
            by: pb::TopBy::Utilization.into(),
        };
        Ok(self
            .admin()
            .top_participants(self.unary(r))
            .await?
            .into_inner()
            .entries)
    }

    /// The participants with debt, weakest HF^eco first.
    pub async fn top_by_hf(&self, limit: u32) -> Result<Vec<pb::HealthRank>, ClientError> {
        let r = pb::TopParticipantsRequest {
            limit,
            by: pb::TopBy::Hf.into(),
        };
        Ok(self
            .admin()
            .top_participants(self.unary(r))
            .await?
            .into_inner()
            .by_hf)
    }

    /// The worst participants under the last scheduled stress.
    pub async fn top_by_stress(
        &self,
        limit: u32,
    ) -> Result<pb::TopParticipantsResponse, ClientError> {
        let r = pb::TopParticipantsRequest {
            limit,
            by: pb::TopBy::Stress.into(),
        };
        Ok(self
            .admin()
            .top_participants(self.unary(r))
            .await?
            .into_inner())
    }

    pub async fn audit(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<pb::AuditRecord>, ClientError> {
        let r = pb::ListAuditRequest { after_seq, limit };
        Ok(self
            .admin()
            .list_audit(self.unary(r))
            .await?
            .into_inner()
            .records)
    }

    /// The alert stream, from now on. On a cluster it opens on the leader
    /// (a follower refuses it naming the leader, and the client follows);
    /// it ends with UNAVAILABLE when that node stops leading: open it again
    /// with [`Client::watch_alerts_after`] and the last seq seen to follow
    /// the new leader without missing what was raised in between.
    pub async fn watch_alerts(&self) -> Result<Streaming<pb::Alert>, ClientError> {
        self.watch_alerts_after(0).await
    }

    /// The alert stream, first the alerts the node still holds with seq
    /// greater than `after_seq` (0: none), then the new ones.
    pub async fn watch_alerts_after(
        &self,
        after_seq: u64,
    ) -> Result<Streaming<pb::Alert>, ClientError> {
        let r = pb::WatchAlertsRequest { after_seq };
        failover!(self, r, |c| Ok(c
            .admin()
            .watch_alerts(c.request(r))
            .await?
            .into_inner()))
    }

    /// The digest of the ledger without its audit log.
    pub async fn state_digest(&self) -> Result<pb::StateDigest, ClientError> {
        Ok(self
            .admin()
            .get_state_digest(self.unary(pb::GetStateDigestRequest {}))
            .await?
            .into_inner())
    }

    /// Reads the whole audit log and checks its hash chain. Returns the
    /// number of records and the head hash (hex); fails naming the first
    /// record that does not fit.
    pub async fn audit_verify(&self) -> Result<(u64, String), ClientError> {
        let broken = |msg: String| ClientError::Status(Status::data_loss(msg));
        let hash = |seq: u64, h: &str| -> Result<[u8; 32], ClientError> {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h, &mut out)
                .map_err(|_| broken(format!("audit record {seq}: hash is not 64 hex digits")))?;
            Ok(out)
        };
        let mut prev = [0u8; 32];
        let mut after = 0;
        loop {
            let page = self.audit(after, 1000).await?;
            if page.is_empty() {
                return Ok((after, hex::encode(prev)));
            }
            let mut records = Vec::with_capacity(page.len());
            for r in page {
                if r.seq != after + records.len() as u64 + 1 {
                    return Err(broken(format!(
                        "audit record {} is out of sequence (a record is missing)",
                        r.seq
                    )));
                }
                records.push(interlock_ledger::AuditRecord {
                    seq: r.seq,
                    at_ms: r.at_ms,
                    prev_hash: hash(r.seq, &r.prev_hash)?,
                    hash: hash(r.seq, &r.hash)?,
                    principal: r.principal,
                    action: r.action,
                    target: r.target,
                    old_value: r.old_value,
                    new_value: r.new_value,
                    outcome: r.outcome,
                });
            }
            if let Err(seq) = interlock_ledger::verify_audit_chain(&records, prev) {
                return Err(broken(format!(
                    "audit record {seq} breaks the hash chain: the log was altered"
                )));
            }
            let last = records.last().expect("a non-empty page");
            prev = last.hash;
            after = last.seq;
        }
    }
}
