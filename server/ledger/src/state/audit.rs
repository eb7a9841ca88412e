//! The audit log: records chained by hash, the oldest moved to an archive
//! on disk so that memory stays bounded.
//!
//! The ledger keeps the newest records in memory (at most
//! `audit_records_max`, plus [`AUDIT_TRADING_STATE_RESERVE`] that only
//! trading-state changes may use). The server writes the oldest ones to
//! archive files and then applies [`Command::ArchiveAudit`]: the records
//! leave memory, and the hash of the last one becomes the anchor the
//! records in memory chain on from. The chain is unbroken across the two:
//! `interlockctl audit verify` reads the archive and memory through
//! `ListAudit` and checks every link from the first record.
//!
//! [`Command::ArchiveAudit`]: crate::Command::ArchiveAudit

use super::{audit_denials_max, State};
use crate::command::{AuditRecord, Outcome, UnixMs};
use crate::error::LedgerError;

/// Audit records beyond `audit_records_max` that only a halt, reduce-only
/// or resume may use: the ecosystem's kill switch is never refused for lack
/// of audit room, even before the archive has caught up.
pub const AUDIT_TRADING_STATE_RESERVE: usize = 10_000;

/// Most audit records memory may hold: the cap plus the reserve.
pub fn audit_records_hard_max(audit_records_max: usize) -> usize {
    audit_records_max.saturating_add(AUDIT_TRADING_STATE_RESERVE)
}

impl State {
    pub(super) fn audit(
        &mut self,
        at: UnixMs,
        by: &str,
        action: &str,
        target: String,
        old_value: String,
        new_value: String,
    ) {
        self.audit_with_outcome(
            at,
            by,
            action,
            target,
            old_value,
            new_value,
            "ok".to_owned(),
        );
    }

    /// Appends an audit record, chained to the one before (in memory, or
    /// the archive's last).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn audit_with_outcome(
        &mut self,
        at: UnixMs,
        by: &str,
        action: &str,
        target: String,
        old_value: String,
        new_value: String,
        outcome: String,
    ) -> u64 {
        let seq = self.audit_archived + self.audit.len() as u64 + 1;
        let prev_hash = self.audit.back().map_or(self.audit_anchor, |r| r.hash);
        let mut record = AuditRecord {
            seq,
            at_ms: at,
            principal: by.to_owned(),
            action: action.to_owned(),
            target,
            old_value,
            new_value,
            outcome,
            prev_hash,
            hash: [0u8; 32],
        };
        record.hash = record.compute_hash();
        self.audit.push_back(record);
        seq
    }

    /// Records a refused call in the audit log.
    pub(super) fn record_denial(
        &mut self,
        at: UnixMs,
        principal: &str,
        action: &str,
        reason: &str,
    ) -> Result<Outcome, LedgerError> {
        self.ensure_capacity(
            self.audit.len(),
            audit_denials_max(self.cfg.audit_records_max),
            "audit log's share for refused calls",
        )?;
        let seq = self.audit_with_outcome(
            at,
            principal,
            action,
            String::new(),
            String::new(),
            String::new(),
            format!("denied: {reason}"),
        );
        Ok(Outcome::DenialRecorded { seq })
    }

    /// Records a change of a cluster's membership. Like a halt, it may use
    /// the reserve beyond the cap: the change has already happened.
    pub(super) fn record_cluster_change(
        &mut self,
        at: UnixMs,
        by: &str,
        action: &str,
        node: u64,
        old_value: &str,
        new_value: &str,
    ) -> Result<Outcome, LedgerError> {
        self.ensure_capacity(
            self.audit.len(),
            audit_records_hard_max(self.cfg.audit_records_max),
            "audit log (with its reserve for trading-state and cluster changes)",
        )?;
        let seq = self.audit_with_outcome(
            at,
            by,
            action,
            format!("node {node}"),
            old_value.to_owned(),
            new_value.to_owned(),
            "ok".to_owned(),
        );
        Ok(Outcome::ClusterChangeRecorded { seq })
    }

    /// Drops the records up to `through_seq` from memory: the archive on
    /// disk holds them (the server wrote and synced them first).
    pub(super) fn archive_audit(&mut self, through_seq: u64) -> Result<Outcome, LedgerError> {
        let last = self.audit_archived + self.audit.len() as u64;
        if through_seq <= self.audit_archived || through_seq > last {
            return Err(LedgerError::InvalidArgument {
                field: "through_seq",
                reason: format!(
                    "must be after the archived records ({}) and at most the last record ({last})",
                    self.audit_archived
                ),
            });
        }
        let n = (through_seq - self.audit_archived) as usize;
        let anchor = self.audit[n - 1].hash;
        self.audit.drain(..n);
        self.audit_archived = through_seq;
        self.audit_anchor = anchor;
        Ok(Outcome::AuditArchived { through_seq })
    }

    /// Audit records in memory with `seq > after`, at most `n` (records up
    /// to [`State::audit_archived`] are in the archive).
    pub fn audit_records(&self, after: u64, n: usize) -> Vec<AuditRecord> {
        let skip = usize::try_from(after.saturating_sub(self.audit_archived)).unwrap_or(usize::MAX);
        self.audit.iter().skip(skip).take(n).cloned().collect()
    }

    /// The oldest `n` audit records in memory, for the archive.
    pub fn audit_oldest(&self, n: usize) -> Vec<AuditRecord> {
        self.audit.iter().take(n).cloned().collect()
    }

    /// How many audit records were moved to the archive (seq 1..=this).
    pub fn audit_archived(&self) -> u64 {
        self.audit_archived
    }

    /// The hash of the last archived record (zeros if none).
    pub fn audit_anchor(&self) -> [u8; 32] {
        self.audit_anchor
    }

    /// The sequence number of the newest audit record (0: none).
    pub fn audit_last_seq(&self) -> u64 {
        self.audit_archived + self.audit.len() as u64
    }
}
