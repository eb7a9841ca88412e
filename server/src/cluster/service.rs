//! The cluster port's service: a peer's openraft message, decoded and
//! handed to this node's Raft.

use interlock::cluster::v1 as pb;
use interlock_replication::codec::{self, InstallSnapshotAnswer};
use interlock_replication::TypeConfig;
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::Raft;
use tonic::{Request, Response, Status};

/// What this node answers its peers.
#[derive(Clone)]
pub struct RaftApi(pub Raft<TypeConfig>);

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
        let answer: InstallSnapshotAnswer = match self.0.install_snapshot(rpc).await {
            Ok(resp) => Ok(resp),
            Err(RaftError::APIError(InstallSnapshotError::SnapshotMismatch(m))) => Err(m),
            Err(e) => return Err(stopped(e)),
        };
        Ok(Response::new(pb::InstallSnapshotResponse {
            payload: codec::encode(&answer),
        }))
    }
}
