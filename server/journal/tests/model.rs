//! Model-based property test: random operation sequences run against the
//! ledger and against a tiny, independent reference model. After every step
//! the answers agree, the ledger equals the model, its derived sums hold, and
//! no approval ever leaves a position above an effective limit.
//!
//! Every state change is journaled on a real disk (a temporary directory),
//! and a `Restart` step drops the memory and recovers from that disk
//! (sometimes after a snapshot): the recovered state must equal the state
//! before, byte for byte, and go on matching the model.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use interlock_journal::{DiskStorage, JournalConfig, JournalHandle};
use interlock_ledger::testkit::*;
use interlock_ledger::*;
use proptest::prelude::*;
use rust_decimal::Decimal;

const PS: [&str; 2] = ["p0", "p1"];
const VS: [&str; 3] = ["v0", "v1", "v2"];
const TTL_MS: i64 = 30_000; // LedgerConfig::default().default_ttl_ms
const STALE_MS: i64 = 30_000;

#[derive(Debug, Clone)]
enum Op {
    Own {
        p: usize,
        qty: u32,
    },
    Posted {
        p: usize,
        v: usize,
        qty: u32,
        covers_all: bool,
    },
    Heartbeat,
    /// A liability report (the value layer's debt sums; the quantity
    /// rules the model checks ignore it).
    Owe {
        p: usize,
        v: usize,
        qty: u32,
    },
    /// A venue's LTV for ETH, in hundredths (reweights implied debts).
    Ltv {
        v: usize,
        pct: u32,
    },
    Ratio {
        p: Option<usize>,
        ratio: u32,
    },
    Cap {
        value: u32,
    },
    /// A scenario of the library set (a fall of `pct`%) or deleted.
    Scenario {
        k: usize,
        pct: u32,
        delete: bool,
    },
    Check {
        v: usize,
        p: usize,
        qty: u32,
        order: u8,
        partial: bool,
    },
    Commit {
        v: usize,
        res: u64,
    },
    Release {
        v: usize,
        res: u64,
    },
    Advance {
        ms: u32,
    },
    State {
        p: usize,
        state: u8,
    },
    Restart {
        /// 0: none; 1: encoded from the state; 2: rebuilt by replaying
        /// the files (`snapshot_state_replayed`, as the server does while
        /// it serves).
        snapshot: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize, 0..50u32).prop_map(|(p, qty)| Op::Own { p, qty }),
        (0..2usize, 0..3usize, 0..30u32, any::<bool>()).prop_map(|(p, v, qty, covers_all)| {
            Op::Posted {
                p,
                v,
                qty,
                covers_all,
            }
        }),
        Just(Op::Heartbeat),
        (0..2usize, 0..3usize, 0..50u32).prop_map(|(p, v, qty)| Op::Owe { p, v, qty }),
        (0..3usize, 1..90u32).prop_map(|(v, pct)| Op::Ltv { v, pct }),
        (proptest::option::of(0..2usize), 1..4u32).prop_map(|(p, ratio)| Op::Ratio { p, ratio }),
        (1..120u32).prop_map(|value| Op::Cap { value }),
        (0..3usize, 1..99u32, any::<bool>()).prop_map(|(k, pct, delete)| Op::Scenario {
            k,
            pct,
            delete
        }),
        (0..3usize, 0..2usize, 1..40u32, 0..12u8, any::<bool>()).prop_map(
            |(v, p, qty, order, partial)| Op::Check {
                v,
                p,
                qty,
                order,
                partial
            }
        ),
        (0..3usize, 1..12u64).prop_map(|(v, res)| Op::Commit { v, res }),
        (0..3usize, 1..12u64).prop_map(|(v, res)| Op::Release { v, res }),
        (0..20_000u32).prop_map(|ms| Op::Advance { ms }),
        (0..2usize, 0..3u8).prop_map(|(p, state)| Op::State { p, state }),
        (0u8..3).prop_map(|snapshot| Op::Restart { snapshot }),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum RState {
    Open,
    Committed,
    Released,
    Expired,
}

#[derive(Debug, Clone)]
struct Res {
    p: usize,
    v: usize,
    q: Decimal,
    expires: i64,
    state: RState,
}

/// (participant, quantity, allow_partial) of a remembered order.
type Payload = (usize, u32, bool);
/// (verdict, approved, reservation number) of a remembered order.
type Answer = (Verdict, Decimal, Option<u64>);

/// The reference: the rules written as plainly as possible.
#[derive(Debug, Default)]
struct Model {
    now: i64,
    last_sync: i64,
    owned: [Decimal; 2],
    covered: [bool; 2],
    posted: HashMap<(usize, usize), Decimal>,
    pending: HashMap<(usize, usize), Vec<(u64, Decimal)>>,
    res: Vec<Res>,
    eco_ratio: Option<Decimal>,
    p_ratio: [Option<Decimal>; 2],
    cap: Option<Decimal>,
    halted: [u8; 2],
    idem: HashMap<(usize, u8), (Payload, Answer)>,
    commit_seq: u64,
    /// Venues with parameters: the only ones a liability may name.
    configured: [bool; 3],
    /// The scenarios S0..S2 of the library, by their fall in percent.
    scenarios: [Option<u32>; 3],
}

impl Model {
    fn expire(&mut self) {
        for r in &mut self.res {
            if r.state == RState::Open && r.expires <= self.now {
                r.state = RState::Expired;
            }
        }
    }

    fn committed(&self, p: usize) -> Decimal {
        let posted: Decimal = VS
            .iter()
            .enumerate()
            .map(|(v, _)| self.posted.get(&(p, v)).copied().unwrap_or_default())
            .sum();
        let pending: Decimal = self
            .pending
            .iter()
            .filter(|((pp, _), _)| *pp == p)
            .flat_map(|(_, l)| l.iter().map(|(_, q)| *q))
            .sum();
        let reserved: Decimal = self
            .res
            .iter()
            .filter(|r| r.p == p && r.state == RState::Open)
            .map(|r| r.q)
            .sum();
        posted + pending + reserved
    }

    fn ratio(&self, p: usize) -> Decimal {
        self.p_ratio[p].or(self.eco_ratio).unwrap_or(Decimal::ONE)
    }

    fn judge(&self, p: usize, qty: Decimal, partial: bool) -> (Verdict, Decimal) {
        let rejected = (Verdict::Rejected, Decimal::ZERO);
        let stale = self.covered[p] && self.now - self.last_sync > STALE_MS;
        if self.halted[p] != 0 || stale || self.owned[p].is_zero() {
            return rejected;
        }
        let mut room = self.ratio(p) * self.owned[p] - self.committed(p);
        if let Some(cap) = self.cap {
            room = room.min(cap - self.committed(0) - self.committed(1));
        }
        let room = room.max(Decimal::ZERO);
        if qty <= room {
            (Verdict::Approved, qty)
        } else if partial && room > Decimal::ZERO {
            (Verdict::PartiallyApproved, room)
        } else {
            rejected
        }
    }
}

struct Run {
    w: World,
    m: Model,
    seq: u64,
    /// Which snapshot the next restart takes first (see `Op::Restart`).
    snapshot_next: Arc<AtomicU8>,
}

/// The journal on a real disk: every change synced before the test goes
/// on; a restart closes it and recovers from the directory.
struct Disk {
    dir: tempfile::TempDir,
    journal: JournalHandle,
    snapshot_next: Arc<AtomicU8>,
}

fn open(dir: &std::path::Path) -> (State, JournalHandle) {
    let storage = Arc::new(DiskStorage::open(dir).unwrap());
    let (rec, journal) = interlock_journal::open(
        storage,
        LedgerConfig::default(),
        JournalConfig::default(),
        Box::new(|_| {}),
    )
    .unwrap();
    (rec.state, journal)
}

impl Durability for Disk {
    fn record(&mut self, cmd: &Command) {
        let lsn = Journal::append(&self.journal, cmd);
        assert!(self.journal.wait_durable(lsn, Duration::from_secs(30)));
    }

    fn restart(&mut self, current: &State) -> State {
        match self.snapshot_next.load(Ordering::Relaxed) {
            0 => {}
            1 => {
                interlock_journal::snapshot_state(current, &self.journal).unwrap();
            }
            _ => {
                interlock_journal::snapshot_state_replayed(current, &self.journal).unwrap();
            }
        }
        self.journal.close();
        let (state, journal) = open(self.dir.path());
        self.journal = journal;
        state
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        self.journal.close();
    }
}

fn journaled_world() -> (World, Arc<AtomicU8>) {
    let dir = tempfile::tempdir().unwrap();
    let (state, journal) = open(dir.path());
    let flag = Arc::new(AtomicU8::new(0));
    let disk = Disk {
        dir,
        journal,
        snapshot_next: flag.clone(),
    };
    let mut w = World::new();
    w.state = state;
    w.durability = Some(Box::new(disk));
    (w, flag)
}

impl Run {
    fn sync(&mut self, updates: Vec<SyncUpdate>) {
        self.seq += 1;
        let batch = SyncBatch {
            sequence: self.seq,
            updates,
        };
        self.w
            .apply(Command::Sync {
                at_ms: self.w.now,
                broker: b("prime-1"),
                batch,
            })
            .unwrap();
        self.m.last_sync = self.m.now;
    }

    fn step(&mut self, op: &Op) {
        self.m.expire();
        match *op {
            Op::Own { p, qty } => {
                self.sync(vec![SyncUpdate::Collateral {
                    participant: testkit::p(PS[p]),
                    asset: a("ETH"),
                    quantity: qty.into(),
                }]);
                self.m.owned[p] = qty.into();
                self.m.covered[p] = true;
            }
            Op::Posted {
                p,
                v,
                qty,
                covers_all,
            } => {
                let covers = if covers_all { self.m.commit_seq } else { 0 };
                self.sync(vec![SyncUpdate::Commitment {
                    participant: testkit::p(PS[p]),
                    venue: testkit::v(VS[v]),
                    asset: a("ETH"),
                    quantity: qty.into(),
                    covers_commit_seq: covers,
                }]);
                self.m.posted.insert((p, v), qty.into());
                self.m
                    .pending
                    .entry((p, v))
                    .or_default()
                    .retain(|(s, _)| *s > covers);
                self.m.covered[p] = true;
            }
            Op::Heartbeat => self.sync(vec![]),
            Op::Owe { p, v, qty } => {
                let owe = vec![SyncUpdate::Liability {
                    participant: testkit::p(PS[p]),
                    venue: testkit::v(VS[v]),
                    asset: a("USDC"),
                    quantity: qty.into(),
                }];
                if self.m.configured[v] {
                    self.sync(owe);
                    self.m.covered[p] = true;
                } else {
                    let refused = self.w.apply(Command::Sync {
                        at_ms: self.w.now,
                        broker: b("prime-1"),
                        batch: SyncBatch {
                            sequence: self.seq + 1,
                            updates: owe,
                        },
                    });
                    assert!(
                        matches!(
                            refused,
                            Err(LedgerError::InvalidArgument {
                                field: "updates.liability.venue",
                                ..
                            })
                        ),
                        "a liability on unconfigured {}: {refused:?}",
                        VS[v]
                    );
                }
            }
            Op::Ltv { v, pct } => {
                self.w
                    .apply(Command::SetVenueAsset {
                        at_ms: self.w.now,
                        by: "admin".into(),
                        venue: testkit::v(VS[v]),
                        asset: a("ETH"),
                        params: VenueAssetParams {
                            threshold: Decimal::new(9, 1),
                            ltv: Some(Decimal::new(pct.into(), 2)),
                        },
                    })
                    .unwrap();
                self.m.configured[v] = true;
            }
            Op::Ratio { p, ratio } => {
                let scope = Scope {
                    participant: p.map(|p| testkit::p(PS[p])),
                    ..Scope::default()
                };
                self.w
                    .set_limit(LimitKind::ReuseRatio, scope, &ratio.to_string(), &[]);
                match p {
                    Some(p) => self.m.p_ratio[p] = Some(ratio.into()),
                    None => self.m.eco_ratio = Some(ratio.into()),
                }
            }
            Op::Scenario { k, pct, delete } => {
                let name = format!("S{k}");
                let scenario = (!delete).then(|| Scenario {
                    source: "model".into(),
                    by_class: [None, Some(-Decimal::new(pct.into(), 2)), None],
                    by_asset: Vec::new(),
                });
                let got = self.w.apply(Command::SetScenario {
                    at_ms: self.w.now,
                    by: "admin".into(),
                    name: name.clone(),
                    scenario: scenario.clone(),
                });
                // Deleting what is not there is refused, changing nothing.
                assert_eq!(got.is_ok(), !delete || self.m.scenarios[k].is_some());
                if got.is_ok() {
                    self.m.scenarios[k] = (!delete).then_some(pct);
                }
                assert_eq!(
                    self.w.state.scenarios().get(&name),
                    match self.m.scenarios[k] {
                        Some(_) => scenario.as_ref(),
                        None => None,
                    }
                );
            }
            Op::Cap { value } => {
                self.w.set_limit(
                    LimitKind::AssetCap,
                    Scope {
                        asset: Some(a("ETH")),
                        ..Scope::default()
                    },
                    &value.to_string(),
                    &[],
                );
                self.m.cap = Some(value.into());
            }
            Op::Check {
                v,
                p,
                qty,
                order,
                partial,
            } => self.check(v, p, qty, order, partial),
            Op::Commit { v, res } => {
                let got = self.w.commit(VS[v], ReservationId(res));
                let want = self
                    .m
                    .res
                    .get(res as usize - 1)
                    .filter(|r| r.v == v)
                    .map(|r| r.state);
                match (want, got) {
                    (None, Err(LedgerError::ReservationNotFound)) => {}
                    (Some(RState::Open), Ok(a)) => {
                        self.m.commit_seq += 1;
                        assert_eq!(a.commit_seq, Some(self.m.commit_seq));
                        let r = &mut self.m.res[res as usize - 1];
                        r.state = RState::Committed;
                        let (key, q, seq) = ((r.p, r.v), r.q, self.m.commit_seq);
                        self.m.pending.entry(key).or_default().push((seq, q));
                    }
                    (Some(RState::Committed), Ok(a)) => {
                        assert_eq!(a.state, ReservationState::Committed)
                    }
                    (
                        Some(RState::Released | RState::Expired),
                        Err(LedgerError::ReservationEnded(_)),
                    ) => {}
                    (want, got) => {
                        panic!("commit R{res} on {}: model {want:?}, ledger {got:?}", VS[v])
                    }
                }
            }
            Op::Release { v, res } => {
                let got = self.w.release(VS[v], ReservationId(res));
                let want = self
                    .m
                    .res
                    .get(res as usize - 1)
                    .filter(|r| r.v == v)
                    .map(|r| r.state);
                match (want, got) {
                    (None, Err(LedgerError::ReservationNotFound)) => {}
                    (Some(RState::Open | RState::Released), Ok(a)) => {
                        assert_eq!(a.state, ReservationState::Released);
                        self.m.res[res as usize - 1].state = RState::Released;
                    }
                    (Some(RState::Expired), Ok(a)) => {
                        assert_eq!(a.state, ReservationState::Expired)
                    }
                    (
                        Some(RState::Committed),
                        Err(LedgerError::ReservationEnded(ReservationState::Committed)),
                    ) => {}
                    (want, got) => panic!(
                        "release R{res} on {}: model {want:?}, ledger {got:?}",
                        VS[v]
                    ),
                }
            }
            Op::Advance { ms } => {
                self.w.now += i64::from(ms);
                self.m.now += i64::from(ms);
                self.w.tick();
                self.m.expire();
            }
            Op::Restart { snapshot } => {
                self.snapshot_next.store(snapshot, Ordering::Relaxed);
                self.w.restart();
            }
            Op::State { p, state } => {
                let ts = [
                    TradingState::Active,
                    TradingState::ReduceOnly,
                    TradingState::Halted,
                ][state as usize];
                self.w.trading(PS[p], ts);
                self.m.halted[p] = state;
                if ts == TradingState::Halted {
                    for r in self
                        .m
                        .res
                        .iter_mut()
                        .filter(|r| r.p == p && r.state == RState::Open)
                    {
                        r.state = RState::Released;
                    }
                }
            }
        }
        self.compare();
    }

    fn check(&mut self, v: usize, p: usize, qty: u32, order: u8, partial: bool) {
        let mut r = req(&format!("o{order}"), PS[p], "ETH", &qty.to_string());
        r.allow_partial = partial;
        let got = self.w.try_check(VS[v], r);
        let key = (v, order);
        if let Some((payload, answer)) = self.m.idem.get(&key) {
            match got {
                Ok(c) if *payload == (p, qty, partial) => {
                    assert_eq!(
                        (c.verdict, c.approved, c.reservation.map(|r| r.0)),
                        *answer,
                        "idempotent repeat"
                    );
                }
                Err(LedgerError::IdempotencyConflict { .. }) if *payload != (p, qty, partial) => {}
                other => panic!("repeat of order {key:?}: {other:?}"),
            }
            return;
        }
        let (verdict, approved) = self.m.judge(p, qty.into(), partial);
        let c = got.unwrap();
        assert_eq!(
            (c.verdict, c.approved),
            (verdict, approved),
            "check {} {} {qty}: model {:?}",
            VS[v],
            PS[p],
            self.m
        );
        let mut id = None;
        if verdict != Verdict::Rejected {
            self.m.res.push(Res {
                p,
                v,
                q: approved,
                expires: self.m.now + TTL_MS,
                state: RState::Open,
            });
            id = Some(self.m.res.len() as u64);
            assert_eq!(c.reservation.map(|r| r.0), id);
            // An approval never exceeds an effective limit.
            assert!(self.m.committed(p) <= self.m.ratio(p) * self.m.owned[p]);
            if let Some(cap) = self.m.cap {
                assert!(self.m.committed(0) + self.m.committed(1) <= cap);
            }
        }
        self.m
            .idem
            .insert(key, ((p, qty, partial), (verdict, approved, id)));
    }

    fn compare(&self) {
        self.w.state.check_invariants().unwrap();
        for (i, name) in PS.iter().enumerate() {
            assert_eq!(
                self.w.committed(name, "ETH"),
                self.m.committed(i),
                "committed of {name}"
            );
        }
        for (i, r) in self.m.res.iter().enumerate() {
            let got = self
                .w
                .state
                .reservation(ReservationId(i as u64 + 1))
                .map(|x| x.state);
            let want = match r.state {
                RState::Open => ReservationState::Open,
                RState::Committed => ReservationState::Committed,
                RState::Released => ReservationState::Released,
                RState::Expired => ReservationState::Expired,
            };
            assert_eq!(got, Some(want), "reservation R{}", i + 1);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ledger_matches_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        let (w, snapshot_next) = journaled_world();
        let mut run = Run { w, m: Model { now: 1_000_000, last_sync: 1_000_000, ..Model::default() }, seq: 0, snapshot_next };
        for op in &ops {
            run.step(op);
        }
    }
}
