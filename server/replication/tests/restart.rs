//! What the replicated log and state machine keep across a restart (the
//! process gone, the directory kept), in a real directory.

// openraft's StorageError is large; it is its API, not ours.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use interlock_journal::{DiskStorage, JournalConfig, Storage};
use interlock_ledger::testkit::{a, b, p, req, v};
use interlock_ledger::{Command, LedgerConfig, Outcome, SyncBatch, SyncUpdate, Verdict};
use interlock_replication::{
    ClusterNode, Entry, LogId, LogStore, Membership, Reply, StateMachine, StorageError, Vote,
};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::{CommittedLeaderId, EntryPayload, RaftLogReader, RaftSnapshotBuilder};

fn id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn blank(term: u64, index: u64) -> Entry {
    Entry {
        log_id: id(term, index),
        payload: EntryPayload::Blank,
    }
}

fn command(term: u64, index: u64, cmd: Command) -> Entry {
    Entry {
        log_id: id(term, index),
        payload: EntryPayload::Normal(vec![cmd]),
    }
}

fn open(dir: &std::path::Path) -> (LogStore, StateMachine) {
    let storage: Arc<dyn Storage> = Arc::new(DiskStorage::open(dir).unwrap());
    let log = LogStore::open(storage.clone(), JournalConfig::default()).unwrap();
    let sm = StateMachine::open(storage, LedgerConfig::default()).unwrap();
    (log, sm)
}

fn ids(entries: &[Entry]) -> Vec<(u64, u64)> {
    entries
        .iter()
        .map(|e| (e.log_id.leader_id.term, e.log_id.index))
        .collect()
}

fn own(seq: u64, participant: &str, qty: &str) -> Command {
    Command::Sync {
        at_ms: 1_000_000,
        broker: b("prime-1"),
        batch: SyncBatch {
            sequence: seq,
            updates: vec![SyncUpdate::Collateral {
                participant: p(participant),
                asset: a("ETH"),
                quantity: qty.parse().unwrap(),
            }],
        },
    }
}

fn check(order: &str, participant: &str, qty: &str) -> Command {
    Command::Check {
        at_ms: 1_000_100,
        venue: v("venue-a"),
        request: req(order, participant, "ETH", qty),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_keeps_its_vote_cuts_and_purge_point() -> Result<(), StorageError> {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, _) = open(dir.path());
        log.save_vote(&Vote::new(2, 1)).await?;
        log.blocking_append((0..6).map(|i| blank(1, i))).await?;
        // A new leader replaces 4 and 5 with entries of term 2.
        log.truncate(id(1, 4)).await?;
        log.blocking_append([blank(2, 4), blank(2, 5), blank(2, 6)])
            .await?;
        log.purge(id(1, 1)).await?;
        log.close();
    }
    let (mut log, _) = open(dir.path());
    assert_eq!(log.read_vote().await?, Some(Vote::new(2, 1)));
    // The directory keeps its identity; another directory has another.
    let disk = log.disk();
    let other = tempfile::tempdir().unwrap();
    let (other_log, _) = open(other.path());
    assert_ne!(other_log.disk(), disk);
    other_log.close();
    let state = log.get_log_state().await?;
    assert_eq!(state.last_purged_log_id, Some(id(1, 1)));
    assert_eq!(state.last_log_id, Some(id(2, 6)));
    let entries = log.try_get_log_entries(0..).await?;
    assert_eq!(ids(&entries), vec![(1, 2), (1, 3), (2, 4), (2, 5), (2, 6)]);
    // A snapshot from the leader far beyond the log: the log starts again.
    log.purge(id(3, 100)).await?;
    log.blocking_append([blank(3, 101)]).await?;
    log.close();
    let (mut log, _) = open(dir.path());
    assert_eq!(log.disk(), disk);
    let entries = log.try_get_log_entries(0..).await?;
    assert_eq!(ids(&entries), vec![(3, 101)]);
    assert_eq!(
        log.get_log_state().await?.last_purged_log_id,
        Some(id(3, 100))
    );
    log.close();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_machine_decides_at_apply_and_snapshots_restore_it() -> Result<(), StorageError> {
    let dir = tempfile::tempdir().unwrap();
    let nodes = BTreeMap::from([(1, ClusterNode::at("127.0.0.1:1", "127.0.0.1:2"))]);
    let membership = Membership::new(vec![BTreeSet::from([1])], nodes);
    let digest = {
        let (log, mut sm) = open(dir.path());
        let replies = sm
            .apply([
                Entry {
                    log_id: id(1, 0),
                    payload: EntryPayload::Membership(membership.clone()),
                },
                command(1, 1, own(1, "p-1", "10")),
                command(1, 2, check("o-1", "p-1", "4")),
                command(1, 3, check("o-2", "p-1", "7")),
            ])
            .await?;
        let verdicts: Vec<bool> = replies
            .iter()
            .filter_map(|Reply(r)| match r.first()?.as_ref().ok()?.outcome {
                Outcome::Check(ref c) => Some(c.verdict == Verdict::Approved),
                _ => None,
            })
            .collect();
        // 4 of 10 fits; another 7 does not.
        assert_eq!(verdicts, vec![true, false]);
        let snap = sm.get_snapshot_builder().await.build_snapshot().await?;
        assert_eq!(snap.meta.last_log_id, Some(id(1, 3)));
        // A node far behind installs it.
        let other = tempfile::tempdir().unwrap();
        let (other_log, mut other_sm) = open(other.path());
        let file = snap.snapshot.into_inner();
        let empty = other_sm.ledger().read(|s| s.to_snapshot()).unwrap();
        // Damaged on the way (one byte of the state), or sent under another
        // position: refused, nothing written or applied.
        let mut damaged = file.clone();
        let at = damaged.len() - 10;
        damaged[at] ^= 0x01;
        let e = other_sm
            .install_snapshot(&snap.meta, Box::new(std::io::Cursor::new(damaged)))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
        let elsewhere = interlock_replication::SnapshotMeta {
            last_log_id: Some(id(1, 2)),
            ..snap.meta.clone()
        };
        let e = other_sm
            .install_snapshot(&elsewhere, Box::new(std::io::Cursor::new(file.clone())))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("covers"), "{e}");
        assert_eq!(other_sm.applied_state().await?.0, None);
        assert_eq!(other_sm.ledger().read(|s| s.to_snapshot()).unwrap(), empty);
        assert!(!DiskStorage::open(other.path())
            .unwrap()
            .list()
            .unwrap()
            .iter()
            .any(|n| n.starts_with("snapshot-")));
        other_sm
            .install_snapshot(&snap.meta, Box::new(std::io::Cursor::new(file)))
            .await?;
        let digest = sm.ledger().read(|s| s.to_snapshot()).unwrap();
        assert_eq!(other_sm.ledger().read(|s| s.to_snapshot()).unwrap(), digest);
        assert_eq!(other_sm.applied_state().await?.0, Some(id(1, 3)));
        other_log.close();
        log.close();
        digest
    };
    let (log, mut sm) = open(dir.path());
    let (applied, m) = sm.applied_state().await?;
    assert_eq!(applied, Some(id(1, 3)));
    assert_eq!(m.membership(), &membership);
    assert_eq!(sm.ledger().read(|s| s.to_snapshot()).unwrap(), digest);
    // A snapshot being written while openraft reads the current one is
    // left alone (removing its temporary file once stopped a leader);
    // only a start removes what a crash left.
    let storage = DiskStorage::open(dir.path()).unwrap();
    let tmp = interlock_journal::format::snapshot_tmp_name(9);
    storage.create(&tmp).unwrap().write_all(b"half").unwrap();
    let current = sm
        .get_current_snapshot()
        .await?
        .expect("the snapshot is kept");
    assert_eq!(current.meta.last_log_id, Some(id(1, 3)));
    assert!(storage.list().unwrap().contains(&tmp));
    log.close();
    let (log, _) = open(dir.path());
    assert!(!storage.list().unwrap().contains(&tmp));
    log.close();
    Ok(())
}

/// A snapshot is built from the files (the last snapshot and the log after
/// it, replayed on a thread of its own) and is byte for byte the live state
/// at the same entry, refusals included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_rebuilt_from_the_files_is_the_live_state() -> Result<(), StorageError> {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(DiskStorage::open(dir.path()).unwrap());
    let mut log = LogStore::open(storage.clone(), JournalConfig::default()).unwrap();
    let mut sm =
        StateMachine::open_with_log(storage, LedgerConfig::default(), log.clone()).unwrap();
    let nodes = BTreeMap::from([(1, ClusterNode::at("127.0.0.1:1", "127.0.0.1:2"))]);
    let batch = |term, index, cmds: Vec<Command>| Entry {
        log_id: id(term, index),
        payload: EntryPayload::Normal(cmds),
    };
    let first = vec![
        Entry {
            log_id: id(1, 0),
            payload: EntryPayload::Membership(Membership::new(vec![BTreeSet::from([1])], nodes)),
        },
        command(1, 1, own(1, "p-1", "10")),
        batch(
            1,
            2,
            vec![
                check("o-1", "p-1", "4"),
                check("o-2", "p-1", "7"),
                check("o-3", "p-1", "5"),
            ],
        ),
    ];
    let second = vec![
        blank(2, 3),
        // A repeated order id, a refusal and a new participant in one entry.
        batch(
            2,
            4,
            vec![
                check("o-1", "p-1", "4"),
                check("o-4", "p-1", "100"),
                own(2, "p-2", "3"),
                check("o-5", "p-2", "1"),
            ],
        ),
    ];
    let mut replayed = 0;
    for entries in [first, second] {
        log.blocking_append(entries.clone()).await?;
        sm.apply(entries).await?;
        let snap = sm.get_snapshot_builder().await.build_snapshot().await?;
        replayed += 1;
        assert_eq!(sm.snapshots_replayed(), replayed, "built from the files");
        let live = sm.ledger().read(|s| s.to_snapshot()).unwrap();
        let file = snap.snapshot.into_inner();
        let (meta, state) = interlock_replication::read_snapshot(&file).unwrap();
        assert_eq!(meta, snap.meta);
        assert!(state == live, "the replayed state differs");
    }
    log.close();
    Ok(())
}

/// A node whose log or snapshot was damaged on disk refuses to start,
/// naming the file, rather than serve from a state the others never had
/// (its data directory removed, it rejoins from the leader).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_log_or_snapshot_is_refused_at_start() -> Result<(), StorageError> {
    let flip = |dir: &std::path::Path, kind: &str, at: usize| {
        let storage = DiskStorage::open(dir).unwrap();
        let name = storage
            .list()
            .unwrap()
            .into_iter()
            .find(|n| n.contains(kind))
            .unwrap_or_else(|| panic!("no {kind} file"));
        let mut bytes = storage.read(&name).unwrap();
        assert!(bytes.len() > at, "{name} is {} bytes", bytes.len());
        bytes[at] ^= 0x40;
        let mut f = storage.create(&name).unwrap();
        f.write_all(&bytes).unwrap();
        f.sync().unwrap();
        name
    };
    let entries: Vec<Entry> = (0..50)
        .map(|i| command(1, i, check(&format!("o-{i}"), "p-1", "1")))
        .collect();

    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, _) = open(dir.path());
        log.blocking_append(entries.clone()).await?;
        log.close();
    }
    // A byte in the first records, with good records after it.
    let name = flip(dir.path(), ".log", 200);
    let storage: Arc<dyn Storage> = Arc::new(DiskStorage::open(dir.path()).unwrap());
    let e = LogStore::open(storage, JournalConfig::default()).unwrap_err();
    assert!(e.to_string().contains(&name), "{e}");
    // The directory's identity, damaged, is refused too (never replaced
    // by a new one: the node would then be refused by its peers as a
    // replaced disk, and the cause hidden).
    let dir = tempfile::tempdir().unwrap();
    open(dir.path()).0.close();
    let name = flip(dir.path(), "raft-disk", 20);
    let storage: Arc<dyn Storage> = Arc::new(DiskStorage::open(dir.path()).unwrap());
    let e = LogStore::open(storage, JournalConfig::default()).unwrap_err();
    assert!(e.to_string().contains(&name), "{e}");

    let dir = tempfile::tempdir().unwrap();
    {
        let (log, mut sm) = open(dir.path());
        sm.apply(entries).await?;
        sm.get_snapshot_builder().await.build_snapshot().await?;
        log.close();
    }
    let name = flip(dir.path(), "snapshot", 100);
    let storage: Arc<dyn Storage> = Arc::new(DiskStorage::open(dir.path()).unwrap());
    let e = StateMachine::open(storage, LedgerConfig::default()).unwrap_err();
    assert!(e.to_string().contains(&name), "{e}");
    Ok(())
}
