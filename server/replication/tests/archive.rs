//! The audit archive a node's state machine writes: the records an
//! `ArchiveAudit` takes out of memory are on this node's disk first, and a
//! node that cannot write them applies nothing more (on the simulated disk).

// openraft's StorageError is large; it is its API, not ours.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use interlock_journal::audit::AuditArchive;
use interlock_journal::sim::{Fault, SimStorage};
use interlock_journal::Storage;
use interlock_ledger::{Command, LedgerConfig};
use interlock_replication::{Entry, LogId, StateMachine};
use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload};

fn entry(index: u64, cmd: Command) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(vec![cmd]),
    }
}

fn denial(i: u64) -> Command {
    Command::RecordDenial {
        at_ms: 1_000 + i as i64,
        principal: format!("intruder-{i}"),
        action: "/interlock.v1.AdminService/SetLimit".into(),
        reason: "not an admin".into(),
    }
}

fn archived(sm: &StateMachine) -> (u64, usize) {
    sm.ledger()
        .read(|s| (s.audit_archived(), s.audit_len()))
        .unwrap()
}

#[tokio::test]
async fn archived_records_are_on_this_nodes_disk_before_they_leave_memory() {
    let disk = SimStorage::new();
    let storage: Arc<dyn Storage> = Arc::new(disk.clone());
    let mut sm = StateMachine::open(storage.clone(), LedgerConfig::default()).unwrap();
    assert!(sm
        .archive_audit_to(AuditArchive::new(storage.clone()))
        .is_ok());
    let archive = AuditArchive::new(storage);

    sm.apply((1..=5).map(|i| entry(i, denial(i))))
        .await
        .unwrap();
    assert_eq!(archived(&sm), (0, 5));
    let kept = sm.ledger().read(|s| s.audit_oldest(3)).unwrap();
    sm.apply([entry(
        6,
        Command::ArchiveAudit {
            at_ms: 2_000,
            through_seq: 3,
        },
    )])
    .await
    .unwrap();
    assert_eq!(archived(&sm), (3, 2));
    assert_eq!(archive.read(0, 3, 10).unwrap(), kept);

    // A disk that cannot take them: the command is not applied, and the
    // records stay in memory.
    disk.inject(Fault::DiskFull);
    let failed = sm
        .apply([entry(
            7,
            Command::ArchiveAudit {
                at_ms: 3_000,
                through_seq: 5,
            },
        )])
        .await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(archived(&sm), (3, 2));
    assert_eq!(sm.last_applied().map(|l| l.index), Some(6));

    // An ArchiveAudit the ledger refuses (past the last record) writes
    // nothing.
    disk.clear_faults();
    sm.apply([entry(
        8,
        Command::ArchiveAudit {
            at_ms: 4_000,
            through_seq: 9,
        },
    )])
    .await
    .unwrap();
    assert_eq!(archived(&sm), (3, 2));
    assert!(archive.read(3, 5, 10).is_err());
}
