//! `ClusterService`: the cluster as this node sees it, for operators.

use std::sync::Arc;

use interlock::cluster::v1 as pb;
use openraft::ServerState;
use tonic::{Request, Response, Status};

use interlock_replication::ClusterNode;

use super::Node;

/// `ClusterService` (admin and auditor roles, on the API port; changes
/// admin only).
#[derive(Clone)]
pub struct ClusterApi {
    pub node: Option<Arc<Node>>,
    /// Whether the nodes authenticate each other with mutual TLS (an
    /// added node's addresses may then be off loopback).
    pub tls: bool,
}

impl ClusterApi {
    fn node(&self) -> Result<&Arc<Node>, Status> {
        self.node.as_ref().ok_or_else(|| {
            Status::failed_precondition(
                "this server is a single node (started without --cluster): there is no cluster",
            )
        })
    }
}

impl Node {
    /// What [`ClusterApi`] answers: this node's metrics from openraft.
    pub fn status(&self) -> pb::GetClusterStatusResponse {
        let m = self.raft.metrics().borrow().clone();
        let role = match m.state {
            ServerState::Leader => pb::NodeRole::Leader,
            ServerState::Follower => pb::NodeRole::Follower,
            ServerState::Candidate => pb::NodeRole::Candidate,
            ServerState::Learner => pb::NodeRole::Learner,
            ServerState::Shutdown => pb::NodeRole::Shutdown,
        };
        let membership = m.membership_config.membership();
        let voters: std::collections::BTreeSet<_> = membership.voter_ids().collect();
        let leading = m.state == ServerState::Leader;
        let nodes = membership
            .nodes()
            .map(|(id, n)| {
                let matched = m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(id))
                    .and_then(|l| l.map(|l| l.index));
                let matched = if leading && *id == self.id {
                    m.last_log_index
                } else {
                    matched
                };
                pb::ClusterNodeStatus {
                    node_id: *id,
                    cluster_addr: n.raft_addr.clone(),
                    api_addr: n.api_addr.clone(),
                    disk: n.disk.map(super::disks::text).unwrap_or_default(),
                    voter: voters.contains(id),
                    matched_index: if leading { matched } else { None },
                    lag: if leading {
                        Some(
                            m.last_log_index
                                .unwrap_or(0)
                                .saturating_sub(matched.unwrap_or(0)),
                        )
                    } else {
                        None
                    },
                }
            })
            .collect();
        let leader_api_addr = m
            .current_leader
            .and_then(|l| membership.get_node(&l))
            .map(|n| n.api_addr.clone())
            .unwrap_or_default();
        pb::GetClusterStatusResponse {
            node_id: self.id,
            role: role.into(),
            term: m.current_term,
            leader_id: m.current_leader,
            leader_api_addr,
            last_log_index: m.last_log_index,
            last_applied_index: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            nodes,
            millis_since_quorum_ack: if leading {
                m.millis_since_quorum_ack
            } else {
                None
            },
        }
    }
}

#[tonic::async_trait]
impl pb::cluster_service_server::ClusterService for ClusterApi {
    async fn get_cluster_status(
        &self,
        _: Request<pb::GetClusterStatusRequest>,
    ) -> Result<Response<pb::GetClusterStatusResponse>, Status> {
        Ok(Response::new(self.node()?.status()))
    }

    async fn add_node(
        &self,
        request: Request<pb::AddNodeRequest>,
    ) -> Result<Response<pb::AddNodeResponse>, Status> {
        let who = crate::auth::admin(&request)?.id.clone();
        let node = self.node()?;
        let pb::AddNodeRequest {
            node_id,
            cluster_addr,
            api_addr,
        } = request.into_inner();
        tracing::info!(by = %who, node = node_id, "cluster add requested");
        node.add_node(
            &who,
            node_id,
            ClusterNode::at(cluster_addr, api_addr),
            self.tls,
        )
        .await?;
        Ok(Response::new(pb::AddNodeResponse {
            status: Some(node.status()),
        }))
    }

    async fn remove_node(
        &self,
        request: Request<pb::RemoveNodeRequest>,
    ) -> Result<Response<pb::RemoveNodeResponse>, Status> {
        let who = crate::auth::admin(&request)?.id.clone();
        let node = self.node()?;
        let node_id = request.into_inner().node_id;
        tracing::info!(by = %who, node = node_id, "cluster remove requested");
        node.remove_node(&who, node_id).await?;
        Ok(Response::new(pb::RemoveNodeResponse {
            status: Some(node.status()),
        }))
    }
}
