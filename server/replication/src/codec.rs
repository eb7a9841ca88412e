//! How the Raft pieces are written down: log entries (a journal record's
//! payload), votes, log ids and memberships, in the ledger's own codec
//! (`interlock_ledger::codec`: varints, length-prefixed strings), so that
//! nothing in a stored or sent entry depends on a serialisation library's
//! choices.
//!
//! ```text
//! log id:     term u64 | index u64 (one leader per term)
//! entry:      log id | kind u8 | (0 blank | 1 command | 2 membership | 3 batch)
//! batch:      count | commands (1 is one command alone: read, never written)
//! membership: configs (count, each: count, node ids) | nodes (count, each: id, raft address, api address, disk (bool, then u64))
//!             (entry kind 4; kind 2, written before disks were recorded, has no disk and is still read)
//! vote:       term u64 | voted for (bool, then node u64) | committed bool
//! ```

use std::collections::{BTreeMap, BTreeSet};

use interlock_ledger::codec::{DecodeError, Reader, Writer};
use interlock_ledger::Command;
use openraft::error::SnapshotMismatch;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{CommittedLeaderId, EntryPayload, SnapshotSegmentId};

use crate::{
    ClusterNode, Entry, LogId, Membership, NodeId, SnapshotMeta, StoredMembership, TypeConfig, Vote,
};

/// The most joint configurations a membership may hold (two during a
/// change, one otherwise).
pub const CONFIGS_MAX: usize = 2;
/// The most nodes a cluster may have.
pub const NODES_MAX: usize = 64;
/// The longest node address.
pub const ADDRESS_MAX: usize = 256;

const BLANK: u8 = 0;
const COMMAND: u8 = 1;
const MEMBERSHIP: u8 = 2;
const BATCH: u8 = 3;
/// A membership with each node's disk; [`MEMBERSHIP`] is one without
/// (logs written before 2026-12-01), read but no longer written.
const MEMBERSHIP_WITH_DISKS: u8 = 4;

/// The most commands one entry may carry.
pub const COMMANDS_PER_ENTRY_MAX: usize = 4096;

pub fn put_log_id(w: &mut Writer, id: &LogId) {
    w.u64(id.leader_id.term);
    w.u64(id.index);
}

pub fn get_log_id(r: &mut Reader) -> Result<LogId, DecodeError> {
    let term = r.u64()?;
    let index = r.u64()?;
    // One leader per term (openraft's `single-term-leader`): a log id is
    // its term and index; the node argument is not kept.
    Ok(LogId::new(CommittedLeaderId::new(term, 0), index))
}

pub fn put_opt_log_id(w: &mut Writer, id: &Option<LogId>) {
    w.bool(id.is_some());
    if let Some(id) = id {
        put_log_id(w, id);
    }
}

pub fn get_opt_log_id(r: &mut Reader) -> Result<Option<LogId>, DecodeError> {
    Ok(if r.bool()? {
        Some(get_log_id(r)?)
    } else {
        None
    })
}

pub fn put_membership(w: &mut Writer, m: &Membership) {
    let configs = m.get_joint_config();
    w.usize(configs.len());
    for c in configs {
        w.usize(c.len());
        for id in c {
            w.u64(*id);
        }
    }
    let nodes: Vec<_> = m.nodes().collect();
    w.usize(nodes.len());
    for (id, node) in nodes {
        w.u64(*id);
        w.str(&node.raft_addr);
        w.str(&node.api_addr);
        w.bool(node.disk.is_some());
        if let Some(d) = node.disk {
            w.u64(d);
        }
    }
}

pub fn get_membership(r: &mut Reader) -> Result<Membership, DecodeError> {
    get_membership_of(r, true)
}

/// A membership written before disks were recorded: every node's disk is
/// unknown.
pub fn get_membership_without_disks(r: &mut Reader) -> Result<Membership, DecodeError> {
    get_membership_of(r, false)
}

fn get_membership_of(r: &mut Reader, disks: bool) -> Result<Membership, DecodeError> {
    let n = r.len(CONFIGS_MAX)?;
    let mut configs = Vec::with_capacity(n);
    for _ in 0..n {
        let k = r.len(NODES_MAX)?;
        let mut c = BTreeSet::new();
        for _ in 0..k {
            c.insert(r.u64()?);
        }
        configs.push(c);
    }
    let k = r.len(NODES_MAX)?;
    let mut nodes = BTreeMap::new();
    for _ in 0..k {
        let id = r.u64()?;
        let raft_addr = r.str(ADDRESS_MAX)?.to_string();
        let api_addr = r.str(ADDRESS_MAX)?.to_string();
        let disk = if disks && r.bool()? {
            Some(r.u64()?)
        } else {
            None
        };
        nodes.insert(
            id,
            ClusterNode {
                raft_addr,
                api_addr,
                disk,
            },
        );
    }
    for c in &configs {
        if c.iter().any(|id| !nodes.contains_key(id)) {
            return Err(r.error("a voter of the membership is not among its nodes"));
        }
    }
    Ok(Membership::new(configs, nodes))
}

pub fn put_stored_membership(w: &mut Writer, m: &StoredMembership) {
    put_opt_log_id(w, m.log_id());
    put_membership(w, m.membership());
}

pub fn get_stored_membership(r: &mut Reader) -> Result<StoredMembership, DecodeError> {
    let id = get_opt_log_id(r)?;
    Ok(StoredMembership::new(id, get_membership(r)?))
}

/// [`get_stored_membership`] of one written before disks were recorded.
pub fn get_stored_membership_without_disks(
    r: &mut Reader,
) -> Result<StoredMembership, DecodeError> {
    let id = get_opt_log_id(r)?;
    Ok(StoredMembership::new(id, get_membership_without_disks(r)?))
}

pub fn put_entry(w: &mut Writer, e: &Entry) {
    put_log_id(w, &e.log_id);
    match &e.payload {
        EntryPayload::Blank => w.u8(BLANK),
        EntryPayload::Normal(batch) => {
            w.u8(BATCH);
            w.usize(batch.len());
            for cmd in batch {
                w.put(cmd);
            }
        }
        EntryPayload::Membership(m) => {
            w.u8(MEMBERSHIP_WITH_DISKS);
            put_membership(w, m);
        }
    }
}

pub fn get_entry(r: &mut Reader) -> Result<Entry, DecodeError> {
    let log_id = get_log_id(r)?;
    let payload = match r.u8()? {
        BLANK => EntryPayload::Blank,
        COMMAND => EntryPayload::Normal(vec![r.get::<Command>()?]),
        BATCH => {
            let n = r.len(COMMANDS_PER_ENTRY_MAX)?;
            if n == 0 {
                return Err(r.error("an entry's batch holds no command"));
            }
            let mut batch = Vec::with_capacity(n);
            for _ in 0..n {
                batch.push(r.get::<Command>()?);
            }
            EntryPayload::Normal(batch)
        }
        MEMBERSHIP => EntryPayload::Membership(get_membership_without_disks(r)?),
        MEMBERSHIP_WITH_DISKS => EntryPayload::Membership(get_membership(r)?),
        _ => return Err(r.error("unknown kind of log entry")),
    };
    Ok(Entry { log_id, payload })
}

/// One entry as a journal record's payload.
pub fn entry_bytes(e: &Entry) -> Vec<u8> {
    let mut w = Writer::new();
    put_entry(&mut w, e);
    w.buf
}

/// An entry from a journal record's payload (all of it).
pub fn entry_from_bytes(b: &[u8]) -> Result<Entry, DecodeError> {
    let mut r = Reader::new(b);
    let e = get_entry(&mut r)?;
    r.finish()?;
    Ok(e)
}

pub fn put_vote(w: &mut Writer, v: &Vote) {
    w.u64(v.leader_id.term);
    w.bool(v.leader_id.voted_for.is_some());
    if let Some(node) = v.leader_id.voted_for {
        w.u64(node);
    }
    w.bool(v.committed);
}

pub fn get_vote(r: &mut Reader) -> Result<Vote, DecodeError> {
    let term = r.u64()?;
    let voted_for = if r.bool()? { Some(r.u64()?) } else { None };
    let committed = r.bool()?;
    Ok(Vote {
        leader_id: openraft::LeaderId { term, voted_for },
        committed,
    })
}

/// The most entries one AppendEntries message may carry (openraft sends
/// at most its `max_payload_entries`, 300 by default).
pub const APPEND_ENTRIES_MAX: usize = 100_000;
/// The largest snapshot chunk one InstallSnapshot message may carry.
pub const SNAPSHOT_CHUNK_MAX: usize = 64 * 1024 * 1024;

pub fn put_snapshot_meta(w: &mut Writer, m: &SnapshotMeta) {
    put_opt_log_id(w, &m.last_log_id);
    put_stored_membership(w, &m.last_membership);
    w.str(&m.snapshot_id);
}

pub fn get_snapshot_meta(r: &mut Reader) -> Result<SnapshotMeta, DecodeError> {
    Ok(SnapshotMeta {
        last_log_id: get_opt_log_id(r)?,
        last_membership: get_stored_membership(r)?,
        snapshot_id: r.str(crate::machine::SNAPSHOT_ID_MAX)?.to_string(),
    })
}

/// Encodes one message of the protocol between nodes.
pub fn encode<T: Message>(m: &T) -> Vec<u8> {
    let mut w = Writer::new();
    m.put(&mut w);
    w.buf
}

/// Decodes one whole message of the protocol between nodes.
pub fn decode<T: Message>(b: &[u8]) -> Result<T, DecodeError> {
    let mut r = Reader::new(b);
    let m = T::get(&mut r)?;
    r.finish()?;
    Ok(m)
}

/// A message nodes send each other (openraft's RPCs).
pub trait Message: Sized {
    fn put(&self, w: &mut Writer);
    fn get(r: &mut Reader) -> Result<Self, DecodeError>;
}

impl Message for AppendEntriesRequest<TypeConfig> {
    fn put(&self, w: &mut Writer) {
        put_vote(w, &self.vote);
        put_opt_log_id(w, &self.prev_log_id);
        w.usize(self.entries.len());
        for e in &self.entries {
            put_entry(w, e);
        }
        put_opt_log_id(w, &self.leader_commit);
    }
    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        let vote = get_vote(r)?;
        let prev_log_id = get_opt_log_id(r)?;
        let n = r.len(APPEND_ENTRIES_MAX)?;
        let mut entries = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            entries.push(get_entry(r)?);
        }
        Ok(AppendEntriesRequest {
            vote,
            prev_log_id,
            entries,
            leader_commit: get_opt_log_id(r)?,
        })
    }
}

impl Message for AppendEntriesResponse<NodeId> {
    fn put(&self, w: &mut Writer) {
        match self {
            AppendEntriesResponse::Success => w.u8(0),
            AppendEntriesResponse::PartialSuccess(id) => {
                w.u8(1);
                put_opt_log_id(w, id);
            }
            AppendEntriesResponse::Conflict => w.u8(2),
            AppendEntriesResponse::HigherVote(v) => {
                w.u8(3);
                put_vote(w, v);
            }
        }
    }
    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(match r.u8()? {
            0 => AppendEntriesResponse::Success,
            1 => AppendEntriesResponse::PartialSuccess(get_opt_log_id(r)?),
            2 => AppendEntriesResponse::Conflict,
            3 => AppendEntriesResponse::HigherVote(get_vote(r)?),
            _ => return Err(r.error("unknown AppendEntries answer")),
        })
    }
}

impl Message for VoteRequest<NodeId> {
    fn put(&self, w: &mut Writer) {
        put_vote(w, &self.vote);
        put_opt_log_id(w, &self.last_log_id);
    }
    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(VoteRequest::new(get_vote(r)?, get_opt_log_id(r)?))
    }
}

impl Message for VoteResponse<NodeId> {
    fn put(&self, w: &mut Writer) {
        put_vote(w, &self.vote);
        w.bool(self.vote_granted);
        put_opt_log_id(w, &self.last_log_id);
    }
    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(VoteResponse {
            vote: get_vote(r)?,
            vote_granted: r.bool()?,
            last_log_id: get_opt_log_id(r)?,
        })
    }
}

impl Message for InstallSnapshotRequest<TypeConfig> {
    fn put(&self, w: &mut Writer) {
        put_vote(w, &self.vote);
        put_snapshot_meta(w, &self.meta);
        w.u64(self.offset);
        w.usize(self.data.len());
        w.buf.extend_from_slice(&self.data);
        w.bool(self.done);
    }
    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        let vote = get_vote(r)?;
        let meta = get_snapshot_meta(r)?;
        let offset = r.u64()?;
        let n = r.len(SNAPSHOT_CHUNK_MAX)?;
        let data = r.bytes(n)?.to_vec();
        Ok(InstallSnapshotRequest {
            vote,
            meta,
            offset,
            data,
            done: r.bool()?,
        })
    }
}

/// What a node answers an InstallSnapshot chunk: its vote, or that the
/// chunk is not the one it expected (the sender starts the snapshot over).
pub type InstallSnapshotAnswer = Result<InstallSnapshotResponse<NodeId>, SnapshotMismatch>;

fn put_segment(w: &mut Writer, s: &SnapshotSegmentId) {
    w.str(&s.id);
    w.u64(s.offset);
}

fn get_segment(r: &mut Reader) -> Result<SnapshotSegmentId, DecodeError> {
    Ok(SnapshotSegmentId {
        id: r.str(crate::machine::SNAPSHOT_ID_MAX)?.to_string(),
        offset: r.u64()?,
    })
}

impl Message for InstallSnapshotAnswer {
    fn put(&self, w: &mut Writer) {
        match self {
            Ok(resp) => {
                w.u8(0);
                put_vote(w, &resp.vote);
            }
            Err(m) => {
                w.u8(1);
                put_segment(w, &m.expect);
                put_segment(w, &m.got);
            }
        }
    }
    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(match r.u8()? {
            0 => Ok(InstallSnapshotResponse { vote: get_vote(r)? }),
            1 => Err(SnapshotMismatch {
                expect: get_segment(r)?,
                got: get_segment(r)?,
            }),
            _ => return Err(r.error("unknown InstallSnapshot answer")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use interlock_ledger::testkit;

    fn node(addr: &str) -> ClusterNode {
        ClusterNode::at(addr, addr.replace("7001", "50051"))
    }

    fn round_trip(e: &Entry) -> Entry {
        entry_from_bytes(&entry_bytes(e)).unwrap()
    }

    #[test]
    fn entries_votes_and_memberships_round_trip() {
        let id = LogId::new(CommittedLeaderId::new(7, 2), 41);
        let blank = Entry {
            log_id: id,
            payload: EntryPayload::Blank,
        };
        assert_eq!(round_trip(&blank).log_id, id);
        let nodes = BTreeMap::from([
            (1, node("10.0.0.1:7001")),
            (2, node("10.0.0.2:7001")),
            (3, node("10.0.0.3:7001")),
        ]);
        let mut with_disks = nodes.clone();
        with_disks.get_mut(&1).unwrap().disk = Some(u64::MAX);
        with_disks.get_mut(&3).unwrap().disk = Some(7);
        for nodes in [nodes.clone(), with_disks] {
            let m = Membership::new(vec![BTreeSet::from([1, 2, 3])], nodes);
            let e = Entry {
                log_id: id,
                payload: EntryPayload::Membership(m.clone()),
            };
            match round_trip(&e).payload {
                EntryPayload::Membership(got) => assert_eq!(got, m),
                other => panic!("{other:?}"),
            }
        }
        let m = Membership::new(vec![BTreeSet::from([1, 2, 3])], nodes);
        // A membership written before disks were recorded (kind 2: no
        // disk after the addresses) reads with every disk unknown.
        let mut w = Writer::new();
        put_log_id(&mut w, &id);
        w.u8(MEMBERSHIP);
        w.usize(1);
        w.usize(3);
        for n in 1..=3 {
            w.u64(n);
        }
        w.usize(3);
        for (n, node) in m.nodes() {
            w.u64(*n);
            w.str(&node.raft_addr);
            w.str(&node.api_addr);
        }
        match entry_from_bytes(&w.buf).unwrap().payload {
            EntryPayload::Membership(got) => assert_eq!(got, m),
            other => panic!("{other:?}"),
        }
        let cmd = Command::Check {
            at_ms: 1_000,
            venue: testkit::v("venue-a"),
            request: testkit::req("order-1", "p-1", "ETH", "2.5"),
        };
        let batch = vec![cmd.clone(), Command::Tick { at_ms: 2_000 }, cmd.clone()];
        let e = Entry {
            log_id: id,
            payload: EntryPayload::Normal(batch.clone()),
        };
        match round_trip(&e).payload {
            EntryPayload::Normal(got) => assert_eq!(got, batch),
            other => panic!("{other:?}"),
        }
        // An entry written before batches (one command, kind 1) reads as a
        // batch of one.
        let mut w = Writer::new();
        put_log_id(&mut w, &id);
        w.u8(COMMAND);
        w.put(&cmd);
        match entry_from_bytes(&w.buf).unwrap().payload {
            EntryPayload::Normal(got) => assert_eq!(got, vec![cmd.clone()]),
            other => panic!("{other:?}"),
        }
        // An empty batch, or one over the limit, is refused.
        for n in [0, COMMANDS_PER_ENTRY_MAX + 1] {
            let mut w = Writer::new();
            put_log_id(&mut w, &id);
            w.u8(BATCH);
            w.usize(n);
            for _ in 0..n {
                w.put(&cmd);
            }
            assert!(entry_from_bytes(&w.buf).is_err(), "{n} commands");
        }
        for v in [Vote::new(3, 1), Vote::new_committed(9, 2)] {
            let mut w = Writer::new();
            put_vote(&mut w, &v);
            assert_eq!(get_vote(&mut Reader::new(&w.buf)).unwrap(), v);
        }
        let req = AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(7, 2),
            prev_log_id: Some(id),
            entries: vec![blank.clone(), e.clone()],
            leader_commit: None,
        };
        let back: AppendEntriesRequest<TypeConfig> = decode(&encode(&req)).unwrap();
        assert_eq!(back.vote, req.vote);
        assert_eq!(back.prev_log_id, req.prev_log_id);
        assert_eq!(back.entries, req.entries);
        for resp in [
            AppendEntriesResponse::Success,
            AppendEntriesResponse::PartialSuccess(Some(id)),
            AppendEntriesResponse::Conflict,
            AppendEntriesResponse::HigherVote(Vote::new(8, 3)),
        ] {
            assert_eq!(
                decode::<AppendEntriesResponse<NodeId>>(&encode(&resp)).unwrap(),
                resp
            );
        }
        let snap = InstallSnapshotRequest::<TypeConfig> {
            vote: Vote::new_committed(7, 2),
            meta: SnapshotMeta {
                last_log_id: Some(id),
                last_membership: StoredMembership::new(Some(id), m.clone()),
                snapshot_id: "7-2-41-0".into(),
            },
            offset: 3,
            data: vec![1, 2, 3],
            done: true,
        };
        let back: InstallSnapshotRequest<TypeConfig> = decode(&encode(&snap)).unwrap();
        assert_eq!(
            (back.meta, back.offset, back.data, back.done),
            (snap.meta.clone(), 3, vec![1, 2, 3], true)
        );
        // A peer's damaged message is refused, never misread, never a panic.
        fn refused_when_damaged<T: Message>(bytes: &[u8]) {
            for cut in 0..bytes.len() {
                assert!(decode::<T>(&bytes[..cut]).is_err(), "cut at {cut} accepted");
            }
            let mut longer = bytes.to_vec();
            longer.push(0);
            assert!(decode::<T>(&longer).is_err(), "a trailing byte accepted");
            for flip in 0..bytes.len() {
                let mut b = bytes.to_vec();
                b[flip] ^= 0xff;
                let _ = decode::<T>(&b);
            }
        }
        refused_when_damaged::<AppendEntriesRequest<TypeConfig>>(&encode(&req));
        refused_when_damaged::<InstallSnapshotRequest<TypeConfig>>(&encode(&snap));
        refused_when_damaged::<VoteRequest<NodeId>>(&encode(&VoteRequest::new(
            Vote::new(3, 1),
            Some(id),
        )));
        let mismatch: InstallSnapshotAnswer = Err(SnapshotMismatch {
            expect: SnapshotSegmentId {
                id: "a".into(),
                offset: 0,
            },
            got: SnapshotSegmentId {
                id: "b".into(),
                offset: 9,
            },
        });
        assert_eq!(
            decode::<InstallSnapshotAnswer>(&encode(&mismatch)).unwrap(),
            mismatch
        );
        // Damage is refused, never read as something else.
        let mut bad = entry_bytes(&blank);
        bad.push(0);
        assert!(entry_from_bytes(&bad).is_err());
        let mut bad = entry_bytes(&blank);
        *bad.last_mut().unwrap() = 9;
        assert!(entry_from_bytes(&bad).is_err());
    }
}
