//! The cluster port's service: a peer's openraft message, decoded and
//! handed to this node's Raft.

use interlock::cluster::v1 as pb;
use interlock_replication::codec::{self, InstallSnapshotAnswer};
use interlock_replication::TypeConfig;
use std::sync::Arc;
use std::time::Duration;

use interlock_journal::audit::AuditArchive;
use interlock_ledger::Ledger;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::{Raft, ServerState};
use tonic::{Request, Response, Status};

/// What this node answers its peers.
#[derive(Clone)]
pub struct RaftApi {
    pub raft: Raft<TypeConfig>,
    /// For `ReadAudit`: this node's ledger and audit archive.
    pub ledger: Arc<Ledger>,
    pub archive: Arc<AuditArchive>,
    /// This node's data directory, named on every answer
    /// ([`super::disks`]).
    pub disk: interlock_replication::DiskId,
}

/// Most audit records one `ReadAudit` answers (about 300 KB).
pub const READ_AUDIT_MAX: u32 = 1024;

impl RaftApi {
    /// An answer, naming this node's disk.
    fn answer<T>(&self, message: T) -> Response<T> {
        let mut r = Response::new(message);
        super::disks::write(r.metadata_mut(), super::disks::DISK_HEADER, self.disk);
        r
    }

    /// Bids for leadership once the old leader's lease has run out on
    /// every node, if no one has taken over by then. The lease is
    /// openraft's longest election timeout, counted on each node from the
    /// last message of the old leader, which sent its last one before it
    /// sent this request: so counted from now it has run out everywhere.
    fn bid_after_lease(&self, term: u64) {
        let raft = self.raft.clone();
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
        let answer = self.raft.append_entries(rpc).await.map_err(stopped)?;
        Ok(self.answer(pb::AppendEntriesResponse {
            payload: codec::encode(&answer),
        }))
    }

    async fn vote(
        &self,
        request: Request<pb::VoteRequest>,
    ) -> Result<Response<pb::VoteResponse>, Status> {
        let rpc = codec::decode(&request.into_inner().payload).map_err(undecodable)?;
        let answer = self.raft.vote(rpc).await.map_err(stopped)?;
        Ok(self.answer(pb::VoteResponse {
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
        self.raft.append_entries(alive).await.map_err(stopped)?;
        let answer: InstallSnapshotAnswer = match self.raft.install_snapshot(rpc).await {
            Ok(resp) => Ok(resp),
            Err(RaftError::APIError(InstallSnapshotError::SnapshotMismatch(m))) => Err(m),
            Err(e) => return Err(stopped(e)),
        };
        Ok(self.answer(pb::InstallSnapshotResponse {
            payload: codec::encode(&answer),
        }))
    }

    async fn timeout_now(
        &self,
        request: Request<pb::TimeoutNowRequest>,
    ) -> Result<Response<pb::TimeoutNowResponse>, Status> {
        let pb::TimeoutNowRequest { leader, term } = request.into_inner();
        let accepted = {
            let m = self.raft.metrics();
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
        Ok(self.answer(pb::TimeoutNowResponse { accepted }))
    }

    async fn read_audit(
        &self,
        request: Request<pb::ReadAuditRequest>,
    ) -> Result<Response<pb::ReadAuditResponse>, Status> {
        let pb::ReadAuditRequest { after, max } = request.into_inner();
        let n = max.clamp(1, READ_AUDIT_MAX) as usize;
        let records = crate::audit::page(&self.ledger, Some(&self.archive), after, n, |e| {
            Status::not_found(format!("this node lacks them too: {e}"))
        })
        .await?;
        Ok(self.answer(pb::ReadAuditResponse {
            records: records
                .iter()
                .map(interlock_ledger::codec::to_bytes)
                .collect(),
        }))
    }
}
