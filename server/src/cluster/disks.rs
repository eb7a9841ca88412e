//! Which data directory each node answers from, so that a node that lost
//! its log under its old id cannot vote or count in a majority.
//!
//! Raft's safety rests on a node keeping what it acknowledged: the entries
//! it held (a majority of holders is what made them committed) and its
//! vote. A node whose data directory was replaced by an empty one (a lost
//! disk, a new volume) and that comes back under its old id has neither: it
//! would vote for a candidate lacking committed entries, and a leader so
//! elected would overwrite what clients were told is done.
//!
//! So every data directory has an identity, written when its log is
//! created ([`interlock_replication::log::DISK_FILE`]); every answer of the
//! cluster port carries it ([`DISK_HEADER`]); the leader records each
//! node's in the membership the first time it hears it
//! ([`Node::record_disks`](super::Node::record_disks)); and from then on
//! every request to a node names the disk it is known by
//! ([`EXPECT_DISK_HEADER`]) and a node with another refuses it
//! ([`check`]). A replaced node is then out of every majority until it is
//! removed and its directory added under a new id, as the README says.
//!
//! An added node's disk is recorded while it is a learner, before it
//! votes. Until a node's disk is recorded (the first moments of a new
//! cluster, or a cluster whose membership was written before 2026-12-01,
//! which records them as soon as a leader hears them) nothing is checked
//! for it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use interlock_replication::{DiskId, NodeId};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::Status;

/// On every answer of the cluster port: the answering node's disk.
pub const DISK_HEADER: &str = "interlock-disk";
/// On a request to a node whose disk is recorded: the disk it is known by.
pub const EXPECT_DISK_HEADER: &str = "interlock-expect-disk";

/// A disk as operators and headers see it: 16 hex digits.
pub fn text(d: DiskId) -> String {
    format!("{d:016x}")
}

/// The disk in header `name` of `m`, if it is there and well formed.
pub fn read(m: &MetadataMap, name: &str) -> Option<DiskId> {
    let v = m.get(name)?.to_str().ok()?;
    if v.len() != 16 {
        return None;
    }
    DiskId::from_str_radix(v, 16).ok()
}

/// Puts disk `d` in header `name` of `m`.
pub fn write(m: &mut MetadataMap, name: &'static str, d: DiskId) {
    let v = MetadataValue::try_from(text(d)).expect("hex digits are a header value");
    m.insert(name, v);
}

/// Whether a request for node `me` (whose disk is `mine`) may be answered:
/// refused when it names another disk. The refusal carries `mine` in
/// [`DISK_HEADER`], which is how the sender tells it from other failures.
pub fn check(request: &MetadataMap, me: NodeId, mine: DiskId) -> Result<(), Status> {
    match read(request, EXPECT_DISK_HEADER) {
        Some(expected) if expected != mine => {
            let mut s = Status::failed_precondition(format!(
                "node {me} answers from disk {} but the cluster knows it by disk {}: this data directory is not the one that node {me} held its log and vote in (it was lost or replaced), so it may not vote or hold entries under id {me}; remove node {me} (interlockctl cluster remove --node-id {me}) and add this node under a new id",
                text(mine),
                text(expected)
            ));
            write(s.metadata_mut(), DISK_HEADER, mine);
            Err(s)
        }
        _ => Ok(()),
    }
}

/// If `s` is a node's refusal by [`check`], the disk it answers from.
pub fn refusal(s: &Status) -> Option<DiskId> {
    if s.code() != tonic::Code::FailedPrecondition {
        return None;
    }
    read(s.metadata(), DISK_HEADER)
}

/// The disk each peer whose disk was not yet known answered from (in a
/// call it answered, never in a refusal), the last one heard, for
/// [`Node::record_disks`](super::Node::record_disks).
#[derive(Default)]
pub struct Heard {
    disks: Mutex<BTreeMap<NodeId, DiskId>>,
    /// Each node seen refusing, with the disk it answered from.
    refused: Mutex<BTreeMap<NodeId, DiskId>>,
    /// Woken when a node is heard from another disk than before.
    pub news: tokio::sync::Notify,
}

impl Heard {
    pub fn heard(&self, node: NodeId, disk: DiskId) {
        let new = self
            .disks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(node, disk)
            != Some(disk);
        if new {
            tracing::debug!(node, disk = %text(disk), "a peer answers from this disk");
            self.news.notify_one();
        }
    }

    /// Notes that `node` refused, answering from `disk`: whether that is
    /// news (to be said in the log once, not at every retry or election).
    pub fn refused(&self, node: NodeId, disk: DiskId) -> bool {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(node, disk)
            != Some(disk)
    }

    /// Forgets what was heard of `node` (it is being added: whatever
    /// answered under its id before is not it).
    pub fn forget(&self, node: NodeId) {
        self.disks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&node);
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&node);
    }

    pub fn get(&self, node: NodeId) -> Option<DiskId> {
        self.disks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&node)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_naming_another_disk_is_refused_and_says_why() {
        let mut m = MetadataMap::new();
        assert!(check(&m, 3, 42).is_ok(), "nothing named: nothing checked");
        write(&mut m, EXPECT_DISK_HEADER, 42);
        assert!(check(&m, 3, 42).is_ok());
        let s = check(&m, 3, 7).unwrap_err();
        assert_eq!(s.code(), tonic::Code::FailedPrecondition);
        assert_eq!(refusal(&s), Some(7));
        assert_eq!(read(s.metadata(), DISK_HEADER), Some(7));
        assert!(s.message().contains("remove node 3"), "{}", s.message());
        assert!(s.message().contains(&text(42)), "{}", s.message());
        assert_eq!(refusal(&Status::failed_precondition("other")), None);
        for bad in ["", "xyz", "00000000000000000", "0x00000000000000"] {
            let mut m = MetadataMap::new();
            m.insert(EXPECT_DISK_HEADER, MetadataValue::try_from(bad).unwrap());
            assert_eq!(read(&m, EXPECT_DISK_HEADER), None, "{bad:?}");
        }
        assert_eq!(text(u64::MAX), "ffffffffffffffff");
    }

    #[test]
    fn the_last_disk_heard_is_kept_and_a_refusal_said_once() {
        let h = Heard::default();
        h.heard(2, 5);
        h.heard(2, 6);
        assert_eq!(h.get(2), Some(6));
        assert_eq!(h.get(3), None);
        assert!(h.refused(3, 9));
        assert!(!h.refused(3, 9), "said once");
        assert!(h.refused(3, 10), "another disk is news");
        h.forget(2);
        h.forget(3);
        assert_eq!(h.get(2), None);
        assert!(h.refused(3, 10), "forgotten");
    }
}
