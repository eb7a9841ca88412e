//! The audit log: one record per acknowledged admin change and per refused
//! call, hash-chained, surviving restarts without loss or duplicates, and
//! any altered byte is caught.

mod common;
use common::*;
use interlock_client::pb;
use tonic::Code;

fn config_in(dir: &std::path::Path) -> interlock_server::Config {
    let mut c = interlock_server::Config::dev_for_tests();
    c.data_dir = dir.to_path_buf();
    c
}

fn ratio(p: &str) -> pb::SetLimitRequest {
    pb::SetLimitRequest {
        kind: pb::LimitKind::ReuseRatio.into(),
        scope: Some(pb::Scope {
            participant: p.into(),
            ..Default::default()
        }),
        value: "2".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn every_change_and_every_refusal_is_chained_and_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(config_in(dir.path())).await;
    let admin = s.admin().await;
    admin.set_limit(ratio("fund")).await.unwrap();
    admin
        .set_trading_state("fund", pb::TradingState::Halted, "desk")
        .await
        .unwrap();
    // Refused calls: a venue at an admin call, no token, a bad token.
    let venue = s.client("dev-venue-a").await;
    assert_eq!(
        code(venue.set_limit(ratio("x")).await.unwrap_err()),
        Code::PermissionDenied
    );
    let anon = interlock_client::Client::connect(&s.endpoint, None)
        .await
        .unwrap();
    assert_eq!(
        code(anon.list_limits().await.unwrap_err()),
        Code::Unauthenticated
    );
    // A refused change (a failed version check) is not a change: no record.
    let stale = pb::SetLimitRequest {
        expected_version: Some(9),
        ..ratio("fund")
    };
    assert_eq!(
        code(admin.set_limit(stale).await.unwrap_err()),
        Code::FailedPrecondition
    );

    let records = admin.audit(0, 100).await.unwrap();
    let summary: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|r| (r.principal.as_str(), r.action.as_str(), r.outcome.as_str()))
        .collect();
    assert_eq!(summary.len(), 4, "{summary:#?}");
    assert_eq!(summary[0], ("admin", "set_limit", "ok"));
    assert_eq!(summary[1], ("admin", "set_trading_state", "ok"));
    assert_eq!(summary[2].0, "venue:venue-a");
    assert_eq!(summary[2].1, "interlock.v1.AdminService/SetLimit");
    assert!(
        summary[2].2.starts_with("denied: PERMISSION_DENIED"),
        "{summary:?}"
    );
    assert!(summary[3].0.starts_with("anonymous@"));
    assert!(summary[3]
        .2
        .starts_with("denied: UNAUTHENTICATED: missing bearer token"));
    let (n, head) = admin.audit_verify().await.unwrap();
    assert_eq!(n, 4);
    s.stop().await;

    // After a restart: the same records, the same chain, nothing doubled;
    // new records extend it.
    let s = start_with(config_in(dir.path())).await;
    let admin = s.admin().await;
    assert_eq!(admin.audit(0, 100).await.unwrap(), records);
    assert_eq!(admin.audit_verify().await.unwrap(), (4, head));
    admin.set_limit(ratio("other")).await.unwrap();
    let (n, _) = admin.audit_verify().await.unwrap();
    assert_eq!(n, 5);
    let five = admin.audit(0, 100).await.unwrap();
    assert_eq!(five[4].prev_hash, five[3].hash);
    s.stop().await;
}

#[test]
fn any_altered_byte_breaks_the_chain() {
    use interlock_ledger::{verify_audit_chain, AuditRecord};
    let mut records: Vec<AuditRecord> = Vec::new();
    for (i, (who, what)) in [
        ("admin", "set_limit"),
        ("venue:v", "denied"),
        ("admin", "halt"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = AuditRecord {
            seq: i as u64 + 1,
            at_ms: 1_700_000_000_000 + i as i64,
            principal: who.into(),
            action: what.into(),
            target: "L1".into(),
            old_value: "value=1".into(),
            new_value: "value=2".into(),
            outcome: "ok".into(),
            prev_hash: records.last().map_or([0; 32], |r| r.hash),
            hash: [0; 32],
        };
        r.hash = r.compute_hash();
        records.push(r);
    }
    assert_eq!(verify_audit_chain(&records, [0; 32]), Ok(()));
    let mut flips = 0;
    for i in 0..records.len() {
        let fields = 6;
        for f in 0..fields {
            let mut bad = records.clone();
            let s = match f {
                0 => &mut bad[i].principal,
                1 => &mut bad[i].action,
                2 => &mut bad[i].target,
                3 => &mut bad[i].old_value,
                4 => &mut bad[i].new_value,
                _ => &mut bad[i].outcome,
            };
            let mut b = std::mem::take(s).into_bytes();
            b[0] ^= 0x01;
            *s = String::from_utf8(b).unwrap();
            assert_eq!(verify_audit_chain(&bad, [0; 32]), Err(i as u64 + 1));
            flips += 1;
        }
        for byte in 0..32 {
            let mut bad = records.clone();
            bad[i].hash[byte] ^= 0x80;
            assert!(verify_audit_chain(&bad, [0; 32]).is_err());
            let mut bad = records.clone();
            bad[i].at_ms ^= 1 << (byte % 16);
            assert!(verify_audit_chain(&bad, [0; 32]).is_err());
            flips += 2;
        }
    }
    // Dropping or swapping a record breaks it too.
    let mut dropped = records.clone();
    dropped.remove(1);
    assert!(verify_audit_chain(&dropped, [0; 32]).is_err());
    records.swap(0, 1);
    assert!(verify_audit_chain(&records, [0; 32]).is_err());
    assert!(flips > 200);
}

/// An audit record altered on disk, with the file's checksum fixed up to
/// hide it, is still caught: the server refuses to start.
#[tokio::test]
async fn an_audit_record_altered_on_disk_refuses_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(config_in(dir.path())).await;
    s.admin()
        .await
        .set_trading_state("fund", pb::TradingState::Halted, "margin-call-7")
        .await
        .unwrap();
    s.stop().await; // writes a snapshot holding the record
    let snap = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "snap"))
        .unwrap();
    let mut bytes = std::fs::read(&snap).unwrap();
    let at = bytes
        .windows(13)
        .position(|w| w == b"margin-call-7")
        .expect("the reason is in the snapshot");
    bytes[at + 12] = b'8';
    // Fix the checksum (crc32 of the body, at byte 24 of the header).
    let crc = crc32fast::hash(&bytes[28..]);
    bytes[24..28].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&snap, &bytes).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let e = interlock_server::serve(config_in(dir.path()), listener, async {})
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("hash chain"), "{e}");
}

#[tokio::test]
async fn loosening_past_the_step_is_refused_unless_forced_and_flagged() {
    let s = start_server().await;
    let admin = s.admin().await;
    admin.set_limit(ratio("fund")).await.unwrap(); // 2
    let loose = pb::SetLimitRequest {
        value: "5".into(),
        ..ratio("fund")
    };
    let e = admin.set_limit(loose.clone()).await.unwrap_err();
    assert!(
        message(&e).contains("from 2 to 5") && message(&e).contains("force"),
        "{e}"
    );
    assert_eq!(code(e), Code::FailedPrecondition);
    let l = admin
        .set_limit(pb::SetLimitRequest {
            force_reason: "committee approval 2026-11".into(),
            ..loose
        })
        .await
        .unwrap();
    assert_eq!((l.value.as_str(), l.version), ("5", 2));
    let last = admin.audit(0, 100).await.unwrap().pop().unwrap();
    assert!(
        last.outcome.contains("FORCED") && last.outcome.contains("committee"),
        "{last:?}"
    );
    let e = admin.delete_limit(&l.id, "").await.unwrap_err();
    assert_eq!(code(e), Code::FailedPrecondition);
    admin.delete_limit(&l.id, "retired").await.unwrap();
    s.stop().await;
}

fn code_of(e: &interlock_client::ClientError) -> Option<Code> {
    match e {
        interlock_client::ClientError::Status(s) => Some(s.code()),
        _ => None,
    }
}

/// The audit log past its memory cap: the oldest records move to archive
/// files, admin changes go on, a halt is never refused, and the whole chain
/// (archive and memory) reads back through ListAudit and verifies, across a
/// restart. An archive that does not match refuses start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_audit_log_archives_and_a_halt_still_passes() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.audit_records_max = 100;
    config.tick_interval_ms = 5;
    let s = start_with(config.clone()).await;
    let admin = s.admin().await;
    let changes = 400u64;
    for i in 0..changes {
        // Should archiving (a synced file per batch) fall behind on a
        // loaded machine, a change is refused until it catches up: retry.
        let started = std::time::Instant::now();
        loop {
            match admin.set_limit(ratio(&format!("fund-{i}"))).await {
                Ok(_) => break,
                Err(e) if code_of(&e) == Some(Code::ResourceExhausted) => {
                    assert!(
                        started.elapsed() < std::time::Duration::from_secs(10),
                        "archiving never caught up: {e}"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
    admin
        .set_trading_state("fund-1", pb::TradingState::Halted, "margin call")
        .await
        .unwrap();
    let archived = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("audit-")
        })
        .count();
    assert!(archived > 0, "no archive file");
    // The first records come from the archive.
    let first = admin.audit(0, 3).await.unwrap();
    assert_eq!(
        first.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    // The limits and the halt.
    let (n, head) = admin.audit_verify().await.unwrap();
    assert_eq!(n, changes + 1);
    drop(admin);
    s.stop().await;

    let s = start_with(config.clone()).await;
    let admin = s.admin().await;
    let (n2, head2) = admin.audit_verify().await.unwrap();
    assert_eq!((n2, head2), (n, head), "the same chain after a restart");
    drop(admin);
    s.stop().await;

    // Damage the newest archive file, which holds the record the ledger's
    // memory chains on from: start-up is refused, naming the archive.
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("audit-")
        })
        .collect();
    files.sort();
    let newest = files.last().unwrap();
    let mut bytes = std::fs::read(newest).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 0xff;
    std::fs::write(newest, bytes).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let e = interlock_server::serve(config, listener, std::future::pending())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("audit archive"), "{e:#}");
}
