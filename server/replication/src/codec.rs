//! How the Raft pieces are written down: log entries (a journal record's
//! payload), votes, log ids and memberships, in the ledger's own codec
//! (`interlock_ledger::codec`: varints, length-prefixed strings), so that
//! nothing in a stored or sent entry depends on a serialisation library's
//! choices.
//!
//! ```text
//! log id:     term u64 | leader node u64 | index u64
//! entry:      log id | kind u8 | (0 blank | 1 command | 2 membership)
//! membership: configs (count, each: count, node ids) | nodes (count, each: id, address)
//! vote:       term u64 | node u64 | committed bool
//! ```

use std::collections::{BTreeMap, BTreeSet};

use interlock_ledger::codec::{DecodeError, Reader, Writer};
use interlock_ledger::Command;
use openraft::{BasicNode, CommittedLeaderId, EntryPayload};

use crate::{Entry, LogId, Membership, StoredMembership, Vote};

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

pub fn put_log_id(w: &mut Writer, id: &LogId) {
    w.u64(id.leader_id.term);
    w.u64(id.leader_id.node_id);
    w.u64(id.index);
}

pub fn get_log_id(r: &mut Reader) -> Result<LogId, DecodeError> {
    let term = r.u64()?;
    let node = r.u64()?;
    let index = r.u64()?;
    Ok(LogId::new(CommittedLeaderId::new(term, node), index))
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
        w.str(&node.addr);
    }
}

pub fn get_membership(r: &mut Reader) -> Result<Membership, DecodeError> {
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
        let addr = r.str(ADDRESS_MAX)?.to_string();
        nodes.insert(id, BasicNode { addr });
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

pub fn put_entry(w: &mut Writer, e: &Entry) {
    put_log_id(w, &e.log_id);
    match &e.payload {
        EntryPayload::Blank => w.u8(BLANK),
        EntryPayload::Normal(cmd) => {
            w.u8(COMMAND);
            w.put(cmd);
        }
        EntryPayload::Membership(m) => {
            w.u8(MEMBERSHIP);
            put_membership(w, m);
        }
    }
}

pub fn get_entry(r: &mut Reader) -> Result<Entry, DecodeError> {
    let log_id = get_log_id(r)?;
    let payload = match r.u8()? {
        BLANK => EntryPayload::Blank,
        COMMAND => EntryPayload::Normal(r.get::<Command>()?),
        MEMBERSHIP => EntryPayload::Membership(get_membership(r)?),
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
    w.u64(v.leader_id.node_id);
    w.bool(v.committed);
}

pub fn get_vote(r: &mut Reader) -> Result<Vote, DecodeError> {
    let term = r.u64()?;
    let node = r.u64()?;
    let committed = r.bool()?;
    Ok(if committed {
        Vote::new_committed(term, node)
    } else {
        Vote::new(term, node)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use interlock_ledger::testkit;

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
            (1, BasicNode::new("10.0.0.1:7001")),
            (2, BasicNode::new("10.0.0.2:7001")),
            (3, BasicNode::new("10.0.0.3:7001")),
        ]);
        let m = Membership::new(vec![BTreeSet::from([1, 2, 3])], nodes);
        let e = Entry {
            log_id: id,
            payload: EntryPayload::Membership(m.clone()),
        };
        match round_trip(&e).payload {
            EntryPayload::Membership(got) => assert_eq!(got, m),
            other => panic!("{other:?}"),
        }
        let cmd = Command::Check {
            at_ms: 1_000,
            venue: testkit::v("venue-a"),
            request: testkit::req("order-1", "p-1", "ETH", "2.5"),
        };
        let e = Entry {
            log_id: id,
            payload: EntryPayload::Normal(cmd.clone()),
        };
        match round_trip(&e).payload {
            EntryPayload::Normal(got) => assert_eq!(got, cmd),
            other => panic!("{other:?}"),
        }
        for v in [Vote::new(3, 1), Vote::new_committed(9, 2)] {
            let mut w = Writer::new();
            put_vote(&mut w, &v);
            assert_eq!(get_vote(&mut Reader::new(&w.buf)).unwrap(), v);
        }
        // Damage is refused, never read as something else.
        let mut bad = entry_bytes(&blank);
        bad.push(0);
        assert!(entry_from_bytes(&bad).is_err());
        let mut bad = entry_bytes(&blank);
        *bad.last_mut().unwrap() = 9;
        assert!(entry_from_bytes(&bad).is_err());
    }
}
