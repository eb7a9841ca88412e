//! Recovery benchmark: how long a start takes after 1,000,000 journal
//! records since the last snapshot, and with a snapshot of 1,000,000
//! participants.
//!
//! cargo run --release -p interlock-journal --example recovery_bench -- [RECORDS] [PARTICIPANTS] [DIR]
//!
//! DIR defaults to a fresh directory under `target/` (on the same disk as
//! the build, not a tmpfs); it is removed afterwards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use interlock_journal::recover::recover;
use interlock_journal::{open, snapshot_state, DiskStorage, JournalConfig};
use interlock_ledger::*;
use rust_decimal::Decimal;

fn cfg() -> LedgerConfig {
    LedgerConfig {
        participants_max: 2_000_000,
        ..LedgerConfig::default()
    }
}

fn sync(seq: u64, at: i64, from: u64, n: u64) -> Command {
    Command::Sync {
        at_ms: at,
        broker: BrokerId::new("prime-1").unwrap(),
        batch: SyncBatch {
            sequence: seq,
            updates: (from..from + n)
                .map(|i| SyncUpdate::Collateral {
                    participant: ParticipantId::new(&format!("p{i}")).unwrap(),
                    asset: AssetId::new("ETH").unwrap(),
                    quantity: Decimal::from(1_000_000),
                })
                .collect(),
        },
    }
}

fn check(at: i64, i: u64, participants: u64) -> Command {
    Command::Check {
        at_ms: at,
        venue: VenueId::new(["v0", "v1", "v2"][(i % 3) as usize]).unwrap(),
        request: CheckRequest {
            order_id: OrderId::new(&format!("o{i}")).unwrap(),
            participant: ParticipantId::new(&format!("p{}", i % participants)).unwrap(),
            asset: AssetId::new("ETH").unwrap(),
            quantity: Decimal::ONE,
            // Long enough that nothing expires during the run.
            ttl_ms: Some(600_000),
            risk_reducing: false,
            dry_run: false,
            allow_partial: false,
            liability: None,
        },
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("replay") {
        // `replay DIR`: only recover an existing data directory (for
        // profiling a fresh process).
        let storage = DiskStorage::open(std::path::Path::new(&args[2])).unwrap();
        let started = Instant::now();
        let rec = recover(&storage, cfg()).unwrap();
        println!(
            "replayed {} records in {:.3} s",
            rec.records_replayed,
            started.elapsed().as_secs_f64()
        );
        return;
    }
    let records: u64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let participants: u64 = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let base = args
        .get(3)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("target/recovery-bench"));
    let _ = std::fs::remove_dir_all(&base);

    // 1. Journal records since the last snapshot.
    let dir = base.join("journal");
    let storage = Arc::new(DiskStorage::open(&dir).unwrap());
    let (rec, journal) = open(
        storage.clone(),
        cfg(),
        JournalConfig::default(),
        Box::new(|_| {}),
    )
    .unwrap();
    let ledger = Ledger::with_journal(rec.state, Box::new(journal.clone()));
    let at = 1_800_000_000_000i64;
    let owners = 10_000u64;
    let mut last = 0;
    for s in 0..owners / 1000 {
        last = ledger.apply(sync(s + 1, at, s * 1000, 1000)).1 .0;
    }
    let started = Instant::now();
    let mut i = 0;
    while last < records {
        i += 1;
        let (r, t) = ledger.apply(check(at + (i as i64 / 1000), i, owners));
        r.unwrap();
        last = t.0;
    }
    assert!(journal.wait_durable(last, Duration::from_secs(600)));
    let write_secs = started.elapsed().as_secs_f64();
    journal.close();
    let bytes: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    let started = Instant::now();
    let rec = recover(storage.as_ref(), cfg()).unwrap();
    let replay_secs = started.elapsed().as_secs_f64();
    assert_eq!(rec.last_lsn, last);
    println!(
        "journal: {} records ({:.1} MiB) written in {:.2} s; recovery replayed {} records in {:.3} s ({:.0} records/s)",
        last,
        bytes as f64 / 1048576.0,
        write_secs,
        rec.records_replayed,
        replay_secs,
        rec.records_replayed as f64 / replay_secs
    );
    let started = Instant::now();
    let snapshot_bytes = rec.state.to_snapshot().len();
    println!(
        "the state after them as a snapshot body: {:.1} MiB, encoded in {:.2} s",
        snapshot_bytes as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    drop(rec);
    drop(ledger);
    if std::env::var_os("RECOVERY_BENCH_PHASES").is_some() {
        phases(storage.as_ref());
    }

    // 2. A snapshot of `participants` participants.
    let dir = base.join("snapshot");
    let storage = Arc::new(DiskStorage::open(&dir).unwrap());
    let (rec, journal) = open(
        storage.clone(),
        cfg(),
        JournalConfig::default(),
        Box::new(|_| {}),
    )
    .unwrap();
    let mut state = rec.state;
    let mut seq = 0;
    let mut from = 0;
    while from < participants {
        seq += 1;
        let n = (participants - from).min(SYNC_BATCH_MAX as u64);
        state.apply(&sync(seq, at, from, n)).unwrap();
        from += n;
    }
    let started = Instant::now();
    let info = snapshot_state(&state, &journal).unwrap();
    let snap_secs = started.elapsed().as_secs_f64();
    journal.close();
    drop(state);
    let started = Instant::now();
    let rec = recover(storage.as_ref(), cfg()).unwrap();
    let load_secs = started.elapsed().as_secs_f64();
    println!(
        "snapshot: {} participants, {:.1} MiB, encoded and written in {:.2} s; recovery loaded it in {:.3} s",
        participants,
        info.bytes as f64 / 1048576.0,
        snap_secs,
        load_secs
    );
    drop(rec);
    if std::env::var_os("RECOVERY_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&base);
    }
}

/// Where replay time goes: reading, framing, decoding, applying.
fn phases(storage: &dyn interlock_journal::Storage) {
    use interlock_journal::format;
    let mut names = storage.list().unwrap();
    names.retain(|n| n.starts_with("journal-"));
    names.sort();
    let t = Instant::now();
    let files: Vec<Vec<u8>> = names.iter().map(|n| storage.read(n).unwrap()).collect();
    let read = t.elapsed();
    let t = Instant::now();
    let mut payloads = Vec::new();
    for f in &files {
        let (recs, _) = format::scan_records(f, format::SEGMENT_HEADER_LEN);
        payloads.extend(recs.into_iter().map(|r| r.payload));
    }
    let scan = t.elapsed();
    let t = Instant::now();
    let cmds: Vec<Command> = payloads
        .iter()
        .map(|p| interlock_ledger::codec::from_bytes(p).unwrap())
        .collect();
    let decode = t.elapsed();
    let rss = || -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        let l = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        l.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let before = rss();
    let t = Instant::now();
    let mut state = State::new(cfg());
    for c in &cmds {
        let _ = state.apply(c);
    }
    let apply = t.elapsed();
    println!(
        "state after replay: {} KiB RSS more ({} bytes per record)",
        rss() - before,
        (rss() - before) * 1024 / cmds.len().max(1) as u64
    );
    println!(
        "phases: read {:?}, frame+crc {:?}, decode {:?}, apply {:?} ({} records)",
        read,
        scan,
        decode,
        apply,
        cmds.len()
    );
}
