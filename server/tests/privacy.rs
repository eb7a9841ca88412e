//! The privacy property: what a venue is told depends on the participant's
//! state only through the headroom left to that venue.
//!
//! Two ledgers differ in the participant's collateral and in how much it
//! has committed on other venues, and in how that is split among them,
//! chosen so that the headroom the calling venue has is exactly the same.
//! Any sequence of that venue's own calls (checks, dry runs, partial
//! approvals, risk-reducing checks, repeats and conflicts of order ids,
//! commits, releases, expiry) must then get byte-identical answers from
//! both, errors included. The answers are taken as the server sends them:
//! each request goes through `convert` into the ledger and back, and is
//! compared as encoded protobuf bytes (or status code and message).

use interlock::v1 as pb;
use interlock_ledger::{
    BrokerId, Command, Ledger, LedgerConfig, LimitKind, LimitSpec, Outcome, ParticipantId, Scope,
    SyncBatch, SyncUpdate, VenueId,
};
use interlock_server::convert;
use proptest::prelude::*;
use prost::Message;
use rust_decimal::Decimal;

const START_MS: i64 = 1_000_000;
const OTHERS: [&str; 3] = ["venue-o1", "venue-o2", "venue-o3"];

fn venue() -> VenueId {
    VenueId::new("venue-x").unwrap()
}

fn fund() -> ParticipantId {
    ParticipantId::new("fund").unwrap()
}

fn eth() -> interlock_ledger::AssetId {
    interlock_ledger::AssetId::new("ETH").unwrap()
}

/// Hundredths as a decimal.
fn cents(n: i64) -> Decimal {
    Decimal::new(n, 2)
}

/// What both ledgers share: the desk's limits and the venue's own position.
#[derive(Debug, Clone)]
struct Common {
    ratio: Decimal,
    /// What venue-x has posted already.
    own_posted: Decimal,
    /// Headroom under the reuse cap, before venue-x's calls (may be
    /// negative: a sync can leave a position above its cap).
    room: Decimal,
    venue_cap: Option<Decimal>,
    order_cap: Option<Decimal>,
}

/// What differs: the commitments on other venues (their sum and split);
/// collateral follows, so that the headroom is `Common::room`.
#[derive(Debug, Clone)]
struct Elsewhere {
    total: Decimal,
    split_pct: (i64, i64),
}

impl Elsewhere {
    fn split(&self) -> [Decimal; 3] {
        let a = (self.total * cents(self.split_pct.0)).round_dp(2);
        let b = ((self.total - a) * cents(self.split_pct.1)).round_dp(2);
        [a, b, self.total - a - b]
    }

    fn owned(&self, c: &Common) -> Decimal {
        (c.room + c.own_posted + self.total) / c.ratio
    }
}

#[derive(Debug, Clone)]
enum Op {
    Check {
        order: u8,
        quantity: Decimal,
        ttl_ms: u64,
        dry_run: bool,
        allow_partial: bool,
        risk_reducing: bool,
    },
    Commit(u8),
    Release(u8),
    /// Time passes (with a broker heartbeat, so that sync stays fresh).
    Wait(i64),
    /// The broker moves commitments among the other venues (the sum stays).
    Reshuffle((i64, i64)),
}

fn op(room: Decimal) -> impl Strategy<Value = Op> {
    let quantity = prop_oneof![
        (1i64..200_000).prop_map(cents),
        Just(room.max(cents(1))),
        Just((room + cents(1)).max(cents(1))),
    ];
    prop_oneof![
        6 => (0u8..12, quantity, prop_oneof![Just(0u64), Just(30_000), Just(400), Just(5_000)], any::<(bool, bool, bool)>())
            .prop_map(|(order, quantity, ttl_ms, (dry_run, allow_partial, risk_reducing))| Op::Check {
                order, quantity, ttl_ms, dry_run, allow_partial, risk_reducing,
            }),
        2 => (0u8..8).prop_map(Op::Commit),
        2 => (0u8..8).prop_map(Op::Release),
        1 => (1i64..3_000).prop_map(Op::Wait),
        1 => (0i64..=100, 0i64..=100).prop_map(Op::Reshuffle),
    ]
}

/// One ledger and the venue's view of it.
struct World {
    ledger: Ledger,
    now: i64,
    seq: u64,
    /// Reservation ids the venue was given, in order.
    reservations: Vec<String>,
}

impl World {
    fn new(c: &Common, e: &Elsewhere) -> Self {
        let mut w = World {
            ledger: Ledger::new(LedgerConfig::default()),
            now: START_MS,
            seq: 0,
            reservations: Vec::new(),
        };
        w.limit(LimitKind::ReuseRatio, Scope::default(), c.ratio);
        if let Some(cap) = c.venue_cap {
            let scope = Scope {
                participant: Some(fund()),
                venue: Some(venue()),
                asset: Some(eth()),
            };
            w.limit(LimitKind::MaxCommitment, scope, cap);
        }
        if let Some(cap) = c.order_cap {
            let scope = Scope {
                asset: Some(eth()),
                ..Scope::default()
            };
            w.limit(LimitKind::MaxOrderQuantity, scope, cap);
        }
        let mut updates = vec![
            SyncUpdate::Collateral {
                participant: fund(),
                asset: eth(),
                quantity: e.owned(c),
            },
            commitment("venue-x", c.own_posted),
        ];
        updates.extend(OTHERS.iter().zip(e.split()).map(|(v, q)| commitment(v, q)));
        w.sync(updates);
        w
    }

    fn apply(&mut self, cmd: Command) -> Result<Outcome, tonic::Status> {
        let (result, _) = self.ledger.apply(cmd);
        result.map(|a| a.outcome).map_err(convert::status)
    }

    fn limit(&mut self, kind: LimitKind, scope: Scope, value: Decimal) {
        let spec = LimitSpec {
            kind,
            scope,
            value,
            warn_levels_pct: vec![Decimal::from(50)],
        };
        self.apply(Command::SetLimit {
            at_ms: self.now,
            by: "admin".into(),
            spec,
            expected_version: None,
            force: Some("test".into()),
        })
        .unwrap();
    }

    fn sync(&mut self, updates: Vec<SyncUpdate>) {
        self.seq += 1;
        let batch = SyncBatch {
            sequence: self.seq,
            updates,
        };
        self.apply(Command::Sync {
            at_ms: self.now,
            broker: BrokerId::new("prime-1").unwrap(),
            batch,
        })
        .unwrap();
    }

    fn reservation(&self, k: u8) -> String {
        // Past the ids handed out: one the ledger never gave.
        self.reservations
            .get(usize::from(k))
            .cloned()
            .unwrap_or_else(|| format!("R{}", 1000 + u32::from(k)))
    }

    /// What the venue receives for one operation, as bytes; `None` for
    /// what is not a venue call.
    fn run(&mut self, op: &Op, e: &Elsewhere) -> Option<Vec<u8>> {
        let answer = match op {
            Op::Check {
                order,
                quantity,
                ttl_ms,
                dry_run,
                allow_partial,
                risk_reducing,
            } => {
                let request = pb::CheckRequest {
                    order_id: format!("o{order}"),
                    participant: "fund".into(),
                    asset: "ETH".into(),
                    quantity: quantity.to_string(),
                    ttl_ms: *ttl_ms,
                    risk_reducing: *risk_reducing,
                    dry_run: *dry_run,
                    allow_partial: *allow_partial,
                    liability: String::new(),
                };
                let request = convert::check_request(request).map_err(tonic::Status::from);
                let outcome = request.and_then(|request| {
                    self.apply(Command::Check {
                        at_ms: self.now,
                        venue: venue(),
                        request,
                    })
                });
                outcome.map(|o| match o {
                    Outcome::Check(a) => {
                        let resp = convert::check_response(a);
                        if !resp.reservation_id.is_empty()
                            && !self.reservations.contains(&resp.reservation_id)
                        {
                            self.reservations.push(resp.reservation_id.clone());
                        }
                        resp.encode_to_vec()
                    }
                    o => panic!("unexpected {o:?}"),
                })
            }
            Op::Commit(k) | Op::Release(k) => {
                let commit = matches!(op, Op::Commit(_));
                let id =
                    convert::reservation_id(&self.reservation(*k)).map_err(tonic::Status::from);
                id.and_then(|reservation| {
                    let (at_ms, venue) = (self.now, venue());
                    self.apply(if commit {
                        Command::Commit {
                            at_ms,
                            venue,
                            reservation,
                        }
                    } else {
                        Command::Release {
                            at_ms,
                            venue,
                            reservation,
                        }
                    })
                })
                .map(|o| match o {
                    Outcome::Reservation(r) if commit => {
                        convert::commit_response(r).encode_to_vec()
                    }
                    Outcome::Reservation(r) => convert::release_response(r).encode_to_vec(),
                    o => panic!("unexpected {o:?}"),
                })
            }
            Op::Wait(ms) => {
                self.now += ms;
                self.apply(Command::Tick { at_ms: self.now }).unwrap();
                self.sync(Vec::new());
                return None;
            }
            Op::Reshuffle(pct) => {
                let moved = Elsewhere {
                    total: e.total,
                    split_pct: *pct,
                };
                let updates = OTHERS
                    .iter()
                    .zip(moved.split())
                    .map(|(v, q)| commitment(v, q))
                    .collect();
                self.sync(updates);
                return None;
            }
        };
        Some(match answer {
            Ok(bytes) => bytes,
            Err(s) => format!("{:?}: {}", s.code(), s.message()).into_bytes(),
        })
    }
}

fn commitment(venue: &str, quantity: Decimal) -> SyncUpdate {
    SyncUpdate::Commitment {
        participant: fund(),
        venue: VenueId::new(venue).unwrap(),
        asset: eth(),
        quantity,
        covers_commit_seq: 0,
    }
}

fn common() -> impl Strategy<Value = Common> {
    (
        prop_oneof![Just("1"), Just("2"), Just("0.5"), Just("1.25"), Just("4")],
        0i64..5_000,
        -2_000i64..50_000,
        proptest::option::of(1i64..80_000),
        proptest::option::of(1i64..40_000),
    )
        .prop_map(|(ratio, own, room, venue_cap, order_cap)| Common {
            ratio: ratio.parse().unwrap(),
            own_posted: cents(own),
            room: cents(room),
            venue_cap: venue_cap.map(cents),
            order_cap: order_cap.map(cents),
        })
}

fn elsewhere() -> impl Strategy<Value = Elsewhere> {
    (0i64..1_000_000, 0i64..=100, 0i64..=100).prop_map(|(total, a, b)| Elsewhere {
        total: cents(total),
        split_pct: (a, b),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn a_venue_learns_nothing_beyond_its_headroom(
        (c, ops) in common().prop_flat_map(|c| {
            let room = c.room;
            (Just(c), proptest::collection::vec(op(room), 1..40))
        }),
        x in elsewhere(),
        y in elsewhere(),
    ) {
        // Both participants own something (NO_COLLATERAL is a state the
        // venue may learn), and the collateral is an exact decimal.
        let (ox, oy) = (x.owned(&c), y.owned(&c));
        prop_assume!(ox > Decimal::ZERO && oy > Decimal::ZERO);
        prop_assume!(ox.scale() <= 10 && oy.scale() <= 10);
        prop_assume!(ox != oy || x.split() != y.split());
        let mut a = World::new(&c, &x);
        let mut b = World::new(&c, &y);
        for (i, op) in ops.iter().enumerate() {
            let seen_a = a.run(op, &x);
            let seen_b = b.run(op, &y);
            prop_assert_eq!(
                &seen_a, &seen_b,
                "answers differ at step {} ({:?}): {:?} vs {:?}",
                i, op,
                seen_a.as_ref().map(|s| String::from_utf8_lossy(s).into_owned()),
                seen_b.as_ref().map(|s| String::from_utf8_lossy(s).into_owned()),
            );
        }
    }
}
