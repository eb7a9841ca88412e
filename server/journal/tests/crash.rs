//! Crash points, corruption, fsync failure and a full disk, on the
//! simulated disk (`SimStorage`), which forgets everything a completed
//! fsync did not cover and tears the last write.

use std::sync::Arc;
use std::time::Duration;

use interlock_journal::sim::{Fault, SimStorage};
use interlock_journal::{open, snapshot, JournalConfig, JournalError, JournalStatus};
use interlock_ledger::*;
use rust_decimal::Decimal;

fn id<T>(f: fn(&str) -> Result<T, IdError>, s: &str) -> T {
    f(s).unwrap()
}

/// A deterministic workload touching every kind of command: syncs, checks
/// (approved, rejected, repeated), commits, releases, limits, halts and
/// time passing (so reservations expire).
fn workload(n: usize) -> Vec<Command> {
    let mut cmds = Vec::new();
    let mut seq = 0;
    let mut oracle_seq = 0;
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rand = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let mut at = 1_000_000i64;
    for i in 0..n {
        at += 1 + rand(4_000) as i64;
        let p = id(ParticipantId::new, ["p0", "p1", "p2"][rand(3) as usize]);
        let venue = id(VenueId::new, ["v0", "v1"][rand(2) as usize]);
        let cmd = match rand(15) {
            0 | 1 => {
                seq += 1;
                Command::Sync {
                    at_ms: at,
                    broker: id(BrokerId::new, "prime-1"),
                    batch: SyncBatch {
                        sequence: seq,
                        updates: vec![SyncUpdate::Collateral {
                            participant: p,
                            asset: id(AssetId::new, "ETH"),
                            quantity: Decimal::from(rand(100)),
                        }],
                    },
                }
            }
            2..=5 => Command::Check {
                at_ms: at,
                venue,
                request: CheckRequest {
                    order_id: id(OrderId::new, &format!("o{}", rand(i as u64 + 1))),
                    participant: p,
                    asset: id(AssetId::new, "ETH"),
                    quantity: Decimal::from(1 + rand(30)),
                    ttl_ms: Some(5_000 + rand(20_000)),
                    risk_reducing: false,
                    dry_run: rand(8) == 0,
                    allow_partial: rand(2) == 0,
                    liability: (rand(4) == 0).then(|| Decimal::from(rand(1000))),
                },
            },
            6 => Command::Commit {
                at_ms: at,
                venue,
                reservation: ReservationId(1 + rand(i as u64 + 1)),
            },
            7 => Command::Release {
                at_ms: at,
                venue,
                reservation: ReservationId(1 + rand(i as u64 + 1)),
            },
            8 => Command::SetLimit {
                at_ms: at,
                by: "admin".into(),
                spec: LimitSpec {
                    kind: LimitKind::ReuseRatio,
                    scope: Scope {
                        participant: Some(p),
                        ..Scope::default()
                    },
                    value: Decimal::from(1 + rand(3)),
                    warn_levels_pct: vec![Decimal::from(80)],
                },
                expected_version: None,
                force: (rand(2) == 0).then(|| "crash test".to_owned()),
            },
            // The value layer: classes, prices, venue parameters,
            // haircuts, shocks, liabilities and value limits.
            10 => Command::SetAssetClass {
                at_ms: at,
                by: "admin".into(),
                asset: id(AssetId::new, ["ETH", "USDC"][rand(2) as usize]),
                class: [AssetClass::Major, AssetClass::Stable][rand(2) as usize],
            },
            11 => {
                oracle_seq += 1;
                Command::PublishPrices {
                    at_ms: at,
                    oracle: id(OracleId::new, "pyth"),
                    batch: PriceBatch {
                        sequence: oracle_seq,
                        quotes: vec![PriceQuote {
                            asset: id(AssetId::new, "ETH"),
                            price: Decimal::from(1_800 + rand(400)),
                            published_ms: at - rand(2_000) as i64,
                        }],
                    },
                }
            }
            12 => match rand(3) {
                0 => Command::SetVenueAsset {
                    at_ms: at,
                    by: "admin".into(),
                    venue,
                    asset: id(AssetId::new, "ETH"),
                    params: VenueAssetParams {
                        threshold: Decimal::new(9, 1),
                        ltv: Some(Decimal::new(1 + rand(89) as i64, 2)),
                    },
                },
                1 => Command::SetHaircut {
                    at_ms: at,
                    by: "admin".into(),
                    asset: id(AssetId::new, "ETH"),
                    haircut: Some(Decimal::new(rand(50) as i64, 2)),
                    force: Some("crash test".into()),
                },
                _ => Command::SetStressShock {
                    at_ms: at,
                    by: "admin".into(),
                    class: AssetClass::Major,
                    shock: -Decimal::new(rand(100) as i64, 2),
                    force: Some("crash test".into()),
                },
            },
            13 => {
                seq += 1;
                Command::Sync {
                    at_ms: at,
                    broker: id(BrokerId::new, "prime-1"),
                    batch: SyncBatch {
                        sequence: seq,
                        updates: vec![SyncUpdate::Liability {
                            participant: p,
                            venue,
                            asset: id(AssetId::new, "USDC"),
                            quantity: Decimal::from(rand(50_000)),
                        }],
                    },
                }
            }
            14 => Command::SetLimit {
                at_ms: at,
                by: "admin".into(),
                spec: LimitSpec {
                    kind: [LimitKind::MinHfEco, LimitKind::StressHfEco][rand(2) as usize],
                    scope: Scope::default(),
                    value: Decimal::new(5 + rand(10) as i64, 1),
                    warn_levels_pct: vec![],
                },
                expected_version: None,
                force: Some("crash test".into()),
            },
            _ => Command::SetTradingState {
                at_ms: at,
                by: "admin".into(),
                participant: p,
                state: [
                    TradingState::Active,
                    TradingState::Halted,
                    TradingState::ReduceOnly,
                ][rand(3) as usize],
                reason: "test".into(),
            },
        };
        cmds.push(cmd);
        if rand(4) == 0 {
            cmds.push(Command::Tick { at_ms: at });
        }
    }
    cmds
}

fn cfg() -> LedgerConfig {
    LedgerConfig {
        default_reuse_ratio: Decimal::TWO,
        ..LedgerConfig::default()
    }
}

/// Zeroed space a few records at a time, so that crash points fall
/// before, during and after each allocation.
const PREALLOC: u64 = 256;

fn jcfg() -> JournalConfig {
    JournalConfig {
        group_commit: true,
        snapshot_after_bytes: u64::MAX,
        commit_delay: Duration::ZERO,
        prealloc_bytes: PREALLOC,
    }
}

/// What a run saw: the state after each applied command (as snapshot
/// bytes), and how many commands were acknowledged (durable).
struct Seen {
    states: Vec<Vec<u8>>,
    acked: usize,
}

/// Runs `cmds` one at a time on `storage`, each waiting for durability,
/// with a snapshot every `snapshot_every` commands; stops at the first
/// command that is not acknowledged.
fn run(storage: &SimStorage, cmds: &[Command], snapshot_every: usize) -> Seen {
    run_with(storage, cmds, snapshot_every, jcfg())
}

fn run_with(
    storage: &SimStorage,
    cmds: &[Command],
    snapshot_every: usize,
    jcfg: JournalConfig,
) -> Seen {
    // The disk starts empty: if the journal cannot even start, recovery
    // must give the empty state.
    let mut seen = Seen {
        states: vec![State::new(cfg()).to_snapshot()],
        acked: 0,
    };
    let Ok((rec, journal)) = open(Arc::new(storage.clone()), cfg(), jcfg, Box::new(|_| {})) else {
        return seen;
    };
    seen.states = vec![rec.state.to_snapshot()];
    let ledger = Ledger::with_journal(rec.state, Box::new(journal.clone()));
    for (i, cmd) in cmds.iter().enumerate() {
        if journal.progress().status != JournalStatus::Ok {
            break;
        }
        let (_, ticket) = ledger.apply(cmd.clone());
        seen.states.push(ledger.read(|s| s.to_snapshot()).unwrap());
        if !journal.wait_durable(ticket.0, Duration::from_secs(10)) {
            break;
        }
        seen.acked = i + 1;
        if (i + 1) % snapshot_every == 0 {
            let _ = snapshot(&ledger, &journal);
        }
    }
    journal.close();
    seen
}

/// Recovers from the crashed disk and checks that the state is the state
/// after some prefix of the applied commands that includes every
/// acknowledged one.
fn check_recovery(after: &SimStorage, seen: &Seen, what: &str) {
    let rec = interlock_journal::recover::recover(after, cfg())
        .unwrap_or_else(|e| panic!("{what}: recovery refused: {e}"));
    rec.state.check_invariants().unwrap();
    let got = rec.state.to_snapshot();
    let m = seen
        .states
        .iter()
        .rposition(|s| *s == got)
        .unwrap_or_else(|| panic!("{what}: recovered a state no prefix of the commands gives"));
    assert!(
        m >= seen.acked,
        "{what}: recovered the state after {m} commands, but {} were acknowledged",
        seen.acked
    );
}

/// Every crash point, with records written in place over zeroed space
/// and with plain appends.
#[test]
fn every_crash_point_keeps_every_acknowledged_command() {
    let cmds = workload(40);
    for prealloc_bytes in [PREALLOC, 0] {
        let jcfg = JournalConfig {
            prealloc_bytes,
            ..jcfg()
        };
        let clean = SimStorage::new();
        let full = run_with(&clean, &cmds, 9, jcfg.clone());
        assert_eq!(full.acked, cmds.len());
        let total_ops = clean.ops();
        assert!(total_ops > 100, "only {total_ops} operations");
        check_recovery(&clean.crash(), &full, "no crash");
        for k in 0..total_ops {
            let storage = SimStorage::new();
            storage.inject(Fault::CrashAt(k));
            storage.set_tear((k % 8) as usize);
            let seen = run_with(&storage, &cmds, 9, jcfg.clone());
            let after = storage.crash();
            let what = format!("prealloc {prealloc_bytes}: crash at operation {k}");
            check_recovery(&after, &seen, &what);
            // A second crash during or right after recovery changes nothing.
            check_recovery(&after.crash(), &seen, &format!("{what}, twice"));
        }
    }
}

/// A crash leaves the zeroed space after the last record; recovery cuts
/// it without calling it a torn record, and a clean close leaves none.
#[test]
fn zeroed_space_after_the_last_record_is_cut_quietly() {
    let storage = SimStorage::new();
    let (rec, journal) = open(Arc::new(storage.clone()), cfg(), jcfg(), Box::new(|_| {})).unwrap();
    let ledger = Ledger::with_journal(rec.state, Box::new(journal.clone()));
    for cmd in workload(12) {
        let (_, ticket) = ledger.apply(cmd);
        assert!(journal.wait_durable(ticket.0, Duration::from_secs(10)));
    }
    let want = ledger.read(|s| s.to_snapshot()).unwrap();
    // The segment (beside it, the snapshot a fresh journal starts with).
    let name = storage
        .list_names()
        .into_iter()
        .rfind(|n| {
            matches!(
                interlock_journal::format::parse_name(n),
                Some((interlock_journal::format::FileKind::Segment, _))
            )
        })
        .unwrap();
    let bytes = interlock_journal::Storage::read(&storage, &name).unwrap();
    let (_, end) = interlock_journal::format::scan_records(
        &bytes,
        interlock_journal::format::SEGMENT_HEADER_LEN,
    );
    assert_eq!(bytes.len() as u64 % PREALLOC, 0, "{} bytes", bytes.len());
    assert!(end < bytes.len() && bytes[end..].iter().all(|&b| b == 0));

    let crashed = storage.crash();
    let rec = interlock_journal::recover::recover(&crashed, cfg()).unwrap();
    assert_eq!(rec.truncated, None);
    assert_eq!(rec.state.to_snapshot(), want);
    assert_eq!(crashed.len(&name), Some(end));

    journal.close();
    assert_eq!(storage.len(&name), Some(end));
}

/// A journal with only records (no snapshot), its segment name and the
/// records' offsets.
fn one_segment(n: usize) -> (SimStorage, String, Vec<usize>) {
    let storage = SimStorage::new();
    let seen = run(&storage, &workload(n), usize::MAX);
    assert_eq!(seen.acked, workload(n).len());
    let name = storage
        .list_names()
        .into_iter()
        .find(|n| n.starts_with("journal-"))
        .unwrap();
    let bytes = interlock_journal::Storage::read(&storage, &name).unwrap();
    let (records, _) = interlock_journal::format::scan_records(
        &bytes,
        interlock_journal::format::SEGMENT_HEADER_LEN,
    );
    (storage, name, records.iter().map(|r| r.offset).collect())
}

#[test]
fn a_flipped_bit_before_the_tail_refuses_start_up_naming_file_and_offset() {
    let (storage, name, offsets) = one_segment(30);
    assert!(offsets.len() > 20);
    let last = *offsets.last().unwrap();
    let mut checked = 0;
    for (i, &off) in offsets.iter().enumerate().take(offsets.len() - 1) {
        for byte in [off, off + 5, off + 12, off + 17] {
            let damaged = storage.crash();
            damaged.flip_bit(&name, byte, (i % 8) as u8);
            match interlock_journal::recover::recover(&damaged, cfg()) {
                Err(JournalError::Corrupt { file, offset, .. }) => {
                    assert!(file.contains(&name), "{file}");
                    assert!(
                        offset <= byte && offset >= off,
                        "offset {offset} for a flip at {byte}"
                    );
                    checked += 1;
                }
                other => panic!("flip at byte {byte} (record {i}): {other:?}"),
            }
        }
    }
    assert!(checked >= 80);
    // The header is checked too.
    let damaged = storage.crash();
    damaged.flip_bit(&name, 9, 0);
    assert!(matches!(
        interlock_journal::recover::recover(&damaged, cfg()),
        Err(JournalError::Corrupt { offset: 0, .. })
    ));
    // A torn last record is cut off and start-up goes on.
    let torn = storage.crash();
    let len = torn.len(&name).unwrap();
    torn.flip_bit(&name, len - 1, 3);
    let rec = interlock_journal::recover::recover(&torn, cfg()).unwrap();
    assert_eq!(rec.truncated.map(|(_, at)| at), Some(last));
    assert_eq!(torn.len(&name), Some(last));
}

/// Records missing before an empty segment (the last records of the
/// previous segment lost) refuse start-up, as a gap between records does.
#[test]
fn an_empty_segment_after_missing_records_refuses_start_up() {
    let (storage, _, offsets) = one_segment(10);
    let n = offsets.len() as u64;
    let damaged = storage.crash();
    let mut next = interlock_journal::Storage::create(
        &damaged,
        &interlock_journal::format::segment_name(n + 2),
    )
    .unwrap();
    next.write_all(&interlock_journal::format::segment_header(n + 2))
        .unwrap();
    next.sync().unwrap();
    interlock_journal::Storage::sync_dir(&damaged).unwrap();
    match interlock_journal::recover::recover(&damaged, cfg()) {
        Err(JournalError::Missing {
            expected, found, ..
        }) => assert_eq!((expected, found), (n + 1, n + 2)),
        other => panic!("{other:?}"),
    }
    // Without the gap the same empty segment is fine.
    let whole = storage.crash();
    let mut next =
        interlock_journal::Storage::create(&whole, &interlock_journal::format::segment_name(n + 1))
            .unwrap();
    next.write_all(&interlock_journal::format::segment_header(n + 1))
        .unwrap();
    next.sync().unwrap();
    interlock_journal::Storage::sync_dir(&whole).unwrap();
    let rec = interlock_journal::recover::recover(&whole, cfg()).unwrap();
    assert_eq!(rec.last_lsn, n);
}

#[test]
fn a_damaged_snapshot_refuses_start_up() {
    let storage = SimStorage::new();
    let seen = run(&storage, &workload(20), 10);
    assert!(seen.acked > 0);
    let snap = storage
        .list_names()
        .into_iter()
        .rfind(|n| n.starts_with("snapshot-"))
        .unwrap();
    let len = storage.len(&snap).unwrap();
    for byte in [0, 9, 30, len / 2, len - 1] {
        let damaged = storage.crash();
        damaged.flip_bit(&snap, byte, 1);
        match interlock_journal::recover::recover(&damaged, cfg()) {
            Err(JournalError::Corrupt { file, .. }) => assert!(file.contains(&snap)),
            other => panic!("flip at {byte}: {other:?}"),
        }
    }
}

#[test]
fn after_an_fsync_error_nothing_more_is_acknowledged() {
    let cmds = workload(30);
    for fail_at in [4u64, 9, 20, 33] {
        let storage = SimStorage::new();
        let (rec, journal) =
            open(Arc::new(storage.clone()), cfg(), jcfg(), Box::new(|_| {})).unwrap();
        let ledger = Ledger::with_journal(rec.state, Box::new(journal.clone()));
        storage.inject(Fault::SyncFailsAt(storage.ops() + fail_at));
        let mut states = vec![ledger.read(|s| s.to_snapshot()).unwrap()];
        let mut acked = 0;
        let mut refused = 0;
        for cmd in &cmds {
            let (result, ticket) = ledger.apply(cmd.clone());
            if matches!(result, Err(LedgerError::Unavailable(_))) {
                refused += 1;
                continue;
            }
            states.push(ledger.read(|s| s.to_snapshot()).unwrap());
            if journal.wait_durable(ticket.0, Duration::from_secs(10)) {
                assert_eq!(refused, 0, "acknowledged after a failure");
                acked = states.len() - 1;
            }
        }
        assert_eq!(journal.progress().status, JournalStatus::Failed);
        assert!(refused > 0, "commands kept being admitted");
        journal.close();
        let seen = Seen { states, acked };
        check_recovery(
            &storage.crash(),
            &seen,
            &format!("fsync failure at +{fail_at}"),
        );
    }
}

#[test]
fn a_full_disk_refuses_changes_quickly_then_recovers_without_loss() {
    let cmds = workload(30);
    let storage = SimStorage::new();
    let (rec, journal) = open(Arc::new(storage.clone()), cfg(), jcfg(), Box::new(|_| {})).unwrap();
    let ledger = Ledger::with_journal(rec.state, Box::new(journal.clone()));
    let mut states = vec![ledger.read(|s| s.to_snapshot()).unwrap()];
    let mut next = cmds.iter();
    // Some commands go through.
    for cmd in next.by_ref().take(10) {
        let (_, t) = ledger.apply(cmd.clone());
        states.push(ledger.read(|s| s.to_snapshot()).unwrap());
        assert!(journal.wait_durable(t.0, Duration::from_secs(10)));
    }
    storage.inject(Fault::DiskFull);
    // The next change cannot be written: within a second the journal says
    // so, and new changes are refused while reads still work.
    let mut pending = None;
    for cmd in next.by_ref() {
        let (result, t) = ledger.apply(cmd.clone());
        if result.is_ok() && t.0 > journal.progress().durable_lsn {
            states.push(ledger.read(|s| s.to_snapshot()).unwrap());
            pending = Some(t);
            break;
        }
        states.push(ledger.read(|s| s.to_snapshot()).unwrap());
    }
    let pending = pending.expect("a change to write");
    let started = std::time::Instant::now();
    while journal.progress().status != JournalStatus::DiskFull {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "disk full not noticed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let cmd = next.next().unwrap();
    assert!(matches!(
        ledger.apply(cmd.clone()).0,
        Err(LedgerError::Unavailable(_))
    ));
    assert!(ledger.read(|s| s.limits().len()).is_ok());
    assert!(!journal.wait_durable(pending.0, Duration::from_millis(300)));
    // Space comes back: the waiting change is written and changes resume.
    storage.clear_faults();
    assert!(journal.wait_durable(pending.0, Duration::from_secs(5)));
    assert_eq!(journal.progress().status, JournalStatus::Ok);
    let mut acked = states.len() - 1;
    for cmd in next {
        let (result, t) = ledger.apply(cmd.clone());
        assert!(!matches!(result, Err(LedgerError::Unavailable(_))));
        states.push(ledger.read(|s| s.to_snapshot()).unwrap());
        assert!(journal.wait_durable(t.0, Duration::from_secs(10)));
        acked = states.len() - 1;
    }
    journal.close();
    check_recovery(&storage.crash(), &Seen { states, acked }, "disk full");
}

/// The commit delay is paid only under concurrency: a lone client's
/// commands (each fdatasync covering one record) never wait for it, and
/// concurrent ones still become durable.
#[test]
fn a_lone_client_never_waits_for_the_commit_delay() {
    let storage = Arc::new(SimStorage::new());
    let delayed = JournalConfig {
        commit_delay: Duration::from_secs(30),
        ..jcfg()
    };
    let (rec, journal) = open(storage, cfg(), delayed, Box::new(|_| {})).unwrap();
    let ledger = Arc::new(Ledger::with_journal(rec.state, Box::new(journal.clone())));
    let started = std::time::Instant::now();
    for cmd in workload(20) {
        let (_, ticket) = ledger.apply(cmd);
        assert!(journal.wait_durable(ticket.0, Duration::from_secs(60)));
    }
    // 20 commands, each waiting 30 s, would take 10 minutes.
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
    journal.close();
}
