//! analytics.md's worked case, through the ledger: ETH at 2,000 falls 20%;
//! P pledged the same 50 ETH on an Aave-style V1 and a Morpho-style V2.

use interlock_analytics::cascade::{cascade, CascadeRequest, Impact, Market};
use interlock_analytics::scenario::Choice;
use interlock_analytics::stress::{stress, StressRequest};
use interlock_analytics::{Book, Scenario};
use interlock_ledger::testkit::*;
use interlock_ledger::value::liquidation::{AaveRule, LiquidationRule};
use interlock_ledger::*;

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-6 * want.abs().max(1.0)
}

fn admin(w: &mut World, cmd: impl FnOnce(UnixMs) -> Command) {
    let at = w.now;
    w.apply(cmd(at)).unwrap();
}

/// The case's ledger: owned 50 ETH, all of it on V1 and on V2, debts of
/// 70,000 and 40,000 USDC.
fn world() -> World {
    let mut w = World::new();
    for (asset, class) in [("ETH", AssetClass::Major), ("USDC", AssetClass::Stable)] {
        admin(&mut w, |at| Command::SetAssetClass {
            at_ms: at,
            by: "admin".into(),
            asset: a(asset),
            class,
        });
    }
    for (venue, lt) in [("V1", "0.83"), ("V2", "0.86")] {
        admin(&mut w, |at| Command::SetVenueAsset {
            at_ms: at,
            by: "admin".into(),
            venue: v(venue),
            asset: a("ETH"),
            params: VenueAssetParams {
                threshold: d(lt),
                ltv: None,
            },
        });
    }
    w.venue_rule("V1", LiquidationRule::Aave(AaveRule::v3_3(d("1.05"))));
    w.venue_rule("V2", LiquidationRule::Morpho);
    admin(&mut w, |at| Command::SetHaircut {
        at_ms: at,
        by: "admin".into(),
        asset: a("ETH"),
        haircut: Some(d("0.17")),
        force: None,
    });
    let now = w.now;
    w.apply(Command::PublishPrices {
        at_ms: now,
        oracle: OracleId::new("pyth").unwrap(),
        batch: PriceBatch {
            sequence: 1,
            quotes: vec![
                PriceQuote {
                    asset: a("ETH"),
                    price: d("2000"),
                    published_ms: now,
                },
                PriceQuote {
                    asset: a("USDC"),
                    price: d("1"),
                    published_ms: now,
                },
            ],
        },
    })
    .unwrap();
    let mut updates = vec![SyncUpdate::Collateral {
        participant: p("P"),
        asset: a("ETH"),
        quantity: d("50"),
    }];
    for (venue, debt) in [("V1", "70000"), ("V2", "40000")] {
        updates.push(SyncUpdate::Commitment {
            participant: p("P"),
            venue: v(venue),
            asset: a("ETH"),
            quantity: d("50"),
            covers_commit_seq: 0,
        });
        updates.push(SyncUpdate::Liability {
            participant: p("P"),
            venue: v(venue),
            asset: a("USDC"),
            quantity: d(debt),
        });
    }
    w.sync(updates);
    w
}

fn eth_minus_20() -> Choice {
    Choice::Given(Scenario::of_assets(vec![(a("ETH"), -0.20)]).unwrap())
}

fn request() -> StressRequest {
    StressRequest {
        scenario: eth_minus_20(),
        rows: 10,
        participants: Vec::new(),
        depth: Vec::new(),
        collect_sets: false,
        watch: Vec::new(),
        rules: Vec::new(),
    }
}

#[test]
fn the_worked_case() {
    let w = world();
    let book = Book::from_moment(&w.state.moment());
    let r = stress(&book, &request(), &|| false).unwrap();

    let row = &r.participants[0];
    assert_eq!(row.participant, p("P"));
    assert!(close(row.hf_eco_after, 0.603636), "{row:?}");
    let v1 = &row.venues[0];
    let v2 = &row.venues[1];
    assert_eq!((v1.venue.as_str(), v2.venue.as_str()), ("V1", "V2"));
    assert!(close(v1.hf_claim, 0.948571) && v1.breached, "{v1:?}");
    assert!(close(v2.hf_claim, 1.72) && !v2.breached, "{v2:?}");
    assert!(close(v2.hf_true, 0.86), "{v2:?}");

    let (rv1, rv2) = (&r.venues[0], &r.venues[1]);
    assert_eq!(rv1.accounts_breached, 1);
    assert!(close(rv1.debt_at_risk, 70000.0));
    assert_eq!(rv1.seized.len(), 1);
    assert!(close(rv1.seized[0].quantity, 25.0), "{rv1:?}");
    assert!(close(rv1.repaid, 38095.238095), "{rv1:?}");
    assert!(close(rv1.bad_debt, 31904.761905), "{rv1:?}");
    assert!(!rv1.default_rule);
    assert_eq!(rv2.accounts_breached, 0);
    assert_eq!(rv2.repaid, 0.0);

    assert_eq!(r.ecosystem.breached_on_one, 1);
    assert_eq!(r.ecosystem.breached_on_two, 0);
    assert!(close(r.ecosystem.bad_debt, 31904.761905));
    assert!(close(r.ecosystem.debt_closed, 70000.0));
    // V1 sees its breach, so P is not hidden.
    assert_eq!(r.ecosystem.hidden_by_reuse_count, 0);
    assert_eq!(r.assets[0].asset, a("ETH"));
    assert!(close(r.assets[0].sold_quantity, 25.0));
}

/// At −10% every venue still sees P healthy (V1 1.067, V2 1.935) while
/// HF^eco is 0.679: hidden by reuse, the warning only Interlock can give.
#[test]
fn hidden_by_reuse() {
    let w = world();
    let book = Book::from_moment(&w.state.moment());
    let mut req = request();
    req.scenario = Choice::Given(Scenario::of_assets(vec![(a("ETH"), -0.10)]).unwrap());
    let r = stress(&book, &req, &|| false).unwrap();
    assert_eq!(r.ecosystem.breached_on_one, 0);
    assert_eq!(r.ecosystem.hidden_by_reuse_count, 1);
    assert_eq!(r.ecosystem.hidden_by_reuse, vec![p("P")]);
    // Each venue's Cover-1 is P, short what the deliverable 25 ETH leave.
    let v1 = r.venues[0].cover1.as_ref().unwrap();
    assert_eq!(v1.participant, p("P"));
    assert!(close(v1.shortfall, 70000.0 - 25.0 * 1800.0));
}

/// The same state gives bit-identical reports, and so does the state
/// recovered from a snapshot (where participants are numbered afresh).
#[test]
fn bit_identical_across_runs_and_restarts() {
    let mut w = world();
    for i in 0..50 {
        let q = format!("{}", 10 + i);
        w.sync(vec![
            SyncUpdate::Collateral {
                participant: p(&format!("q{i:02}")),
                asset: a("ETH"),
                quantity: d(&q),
            },
            SyncUpdate::Commitment {
                participant: p(&format!("q{i:02}")),
                venue: v(["V1", "V2"][i % 2]),
                asset: a("ETH"),
                quantity: d(&q),
                covers_commit_seq: 0,
            },
        ]);
    }
    let book = Book::from_moment(&w.state.moment());
    let once = stress(&book, &request(), &|| false).unwrap();
    let twice = stress(&book, &request(), &|| false).unwrap();
    assert_eq!(format!("{once:?}"), format!("{twice:?}"));
    let back = State::from_snapshot(&w.state.to_snapshot()).unwrap();
    let after = stress(&Book::from_moment(&back.moment()), &request(), &|| false).unwrap();
    assert_eq!(format!("{once:?}"), format!("{after:?}"));
}

/// A cascade: V1's sale of 25 ETH into a thin market (depth 20, EXP)
/// moves ETH to 1600·exp(−β·1.25) ≈ 429 and breaks V2 in the next round
/// (its 50 ETH claim at LLTV 0.86 against 40,000 breaks below 930).
#[test]
fn a_cascade_reaches_the_second_venue() {
    let w = world();
    let book = Book::from_moment(&w.state.moment());
    let req = CascadeRequest {
        scenario: eth_minus_20(),
        impact: Impact::Exp,
        markets: vec![Market {
            asset: a("ETH"),
            depth: 20.0,
            floor: 0.0,
        }],
        max_rounds: 50,
        rules: Vec::new(),
    };
    let r = cascade(&book, &req, &|| false).unwrap();
    assert!(r.settled);
    // Round 0 at 1,600: V1 only.
    assert!(close(r.rounds[0].prices[0], 1600.0));
    assert_eq!(r.rounds[0].venues.len(), 1);
    let p1 = 1600.0 * (-interlock_analytics::cascade::beta() * 1.25).exp();
    assert!(close(r.rounds[1].prices[0], p1), "{:?}", r.rounds[1]);
    assert_eq!(r.rounds[1].venues.len(), 1);
    assert_eq!(r.rounds[1].venues[0].venue, v("V2"));
    // After V2 sold its 25 deliverable ETH, round 2 finds nothing more.
    assert_eq!(r.rounds.len(), 3);
    assert_eq!(r.rounds[2].accounts_liquidated, 0);
    assert!(close(r.debt_closed, 110000.0), "{}", r.debt_closed);
    assert!(r.amplification.debt_closed.unwrap() > 1.0);
    let fall = &r.amplification.price_fall[0];
    assert_eq!(fall.0, a("ETH"));
    assert!(fall.1.unwrap() > 1.0);
    // P breached in round 0: no victim.
    assert_eq!(r.victims_count, 0);
    let again = cascade(&book, &req, &|| false).unwrap();
    assert_eq!(format!("{r:?}"), format!("{again:?}"));
}

#[test]
fn bad_input_names_its_field() {
    let w = world();
    let book = Book::from_moment(&w.state.moment());
    let field = |r: Result<_, interlock_analytics::AnalyticsError>| match r {
        Err(interlock_analytics::AnalyticsError::InvalidArgument { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    let mut req = request();
    req.scenario = Choice::Given(Scenario::of_assets(vec![(a("DOGE"), -0.1)]).unwrap());
    assert_eq!(
        field(stress(&book, &req, &|| false).map(|_| ())),
        "shocks.asset"
    );
    let mut req = request();
    req.participants = vec![p("P"), p("nobody")];
    assert_eq!(
        field(stress(&book, &req, &|| false).map(|_| ())),
        "participants"
    );
    // Asked for by name (twice): shown once, even with no rows wanted.
    let mut req = request();
    req.rows = 0;
    req.participants = vec![p("P"), p("P")];
    let r = stress(&book, &req, &|| false).unwrap();
    assert_eq!(r.participants.len(), 1);
    assert_eq!(r.participants[0].participant, p("P"));
    let mut req = request();
    req.rows = 100_000;
    assert_eq!(field(stress(&book, &req, &|| false).map(|_| ())), "rows");
    let mut req = request();
    req.depth = vec![(a("ETH"), 0.0)];
    assert_eq!(field(stress(&book, &req, &|| false).map(|_| ())), "depth");
    let c = CascadeRequest {
        scenario: eth_minus_20(),
        impact: Impact::Linear,
        markets: Vec::new(),
        max_rounds: 10_000,
        rules: Vec::new(),
    };
    assert_eq!(
        field(cascade(&book, &c, &|| false).map(|_| ())),
        "max_rounds"
    );
    assert!(matches!(
        stress(&book, &request(), &|| true),
        Err(interlock_analytics::AnalyticsError::Cancelled)
    ));
}

/// Leave-one-out: with Q (100 ETH on V2 against 100,000) beside P, P's
/// positions close Q's whole debt through the cascade; Q's close nothing
/// of anyone else's.
#[test]
fn systemic_ranking_leaves_each_out() {
    use interlock_analytics::systemic::{systemic, RankBy, SystemicRequest};
    let mut w = world();
    w.sync(vec![
        SyncUpdate::Collateral {
            participant: p("Q"),
            asset: a("ETH"),
            quantity: d("100"),
        },
        SyncUpdate::Commitment {
            participant: p("Q"),
            venue: v("V2"),
            asset: a("ETH"),
            quantity: d("100"),
            covers_commit_seq: 0,
        },
        SyncUpdate::Liability {
            participant: p("Q"),
            venue: v("V2"),
            asset: a("USDC"),
            quantity: d("100000"),
        },
    ]);
    let book = Book::from_moment(&w.state.moment());
    let req = SystemicRequest {
        cascade: CascadeRequest {
            scenario: eth_minus_20(),
            impact: Impact::Exp,
            markets: vec![Market {
                asset: a("ETH"),
                depth: 20.0,
                floor: 0.0,
            }],
            max_rounds: 50,
            rules: Vec::new(),
        },
        top: 10,
        by: RankBy::Size,
    };
    let mut seen = Vec::new();
    let r = systemic(&book, &req, &|| false, &mut |done, total, row| {
        seen.push((done, total, row.participant.clone()))
    })
    .unwrap();
    assert!(close(r.closed, 210000.0));
    // Candidates by size: P (110,000) then Q (100,000).
    assert_eq!(seen, vec![(1, 2, p("P")), (2, 2, p("Q"))]);
    assert_eq!(r.rows[0].participant, p("P"));
    assert!(close(r.rows[0].impact, 100000.0), "{:?}", r.rows[0]);
    assert!(close(r.rows[0].own_closed, 110000.0));
    assert_eq!(r.rows[1].participant, p("Q"));
    assert!(close(r.rows[1].impact, 0.0), "{:?}", r.rows[1]);
    // The venues' covers come with the ranking.
    assert_eq!(r.venues.len(), 2);
    assert_eq!(r.venues[0].cover1.as_ref().unwrap().participant, p("P"));
    assert!(matches!(
        systemic(
            &book,
            &SystemicRequest {
                top: 0,
                ..req.clone()
            },
            &|| false,
            &mut |_, _, _| {}
        ),
        Err(interlock_analytics::AnalyticsError::InvalidArgument { field: "top", .. })
    ));
}

/// A request may have a venue liquidate by another rule for the run: V1
/// as Morpho (LIF 1/(1 − 0.3·0.17) for its LT of 0.83) seizes the same 25
/// deliverable ETH but repays 25·1600/LIF.
#[test]
fn a_venue_rule_overridden_for_a_run() {
    use interlock_analytics::rules::{morpho_lif, Rule};
    let w = world();
    let book = Book::from_moment(&w.state.moment());
    let mut req = request();
    req.rules = vec![(v("V1"), Rule::Morpho)];
    let r = stress(&book, &req, &|| false).unwrap();
    let v1 = &r.venues[0];
    assert!(close(v1.seized[0].quantity, 25.0));
    assert!(close(v1.repaid, 25.0 * 1600.0 / morpho_lif(0.83)), "{v1:?}");
    // The ledger's rule is untouched: without the override, Aave's figures.
    let again = stress(&book, &request(), &|| false).unwrap();
    assert!(close(again.venues[0].repaid, 38095.238095));
    let field = |r: Result<_, interlock_analytics::AnalyticsError>| match r {
        Err(interlock_analytics::AnalyticsError::InvalidArgument { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    req.rules = vec![(v("V9"), Rule::Morpho)];
    assert_eq!(
        field(stress(&book, &req, &|| false).map(|_| ())),
        "rules.venue"
    );
    req.rules = vec![(v("V1"), Rule::Morpho), (v("V1"), Rule::DEFAULT)];
    assert_eq!(
        field(stress(&book, &req, &|| false).map(|_| ())),
        "rules.venue"
    );
}
