//! The audit archive around the ledger: moving the oldest records out of
//! memory, checking at start that the archive ends where the ledger says,
//! and reading the log whole (archive, then memory).
//!
//! On a single node the server writes a batch and then applies
//! `Command::ArchiveAudit`; on a cluster the leader only proposes the
//! command and every node's state machine writes the batch to its own
//! archive before applying it (`interlock_replication::StateMachine::
//! archive_audit_to`), and `cluster::archive` copies from a peer what a
//! snapshot took a node past.

use std::sync::Arc;

use interlock_journal::audit::AuditArchive;
use interlock_journal::JournalError;
use interlock_ledger::{AuditRecord, Command, Ledger};
use tonic::Status;

use crate::api::Shared;

/// Audit records memory may hold before the oldest go to the archive (a
/// share of `--audit-records-max`, in percent), and down to which share
/// archiving goes.
pub const AUDIT_ARCHIVE_AT_PCT: usize = 50;
pub const AUDIT_ARCHIVE_DOWN_TO_PCT: usize = 25;
/// Most audit records archived at once: they are copied under the ledger's
/// lock (about 0.3 µs each), so a batch holds it for about a millisecond.
pub const AUDIT_ARCHIVE_BATCH_MAX: usize = 4096;

/// Refuses to start if the archive does not end where the ledger says it
/// does: its last record must be the ledger's anchor (the hash the audit
/// records in memory chain on from). A single node's check: a cluster's
/// node copies what it lacks from its peers instead (`cluster::archive`).
pub fn check_archive(ledger: &Ledger, archive: &AuditArchive) -> anyhow::Result<()> {
    let (archived, anchor) = ledger
        .read(|s| (s.audit_archived(), s.audit_anchor()))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if archived == 0 {
        return Ok(());
    }
    let last = archive
        .read(archived - 1, archived, 1)
        .map_err(|e| anyhow::anyhow!("the audit archive: {e}"))?;
    anyhow::ensure!(
        last.first().is_some_and(|r| r.hash == anchor),
        "the audit archive's record {archived} is not the one the ledger chains on from: restore the audit-*.log files from a backup"
    );
    Ok(())
}

/// Moves the oldest audit records to the archive while memory holds more
/// than `AUDIT_ARCHIVE_AT_PCT` of the cap: on a single node written and
/// synced here first, then `Command::ArchiveAudit` takes them out of
/// memory; on a cluster (the leader only) the command alone, which every
/// node's state machine writes before it applies.
pub async fn archive_oldest(shared: &Shared, archive: &Arc<AuditArchive>) -> anyhow::Result<()> {
    let write_here = match &shared.cluster {
        None => true,
        Some(node) if node.is_leader() => false,
        Some(_) => return Ok(()),
    };
    loop {
        let (held, max, archived) = shared
            .ledger
            .read(|s| {
                (
                    s.audit_len(),
                    s.config().audit_records_max,
                    s.audit_archived(),
                )
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let (at, down_to) = (
            max / 100 * AUDIT_ARCHIVE_AT_PCT,
            max / 100 * AUDIT_ARCHIVE_DOWN_TO_PCT,
        );
        if held < at.max(1) {
            return Ok(());
        }
        let n = (held - down_to).min(AUDIT_ARCHIVE_BATCH_MAX);
        let through_seq = if write_here {
            let batch = shared
                .ledger
                .read(|s| s.audit_oldest(n))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let archive = archive.clone();
            tokio::task::spawn_blocking(move || archive.write(&batch)).await??
        } else {
            archived + n as u64
        };
        let at_ms = shared.clock.now_ms();
        shared
            .apply(Command::ArchiveAudit { at_ms, through_seq })
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        if held - n < at {
            return Ok(());
        }
    }
}

/// Audit records with `seq > after`, at most `n`: from the archive on disk,
/// then from memory. What memory holds and how far the archive goes are
/// read together, so no record falls between the two. `missing` says what a
/// record absent from the archive means here.
pub async fn page(
    ledger: &Ledger,
    archive: Option<&Arc<AuditArchive>>,
    after: u64,
    n: usize,
    missing: impl FnOnce(JournalError) -> Status,
) -> Result<Vec<AuditRecord>, Status> {
    let (archived, in_memory) = ledger
        .read(|s| (s.audit_archived(), s.audit_records(after, n)))
        .map_err(crate::convert::status)?;
    if after >= archived {
        return Ok(in_memory);
    }
    let Some(archive) = archive.cloned() else {
        return Err(Status::internal(
            "audit records archived, but no archive is open",
        ));
    };
    let mut out = match tokio::task::spawn_blocking(move || archive.read(after, archived, n))
        .await
        .map_err(|e| Status::internal(format!("reading the audit archive: {e}")))?
    {
        Ok(out) => out,
        Err(e @ JournalError::Missing { .. }) => return Err(missing(e)),
        Err(e) => return Err(Status::data_loss(format!("the audit archive: {e}"))),
    };
    let room = n - out.len();
    out.extend(in_memory.into_iter().take(room));
    Ok(out)
}
