//! openraft's network over tonic: one lazily connected channel per peer,
//! each message one unary `RaftService` call carrying the message in the
//! replication codec.

// openraft's RPCError is large; it is its API, not ours.
#![allow(clippy::result_large_err)]

use interlock::cluster::v1 as pb;
use interlock_replication::codec::{self, InstallSnapshotAnswer, Message};
use interlock_replication::{ClusterNode, DiskId, NodeId, TypeConfig};

use super::disks;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use pb::raft_service_client::RaftServiceClient;

/// Makes a client per peer.
#[derive(Clone, Default)]
pub struct Network {
    pub tls: Option<ClientTlsConfig>,
    /// The disks peers answered from, for the leader to record.
    pub heard: std::sync::Arc<disks::Heard>,
}

impl Network {
    /// Where `node`'s cluster port is, over TLS when this cluster has it.
    fn endpoint(&self, node: &ClusterNode) -> Result<Endpoint, String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let endpoint = Endpoint::from_shared(format!("{scheme}://{}", node.raft_addr))
            .map_err(|e| format!("{}: {e}", node.raft_addr))?;
        match &self.tls {
            Some(tls) => endpoint
                .tls_config(tls.clone())
                .map_err(|e| format!("{}: {e}", node.raft_addr)),
            None => Ok(endpoint),
        }
    }

    /// A client of `node` for one call outside openraft's replication, on
    /// a connection of its own, connecting and answering within `deadline`.
    async fn connect_once(
        &self,
        node: &ClusterNode,
        deadline: std::time::Duration,
    ) -> Result<RaftServiceClient<Channel>, String> {
        let channel = self
            .endpoint(node)?
            .connect_timeout(deadline)
            .timeout(deadline)
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(RaftServiceClient::new(channel))
    }

    /// Tells `node` that this leader (`leader`, in `term`) has stopped and
    /// it should bid (`RaftService.TimeoutNow`); whether it will.
    pub async fn timeout_now(
        &self,
        node: &ClusterNode,
        leader: NodeId,
        term: u64,
    ) -> Result<bool, String> {
        let answer = self
            .connect_once(node, TIMEOUT_NOW_DEADLINE)
            .await?
            .timeout_now(pb::TimeoutNowRequest { leader, term })
            .await
            .map_err(|s| s.message().to_owned())?;
        Ok(answer.into_inner().accepted)
    }
}

impl Network {
    /// Audit records with `seq > after`, at most `max`, from `node`
    /// (`RaftService.ReadAudit`), decoded but not yet checked.
    pub async fn read_audit(
        &self,
        node: &ClusterNode,
        after: u64,
        max: u32,
    ) -> Result<Vec<interlock_ledger::AuditRecord>, String> {
        let answer = self
            .connect_once(node, READ_AUDIT_DEADLINE)
            .await?
            .max_decoding_message_size(super::CLUSTER_MESSAGE_MAX)
            .read_audit(pb::ReadAuditRequest { after, max })
            .await
            .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?;
        answer
            .into_inner()
            .records
            .iter()
            .map(|b| interlock_ledger::codec::from_bytes(b).map_err(|e| e.to_string()))
            .collect()
    }
}

/// How long a node waits for a peer's batch of audit records.
pub const READ_AUDIT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a stopping leader tries to reach its successor.
pub const TIMEOUT_NOW_DEADLINE: std::time::Duration = std::time::Duration::from_millis(200);

/// The client of one peer, for one leader's replication to it (or one
/// candidate's bids).
pub struct Peer {
    target: NodeId,
    client: Result<RaftServiceClient<Channel>, String>,
    /// The disk the peer is known by: as recorded in the membership, or
    /// else the first it answered from in this replication.
    disk: Option<DiskId>,
    heard: std::sync::Arc<disks::Heard>,
    /// Whether the peer was seen answering from another disk.
    replaced: bool,
    /// The last entry the peer has answered it holds, in this replication.
    matched: Option<u64>,
    /// Whether the peer's log was seen going back (said once).
    reverted: bool,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &ClusterNode) -> Peer {
        let client = self
            .endpoint(node)
            .map_err(|e| format!("node {target} at {e}"))
            .map(|e| {
                let channel = e
                    .tcp_nodelay(true)
                    .initial_stream_window_size(super::CLUSTER_WINDOW)
                    .initial_connection_window_size(super::CLUSTER_WINDOW)
                    .connect_timeout(std::time::Duration::from_millis(500))
                    .connect_lazy();
                RaftServiceClient::new(channel).max_decoding_message_size(usize::MAX)
            });
        Peer {
            target,
            client,
            disk: node.disk,
            heard: self.heard.clone(),
            replaced: false,
            matched: None,
            reverted: false,
        }
    }
}

/// Why a call did not get an answer, as openraft wants it: a node that
/// cannot be reached is backed off from; anything else is retried.
fn failed<E: std::error::Error>(status: tonic::Status) -> RPCError<NodeId, ClusterNode, E> {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => {
            RPCError::Unreachable(Unreachable::new(&status))
        }
        _ => RPCError::Network(NetworkError::new(&status)),
    }
}

fn undecodable<E: std::error::Error>(
    e: interlock_ledger::codec::DecodeError,
) -> RPCError<NodeId, ClusterNode, E> {
    RPCError::Network(NetworkError::new(&std::io::Error::other(format!(
        "a peer's answer does not decode: {e}"
    ))))
}

impl Peer {
    fn client<E: std::error::Error>(
        &self,
    ) -> Result<RaftServiceClient<Channel>, RPCError<NodeId, ClusterNode, E>> {
        self.client
            .clone()
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&std::io::Error::other(e))))
    }
}

impl Peer {
    /// A request to the peer, naming the disk it is known by.
    fn request<T>(&self, payload: T, option: &RPCOption) -> tonic::Request<T> {
        let mut r = tonic::Request::new(payload);
        r.set_timeout(option.hard_ttl());
        if let Some(d) = self.disk {
            disks::write(r.metadata_mut(), disks::EXPECT_DISK_HEADER, d);
        }
        r
    }

    /// The peer's answer, once what it says of its disk is taken in while
    /// its disk is not known: the first disk heard is the one it is known
    /// by from then on (an answer from another one is a refusal), so later
    /// answers are not read for it.
    fn answered<T>(&mut self, answer: tonic::Response<T>) -> T {
        if self.disk.is_none() {
            if let Some(d) = disks::read(answer.metadata(), disks::DISK_HEADER) {
                self.disk = Some(d);
                self.heard.heard(self.target, d);
            }
        }
        answer.into_inner()
    }

    /// Why a call did not get an answer. A peer that refused because it
    /// answers from another disk is treated as unreachable (backed off
    /// from for [`REPLACED_RETRY`]; said once per node and disk, not at
    /// every retry or election): it is out of every majority until it is
    /// removed.
    fn failed<E: std::error::Error>(
        &mut self,
        status: tonic::Status,
    ) -> RPCError<NodeId, ClusterNode, E> {
        if let Some(d) = disks::refusal(&status) {
            self.replaced = true;
            if self.heard.refused(self.target, d) {
                tracing::error!(node = self.target, "{}", status.message());
            }
            return RPCError::Unreachable(Unreachable::new(&status));
        }
        failed(status)
    }
}

fn decode<T: Message, E: std::error::Error>(
    b: &[u8],
) -> Result<T, RPCError<NodeId, ClusterNode, E>> {
    codec::decode(b).map_err(undecodable)
}

impl Peer {
    /// What a peer's answer to an AppendEntries (after `prev`, ending at
    /// `last`) says of its log. A peer that had answered it holds entry
    /// `m` and now says it lacks an entry at or before `m` has lost its log
    /// (an empty or replaced data directory under its old id): openraft's
    /// leader panics on that ("follower log reversion"), and it may have
    /// counted the lost entries in a majority. The answer is turned into an
    /// error instead, so the leader goes on and sends that node nothing
    /// until it is removed and replaced under a new id.
    fn judge(
        &mut self,
        prev: Option<u64>,
        last: Option<u64>,
        answer: AppendEntriesResponse<NodeId>,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, ClusterNode, RaftError<NodeId>>>
    {
        match &answer {
            AppendEntriesResponse::Success => self.matched = self.matched.max(last),
            AppendEntriesResponse::PartialSuccess(m) => {
                self.matched = self.matched.max(m.map(|m| m.index))
            }
            AppendEntriesResponse::Conflict => {
                if let (Some(m), Some(p)) = (self.matched, prev) {
                    if p <= m {
                        let why = format!(
                            "node {} held entry {m} and now lacks entry {p}: its log was lost (a new or replaced data directory under its old id); remove it (interlockctl cluster remove --node-id {}) and add its replacement under a new id",
                            self.target, self.target
                        );
                        if !std::mem::replace(&mut self.reverted, true) {
                            tracing::error!(node = self.target, "{why}");
                        }
                        return Err(RPCError::Network(NetworkError::new(
                            &std::io::Error::other(why),
                        )));
                    }
                }
            }
            AppendEntriesResponse::HigherVote(_) => {}
        }
        Ok(answer)
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, ClusterNode, RaftError<NodeId>>>
    {
        let prev = rpc.prev_log_id.map(|l| l.index);
        let last = rpc.entries.last().map(|e| e.log_id.index).or(prev);
        let payload = codec::encode(&rpc);
        let request = self.request(pb::AppendEntriesRequest { payload }, &option);
        let answer = match self.client()?.append_entries(request).await {
            Ok(a) => self.answered(a),
            Err(s) => return Err(self.failed(s)),
        };
        let answer = decode(&answer.payload)?;
        self.judge(prev, last, answer)
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, ClusterNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        let installed = rpc.done.then_some(rpc.meta.last_log_id).flatten();
        let payload = codec::encode(&rpc);
        let request = self.request(pb::InstallSnapshotRequest { payload }, &option);
        let answer = match self.client()?.install_snapshot(request).await {
            Ok(a) => self.answered(a),
            Err(s) => return Err(self.failed(s)),
        };
        match decode::<InstallSnapshotAnswer, _>(&answer.payload)? {
            Ok(resp) => {
                if resp.vote == rpc.vote {
                    self.matched = self.matched.max(installed.map(|l| l.index));
                }
                Ok(resp)
            }
            Err(mismatch) => Err(RPCError::RemoteError(RemoteError::new(
                self.target,
                RaftError::APIError(InstallSnapshotError::SnapshotMismatch(mismatch)),
            ))),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, ClusterNode, RaftError<NodeId>>> {
        let payload = codec::encode(&rpc);
        let request = self.request(pb::VoteRequest { payload }, &option);
        let answer = match self.client()?.vote(request).await {
            Ok(a) => self.answered(a),
            Err(s) => return Err(self.failed(s)),
        };
        decode(&answer.payload)
    }

    /// How long the leader waits before trying an unreachable peer again:
    /// 25 ms, doubling to at most [`BACKOFF_MAX`]. openraft's default, a
    /// constant 500 ms, left a restarted node up to half a second behind
    /// after it came back; a node still catching up when the leader fails
    /// can only slow the election down (it cannot win, but it bids).
    fn backoff(&self) -> openraft::network::Backoff {
        if self.replaced {
            return openraft::network::Backoff::new(std::iter::repeat(REPLACED_RETRY));
        }
        openraft::network::Backoff::new(
            (0u32..).map(|i| std::time::Duration::from_millis(25u64 << i.min(6)).min(BACKOFF_MAX)),
        )
    }
}

/// How long a leader waits before trying again a peer that answers from
/// another disk than the one the cluster knows it by: it stays refused
/// until it is removed (or its own directory is put back), so there is
/// no hurry, and each attempt is a few lines in openraft's log.
pub const REPLACED_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// The longest wait between attempts to reach a peer: well inside a
/// restarted node's first election timeout (openraft's lease of 1.5 T and
/// a random T to 1.5 T, 375 ms at the default T), so that the leader
/// reaches it before it bids. At 1 s (until 2026-12-01) a follower
/// restarted after a minute away bid 460 ms after it came back, before
/// the leader tried it again, and its higher term deposed the leader
/// (two elections in each `bench/cluster_load.sh rejoin` run). A dead
/// peer costs ten refused connections a second.
pub const BACKOFF_MAX: std::time::Duration = std::time::Duration::from_millis(100);
