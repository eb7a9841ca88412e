//! The journal on a real directory: records are written in place over the
//! zeroed space allocated ahead of them, and a closed segment ends with its
//! last record.

use std::sync::Arc;
use std::time::Duration;

use interlock_journal::format::{scan_records, SEGMENT_HEADER_LEN};
use interlock_journal::{open, DiskStorage, JournalConfig, JournalHandle, Recovered};
use interlock_ledger::*;

const PREALLOC: u64 = 64 * 1024;

/// Participant `i` owns 10 ETH (broker sequence `i + 1`).
fn owns(i: usize) -> Command {
    Command::Sync {
        at_ms: 1_000_000,
        broker: BrokerId::new("prime-1").unwrap(),
        batch: SyncBatch {
            sequence: i as u64 + 1,
            updates: vec![SyncUpdate::Collateral {
                participant: ParticipantId::new(&format!("p{i}")).unwrap(),
                asset: AssetId::new("ETH").unwrap(),
                quantity: 10.into(),
            }],
        },
    }
}

fn start(storage: &Arc<DiskStorage>) -> (Recovered, JournalHandle) {
    start_with(storage, JournalConfig::default().snapshot_after_bytes)
}

fn start_with(storage: &Arc<DiskStorage>, snapshot_after_bytes: u64) -> (Recovered, JournalHandle) {
    let config = JournalConfig {
        prealloc_bytes: PREALLOC,
        snapshot_after_bytes,
        ..JournalConfig::default()
    };
    open(
        storage.clone(),
        LedgerConfig::default(),
        config,
        Box::new(|_| {}),
    )
    .unwrap()
}

#[test]
fn records_land_in_zeroed_space_and_a_closed_segment_ends_with_its_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(DiskStorage::open(dir.path()).unwrap());
    let (rec, journal) = start(&storage);
    let ledger = Ledger::with_journal(rec.state, Box::new(journal.clone()));
    let segment = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .unwrap();
    let n = 200;
    for i in 0..n {
        let (result, ticket) = ledger.apply(owns(i));
        result.unwrap();
        assert!(journal.wait_durable(ticket.0, Duration::from_secs(30)));
        let bytes = std::fs::read(&segment).unwrap();
        assert_eq!(bytes.len() as u64 % PREALLOC, 0, "after record {i}");
        let (records, end) = scan_records(&bytes, SEGMENT_HEADER_LEN);
        assert_eq!(records.len(), i + 1);
        assert!(bytes[end..].iter().all(|&b| b == 0));
    }
    let want = ledger.read(|s| s.to_snapshot()).unwrap();
    journal.close();
    let bytes = std::fs::read(&segment).unwrap();
    let (records, end) = scan_records(&bytes, SEGMENT_HEADER_LEN);
    assert_eq!((records.len(), end), (n, bytes.len()));

    let (rec, journal) = start(&storage);
    assert_eq!(rec.state.to_snapshot(), want);
    assert_eq!(rec.records_replayed, n as u64);
    journal.close();

    // Should a finished segment's cut not have reached the disk, its
    // zeroes are cut at the next start, though a segment follows it.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap();
    std::io::Write::write_all(&mut file, &[0u8; 4096]).unwrap();
    drop(file);
    let (rec, journal) = start(&storage);
    assert_eq!(rec.state.to_snapshot(), want);
    assert_eq!(rec.truncated, None);
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), end as u64);
    journal.close();
}

/// A server that keeps crashing before it writes `snapshot_after_bytes`
/// anew must still snapshot: the journal it replayed at start counts.
#[test]
fn the_journal_replayed_at_start_counts_towards_the_next_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(DiskStorage::open(dir.path()).unwrap());
    let open_with = |after: u64| start_with(&storage, after);
    // Each life below writes 30 records of about 40 bytes.
    let threshold = 2500;
    let mut written = 0;
    // Three lives, each stopping without a snapshot (as after a crash)
    // after about half the threshold: none writes it on its own.
    for life in 0..3 {
        let (rec, journal) = open_with(threshold);
        assert_eq!(rec.records_replayed, written as u64);
        assert_eq!(journal.snapshot_wanted(), rec.journal_bytes >= threshold);
        let ledger = Ledger::with_journal(rec.state, Box::new(journal.clone()));
        let mut last = 0;
        for i in written..written + 30 {
            let (result, ticket) = ledger.apply(owns(i));
            result.unwrap();
            last = ticket.0;
        }
        written += 30;
        assert!(journal.wait_durable(last, Duration::from_secs(30)));
        if life == 0 {
            assert!(
                !journal.snapshot_wanted(),
                "one life is below the threshold"
            );
        }
        journal.close();
    }
    let (rec, journal) = open_with(threshold);
    assert!(
        rec.journal_bytes >= threshold,
        "{} bytes",
        rec.journal_bytes
    );
    assert!(journal.snapshot_wanted(), "the replayed journal must count");
    journal.close();
}

/// A snapshot taken while commands are applied, rebuilt by replaying the
/// files rather than encoded under the ledger's lock, is the ledger's state
/// at its cut, byte for byte; the journal after it recovers the rest.
#[test]
fn a_snapshot_replayed_from_the_files_is_the_state_at_its_cut() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(DiskStorage::open(dir.path()).unwrap());
    let (rec, journal) = start(&storage);
    let ledger = Arc::new(Ledger::with_journal(rec.state, Box::new(journal.clone())));
    let writer = {
        let (ledger, journal) = (ledger.clone(), journal.clone());
        std::thread::spawn(move || {
            for i in 0..3000 {
                let (result, ticket) = ledger.apply(owns(i));
                result.unwrap();
                if i % 100 == 0 {
                    assert!(journal.wait_durable(ticket.0, Duration::from_secs(30)));
                }
            }
        })
    };
    // Snapshots encoded under the lock at the same time, as the one at
    // shutdown may be while a replayed one is still being written: they
    // take turns, so neither removes files the other reads.
    let encoder = {
        let (ledger, journal) = (ledger.clone(), journal.clone());
        std::thread::spawn(move || {
            for _ in 0..5 {
                interlock_journal::snapshot(&ledger, &journal).unwrap();
            }
        })
    };
    let mut taken = Vec::new();
    while !writer.is_finished() {
        taken.push(
            interlock_journal::snapshot_replayed(&ledger, &journal)
                .unwrap()
                .lsn,
        );
    }
    writer.join().unwrap();
    encoder.join().unwrap();
    assert!(!taken.is_empty());
    // With nothing applied meanwhile, the snapshot's body is the ledger's.
    let info = interlock_journal::snapshot_replayed(&ledger, &journal).unwrap();
    let want = ledger.read(|s| s.to_snapshot()).unwrap();
    let file = std::fs::read(
        dir.path()
            .join(interlock_journal::format::snapshot_name(info.lsn)),
    )
    .unwrap();
    let (lsn, body) = interlock_journal::format::read_snapshot_file(&file).unwrap();
    assert_eq!((lsn, body), (info.lsn, want.as_slice()));
    journal.close();
    let (rec, journal) = start(&storage);
    assert_eq!(rec.snapshot_lsn, Some(info.lsn));
    assert_eq!(rec.state.to_snapshot(), want);
    journal.close();
}
