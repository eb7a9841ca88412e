//! Interlock's replicated ledger, on openraft.
//!
//! The consensus is openraft's (elections, replication, commit, membership,
//! snapshots sent to a lagging node); this crate supplies what it stores:
//!
//! - [`log`]: the Raft log is the journal (`interlock_journal::replog`):
//!   the same segments, checksums, group commit and fail-stop rules; the
//!   vote and the purge point are small files of their own, written and
//!   synced before they are acknowledged.
//! - [`machine`]: the state machine is the ledger's `State::apply`,
//!   applied in log order on every node; snapshots are the ledger's own
//!   snapshot encoding with the Raft position and membership in front.
//! - [`codec`]: how entries, votes and memberships are written down (on
//!   disk and, later, on the wire).
//!
//! Like the ledger and the journal it carries no transport: the network
//! between nodes is the server's business. Unlike them it is async, since
//! openraft's storage traits are.

#![forbid(unsafe_code)]

pub mod codec;
pub mod log;
pub mod machine;

use std::io::Cursor;

use interlock_ledger::{Applied, Command, LedgerError};

pub use log::LogStore;
pub use machine::{read_snapshot, AlertObserver, ApplyObserver, StateMachine};

/// A node's id in the cluster.
pub type NodeId = u64;

/// A data directory's identity: a random number written into it when its
/// log is created ([`log::DISK_FILE`]). A node that comes back with an
/// empty or another data directory under its old id has another one, and
/// is refused by its peers (see [`ClusterNode::disk`]).
pub type DiskId = u64;

/// Where a node is: its cluster port (other nodes) and its API port
/// (clients, sent a follower's hint to the leader), and which data
/// directory the cluster knows it by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterNode {
    pub raft_addr: String,
    pub api_addr: String,
    /// The data directory this node first answered from, once the leader
    /// has recorded it in the membership (`None` before: a new node, or a
    /// membership written before disks were recorded). A peer asking
    /// anything of the node names it, and the node refuses if its own
    /// differs: a node that lost its log (and its vote) under its old id
    /// must not vote or count in a majority, since the entries it held may
    /// have been what made them committed.
    pub disk: Option<DiskId>,
}

impl ClusterNode {
    /// A node at these addresses, its disk not yet known.
    pub fn at(raft_addr: impl Into<String>, api_addr: impl Into<String>) -> ClusterNode {
        ClusterNode {
            raft_addr: raft_addr.into(),
            api_addr: api_addr.into(),
            disk: None,
        }
    }

    /// Whether two records name the same addresses (whatever is known of
    /// their disks).
    pub fn same_place(&self, other: &ClusterNode) -> bool {
        self.raft_addr == other.raft_addr && self.api_addr == other.api_addr
    }
}

impl std::fmt::Display for ClusterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (api {})", self.raft_addr, self.api_addr)
    }
}

/// What one entry carries: the commands a leader gathered while its
/// earlier entries were on their way (at most
/// [`codec::COMMANDS_PER_ENTRY_MAX`]), applied in order, each as if alone.
/// One entry per batch rather than per command is what makes replication
/// affordable: openraft's work, the journal record and its fdatasync, and
/// the replies are per entry.
pub type Batch = Vec<Command>;

/// What applying one entry answered: one result per command of its
/// batch, in order; none for entries that carry no command (a new
/// leader's blank entry, a membership change).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply(pub Vec<Result<Applied, LedgerError>>);

openraft::declare_raft_types!(
    /// Interlock's Raft types: an entry carries a batch of ledger commands.
    pub TypeConfig:
        D = Batch,
        R = Reply,
        NodeId = NodeId,
        Node = ClusterNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Membership = openraft::Membership<NodeId, ClusterNode>;
pub type StoredMembership = openraft::StoredMembership<NodeId, ClusterNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, ClusterNode>;
pub type StorageError = openraft::StorageError<NodeId>;

/// A storage error openraft can report, from what went wrong where.
pub(crate) fn storage_error(
    subject: openraft::ErrorSubject<NodeId>,
    verb: openraft::ErrorVerb,
    e: impl std::fmt::Display,
) -> StorageError {
    let io = std::io::Error::other(e.to_string());
    openraft::StorageIOError::new(subject, verb, openraft::AnyError::new(&io)).into()
}
