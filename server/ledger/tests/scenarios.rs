//! Ledger behaviour, one scenario at a time.

mod common;
use common::*;
use interlock_ledger::*;

fn reason(c: &CheckAnswer) -> &RejectReason {
    c.reason.as_ref().expect("a rejection reason")
}

#[test]
fn no_collateral_is_default_deny() {
    let mut w = World::new();
    let c = w.check("venue-a", req("o1", "fund", "ETH", "1"));
    assert_eq!(c.verdict, Verdict::Rejected);
    assert_eq!(reason(&c).code, RejectCode::NoCollateral);
}

#[test]
fn reuse_ratio_is_enforced_across_venues() {
    let mut w = World::new();
    w.own("fund", "ETH", "100");
    w.set_limit(LimitKind::ReuseRatio, Scope::default(), "2", &[]);
    assert_eq!(
        w.check("v1", req("o1", "fund", "ETH", "100")).verdict,
        Verdict::Approved
    );
    assert_eq!(
        w.check("v2", req("o1", "fund", "ETH", "100")).verdict,
        Verdict::Approved
    );
    let (c, alerts) = w.check_alerts("v3", req("o1", "fund", "ETH", "100"));
    assert_eq!(c.verdict, Verdict::Rejected);
    let r = reason(&c);
    assert_eq!(r.code, RejectCode::LimitExceeded);
    let limit = r.limit.as_ref().unwrap();
    assert_eq!(limit.kind, LimitKind::ReuseRatio);
    assert_eq!(limit.id.as_ref().unwrap().as_str(), "L1");
    assert_eq!(limit.value, d("2"));
    // The reuse ratio spans venues: its utilization would tell v3 what v1
    // and v2 hold, so only the admins' alert carries it.
    assert_eq!(r.utilization, None);
    assert_eq!(c.headroom, HeadroomBucket::None);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].utilization, Some(d("1.5")));
    assert_eq!(w.committed("fund", "ETH"), d("200"));
}

#[test]
fn most_specific_reuse_ratio_overrides_the_default() {
    let mut w = World::new();
    w.own("fund", "ETH", "10");
    w.set_limit(LimitKind::ReuseRatio, Scope::default(), "1", &[]);
    w.set_limit(
        LimitKind::ReuseRatio,
        Scope {
            participant: Some(p("fund")),
            ..Scope::default()
        },
        "3",
        &[],
    );
    assert_eq!(
        w.check("v1", req("o1", "fund", "ETH", "30")).verdict,
        Verdict::Approved
    );
    assert_eq!(
        w.check("v1", req("o2", "fund", "ETH", "0.0000000001"))
            .verdict,
        Verdict::Rejected
    );
}

#[test]
fn most_restrictive_limit_wins_and_is_named() {
    let mut w = World::new();
    w.own("fund", "ETH", "100");
    w.set_limit(LimitKind::ReuseRatio, Scope::default(), "5", &[]);
    let mc = w.set_limit(
        LimitKind::MaxCommitment,
        Scope {
            participant: Some(p("fund")),
            venue: Some(v("v1")),
            asset: Some(a("ETH")),
        },
        "50",
        &[],
    );
    let moq = w.set_limit(
        LimitKind::MaxOrderQuantity,
        Scope {
            asset: Some(a("ETH")),
            ..Scope::default()
        },
        "40",
        &[],
    );
    let c = w.check("v1", req("o1", "fund", "ETH", "45"));
    assert_eq!(
        reason(&c).limit.as_ref().unwrap().id.as_ref(),
        Some(&moq.id)
    );
    assert_eq!(
        w.check("v1", req("o2", "fund", "ETH", "40")).verdict,
        Verdict::Approved
    );
    let c = w.check("v1", req("o3", "fund", "ETH", "20"));
    let r = reason(&c);
    assert_eq!(r.limit.as_ref().unwrap().id.as_ref(), Some(&mc.id));
    assert_eq!(r.utilization, Some(d("1.2")));
    // The venue cap does not bind on another venue.
    assert_eq!(
        w.check("v2", req("o3", "fund", "ETH", "20")).verdict,
        Verdict::Approved
    );
}

#[test]
fn partial_fill_approves_what_fits() {
    let mut w = World::new();
    w.own("fund", "ETH", "10");
    let mut r = req("o1", "fund", "ETH", "25");
    r.allow_partial = true;
    let c = w.check("v1", r);
    assert_eq!(c.verdict, Verdict::PartiallyApproved);
    assert_eq!(c.approved, d("10"));
    assert_eq!(w.committed("fund", "ETH"), d("10"));
}

#[test]
fn asset_cap_holds_across_participants() {
    let mut w = World::new();
    w.own("f1", "ETH", "100");
    w.own("f2", "ETH", "100");
    let cap = w.set_limit(
        LimitKind::AssetCap,
        Scope {
            asset: Some(a("ETH")),
            ..Scope::default()
        },
        "150",
        &[],
    );
    assert_eq!(
        w.check("v1", req("o1", "f1", "ETH", "100")).verdict,
        Verdict::Approved
    );
    let c = w.check("v1", req("o2", "f2", "ETH", "60"));
    assert_eq!(
        reason(&c).limit.as_ref().unwrap().id.as_ref(),
        Some(&cap.id)
    );
    assert_eq!(w.state.asset_total(&a("ETH")), d("100"));
}

#[test]
fn idempotency_returns_the_original_answer() {
    let mut w = World::new();
    w.own("fund", "ETH", "10");
    let first = w.check("v1", req("o1", "fund", "ETH", "4"));
    let again = w.check("v1", req("o1", "fund", "ETH", "4"));
    assert_eq!(first, again);
    assert_eq!(w.committed("fund", "ETH"), d("4"));
    let err = w
        .try_check("v1", req("o1", "fund", "ETH", "5"))
        .unwrap_err();
    assert!(matches!(err, LedgerError::IdempotencyConflict { .. }));
    // The same order id on another venue is another order.
    assert_eq!(
        w.check("v2", req("o1", "fund", "ETH", "5")).verdict,
        Verdict::Approved
    );
    // A rejected key stays rejected even when headroom appears.
    let rejected = w.check("v1", req("o9", "fund", "ETH", "5"));
    assert_eq!(rejected.verdict, Verdict::Rejected);
    w.own("fund", "ETH", "100");
    assert_eq!(w.check("v1", req("o9", "fund", "ETH", "5")), rejected);
}

#[test]
fn dry_run_reserves_nothing_and_records_nothing() {
    let mut w = World::new();
    w.own("fund", "ETH", "10");
    let mut r = req("o1", "fund", "ETH", "4");
    r.dry_run = true;
    let c = w.check("v1", r);
    assert_eq!(c.verdict, Verdict::Approved);
    assert!(c.reservation.is_none() && c.dry_run);
    assert_eq!(w.committed("fund", "ETH"), d("0"));
    assert_eq!(w.state.idempotency_len(), 0);
}

#[test]
fn reservation_ends_exactly_once() {
    let mut w = World::new();
    w.own("fund", "ETH", "10");
    let id = w
        .check("v1", req("o1", "fund", "ETH", "4"))
        .reservation
        .unwrap();
    assert_eq!(
        w.commit("v2", id),
        Err(LedgerError::ReservationNotFound),
        "another venue's reservation"
    );
    let c1 = w.commit("v1", id).unwrap();
    assert_eq!(w.commit("v1", id).unwrap(), c1, "commit is idempotent");
    assert_eq!(
        w.release("v1", id),
        Err(LedgerError::ReservationEnded(ReservationState::Committed))
    );
    assert_eq!(
        w.committed("fund", "ETH"),
        d("4"),
        "committed stays counted"
    );

    let id2 = w
        .check("v1", req("o2", "fund", "ETH", "3"))
        .reservation
        .unwrap();
    assert_eq!(
        w.release("v1", id2).unwrap().state,
        ReservationState::Released
    );
    assert_eq!(
        w.release("v1", id2).unwrap().state,
        ReservationState::Released
    );
    assert_eq!(
        w.commit("v1", id2),
        Err(LedgerError::ReservationEnded(ReservationState::Released))
    );
    assert_eq!(w.committed("fund", "ETH"), d("4"));
}

#[test]
fn reservations_expire_and_free_headroom() {
    let mut w = World::new();
    w.own("fund", "ETH", "10");
    let mut r = req("o1", "fund", "ETH", "10");
    r.ttl_ms = Some(1000);
    let c = w.check("v1", r);
    assert_eq!(c.expires_at_ms, Some(w.now + 1000));
    let id = c.reservation.unwrap();
    w.now += 999;
    w.tick();
    assert_eq!(w.committed("fund", "ETH"), d("10"));
    w.now += 1;
    // Keep the broker fresh while time passes.
    w.sync(vec![]);
    assert_eq!(
        w.tick().outcome,
        Outcome::Tick { expired: 0 },
        "the sync already expired it"
    );
    assert_eq!(w.committed("fund", "ETH"), d("0"));
    assert_eq!(
        w.commit("v1", id),
        Err(LedgerError::ReservationEnded(ReservationState::Expired))
    );
    assert_eq!(
        w.release("v1", id).unwrap().state,
        ReservationState::Expired
    );
    let mut long = req("o2", "fund", "ETH", "1");
    long.ttl_ms = Some(600_001);
    assert!(matches!(
        w.try_check("v1", long),
        Err(LedgerError::InvalidArgument {
            field: "ttl_ms",
            ..
        })
    ));
}

/// A reservation that ends before its deadline leaves a stale entry in the
/// expiry queue; when the deadline passes, dropping it changes nothing, so
/// the tick is not journaled and the clock does not move, exactly as a
/// replay (whose queue never had the entry) sees it.
#[test]
fn an_ended_reservation_leaves_no_trace_at_its_deadline() {
    let mut w = World::new();
    w.own("fund", "ETH", "10");
    let mut r = req("o1", "fund", "ETH", "4");
    r.ttl_ms = Some(1000);
    let released = w.check("v1", r).reservation.unwrap();
    let mut r = req("o2", "fund", "ETH", "5");
    r.ttl_ms = Some(2000);
    let open = w.check("v1", r).reservation.unwrap();
    w.release("v1", released).unwrap();
    w.state.check_invariants().unwrap();
    w.now += 1500;
    let before = w.state.to_snapshot();
    let (tick, changed) = w.state.apply_tracked(&Command::Tick { at_ms: w.now });
    assert_eq!(tick.unwrap().outcome, Outcome::Tick { expired: 0 });
    assert!(!changed, "dropping a stale expiry entry is not a change");
    assert_eq!(w.state.to_snapshot(), before);
    w.state.check_invariants().unwrap();
    // The open one still expires at its own deadline.
    w.now += 500;
    w.sync(vec![]);
    assert_eq!(w.committed("fund", "ETH"), d("0"));
    assert_eq!(
        w.release("v1", open).unwrap().state,
        ReservationState::Expired
    );
    w.state.check_invariants().unwrap();
}

#[test]
fn halt_rejects_everything_and_releases_open_reservations() {
    let mut w = World::new();
    w.own("fund", "ETH", "10");
    w.check("v1", req("o1", "fund", "ETH", "3"));
    w.check("v2", req("o1", "fund", "ETH", "3"));
    let t = w.trading("fund", TradingState::Halted);
    assert_eq!(
        (t.previous, t.released_reservations),
        (TradingState::Active, 2)
    );
    assert_eq!(w.committed("fund", "ETH"), d("0"));
    let mut rr = req("o2", "fund", "ETH", "1");
    rr.risk_reducing = true;
    assert_eq!(
        reason(&w.check("v1", rr.clone())).code,
        RejectCode::TradingHalted
    );
    w.trading("fund", TradingState::ReduceOnly);
    assert_eq!(
        reason(&w.check("v1", req("o3", "fund", "ETH", "1"))).code,
        RejectCode::ReduceOnly
    );
    rr.order_id = OrderId::new("o4").unwrap();
    assert_eq!(w.check("v1", rr).verdict, Verdict::Approved);
    w.trading("fund", TradingState::Active);
    assert_eq!(
        w.check("v1", req("o5", "fund", "ETH", "1")).verdict,
        Verdict::Approved
    );
    let audit = w.state.audit_records(0, 100);
    assert_eq!(audit.len(), 3);
    assert_eq!(
        (audit[0].old_value.as_str(), audit[0].new_value.as_str()),
        ("ACTIVE", "HALTED")
    );
}

#[test]
fn sync_sequence_gaps_fail_closed_until_filled() {
    let mut w = World::new();
    w.own("fund", "ETH", "10");
    let gap = SyncBatch {
        sequence: 5,
        updates: vec![],
    };
    let out = w
        .apply(Command::Sync {
            at_ms: w.now,
            broker: b("prime-1"),
            batch: gap,
        })
        .unwrap();
    assert_eq!(
        out.outcome,
        Outcome::Sync(SyncAnswer::Gap {
            expected: 2,
            got: 5
        })
    );
    assert_eq!(out.alerts[0].kind, AlertKind::SyncGap);
    assert_eq!(
        reason(&w.check("v1", req("o1", "fund", "ETH", "1"))).code,
        RejectCode::StaleSync
    );
    let replay = SyncBatch {
        sequence: 1,
        updates: vec![],
    };
    assert_eq!(
        w.apply(Command::Sync {
            at_ms: w.now,
            broker: b("prime-1"),
            batch: replay
        })
        .unwrap_err(),
        LedgerError::SequenceReplayed {
            expected: 2,
            got: 1
        }
    );
    w.sync(vec![]); // sequence 2: the gap is filled
    assert_eq!(
        w.check("v1", req("o2", "fund", "ETH", "1")).verdict,
        Verdict::Approved
    );
}

#[test]
fn silent_broker_goes_stale() {
    let mut w = World::new();
    w.own("fund", "ETH", "10");
    w.now += 30_001;
    let alerts = w.tick().alerts;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, AlertKind::BrokerStale);
    assert!(w.tick().alerts.is_empty(), "alerted once");
    assert_eq!(
        reason(&w.check("v1", req("o1", "fund", "ETH", "1"))).code,
        RejectCode::StaleSync
    );
    w.sync(vec![]);
    assert_eq!(
        w.check("v1", req("o2", "fund", "ETH", "1")).verdict,
        Verdict::Approved
    );
}

#[test]
fn lowering_collateral_below_commitments_is_applied_and_alerted() {
    let mut w = World::new();
    w.own("fund", "ETH", "10");
    w.check("v1", req("o1", "fund", "ETH", "8"));
    let out = w.own("fund", "ETH", "5");
    assert_eq!(out.alerts.len(), 1);
    assert_eq!(out.alerts[0].kind, AlertKind::Breach);
    assert_eq!(out.alerts[0].utilization, Some(d("1.6")));
    let e = w.state.exposure(&p("fund"), w.now).unwrap().unwrap();
    assert_eq!((e.assets[0].owned, e.assets[0].committed), (d("5"), d("8")));
    assert!(
        w.own("fund", "ETH", "4").alerts.is_empty(),
        "alert on entering breach only"
    );
}

#[test]
fn commits_stay_counted_until_a_sync_covers_them() {
    let mut w = World::new();
    w.own("fund", "ETH", "10");
    let id = w
        .check("v1", req("o1", "fund", "ETH", "6"))
        .reservation
        .unwrap();
    let seq = w.commit("v1", id).unwrap().commit_seq.unwrap();
    let posted = |qty: &str, covers: u64| SyncUpdate::Commitment {
        participant: p("fund"),
        venue: v("v1"),
        asset: a("ETH"),
        quantity: d(qty),
        covers_commit_seq: covers,
    };
    // A sync computed before the commit arrives late: it must not erase it.
    w.sync(vec![posted("2", seq - 1)]);
    assert_eq!(w.committed("fund", "ETH"), d("8"));
    // The broker's next sync includes the commit.
    w.sync(vec![posted("8", seq)]);
    assert_eq!(w.committed("fund", "ETH"), d("8"));
    w.sync(vec![posted("1", seq)]);
    assert_eq!(w.committed("fund", "ETH"), d("1"));
}

#[test]
fn warning_levels_alert_when_crossed() {
    let mut w = World::new();
    w.own("fund", "ETH", "100");
    w.set_limit(LimitKind::ReuseRatio, Scope::default(), "1", &["50", "80"]);
    let out = w
        .apply(Command::Check {
            at_ms: w.now,
            venue: v("v1"),
            request: req("o1", "fund", "ETH", "60"),
        })
        .unwrap();
    assert_eq!(
        out.alerts
            .iter()
            .filter(|a| a.kind == AlertKind::WarningLevelCrossed)
            .count(),
        1
    );
    let out = w
        .apply(Command::Check {
            at_ms: w.now,
            venue: v("v1"),
            request: req("o2", "fund", "ETH", "30"),
        })
        .unwrap();
    assert_eq!(out.alerts.len(), 1);
    assert_eq!(out.alerts[0].utilization, Some(d("0.9")));
}

#[test]
fn rejected_commands_leave_the_state_unchanged() {
    let mut w = World::new();
    w.own("fund", "ETH", "10");
    w.check("v1", req("o1", "fund", "ETH", "4"));
    let before = format!("{:?}", w.state.exposure(&p("fund"), w.now));
    let _ = w.try_check("v1", req("o1", "fund", "ETH", "5"));
    let bad = LimitSpec {
        kind: LimitKind::AssetCap,
        scope: Scope::default(),
        value: d("1"),
        warn_levels_pct: vec![],
    };
    assert!(matches!(
        w.apply(Command::SetLimit {
            at_ms: w.now,
            by: "admin".into(),
            spec: bad,
            expected_version: None,
            force: None,
        }),
        Err(LedgerError::InvalidLimit(_))
    ));
    assert_eq!(before, format!("{:?}", w.state.exposure(&p("fund"), w.now)));
    assert!(w.state.limits().is_empty());
}

#[test]
fn capacity_limits_answer_instead_of_growing() {
    let cfg = LedgerConfig {
        reservations_per_participant_max: 2,
        ..LedgerConfig::default()
    };
    let mut w = World {
        state: State::new(cfg),
        now: 1,
        ..World::new()
    };
    w.own("fund", "ETH", "10");
    w.check("v1", req("o1", "fund", "ETH", "1"));
    w.check("v1", req("o2", "fund", "ETH", "1"));
    assert!(matches!(
        w.try_check("v1", req("o3", "fund", "ETH", "1")),
        Err(LedgerError::CapacityExhausted { .. })
    ));
}

#[test]
fn top_ranks_by_utilization() {
    let mut w = World::new();
    w.own("a", "ETH", "10");
    w.own("b", "ETH", "10");
    w.check("v1", req("o1", "a", "ETH", "2"));
    w.check("v1", req("o2", "b", "ETH", "9"));
    let top = w.state.top(10).unwrap();
    assert_eq!(
        top.iter()
            .map(|e| e.participant.as_str())
            .collect::<Vec<_>>(),
        ["b", "a"]
    );
    assert_eq!(top[0].utilization, Some(d("0.9")));
}

#[test]
fn loosening_beyond_the_step_needs_a_forced_reason_and_is_flagged() {
    let mut w = World::new();
    let spec = |value: &str| LimitSpec {
        kind: LimitKind::MaxCommitment,
        scope: Scope {
            participant: Some(p("fund")),
            asset: Some(a("ETH")),
            ..Scope::default()
        },
        value: d(value),
        warn_levels_pct: vec![],
    };
    let set = |w: &mut World, value: &str, force: Option<&str>| {
        w.apply(Command::SetLimit {
            at_ms: w.now,
            by: "admin".into(),
            spec: spec(value),
            expected_version: None,
            force: force.map(str::to_owned),
        })
    };
    // Creating, tightening, and loosening within 50% need no force.
    set(&mut w, "100", None).unwrap();
    set(&mut w, "40", None).unwrap();
    set(&mut w, "60", None).unwrap();
    // +50.01% is refused, naming the limit and both values.
    let e = set(&mut w, "90.01", None).unwrap_err();
    assert!(matches!(e, LedgerError::LoosensTooFar { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("L1") && text.contains("from 60 to 90.01") && text.contains("50%"),
        "{text}"
    );
    assert_eq!(w.state.limits()[0].spec.value, d("60"));
    // Forced, it passes and the audit log flags it.
    set(&mut w, "1000", Some("new mandate from the board")).unwrap();
    let last = w.state.audit_records(0, 100).pop().unwrap();
    assert!(
        last.outcome.contains("FORCED") && last.outcome.contains("new mandate"),
        "{last:?}"
    );
    // Deleting needs force too.
    let id = w.state.limits()[0].id.clone();
    let del = |w: &mut World, force: Option<&str>| {
        w.apply(Command::DeleteLimit {
            at_ms: w.now,
            by: "admin".into(),
            id: id.clone(),
            force: force.map(str::to_owned),
        })
    };
    assert!(matches!(
        del(&mut w, None),
        Err(LedgerError::LoosensTooFar { .. })
    ));
    del(&mut w, Some("limit retired")).unwrap();
    assert!(w.state.limits().is_empty());
}

/// Full tables of remembered answers do not stop trading: the oldest
/// idempotency record makes room once its order's reservation has ended
/// (released, committed, expired, or none: a rejection), whatever its age,
/// and the reservation that ended first makes room in the reservation
/// table. An answer whose reservation is still open is never forgotten (a
/// retry could reserve beside it), and a table full of them refuses (fail
/// closed).
#[test]
fn full_tables_forget_the_oldest_ended_records_not_open_ones() {
    let mut w = World::new();
    let cfg = LedgerConfig {
        idempotency_keys_max: 3,
        reservations_max: 3,
        max_ttl_ms: 10_000,
        default_ttl_ms: 10_000,
        ..w.state.config().clone()
    };
    w.apply(Command::Configure {
        at_ms: w.now,
        config: cfg,
    })
    .unwrap();
    w.own("fund", "ETH", "100");
    let r1 = w.check("v1", req("o1", "fund", "ETH", "1"));
    w.release("v1", r1.reservation.unwrap()).unwrap();
    w.check("v1", req("o2", "fund", "ETH", "1"));
    w.check("v1", req("o3", "fund", "ETH", "1"));
    // o1's reservation ended: its answer makes room at once, long before
    // the longest TTL.
    let r4 = w.check("v1", req("o4", "fund", "ETH", "1"));
    assert_eq!(r4.verdict, Verdict::Approved);
    w.state.check_invariants().unwrap();
    // Three open reservations: a fifth order is refused, nothing is
    // forgotten; o1, forgotten, is judged anew, and refused the same way.
    for order in ["o5", "o1"] {
        let full = w.try_check("v1", req(order, "fund", "ETH", "1"));
        assert!(
            matches!(
                full,
                Err(LedgerError::CapacityExhausted {
                    what: "idempotency table",
                    ..
                })
            ),
            "{order}: {full:?}"
        );
    }
    assert_eq!(
        w.check("v1", req("o4", "fund", "ETH", "1")),
        r4,
        "o4 remembered"
    );
    // Past the TTL o2 to o4 expire, and their answers may go too.
    w.now += 10_001;
    w.sync(vec![]);
    let again = w.check("v1", req("o1", "fund", "ETH", "1"));
    assert_eq!(again.verdict, Verdict::Approved);
    assert_ne!(again.reservation, r1.reservation, "o1 was judged anew");
    w.state.check_invariants().unwrap();
    // The reservation table made room by forgetting ended reservations.
    assert_eq!(
        w.release("v1", r1.reservation.unwrap()),
        Err(LedgerError::ReservationNotFound)
    );
}

/// Settings may not cap a table below what it holds (the state could no
/// longer be read back from a snapshot under them); the refusal names the
/// setting and changes nothing.
#[test]
fn a_table_cap_below_its_contents_is_refused() {
    let mut w = World::new();
    w.own("fund", "ETH", "10");
    w.check("v1", req("o1", "fund", "ETH", "1"));
    w.check("v1", req("o2", "fund", "ETH", "1"));
    let before = w.state.to_snapshot();
    let smaller = LedgerConfig {
        idempotency_keys_max: 1,
        ..w.state.config().clone()
    };
    let r = w.apply(Command::Configure {
        at_ms: w.now,
        config: smaller,
    });
    assert!(
        matches!(
            r,
            Err(LedgerError::InvalidArgument {
                field: "idempotency_keys_max",
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(w.state.to_snapshot(), before);
    State::from_snapshot(&before).unwrap();
}

fn configure_audit_cap(w: &mut World, audit_records_max: usize) -> Result<Applied, LedgerError> {
    let config = LedgerConfig {
        audit_records_max,
        ..w.state.config().clone()
    };
    w.apply(Command::Configure {
        at_ms: w.now,
        config,
    })
}

/// Refused calls fill at most their share of the audit log, so a flood of
/// them (from many sources, each rate-limited) cannot leave the risk desk
/// unable to halt a participant; a full log is relieved by raising its cap.
#[test]
fn refused_calls_leave_room_in_the_audit_log_for_admin_changes() {
    use interlock_ledger::state::audit_denials_max;
    let mut w = World::new();
    configure_audit_cap(&mut w, 10).unwrap();
    assert_eq!(w.state.audit_len(), 1, "the change of settings is audited");
    let mut refused = None;
    for i in 0..20 {
        let r = w.apply(Command::RecordDenial {
            at_ms: w.now,
            principal: format!("anonymous@10.0.0.{i}"),
            action: "/interlock.v1.AdminService/SetTradingState".into(),
            reason: "UNAUTHENTICATED: unknown token".into(),
        });
        if let Err(e) = r {
            refused = Some(e);
            break;
        }
    }
    assert!(
        matches!(refused, Some(LedgerError::CapacityExhausted { max: 9, .. })),
        "{refused:?}"
    );
    assert_eq!(w.state.audit_len(), audit_denials_max(10));

    // The tenth record is the halt's.
    w.try_trading("fund", TradingState::Halted).unwrap();
    assert_eq!(w.state.audit_len(), 10);
    // A full log refuses other admin changes...
    let before = w.state.to_snapshot();
    let spec = LimitSpec {
        kind: LimitKind::ReuseRatio,
        scope: Scope::default(),
        value: d("2"),
        warn_levels_pct: vec![],
    };
    let r = w.apply(Command::SetLimit {
        at_ms: w.now,
        by: "admin".into(),
        spec,
        expected_version: None,
        force: Some("test".into()),
    });
    assert!(
        matches!(r, Err(LedgerError::CapacityExhausted { max: 10, .. })),
        "{r:?}"
    );
    assert_eq!(
        w.state.to_snapshot(),
        before,
        "a refused change changes nothing"
    );
    // ...but never a halt, reduce-only or resume: they have a reserve.
    w.try_trading("fund", TradingState::Active).unwrap();
    w.try_trading("fund", TradingState::ReduceOnly).unwrap();
    assert_eq!(w.state.audit_len(), 12);
    // ...nor the record of a cluster's membership change, which has
    // already happened.
    let r = w
        .apply(Command::RecordClusterChange {
            at_ms: w.now,
            by: "admin".into(),
            action: "add_node".into(),
            node: 4,
            old_value: "voters 1,2,3".into(),
            new_value: "voters 1,2,3,4".into(),
        })
        .unwrap();
    assert!(
        matches!(r.outcome, Outcome::ClusterChangeRecorded { seq: 13 }),
        "{r:?}"
    );
    let last = w.state.audit_records(12, 1).pop().unwrap();
    assert_eq!(
        (
            last.action.as_str(),
            last.target.as_str(),
            last.outcome.as_str()
        ),
        ("add_node", "node 4", "ok")
    );
    assert_eq!(
        (last.old_value.as_str(), last.new_value.as_str()),
        ("voters 1,2,3", "voters 1,2,3,4")
    );

    configure_audit_cap(&mut w, 20).unwrap();
    w.try_trading("fund", TradingState::Active).unwrap();
    assert_eq!(w.state.audit_len(), 15);
}

/// Archived audit records leave memory; the records after them chain on
/// from the last one's hash, across snapshots, and the whole chain checks.
#[test]
fn archived_audit_records_leave_memory_and_the_chain_goes_on() {
    let mut w = World::new();
    for state in [
        TradingState::Halted,
        TradingState::Active,
        TradingState::Halted,
    ] {
        w.try_trading("fund", state).unwrap();
    }
    let all_before = w.state.audit_records(0, 100);
    assert_eq!(all_before.len(), 3);
    let r = w.apply(Command::ArchiveAudit {
        at_ms: w.now,
        through_seq: 2,
    });
    assert!(r.is_ok(), "{r:?}");
    assert_eq!((w.state.audit_len(), w.state.audit_archived()), (1, 2));
    assert_eq!(w.state.audit_anchor(), all_before[1].hash);
    // Memory answers from the first record it still holds.
    assert_eq!(w.state.audit_records(0, 100), all_before[2..].to_vec());
    w.try_trading("fund", TradingState::Active).unwrap();
    let kept = w.state.audit_records(0, 100);
    assert_eq!(kept.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![3, 4]);
    assert_eq!(kept[1].prev_hash, kept[0].hash);
    // The whole chain, archive then memory, checks from the start.
    let whole: Vec<AuditRecord> = all_before[..2].iter().chain(&kept).cloned().collect();
    assert_eq!(verify_audit_chain(&whole, [0u8; 32]), Ok(()));
    // A snapshot keeps the archived count and the anchor.
    let back = State::from_snapshot(&w.state.to_snapshot()).unwrap();
    assert_eq!(back.to_snapshot(), w.state.to_snapshot());
    assert_eq!(back.audit_anchor(), all_before[1].hash);
    // Archiving what is gone, or what does not exist yet, is refused.
    for through_seq in [2, 5] {
        let r = w.apply(Command::ArchiveAudit {
            at_ms: w.now,
            through_seq,
        });
        assert!(
            matches!(
                r,
                Err(LedgerError::InvalidArgument {
                    field: "through_seq",
                    ..
                })
            ),
            "{r:?}"
        );
    }
}

/// Capping the audit log below what it holds would leave a snapshot that
/// cannot be read back under its own settings.
#[test]
fn the_audit_log_cannot_be_capped_below_what_it_holds() {
    let mut w = World::new();
    for state in [
        TradingState::Halted,
        TradingState::Active,
        TradingState::Halted,
    ] {
        w.try_trading("fund", state).unwrap();
    }
    let held = w.state.audit_len();
    let r = configure_audit_cap(&mut w, held - 1);
    assert!(
        matches!(
            r,
            Err(LedgerError::InvalidArgument {
                field: "audit_records_max",
                ..
            })
        ),
        "{r:?}"
    );
    // At exactly what it holds there is no room for the change's own record.
    let r = configure_audit_cap(&mut w, held);
    assert!(
        matches!(r, Err(LedgerError::CapacityExhausted { .. })),
        "{r:?}"
    );
    configure_audit_cap(&mut w, held + 1).unwrap();
    State::from_snapshot(&w.state.to_snapshot()).unwrap();
}

/// P owns 100, venue-a holds all of it (the reuse cap is full), then the
/// desk sets MAX_COMMITMENT 20: the rejection must name MAX_COMMITMENT,
/// the limit furthest over, since raising the reuse ratio would not help.
#[test]
fn the_rejection_names_the_limit_furthest_over() {
    let mut w = World::new();
    w.own("fund", "ETH", "100");
    w.check("venue-a", req("o1", "fund", "ETH", "100"));
    let mc = w.set_limit(
        LimitKind::MaxCommitment,
        Scope {
            participant: Some(p("fund")),
            asset: Some(a("ETH")),
            ..Scope::default()
        },
        "20",
        &[],
    );
    let (c, alerts) = w.check_alerts("venue-b", req("o2", "fund", "ETH", "1"));
    let named = reason(&c).limit.as_ref().unwrap();
    assert_eq!(named.kind, LimitKind::MaxCommitment);
    assert_eq!(named.id.as_ref(), Some(&mc.id));
    // The admins' alert lists every limit exceeded, hardest first, with
    // exact utilizations.
    let alert = &alerts[0];
    assert_eq!(alert.kind, AlertKind::LimitRejection);
    assert_eq!(alert.limit_id.as_ref(), Some(&mc.id));
    assert_eq!(alert.utilization, Some(d("5.05")));
    assert!(
        alert
            .message
            .contains("MAX_COMMITMENT limit L1 of 20 (utilization 5.05)")
            && alert
                .message
                .contains("REUSE_RATIO limit default of 1 (utilization 1.01)"),
        "{}",
        alert.message
    );
}

/// A request of the smallest quantity on a full cap is a breach, and the
/// utilization admins see says so rather than rounding down to 1.
#[test]
fn a_breach_by_the_smallest_quantity_is_not_rounded_to_the_limit() {
    let mut w = World::new();
    w.own("fund", "ETH", "100");
    w.check("v1", req("o1", "fund", "ETH", "100"));
    let (_, alerts) = w.check_alerts("v1", req("o2", "fund", "ETH", "0.0000000001"));
    assert_eq!(alerts[0].utilization, Some(d("1.000001")));
}

#[test]
fn the_headroom_bucket_counts_orders_of_the_requested_size() {
    let mut w = World::new();
    w.own("fund", "ETH", "100");
    // 100 left before, 1 asked: 99 more of 1 fit.
    assert_eq!(
        w.check("v1", req("o1", "fund", "ETH", "1")).headroom,
        HeadroomBucket::High
    );
    // 99 left, 20 asked: 79 left, 3 more of 20.
    assert_eq!(
        w.check("v1", req("o2", "fund", "ETH", "20")).headroom,
        HeadroomBucket::Medium
    );
    // 79 left, 50 asked: 29 left, under one more of 50.
    assert_eq!(
        w.check("v1", req("o3", "fund", "ETH", "50")).headroom,
        HeadroomBucket::Low
    );
    assert_eq!(
        w.check("v1", req("o4", "fund", "ETH", "29")).headroom,
        HeadroomBucket::None
    );
}

/// ASSET_CAP 120 with another participant holding 100 of it: a participant
/// who owns 100 can reach only 20, and exposure and top say so.
#[test]
fn effective_limit_counts_a_shared_asset_cap() {
    let mut w = World::new();
    w.own("other", "ETH", "1000");
    w.own("fund", "ETH", "100");
    w.set_limit(
        LimitKind::AssetCap,
        Scope {
            asset: Some(a("ETH")),
            ..Scope::default()
        },
        "120",
        &[],
    );
    w.check("v1", req("o1", "other", "ETH", "100"));
    w.check("v1", req("o2", "fund", "ETH", "5"));
    let e = w.state.exposure(&p("fund"), w.now).unwrap().unwrap();
    // Its 5 plus the 15 the cap has left.
    assert_eq!(e.assets[0].effective_limit, d("20"));
    assert_eq!(e.assets[0].utilization, Some(d("0.25")));
    let top = w.state.top(10).unwrap();
    let fund = top.iter().find(|t| t.participant == p("fund")).unwrap();
    assert_eq!(fund.effective_limit, d("20"));
    // The other participant's view of the same cap: 100 + 15.
    let other = top.iter().find(|t| t.participant == p("other")).unwrap();
    assert_eq!(other.effective_limit, d("115"));
    assert_eq!(
        w.check("v1", req("o3", "fund", "ETH", "16")).verdict,
        Verdict::Rejected
    );
}

/// The default TTL asked for by name (none) and by value is one request;
/// a TTL above the maximum is a bad request even under a known order id.
#[test]
fn a_retry_is_judged_on_the_ttl_it_gets_and_bad_ttls_come_first() {
    let mut w = World::new();
    w.own("fund", "ETH", "100");
    let first = w.check("v1", req("o1", "fund", "ETH", "10"));
    let explicit = CheckRequest {
        ttl_ms: Some(LedgerConfig::default().default_ttl_ms),
        ..req("o1", "fund", "ETH", "10")
    };
    assert_eq!(w.check("v1", explicit.clone()), first);
    // And the other way round.
    let second = w.check(
        "v1",
        CheckRequest {
            order_id: OrderId::new("o2").unwrap(),
            ..explicit
        },
    );
    assert_eq!(w.check("v1", req("o2", "fund", "ETH", "10")), second);
    let other_ttl = CheckRequest {
        ttl_ms: Some(1_000),
        ..req("o1", "fund", "ETH", "10")
    };
    assert!(matches!(
        w.try_check("v1", other_ttl),
        Err(LedgerError::IdempotencyConflict { .. })
    ));
    let too_long = CheckRequest {
        ttl_ms: Some(LedgerConfig::default().max_ttl_ms + 1),
        ..req("o1", "fund", "ETH", "10")
    };
    assert!(matches!(
        w.try_check("v1", too_long),
        Err(LedgerError::InvalidArgument {
            field: "ttl_ms",
            ..
        })
    ));
}

/// A snapshot written before the audit archive existed (no archived count
/// and anchor after the records) still reads, as nothing archived.
#[test]
fn a_snapshot_without_the_archive_fields_still_reads() {
    let mut w = World::new();
    w.try_trading("fund", TradingState::Halted).unwrap();
    let bytes = w.state.to_snapshot();
    // The count 0 is one byte (a varint), the anchor 32.
    let older = &bytes[..bytes.len() - 1 - 32];
    let back = State::from_snapshot(older).unwrap();
    assert_eq!(back.to_snapshot(), bytes);
    assert_eq!(back.audit_archived(), 0);
}
