//! Analytics at scale: a ledger of 1,000,000 participants × 10 venues × 3
//! assets (INTERLOCK_BENCH_PARTICIPANTS to change it), every participant
//! owning every asset, committing each on every venue and owing each venue
//! USDC. Prints, for `bench/RESULTS.md`:
//! - the time `State::moment` holds the lock (what a check may wait);
//! - `Book::from_moment` (the moment as arrays) and the memory it takes;
//! - `Stress(CHAOS_TIERS)` p50 / p99 and `Cascade` p50, one thread;
//! - the book cache's refresh on a quiet ledger and after 40,000 checks
//!   (one second of a venue's flow);
//! - the check's p50 / p99 latency in the ledger, with and without a thread
//!   running moment + refreshed book + stress in a loop, as the server's
//!   runs do (same run).
//!
//! cargo bench -p interlock-analytics --bench stress

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use interlock_analytics::book::BookCache;
use interlock_analytics::cascade::{cascade, CascadeRequest, Impact, Market};
use interlock_analytics::scenario::Choice;
use interlock_analytics::stress::{stress, StressRequest};
use interlock_analytics::Book;
use interlock_ledger::testkit::{a, b, d, p, req, rss_kib, v};
use interlock_ledger::value::liquidation::{AaveRule, LiquidationRule};
use interlock_ledger::*;
use rust_decimal::Decimal;

const VENUES: usize = 10;
const ASSETS: [(&str, f64); 3] = [("BTC", 60000.0), ("ETH", 2000.0), ("SOL", 150.0)];
const AT: UnixMs = 1_000_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A deterministic spread in [0, 1) from an index.
fn spread(i: usize, salt: u64) -> f64 {
    let mut x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt;
    x ^= x >> 31;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 29;
    (x % 1_000_000) as f64 / 1_000_000.0
}

fn admin(state: &mut State, cmd: Command) {
    state.apply(&cmd).unwrap();
}

fn settings(s: &mut State) {
    let by = || "bench".to_owned();
    for (asset, _) in ASSETS {
        admin(
            s,
            Command::SetAssetClass {
                at_ms: AT,
                by: by(),
                asset: a(asset),
                class: AssetClass::Major,
            },
        );
        admin(
            s,
            Command::SetHaircut {
                at_ms: AT,
                by: by(),
                asset: a(asset),
                haircut: Some(d("0.2")),
                force: None,
            },
        );
    }
    admin(
        s,
        Command::SetAssetClass {
            at_ms: AT,
            by: by(),
            asset: a("USDC"),
            class: AssetClass::Stable,
        },
    );
    for i in 0..VENUES {
        let venue = v(&format!("venue-{i}"));
        for (asset, _) in ASSETS {
            admin(
                s,
                Command::SetVenueAsset {
                    at_ms: AT,
                    by: by(),
                    venue: venue.clone(),
                    asset: a(asset),
                    params: VenueAssetParams {
                        threshold: d("0.8"),
                        ltv: Some(d("0.7")),
                    },
                },
            );
        }
        let rule = match i % 3 {
            0 => LiquidationRule::Aave(AaveRule::v3_3(d("1.05"))),
            1 => LiquidationRule::Morpho,
            _ => LiquidationRule::Exchange { penalty: d("0.02") },
        };
        admin(
            s,
            Command::SetVenueRule {
                at_ms: AT,
                by: by(),
                venue,
                rule,
            },
        );
    }
    let mut quotes: Vec<PriceQuote> = ASSETS
        .iter()
        .map(|(asset, price)| PriceQuote {
            asset: a(asset),
            price: Decimal::from(*price as i64),
            published_ms: AT,
        })
        .collect();
    quotes.push(PriceQuote {
        asset: a("USDC"),
        price: d("1"),
        published_ms: AT,
    });
    admin(
        s,
        Command::PublishPrices {
            at_ms: AT,
            oracle: OracleId::new("bench").unwrap(),
            batch: PriceBatch {
                sequence: 1,
                quotes,
            },
        },
    );
}

fn loaded(n: usize) -> State {
    let cfg = LedgerConfig {
        participants_max: n + 1000,
        broker_stale_after_ms: 365 * 24 * 3600 * 1000,
        ..LedgerConfig::default()
    };
    let mut s = State::new(cfg);
    settings(&mut s);
    let mut seq = 0;
    let mut updates: Vec<SyncUpdate> = Vec::with_capacity(SYNC_BATCH_MAX);
    let per = ASSETS.len() * (VENUES + 1) + VENUES;
    let mut flush = |s: &mut State, updates: &mut Vec<SyncUpdate>| {
        seq += 1;
        s.apply(&Command::Sync {
            at_ms: AT,
            broker: b("prime-1"),
            batch: SyncBatch {
                sequence: seq,
                updates: std::mem::take(updates),
            },
        })
        .unwrap();
    };
    for i in 0..n {
        let who = p(&format!("p{i}"));
        // Each venue claims a share of what is owned, over all venues
        // between 1× and 3× of it (reuse), against a debt that leaves its
        // HF^claim between 1.05 and 2.5.
        let reuse = 1.0 + 2.0 * spread(i, 1);
        let hf = 1.05 + 1.45 * spread(i, 2);
        let mut claim_value = [0.0; VENUES];
        for (asset, price) in ASSETS {
            updates.push(SyncUpdate::Collateral {
                participant: who.clone(),
                asset: a(asset),
                quantity: d("100"),
            });
            for (k, cv) in claim_value.iter_mut().enumerate() {
                let q = (100.0 * reuse / VENUES as f64 * (0.5 + spread(i * VENUES + k, 3))).round();
                *cv += q * price * 0.8;
                updates.push(SyncUpdate::Commitment {
                    participant: who.clone(),
                    venue: v(&format!("venue-{k}")),
                    asset: a(asset),
                    quantity: Decimal::from(q as i64),
                    covers_commit_seq: 0,
                });
            }
        }
        for (k, cv) in claim_value.iter().enumerate() {
            updates.push(SyncUpdate::Liability {
                participant: who.clone(),
                venue: v(&format!("venue-{k}")),
                asset: a("USDC"),
                quantity: Decimal::from((cv / hf) as i64),
            });
        }
        if updates.len() + per > SYNC_BATCH_MAX {
            flush(&mut s, &mut updates);
        }
    }
    if !updates.is_empty() {
        flush(&mut s, &mut updates);
    }
    s
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Checks against the ledger for `secs`, one after another; their
/// latencies, sorted.
fn checks(ledger: &Ledger, n: usize, secs: f64, counter: &mut u64) -> Vec<Duration> {
    let mut lat = Vec::new();
    let until = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < until {
        *counter += 1;
        let i = *counter as usize;
        let mut r = req(
            &format!("o{i}"),
            &format!("p{}", (i * 7919) % n),
            "ETH",
            "0.001",
        );
        r.ttl_ms = Some(1000);
        let cmd = Command::Check {
            at_ms: AT + i as i64,
            venue: v(&format!("venue-{}", i % VENUES)),
            request: r,
        };
        let t = Instant::now();
        let (result, _) = ledger.apply(cmd);
        lat.push(t.elapsed());
        result.unwrap();
    }
    lat.sort();
    lat
}

fn main() {
    let n = env_usize("INTERLOCK_BENCH_PARTICIPANTS", 1_000_000);
    let runs = env_usize("INTERLOCK_BENCH_RUNS", 20);
    let check_secs = env_usize("INTERLOCK_BENCH_CHECK_SECS", 10) as f64;
    let t = Instant::now();
    let rss0 = rss_kib();
    let state = loaded(n);
    println!(
        "loaded {n} participants x {VENUES} venues x {} assets (+ a USDC debt per venue) in {:.1} s; ledger RSS {} MiB",
        ASSETS.len(),
        t.elapsed().as_secs_f64(),
        (rss_kib() - rss0) / 1024
    );
    let ledger = Arc::new(Ledger::from_state(state));

    // The lock: what taking a moment costs.
    let mut takes: Vec<Duration> = (0..100)
        .map(|_| {
            let t = Instant::now();
            let m = ledger.read(|s| s.moment()).unwrap();
            let e = t.elapsed();
            drop(m);
            e
        })
        .collect();
    let mut worst: Vec<(usize, Duration)> = takes.iter().copied().enumerate().collect();
    worst.sort_by_key(|(_, d)| std::cmp::Reverse(*d));
    takes.sort();
    println!(
        "State::moment under the lock: p50 {:.3} ms, max {:.3} ms (100 takes; the slowest: {})",
        ms(percentile(&takes, 0.5)),
        ms(*takes.last().unwrap()),
        worst
            .iter()
            .take(3)
            .map(|(i, d)| format!("take {i} {:.3} ms", ms(*d)))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let moment = ledger.read(|s| s.moment()).unwrap();
    let rss1 = rss_kib();
    let t = Instant::now();
    let book = Book::from_moment(&moment);
    let build = t.elapsed();
    println!(
        "Book::from_moment: {:.0} ms; {} accounts, {} lines; analytics memory {} MiB (RSS growth)",
        ms(build),
        book.accounts.len(),
        book.lines.len(),
        rss_kib().saturating_sub(rss1) / 1024
    );

    let req = StressRequest {
        scenario: Choice::Named {
            name: "CHAOS_TIERS".into(),
            multiple: 1,
        },
        rows: 20,
        participants: Vec::new(),
        depth: Vec::new(),
        collect_sets: false,
        watch: Vec::new(),
        rules: Vec::new(),
    };
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(stress(&book, &req, &|| false).unwrap());
        times.push(t.elapsed());
    }
    times.sort();
    let r = last.unwrap();
    println!(
        "Stress(CHAOS_TIERS) on the book: p50 {:.0} ms, p99 {:.0} ms ({runs} runs); {} breached on >= 1 venue, {} on >= 2, {} hidden by reuse",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        r.ecosystem.breached_on_one,
        r.ecosystem.breached_on_two,
        r.ecosystem.hidden_by_reuse_count
    );
    // What bounds the pass: reading the book's lines once (the pass reads
    // every one), and the same stress with no shock (no liquidation beyond
    // what is already under water): the rest is the breached accounts'.
    let mut reads = Vec::new();
    let mut sink = 0.0f64;
    for _ in 0..5 {
        let t = Instant::now();
        sink += book.lines.iter().map(|l| l.committed).sum::<f64>();
        reads.push(t.elapsed());
    }
    reads.sort();
    let bytes = std::mem::size_of_val(book.lines.as_slice());
    println!(
        "reading the book's {} lines once ({} MiB): p50 {:.0} ms, {:.1} GB/s (sum {sink:.3e})",
        book.lines.len(),
        bytes >> 20,
        ms(percentile(&reads, 0.5)),
        bytes as f64 / percentile(&reads, 0.5).as_secs_f64() / 1e9
    );
    let calm = StressRequest {
        scenario: Choice::Given(interlock_analytics::scenario::Scenario {
            name: "NO_SHOCK".into(),
            source: "bench".into(),
            by_class: [None; 3],
            by_asset: Vec::new(),
        }),
        ..req.clone()
    };
    let mut calm_times = Vec::new();
    let mut calm_last = None;
    for _ in 0..runs.min(10) {
        let t = Instant::now();
        calm_last = Some(stress(&book, &calm, &|| false).unwrap());
        calm_times.push(t.elapsed());
    }
    calm_times.sort();
    println!(
        "Stress(no shock) on the book: p50 {:.0} ms ({} runs); {} breached on >= 1 venue",
        ms(percentile(&calm_times, 0.5)),
        calm_times.len(),
        calm_last.unwrap().ecosystem.breached_on_one
    );
    let creq = CascadeRequest {
        scenario: Choice::Named {
            name: "CHAOS_TIERS".into(),
            multiple: 1,
        },
        impact: Impact::Exp,
        markets: ASSETS
            .iter()
            .map(|(asset, _)| Market {
                asset: a(asset),
                depth: 10.0 * n as f64,
                floor: 0.0,
            })
            .collect(),
        max_rounds: 20,
        rules: Vec::new(),
    };
    let mut ctimes = Vec::new();
    let mut rounds = 0;
    for _ in 0..runs.min(5) {
        let t = Instant::now();
        let c = cascade(&book, &creq, &|| false).unwrap();
        ctimes.push(t.elapsed());
        rounds = c.rounds.len();
    }
    ctimes.sort();
    println!(
        "Cascade(CHAOS_TIERS, EXP, depth 10 x participants per asset, <= 20 rounds): p50 {:.0} ms ({} runs, {rounds} rounds)",
        ms(percentile(&ctimes, 0.5)),
        ctimes.len()
    );
    drop(book);
    drop(moment);

    // The cache: built once, then refreshed from what changed.
    let mut cache = BookCache::default();
    let m = ledger.read(|s| s.moment()).unwrap();
    let t = Instant::now();
    cache.refresh(m);
    let first = t.elapsed();
    let m = ledger.read(|s| s.moment()).unwrap();
    let t = Instant::now();
    let (_, quiet_done) = cache.refresh(m);
    let quiet = t.elapsed();
    let mut counter = 0u64;
    for _ in 0..40_000 {
        counter += 1;
        let i = counter as usize;
        let mut r = interlock_ledger::testkit::req(
            &format!("w{i}"),
            &format!("p{}", (i * 7919) % n),
            "ETH",
            "0.001",
        );
        r.ttl_ms = Some(1000);
        ledger
            .apply(Command::Check {
                at_ms: AT + i as i64,
                venue: v(&format!("venue-{}", i % VENUES)),
                request: r,
            })
            .0
            .unwrap();
    }
    let m = ledger.read(|s| s.moment()).unwrap();
    let t = Instant::now();
    let (_, busy_done) = cache.refresh(m);
    let busy = t.elapsed();
    println!(
        "BookCache::refresh: first {:.0} ms; quiet {:.1} ms ({} re-encoded); after 40,000 checks {:.0} ms ({} re-encoded)",
        ms(first),
        ms(quiet),
        quiet_done.encoded,
        ms(busy),
        busy_done.encoded
    );

    // Checks with and without a run looping beside them.
    let quiet = checks(&ledger, n, check_secs, &mut counter);
    let stop = Arc::new(AtomicBool::new(false));
    let looping = {
        let (ledger, stop, req) = (ledger.clone(), stop.clone(), req.clone());
        std::thread::spawn(move || {
            let mut loops = 0;
            while !stop.load(Ordering::Relaxed) {
                let m = ledger.read(|s| s.moment()).unwrap();
                let (book, _) = cache.refresh(m);
                stress(book, &req, &|| false).unwrap();
                loops += 1;
            }
            loops
        })
    };
    let busy = checks(&ledger, n, check_secs, &mut counter);
    stop.store(true, Ordering::Relaxed);
    let loops = looping.join().unwrap();
    let (q50, q99) = (percentile(&quiet, 0.5), percentile(&quiet, 0.99));
    let (b50, b99) = (percentile(&busy, 0.5), percentile(&busy, 0.99));
    println!(
        "check latency in the ledger: alone p50 {:.2} us p99 {:.2} us ({} checks); beside stress in a loop ({loops} runs) p50 {:.2} us p99 {:.2} us ({} checks); p99 ratio {:.2}",
        q50.as_secs_f64() * 1e6,
        q99.as_secs_f64() * 1e6,
        quiet.len(),
        b50.as_secs_f64() * 1e6,
        b99.as_secs_f64() * 1e6,
        busy.len(),
        b99.as_secs_f64() / q99.as_secs_f64()
    );
}
