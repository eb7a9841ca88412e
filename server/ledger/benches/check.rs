//! In-process micro-benchmarks of the ledger: check-and-reserve, commit and
//! release on a ledger loaded with 1,000,000 participants × 10 venues × 3
//! assets (INTERLOCK_BENCH_PARTICIPANTS to change the size), with a
//! counting allocator for heap allocations per operation, and the memory
//! per (participant, venue, asset) entry measured from RSS.
//!
//! Timed in the steady state of a server that has run for a while: the
//! idempotency and reservation tables are first filled to their default
//! capacity (INTERLOCK_BENCH_TABLE to change it), so that every check
//! also evicts the oldest idempotency record and ended reservation, as a
//! long-running server does, and the clock moves 1 ms per command, so
//! reservations expire (default TTL) as they would. The filling phase is
//! timed too, and reported as the growth regime of a fresh server.
//!
//! cargo bench -p interlock-ledger --bench check

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use interlock_ledger::testkit::rss_kib;
use interlock_ledger::*;
use rust_decimal::Decimal;

/// Counts heap allocations (and reallocations) made through it.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is only a side effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const VENUES: usize = 10;
const ASSETS: [&str; 3] = ["BTC", "ETH", "SOL"];
const AT: i64 = 1_800_000_000_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn participants() -> usize {
    env_usize("INTERLOCK_BENCH_PARTICIPANTS", 1_000_000)
}

/// Idempotency records and reservations a full table holds: the server's
/// defaults unless INTERLOCK_BENCH_TABLE says otherwise.
fn table() -> usize {
    let d = LedgerConfig::default();
    env_usize(
        "INTERLOCK_BENCH_TABLE",
        d.idempotency_keys_max.min(d.reservations_max),
    )
}

/// The longest TTL: the default, or shorter for a small table (a full
/// table forgets an answer only once it is older than this, and the clock
/// moves 1 ms per command).
fn max_ttl_ms() -> u64 {
    LedgerConfig::default().max_ttl_ms.min(table() as u64 / 2)
}

/// With `perf record --control fifo:PATH -D -1` and INTERLOCK_PERF_CTL=PATH,
/// perf samples only the counted check loop (not the loading).
fn perf_control(command: &str) {
    if let Ok(path) = std::env::var("INTERLOCK_PERF_CTL") {
        let _ = std::fs::write(path, format!("{command}\n"));
    }
}

fn pid(i: usize) -> ParticipantId {
    ParticipantId::new(&format!("p{i}")).unwrap()
}

/// A ledger where every participant owns every asset and has a posted
/// commitment of each asset on every venue. Every update carries ids of
/// its own, parsed from text as the server's conversion layer does, so the
/// ledger's sharing of ids (or not) is what is measured.
fn loaded(n: usize) -> Ledger {
    let venues: Vec<String> = (0..VENUES).map(|v| format!("venue-{v}")).collect();
    let cfg = LedgerConfig {
        participants_max: 2 * n + SYNC_BATCH_MAX,
        idempotency_keys_max: table(),
        reservations_max: table(),
        // The clock moves 1 ms per command and the broker syncs only while
        // loading: it must not go stale during the run.
        broker_stale_after_ms: 365 * 24 * 3600 * 1000,
        max_ttl_ms: max_ttl_ms(),
        // Open reservations (one per ms of TTL) must fit a small table too.
        default_ttl_ms: LedgerConfig::default()
            .default_ttl_ms
            .min(table() as u64 / 4),
        ..LedgerConfig::default()
    };
    let mut state = State::new(cfg);
    let per = ASSETS.len() * (VENUES + 1);
    let mut seq = 0;
    let mut updates = Vec::with_capacity(SYNC_BATCH_MAX);
    let mut flush = |state: &mut State, updates: &mut Vec<SyncUpdate>| {
        seq += 1;
        state
            .apply(&Command::Sync {
                at_ms: AT,
                broker: BrokerId::new("prime-1").unwrap(),
                batch: SyncBatch {
                    sequence: seq,
                    updates: std::mem::take(updates),
                },
            })
            .unwrap();
    };
    for i in 0..n {
        let p = format!("p{i}");
        for a in ASSETS {
            updates.push(SyncUpdate::Collateral {
                participant: ParticipantId::new(&p).unwrap(),
                asset: AssetId::new(a).unwrap(),
                quantity: Decimal::from(1_000_000_000),
            });
            for v in &venues {
                updates.push(SyncUpdate::Commitment {
                    participant: ParticipantId::new(&p).unwrap(),
                    venue: VenueId::new(v).unwrap(),
                    asset: AssetId::new(a).unwrap(),
                    quantity: Decimal::from(10),
                    covers_commit_seq: 0,
                });
            }
        }
        if updates.len() + per > SYNC_BATCH_MAX {
            flush(&mut state, &mut updates);
        }
    }
    if !updates.is_empty() {
        flush(&mut state, &mut updates);
    }
    Ledger::from_state(state)
}

/// Command `i` happens `i` ms after the load.
fn at(i: u64) -> i64 {
    AT + i as i64
}

/// A check of 1 ETH on venue-3 by a pseudo-random participant, with the
/// default TTL (`ttl_ms`: None) or the one given.
fn check(n: usize, i: u64, ttl_ms: Option<u64>) -> Command {
    Command::Check {
        at_ms: at(i),
        venue: VenueId::new("venue-3").unwrap(),
        request: CheckRequest {
            order_id: OrderId::new(&format!("o{i}")).unwrap(),
            participant: pid((i as usize).wrapping_mul(2_654_435_761) % n),
            asset: AssetId::new("ETH").unwrap(),
            quantity: Decimal::ONE,
            ttl_ms,
            risk_reducing: false,
            dry_run: false,
            allow_partial: false,
            liability: None,
        },
    }
}

/// A reservation that stays open long enough to be committed or released
/// by a later command of the same criterion batch.
fn reserved(ledger: &Ledger, n: usize, i: u64) -> ReservationId {
    match ledger
        .apply(check(n, i, Some(max_ttl_ms())))
        .0
        .unwrap()
        .outcome
    {
        Outcome::Check(a) => a.reservation.expect("approved"),
        o => panic!("{o:?}"),
    }
}

/// Prices (fresh for longer than the run), haircuts and two health
/// floors, applied at `at`.
fn value_limits(ledger: &Ledger, at: i64) {
    let year = 365 * 24 * 3600 * 1000;
    let mut cmds = vec![Command::ConfigurePrices {
        at_ms: at,
        rules: PriceRules {
            max_age_major_ms: year,
            grace_ms: 0,
            ..PriceRules::default()
        },
    }];
    let prices = [("BTC", 60_000), ("ETH", 2_000), ("SOL", 150)];
    for (a, _) in prices {
        cmds.push(Command::SetAssetClass {
            at_ms: at,
            by: "bench".into(),
            asset: AssetId::new(a).unwrap(),
            class: AssetClass::Major,
        });
        cmds.push(Command::SetHaircut {
            at_ms: at,
            by: "bench".into(),
            asset: AssetId::new(a).unwrap(),
            haircut: Some(Decimal::new(2, 1)),
            force: None,
        });
    }
    cmds.push(Command::PublishPrices {
        at_ms: at,
        oracle: OracleId::new("bench").unwrap(),
        batch: PriceBatch {
            sequence: 1,
            quotes: prices
                .iter()
                .map(|(a, p)| PriceQuote {
                    asset: AssetId::new(a).unwrap(),
                    price: Decimal::from(*p),
                    published_ms: at,
                })
                .collect(),
        },
    });
    cmds.push(Command::Tick { at_ms: at });
    for (kind, value) in [
        (LimitKind::MinHfEco, Decimal::new(11, 1)),
        (LimitKind::StressHfEco, Decimal::ONE),
    ] {
        cmds.push(Command::SetLimit {
            at_ms: at,
            by: "bench".into(),
            spec: LimitSpec {
                kind,
                scope: Scope::default(),
                value,
                warn_levels_pct: vec![],
            },
            expected_version: None,
            force: None,
        });
    }
    for cmd in cmds {
        ledger.apply(cmd).0.unwrap();
    }
    for a in ["BTC", "ETH", "SOL"] {
        let fresh = ledger.read(|s| {
            s.price(&AssetId::new(a).unwrap())
                .map(|p| p.state() == PriceState::Fresh)
        });
        assert_eq!(fresh.unwrap(), Some(true), "{a} is fresh");
    }
}

/// Entries of the pointer chase: 2 GiB of `u32`, far beyond the caches
/// and the TLB's reach, as the ledger's tables (several GB) are.
const CHASE_ENTRIES: usize = 512 << 20;
/// Steps of the pointer chase timed.
const CHASE_STEPS: u64 = 5_000_000;

/// The latency of one random memory access on this machine: a chain of
/// loads over [`CHASE_ENTRIES`] in which each address depends on the value
/// the last load returned (so the accesses cannot overlap), scattered by an
/// odd multiplier. A check that touches k cold cache lines cannot cost much
/// less than k times this.
fn memory_latency_ns() -> f64 {
    let next: Vec<u32> = (0..CHASE_ENTRIES as u32).collect();
    let mask = CHASE_ENTRIES as u64 - 1;
    let mut at = 0u64;
    let started = std::time::Instant::now();
    for i in 0..CHASE_STEPS {
        let v = u64::from(next[at as usize]);
        at = ((v ^ i).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7) & mask;
    }
    let took = started.elapsed();
    black_box(at);
    took.as_nanos() as f64 / CHASE_STEPS as f64
}

fn benches(c: &mut Criterion) {
    println!(
        "random memory access (pointer chase over {} MiB): {:.0} ns",
        (CHASE_ENTRIES * 4) >> 20,
        memory_latency_ns()
    );
    let n = participants();
    let before = rss_kib();
    let started = std::time::Instant::now();
    let ledger = loaded(n);
    let entries = n * VENUES * ASSETS.len();
    let grown = rss_kib().saturating_sub(before);
    println!(
        "loaded {n} participants x {VENUES} venues x {} assets in {:.1} s: {} KiB RSS, {:.0} bytes per (participant, venue, asset) entry",
        ASSETS.len(),
        started.elapsed().as_secs_f64(),
        grown,
        grown as f64 * 1024.0 / entries as f64
    );

    // Fill the idempotency and reservation tables: a fresh server's
    // growth regime, timed as one loop.
    let mut next = 0u64;
    let fill = table() as u64 + 1;
    let started = std::time::Instant::now();
    for _ in 0..fill {
        next += 1;
        let outcome = ledger.apply(check(n, next, None)).0.unwrap().outcome;
        assert!(
            matches!(&outcome, Outcome::Check(a) if a.reservation.is_some()),
            "{outcome:?}"
        );
    }
    println!(
        "growth regime: {fill} approved checks filling the tables: {:.0} ns each (mean, command built inside)",
        started.elapsed().as_nanos() as f64 / fill as f64
    );

    // Steady state, allocations counted outside the timed loops: the
    // commands are built first (ids parsed at the boundary), then only
    // applied.
    let counted = env_usize("INTERLOCK_BENCH_COUNTED_CHECKS", 10_000) as u64;
    let cmds: Vec<Command> = (1..=counted).map(|k| check(n, next + k, None)).collect();
    next += counted;
    let a0 = ALLOCATIONS.load(Ordering::Relaxed);
    let mut approved = 0u64;
    perf_control("enable");
    let started = std::time::Instant::now();
    for cmd in cmds {
        if let Outcome::Check(a) = ledger.apply(cmd).0.unwrap().outcome {
            approved += u64::from(a.reservation.is_some());
        }
    }
    let took = started.elapsed();
    perf_control("disable");
    let a1 = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(approved, counted, "every check is approved");
    println!(
        "steady state: {counted} approved checks in one loop: {:.0} ns each (mean)",
        took.as_nanos() as f64 / counted as f64
    );
    println!(
        "heap allocations per approved check: {:.2}",
        (a1 - a1.min(a0)) as f64 / counted as f64
    );
    // The rings' allocations are resident once their heads have gone
    // round: a run counting more checks than the tables hold shows it.
    println!(
        "RSS after the steady-state loop: {} KiB (tables full: {} records each)",
        rss_kib(),
        table()
    );
    let venue = VenueId::new("venue-3").unwrap();
    // Each reservation committed right after its check (it must not
    // expire first); only the commit's allocations are counted.
    let commits = counted.min(10_000);
    let mut commit_allocations = 0;
    for _ in 0..commits {
        next += 1;
        let cmd = Command::Commit {
            at_ms: at(next),
            venue: venue.clone(),
            reservation: reserved(&ledger, n, next),
        };
        let a0 = ALLOCATIONS.load(Ordering::Relaxed);
        ledger.apply(cmd).0.unwrap();
        commit_allocations += ALLOCATIONS.load(Ordering::Relaxed) - a0;
    }
    println!(
        "heap allocations per commit: {:.2}",
        commit_allocations as f64 / commits as f64
    );

    let mut g = c.benchmark_group("ledger");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    g.bench_function("check_and_reserve (approved)", |b| {
        b.iter_batched(
            || {
                next += 1;
                check(n, next, None)
            },
            |cmd| black_box(ledger.apply(cmd)),
            BatchSize::SmallInput,
        )
    });
    // The same check under value limits: fresh prices for every asset,
    // haircuts, a MIN_HF_ECO and a STRESS_HF_ECO for everyone. Each
    // participant's 30 commitments imply debt (no liability is reported),
    // so a check reads every asset's debt sums.
    next += 1;
    value_limits(&ledger, at(next));
    g.bench_function("check_and_reserve value-aware (approved)", |b| {
        b.iter_batched(
            || {
                next += 1;
                check(n, next, None)
            },
            |cmd| black_box(ledger.apply(cmd)),
            BatchSize::SmallInput,
        )
    });
    // Judged by the value limits: approved, and a check carrying a debt
    // beyond any participant's collateral is refused by them.
    next += 1;
    let answer = ledger.apply(check(n, next, None)).0.unwrap().outcome;
    assert!(
        matches!(&answer, Outcome::Check(a) if a.reservation.is_some()),
        "{answer:?}"
    );
    next += 1;
    let mut heavy = check(n, next, None);
    if let Command::Check { request, .. } = &mut heavy {
        request.liability = Some(Decimal::from(10u64.pow(15)));
        request.dry_run = true;
    }
    let answer = ledger.apply(heavy).0.unwrap().outcome;
    assert!(
        matches!(&answer, Outcome::Check(a) if a.reason.as_ref().and_then(|r| r.limit.as_ref()).is_some_and(|l| l.kind.is_health_floor())),
        "{answer:?}"
    );
    g.bench_function("commit", |b| {
        b.iter_batched(
            || {
                next += 1;
                let reservation = reserved(&ledger, n, next);
                next += 1;
                Command::Commit {
                    at_ms: at(next),
                    venue: venue.clone(),
                    reservation,
                }
            },
            |cmd| black_box(ledger.apply(cmd)),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("release", |b| {
        b.iter_batched(
            || {
                next += 1;
                let reservation = reserved(&ledger, n, next);
                next += 1;
                Command::Release {
                    at_ms: at(next),
                    venue: venue.clone(),
                    reservation,
                }
            },
            |cmd| black_box(ledger.apply(cmd)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);
