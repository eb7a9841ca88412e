//! Property-based fuzzing of everything that decodes bytes from disk:
//! arbitrary and mutated inputs must be refused with an error, never a
//! panic, never an allocation beyond what the input describes.
//! (Longer runs: `cargo fuzz` targets in `fuzz/`, see its README.)

use interlock_journal::format;
use interlock_journal::sim::SimStorage;
use interlock_journal::Storage;
use interlock_ledger::codec::{from_bytes, to_bytes};
use interlock_ledger::testkit::*;
use interlock_ledger::*;
use proptest::prelude::*;

fn sample_state() -> State {
    let mut w = World::new();
    w.own("fund", "ETH", "100");
    w.set_limit(
        LimitKind::ReuseRatio,
        Scope {
            participant: Some(p("fund")),
            ..Scope::default()
        },
        "2",
        &["80"],
    );
    let first = w.check("v1", req("o1", "fund", "ETH", "120"));
    w.check("v2", req("o2", "fund", "ETH", "500"));
    w.commit("v1", first.reservation.unwrap()).unwrap();
    w.trading("fund", TradingState::ReduceOnly);
    w.venue_rule("aave", LiquidationRule::Morpho);
    w.sync(vec![SyncUpdate::Liability {
        participant: p("fund"),
        venue: v("aave"),
        asset: a("USDC"),
        quantity: d("1000"),
    }]);
    w.apply(Command::SetAssetClass {
        at_ms: w.now,
        by: "admin".into(),
        asset: a("ETH"),
        class: AssetClass::Major,
    })
    .unwrap();
    w.apply(Command::PublishPrices {
        at_ms: w.now,
        oracle: OracleId::new("pyth").unwrap(),
        batch: PriceBatch {
            sequence: 1,
            quotes: vec![PriceQuote {
                asset: a("ETH"),
                price: d("2000"),
                published_ms: w.now,
            }],
        },
    })
    .unwrap();
    w.state
}

fn sample_commands() -> Vec<Command> {
    vec![
        Command::Check {
            at_ms: 5,
            venue: v("v1"),
            request: req("o1", "fund", "ETH", "1.5"),
        },
        Command::Tick { at_ms: -3 },
        Command::RecordClusterChange {
            at_ms: 6,
            by: "alice".into(),
            action: "add_node".into(),
            node: 4,
            old_value: "voters 1,2,3".into(),
            new_value: "voters 1,2,3,4; node 4 at 127.0.0.1:7404 (api 127.0.0.1:50054)".into(),
        },
        Command::Sync {
            at_ms: 4,
            broker: b("prime-1"),
            batch: SyncBatch {
                sequence: 2,
                updates: vec![SyncUpdate::Liability {
                    participant: p("fund"),
                    venue: v("aave"),
                    asset: a("USDC"),
                    quantity: d("1000"),
                }],
            },
        },
        Command::SetTradingState {
            at_ms: 9,
            by: "admin".into(),
            participant: p("fund"),
            state: TradingState::Halted,
            reason: "stress".into(),
        },
        Command::Configure {
            at_ms: 1,
            config: LedgerConfig::default(),
        },
        Command::PublishPrices {
            at_ms: 7,
            oracle: OracleId::new("pyth").unwrap(),
            batch: PriceBatch {
                sequence: 3,
                quotes: vec![PriceQuote {
                    asset: a("ETH"),
                    price: d("2000.5"),
                    published_ms: 6,
                }],
            },
        },
        Command::SetAssetClass {
            at_ms: 8,
            by: "admin".into(),
            asset: a("USDC"),
            class: AssetClass::Stable,
        },
        Command::SetStressGuard {
            at_ms: 11,
            by: "admin".into(),
            participant: p("fund"),
            min_venues: Some(2),
        },
        Command::SetScenario {
            at_ms: 10,
            by: "admin".into(),
            name: "TIERS_2026".into(),
            scenario: Some(Scenario {
                source: "the desk".into(),
                by_class: [None, Some(d("-0.4")), None],
                by_asset: vec![(a("ETH"), d("-0.45"))],
            }),
        },
        Command::ConfigurePrices {
            at_ms: 2,
            rules: PriceRules::default(),
        },
        Command::SetVenueAsset {
            at_ms: 3,
            by: "admin".into(),
            venue: v("aave"),
            asset: a("ETH"),
            params: VenueAssetParams {
                threshold: d("0.83"),
                ltv: Some(d("0.8")),
            },
        },
        Command::SetHaircut {
            at_ms: 4,
            by: "admin".into(),
            asset: a("ETH"),
            haircut: Some(d("0.17")),
            force: None,
        },
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(cmd) = from_bytes::<Command>(&bytes) {
            // One encoding per value.
            prop_assert_eq!(to_bytes(&cmd), bytes.clone());
        }
        let _ = State::from_snapshot(&bytes);
        let _ = format::scan_records(&bytes, 0);
        let _ = format::valid_record_after(&bytes, 0);
        let _ = format::read_snapshot_file(&bytes);
        let _ = format::read_segment_header(&bytes);
    }

    #[test]
    fn mutated_commands_never_panic(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let cmd = &sample_commands()[which];
        let mut bytes = to_bytes(cmd);
        prop_assert_eq!(&from_bytes::<Command>(&bytes).unwrap(), cmd);
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        if let Ok(c) = from_bytes::<Command>(&bytes) {
            prop_assert_eq!(to_bytes(&c), bytes.clone());
        }
        let _ = from_bytes::<Command>(&bytes[..cut.index(bytes.len() + 1)]);
    }

    #[test]
    fn mutated_snapshots_never_panic_and_are_refused_or_consistent(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let state = sample_state();
        let mut bytes = state.to_snapshot();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        if let Ok(s) = State::from_snapshot(&bytes) {
            // Accepted only if whole and consistent.
            prop_assert!(s.check_invariants().is_ok());
        }
    }

    #[test]
    fn recovery_of_arbitrary_files_never_panics(
        files in proptest::collection::vec(
            (0u8..3, 0u64..4, proptest::collection::vec(any::<u8>(), 0..300)),
            0..4,
        ),
    ) {
        let disk = SimStorage::new();
        for (kind, lsn, mut body) in files {
            let name = match kind {
                0 => {
                    // Give some files a valid header so the record parser runs.
                    let mut f = format::segment_header(lsn + 1);
                    f.append(&mut body);
                    body = f;
                    format::segment_name(lsn + 1)
                }
                1 => format::segment_name(lsn + 1),
                _ => format::snapshot_name(lsn),
            };
            let mut f = disk.create(&name).unwrap();
            f.write_all(&body).unwrap();
            f.sync().unwrap();
        }
        disk.sync_dir().unwrap();
        let _ = interlock_journal::recover::recover(&disk, LedgerConfig::default());
    }
}
