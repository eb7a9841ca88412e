//! Property-based fuzzing of request validation and of the ledger behind
//! it: arbitrary field values are either accepted as valid domain values or
//! refused naming a known field; nothing panics, including arithmetic on
//! the largest quantities a client may send.

use interlock::v1 as pb;
use interlock_ledger::{Command, Ledger, LedgerConfig, Outcome, VenueId};
use interlock_server::convert;
use proptest::prelude::*;

const FIELDS: &[&str] = &[
    "order_id",
    "participant",
    "asset",
    "quantity",
    "ttl_ms",
    "liability",
    "sequence",
    "updates",
    "venue",
    "covers_commit_seq",
    "kind",
    "scope",
    "scope.participant",
    "scope.venue",
    "scope.asset",
    "value",
    "warn_levels_pct",
    "update",
    "force_reason",
];

/// Strings near the edges: digits, dots, signs, exponents, long runs,
/// control and non-ASCII characters.
fn edgy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{0,20}(\\.[0-9]{0,14})?",
        "[-+eE.0-9NaInf ]{0,12}",
        "[a-zA-Z0-9_-]{0,70}",
        any::<String>(),
        Just("999999999999999.9999999999".to_owned()),
        Just(String::new()),
    ]
}

fn field_ok(f: &str) -> bool {
    FIELDS.iter().any(|k| f.starts_with(k))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn check_requests_are_validated_and_judged_without_panic(
        order in edgy(), participant in edgy(), asset in edgy(), quantity in edgy(),
        ttl in any::<u64>(), flags in any::<(bool, bool, bool)>(), liability in edgy(),
    ) {
        let r = pb::CheckRequest {
            order_id: order,
            participant,
            asset,
            quantity,
            ttl_ms: ttl,
            risk_reducing: flags.0,
            dry_run: flags.1,
            allow_partial: flags.2,
            liability,
        };
        match convert::check_request(r) {
            Err(e) => prop_assert!(field_ok(e.field), "unknown field {}", e.field),
            Ok(request) => {
                let ledger = Ledger::new(LedgerConfig::default());
                let (result, _) = ledger.apply(Command::Check {
                    at_ms: 1,
                    venue: VenueId::new("v").unwrap(),
                    request,
                });
                if let Ok(a) = result {
                    prop_assert!(matches!(a.outcome, Outcome::Check(_)));
                }
            }
        }
    }

    #[test]
    fn sync_and_limit_requests_are_validated_without_panic(
        seq in any::<u64>(), p in edgy(), a in edgy(), q in edgy(), v in edgy(),
        kind in any::<i32>(), value in edgy(), warn in proptest::collection::vec(edgy(), 0..10),
    ) {
        let sync = pb::SyncRequest {
            sequence: seq,
            updates: vec![
                pb::SyncUpdate { update: Some(pb::sync_update::Update::Collateral(pb::CollateralUpdate {
                    participant: p.clone(), asset: a.clone(), quantity: q.clone(),
                })) },
                pb::SyncUpdate { update: Some(pb::sync_update::Update::Commitment(pb::CommitmentUpdate {
                    participant: p.clone(), venue: v.clone(), asset: a.clone(), quantity: q, covers_commit_seq: seq,
                })) },
                pb::SyncUpdate { update: None },
            ],
        };
        if let Err(e) = convert::sync_batch(sync) {
            prop_assert!(field_ok(e.field), "unknown field {}", e.field);
        }
        let limit = pb::SetLimitRequest {
            kind,
            scope: Some(pb::Scope { participant: p, venue: v, asset: a }),
            value,
            warn_levels_pct: warn,
            expected_version: None,
            force_reason: String::new(),
        };
        if let Err(e) = convert::limit_spec(limit) {
            prop_assert!(field_ok(e.field), "unknown field {}", e.field);
        }
    }
}
