//! Adding and removing nodes (`ClusterService.AddNode`, `RemoveNode`, on
//! the leader): openraft's membership change, which goes through a joint
//! configuration so that the old and the new majorities never decide
//! apart.
//!
//! A node is added in two steps: as a learner, which receives the log (or
//! a snapshot) but does not vote, until its log matches the leader's; then,
//! once its disk is recorded ([`super::disks`]), as a voter. A new node is
//! started with `--join`, so that it waits empty for the leader rather
//! than founding a cluster of its own. A removed
//! node is no longer sent anything; its process should then be stopped
//! (it would otherwise keep bidding for a leadership no one grants it).
//!
//! Each change, once committed, is recorded in the ledger's audit log
//! (`Command::RecordClusterChange`: who asked, the voters before and
//! after), replicated like any record. Asking again for a change already
//! made records nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use interlock_replication::{ClusterNode, NodeId};
use openraft::error::{ClientWriteError, RaftError};
use openraft::ChangeMembers;
use tonic::Status;

use super::{not_leader, Node};

/// The most nodes (voters and learners) a cluster may have: a majority of
/// seven is four fdatasyncs on four machines for every entry; more buys
/// no availability worth that.
pub const CLUSTER_NODES_MAX: usize = 7;

/// How long an added node may take to catch up as a learner before the
/// call gives up waiting (the node stays a learner and keeps catching up;
/// the same call again makes it a voter once it has). At the rate a
/// rejoining node takes the log (about 170,000 entries a second,
/// bench/RESULTS.md "Failover"), a minute is ~10M entries.
pub const CATCH_UP_MAX: Duration = Duration::from_secs(60);

/// How long a change waits for the one before it (or a new leader's
/// first entry) to be committed.
pub const SETTLE_MAX: Duration = Duration::from_secs(2);

/// A node's address in a membership change: what `--cluster` accepts,
/// and off loopback only with mutual TLS between nodes.
fn check_address(what: &str, a: &str, tls: bool) -> Result<(), Status> {
    if a.is_empty()
        || a.len() > interlock_replication::codec::ADDRESS_MAX
        || a.contains([',', '/', '='])
    {
        return Err(Status::invalid_argument(format!(
            "{what} {a:?} is not an address (HOST:PORT, at most {} bytes)",
            interlock_replication::codec::ADDRESS_MAX
        )));
    }
    let Some((host, port)) = a.rsplit_once(':') else {
        return Err(Status::invalid_argument(format!(
            "{what} {a:?} is not HOST:PORT"
        )));
    };
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(Status::invalid_argument(format!(
            "{what} {a:?} is not HOST:PORT with a port from 1 to 65535"
        )));
    }
    if !tls && !super::on_loopback(a) {
        return Err(Status::failed_precondition(format!(
            "{what} {a:?} is off loopback and this cluster runs without mutual TLS between nodes (--cluster-tls-cert)"
        )));
    }
    Ok(())
}

fn change_failed(e: RaftError<NodeId, ClientWriteError<NodeId, ClusterNode>>) -> Status {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            not_leader(f.leader_id, f.leader_node.map(|n| n.api_addr))
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            Status::failed_precondition(format!("the membership cannot change now: {e}"))
        }
        RaftError::Fatal(e) => Status::unavailable(format!("this node's consensus stopped ({e})")),
    }
}

/// Whether the membership is settled: applied here, and not joint.
fn settled(m: &openraft::RaftMetrics<NodeId, ClusterNode>) -> bool {
    m.last_applied.as_ref() >= m.membership_config.log_id().as_ref()
        && m.membership_config.membership().get_joint_config().len() == 1
}

/// What a membership change needs to know of the current one.
struct Current {
    voters: BTreeSet<NodeId>,
    nodes: BTreeMap<NodeId, ClusterNode>,
}

impl Node {
    /// The membership, on the leader only (a follower answers UNAVAILABLE
    /// naming the leader), once it is committed and not joint: a change
    /// under way (or a new leader's first entry not yet committed) is
    /// waited for, at most [`SETTLE_MAX`].
    async fn current_membership(&self) -> Result<Current, Status> {
        let deadline = tokio::time::Instant::now() + SETTLE_MAX;
        let mut metrics = self.raft.metrics();
        loop {
            if !self.is_leader() {
                let leader = self.leader();
                return Err(not_leader(
                    leader.as_ref().map(|l| l.0),
                    leader.map(|l| l.1),
                ));
            }
            {
                let m = metrics.borrow_and_update();
                let membership = m.membership_config.membership();
                if settled(&m) {
                    return Ok(Current {
                        voters: membership.voter_ids().collect(),
                        nodes: membership.nodes().map(|(id, n)| (*id, n.clone())).collect(),
                    });
                }
            }
            if tokio::time::timeout_at(deadline, metrics.changed())
                .await
                .map_or(true, |r| r.is_err())
            {
                return Err(Status::failed_precondition(
                    "a membership change is under way; retry once it has finished",
                ));
            }
        }
    }

    /// Adds node `id` at `node` as a voter: first as a learner until its
    /// log matches the leader's (at most [`CATCH_UP_MAX`]), then as a
    /// voter. Asking again for a node already added at the same
    /// addresses finishes what is left (a learner becomes a voter) or
    /// changes nothing.
    pub async fn add_node(
        &self,
        by: &str,
        id: NodeId,
        node: ClusterNode,
        tls: bool,
    ) -> Result<(), Status> {
        if id == 0 {
            return Err(Status::invalid_argument("node ids start at 1"));
        }
        check_address("the cluster address", &node.raft_addr, tls)?;
        check_address("the API address", &node.api_addr, tls)?;
        let _one = self.changing.lock().await;
        let current = self.current_membership().await?;
        match current.nodes.get(&id) {
            Some(known) if !known.same_place(&node) => {
                return Err(Status::already_exists(format!(
                    "node {id} is already a member, at {known}: remove it first to move it"
                )))
            }
            Some(_) if current.voters.contains(&id) => return Ok(()),
            Some(_) => {}
            None => {
                if current.nodes.len() >= CLUSTER_NODES_MAX {
                    return Err(Status::resource_exhausted(format!(
                        "the cluster has {} nodes, the most it may have (CLUSTER_NODES_MAX)",
                        current.nodes.len()
                    )));
                }
                if let Some((other, _)) = current
                    .nodes
                    .iter()
                    .find(|(_, n)| n.raft_addr == node.raft_addr || n.api_addr == node.api_addr)
                {
                    return Err(Status::already_exists(format!(
                        "node {other} already has one of these addresses"
                    )));
                }
            }
        }
        tracing::info!(node = id, at = %node, "adding a node: as a learner until it has caught up");
        let at = node.to_string();
        let started = tokio::time::Instant::now();
        if !current.nodes.contains_key(&id) {
            self.network.heard.forget(id);
        }
        let added = tokio::time::timeout(CATCH_UP_MAX, self.raft.add_learner(id, node, true)).await;
        match added {
            Err(_) => {
                return Err(Status::deadline_exceeded(format!(
                    "node {id} did not catch up within {} s; it stays a learner and keeps catching up: ask again to make it a voter",
                    CATCH_UP_MAX.as_secs()
                )))
            }
            Ok(r) => {
                r.map_err(change_failed)?;
            }
        }
        // Its disk recorded before it votes: from its first vote on, an
        // empty directory under its id is refused (see `super::disks`).
        // openraft counts a learner as caught up when it is within
        // `replication_lag_threshold` entries, which a new one is before it
        // has answered at all.
        while self.network.heard.get(id).is_none() {
            if started.elapsed() > CATCH_UP_MAX {
                return Err(Status::deadline_exceeded(format!(
                    "node {id} has not answered within {} s; it stays a learner: ask again to make it a voter once it runs",
                    CATCH_UP_MAX.as_secs()
                )));
            }
            tokio::time::sleep(HEARD_POLL).await;
        }
        self.record_disks_now(true).await?;
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
            .map_err(change_failed)?;
        tracing::info!(node = id, "node {id} is a voter");
        self.record_change(
            by,
            "add_node",
            id,
            voters_text(&current.voters),
            format!("{}; node {id} at {at}", voters_text(&self.voters())),
        )
        .await
    }

    /// Records a committed change in the audit log. Should that fail (the
    /// leader lost its majority just then), the change stands and the
    /// caller is told the record is missing; asking again records nothing.
    async fn record_change(
        &self,
        by: &str,
        action: &str,
        node: NodeId,
        old_value: String,
        new_value: String,
    ) -> Result<(), Status> {
        let cmd = interlock_ledger::Command::RecordClusterChange {
            at_ms: crate::clock::Clock::new().now_ms(),
            by: by.to_owned(),
            action: action.to_owned(),
            node,
            old_value,
            new_value,
        };
        let failed = match self.propose(cmd).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(s) => s.message().to_owned(),
        };
        tracing::error!(node, action, error = %failed, "a membership change is not in the audit log");
        Err(Status::internal(format!(
            "node {node}: {action} done, but its audit record was not written ({failed})"
        )))
    }

    /// Removes node `id` (a voter or a learner). Not the leader itself:
    /// stop it with SIGTERM (it hands over) and remove it from the next
    /// leader. Not the last voter.
    pub async fn remove_node(&self, by: &str, id: NodeId) -> Result<(), Status> {
        let _one = self.changing.lock().await;
        let current = self.current_membership().await?;
        if !current.nodes.contains_key(&id) {
            return Err(Status::not_found(format!(
                "node {id} is not a member of this cluster"
            )));
        }
        if id == self.id {
            return Err(Status::failed_precondition(format!(
                "node {id} leads: stop it with SIGTERM (it hands over to a follower), then remove it through the new leader"
            )));
        }
        let changes: ChangeMembers<NodeId, ClusterNode> = if current.voters.contains(&id) {
            if current.voters.len() == 1 {
                return Err(Status::failed_precondition(
                    "a cluster keeps at least one voter",
                ));
            }
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        tracing::info!(node = id, "removing a node");
        self.raft
            .change_membership(changes, false)
            .await
            .map_err(change_failed)?;
        tracing::info!(
            node = id,
            "node {id} is no longer a member; stop its process"
        );
        let before = current
            .nodes
            .get(&id)
            .map(|n| n.to_string())
            .unwrap_or_default();
        self.record_change(
            by,
            "remove_node",
            id,
            format!("{}; node {id} at {before}", voters_text(&current.voters)),
            voters_text(&self.voters()),
        )
        .await
    }
}

/// How often an addition looks whether the new node has answered yet.
const HEARD_POLL: Duration = Duration::from_millis(10);

/// How often a leader looks for nodes whose disk it can record, besides
/// when a peer is heard from a new disk.
pub const DISK_RECORD_EVERY: Duration = Duration::from_millis(200);

impl Node {
    /// While this node runs: when it leads and the membership is settled,
    /// records in it the disk of every node that has none recorded yet and
    /// that it has heard answer (itself included), as one membership entry
    /// (openraft's `SetNodes`: the same addresses, no voter changed, so no
    /// joint configuration). See [`super::disks`].
    pub async fn record_disks(
        self: std::sync::Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut every = tokio::time::interval(DISK_RECORD_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = self.network.heard.news.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let _one = self.changing.lock().await;
            if let Err(e) = self.record_disks_now(false).await {
                tracing::debug!(error = %e.message(), "could not record disks yet");
            }
        }
    }

    /// Records the disks [`Self::disks_to_record`] finds, if any, waiting
    /// at most [`SETTLE_MAX`] for the change to commit (the proposal stands
    /// if it does not; the caller is freed). With `settle`, first waits (at
    /// most as long) for the last membership change to be applied here.
    /// The caller holds [`Node::changing`].
    async fn record_disks_now(&self, settle: bool) -> Result<(), Status> {
        if settle {
            self.current_membership().await?;
        }
        let Some(nodes) = self.disks_to_record() else {
            return Ok(());
        };
        let said: Vec<String> = nodes
            .iter()
            .map(|(id, n)| {
                format!(
                    "node {id}: disk {}",
                    super::disks::text(n.disk.unwrap_or(0))
                )
            })
            .collect();
        let change = self
            .raft
            .change_membership(ChangeMembers::SetNodes(nodes), false);
        tokio::time::timeout(SETTLE_MAX, change)
            .await
            .map_err(|_| {
                Status::unavailable(format!(
                    "recording the nodes' disks was not committed within {} s; retry",
                    SETTLE_MAX.as_secs()
                ))
            })?
            .map_err(change_failed)?;
        tracing::info!("recorded the data directories of {}", said.join(", "));
        Ok(())
    }

    /// The nodes whose disk this leader can record now, with it.
    fn disks_to_record(&self) -> Option<BTreeMap<NodeId, ClusterNode>> {
        if !self.is_leader() {
            return None;
        }
        let m = self.raft.metrics();
        let m = m.borrow();
        if !settled(&m) {
            return None;
        }
        let membership = m.membership_config.membership();
        let nodes: BTreeMap<NodeId, ClusterNode> = membership
            .nodes()
            .filter(|(_, n)| n.disk.is_none())
            .filter_map(|(id, n)| {
                let disk = if *id == self.id {
                    Some(self.disk())
                } else {
                    self.network.heard.get(*id)
                }?;
                let mut n = n.clone();
                n.disk = Some(disk);
                Some((*id, n))
            })
            .collect();
        (!nodes.is_empty()).then_some(nodes)
    }
}

/// Voters as an audit record shows them: `voters 1,2,3`.
fn voters_text(voters: &BTreeSet<NodeId>) -> String {
    let ids: Vec<String> = voters.iter().map(|v| v.to_string()).collect();
    format!("voters {}", ids.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_host_and_port_and_off_loopback_only_with_tls() {
        for ok in ["127.0.0.1:7400", "[::1]:7400"] {
            assert!(check_address("a", ok, false).is_ok(), "{ok}");
        }
        assert!(check_address("a", "interlock-3.peers:7400", true).is_ok());
        for bad in [
            "",
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:70000",
            ":7400",
            "a=b:1",
            "a/b:1",
            "a,b:1",
        ] {
            let e = check_address("a", bad, true).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{bad}");
        }
        let e = check_address("a", "10.0.0.4:7400", false).unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition);
        assert!(e.message().contains("mutual TLS"));
        let long = format!(
            "{}:1",
            "a".repeat(interlock_replication::codec::ADDRESS_MAX)
        );
        assert_eq!(
            check_address("a", &long, true).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }
}
