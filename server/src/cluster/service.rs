//! The cluster port's service: a peer's openraft message, decoded and
//! handed to this node's Raft.

use interlock::cluster::v1 as pb;
use interlock_replication::codec::{self, InstallSnapshotAnswer};
use interlock_replication::TypeConfig;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::{Raft, ServerState};
use tonic::{Request, Response, Status};

/// What this node answers its peers.
#[derive(Clone)]
pub struct RaftApi(pub Raft<TypeConfig>);

impl RaftApi {
    /// Bids for leadership once the old leader's lease has run out on
    /// every node, if no one has taken over by then. The lease is
    /// openraft's longest election timeout, counted on each node from the
    /// last message of the old leader, which sent its last one before it
    /// sent this request: so counted from now it has run out everywhere.
    fn bid_after_lease(&self, term: u64) {
        let raft = self.0.clone();
        let lease = Duration::from_millis(raft.config().election_timeout_max) + LEASE_MARGIN;
        tokio::spawn(async move {
            tokio::time::sleep(lease).await;
            let still = {
                let m = raft.metrics();
                let m = m.borrow();
                m.current_term == term && m.state == ServerState::Follower
            };
            if still {
                tracing::info!(term, "the leader handed over: bidding for leadership");
                if let Err(e) = raft.trigger().elect().await {
                    tracing::warn!(error = %e, "could not bid for leadership");
                }
            }
        });
    }
}

/// Added to the old leader's lease before a handed-over bid: the clocks of
/// two nodes tick at slightly different rates.
pub const LEASE_MARGIN: Duration = Duration::from_millis(10);

fn undecodable(e: interlock_ledger::codec::DecodeError) -> Status {
    Status::invalid_argument(format!("a cluster message that does not decode: {e}"))
}

fn stopped(e: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("this node's consensus stopped: {e}"))
}

#[tonic::async_trait]
impl pb::raft_service_server::RaftService for RaftApi {
    async fn append_entries(
        &self,
        request: Request<pb::AppendEntriesRequest>,
    ) -> Result<Response<pb::AppendEntriesResponse>, Status> {
        let rpc = codec::decode(&request.into_inner().payload).map_err(undecodable)?;
        let answer = self.0.append_entries(rpc).await.map_err(stopped)?;
        Ok(Response::new(pb::AppendEntriesResponse {
            payload: codec::encode(&answer),
        }))
    }

    async fn vote(
        &self,
        request: Request<pb::VoteRequest>,
    ) -> Result<Response<pb::VoteResponse>, Status> {
        let rpc = codec::decode(&request.into_inner().payload).map_err(undecodable)?;
        let answer = self.0.vote(rpc).await.map_err(stopped)?;
        Ok(Response::new(pb::VoteResponse {
            payload: codec::encode(&answer),
        }))
    }

    async fn install_snapshot(
        &self,
        request: Request<pb::InstallSnapshotRequest>,
    ) -> Result<Response<pb::InstallSnapshotResponse>, Status> {
        let rpc = codec::decode::<openraft::raft::InstallSnapshotRequest<TypeConfig>>(
            &request.into_inner().payload,
        )
        .map_err(undecodable)?;
        // A chunk is the leader talking, but openraft 0.9 counts only a
        // snapshot's last chunk as such, and sends this node no heartbeat
        // while it streams one: a node taking a snapshot of more than a few
        // chunks bid for leadership midway and its higher term deposed the
        // leader, again and again (term 2 to 124 in one
        // `bench/cluster_load.sh rejoin` with snapshots every 20,000
        // entries, 2026-12-01). An empty AppendEntries under the chunk's
        // vote tells openraft the leader is alive; it appends nothing,
        // commits nothing, and cuts nothing back.
        let alive = openraft::raft::AppendEntriesRequest::<TypeConfig> {
            vote: rpc.vote,
            prev_log_id: None,
            entries: Vec::new(),
            leader_commit: None,
        };
        self.0.append_entries(alive).await.map_err(stopped)?;
        let answer: InstallSnapshotAnswer = match self.0.install_snapshot(rpc).await {
            Ok(resp) => Ok(resp),
            Err(RaftError::APIError(InstallSnapshotError::SnapshotMismatch(m))) => Err(m),
            Err(e) => return Err(stopped(e)),
        };
        Ok(Response::new(pb::InstallSnapshotResponse {
            payload: codec::encode(&answer),
        }))
    }

    async fn timeout_now(
        &self,
        request: Request<pb::TimeoutNowRequest>,
    ) -> Result<Response<pb::TimeoutNowResponse>, Status> {
        let pb::TimeoutNowRequest { leader, term } = request.into_inner();
        let accepted = {
            let m = self.0.metrics();
            let m = m.borrow();
            m.state == ServerState::Follower
                && m.current_term == term
                && m.current_leader == Some(leader)
        };
        if accepted {
            self.bid_after_lease(term);
        } else {
            tracing::info!(
                leader,
                term,
                "a handover for another leader or term: ignored"
            );
        }
        Ok(Response::new(pb::TimeoutNowResponse { accepted }))
    }
}
