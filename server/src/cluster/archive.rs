//! The audit archive of a cluster's node. Each node keeps its own: its state
//! machine writes the records each `Command::ArchiveAudit` takes out of
//! memory. A node that a snapshot took past archived records it never
//! applied (a new node, one far behind, one whose data directory was
//! replaced) lacks them: [`Copier`] walks its archive from the first record,
//! copies each gap from a peer (the leader first), and checks every record
//! against the hash chain before writing it. Until the archive is whole,
//! reads of the missing part on this node answer UNAVAILABLE.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use interlock_journal::JournalError;
use interlock_ledger::AuditRecord;

use super::service::READ_AUDIT_MAX;
use super::Node;

/// How often a node looks for archived records it lacks, and how long it
/// waits after a failed attempt.
pub const COPY_EVERY: Duration = Duration::from_secs(1);
pub const COPY_RETRY_AFTER: Duration = Duration::from_secs(10);
/// Most records read from this node's own archive at once.
pub const LOCAL_READ_MAX: usize = 4096;

/// How far this node's archive is known whole, carried between walks.
pub struct Copier {
    node: Arc<Node>,
    /// Every record up to this seq is present and chained...
    through: u64,
    /// ...and this is the last one's hash (zeros before the first).
    hash: [u8; 32],
}

impl Copier {
    pub fn new(node: Arc<Node>) -> Copier {
        Copier {
            node,
            through: 0,
            hash: [0; 32],
        }
    }

    /// Walks until `stopping`, every [`COPY_EVERY`].
    pub async fn run(mut self, mut stopping: tokio::sync::watch::Receiver<bool>) {
        loop {
            let wait = match self.step().await {
                Ok(()) => COPY_EVERY,
                Err(e) => {
                    tracing::error!(
                        error = %e,
                        whole_through = self.through,
                        "the audit archive could not be made whole; trying again"
                    );
                    COPY_RETRY_AFTER
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stopping.changed() => return,
            }
            if *stopping.borrow() {
                return;
            }
        }
    }

    /// Makes the archive whole up to the ledger's archived count: reads
    /// what is on disk, copies what is not, and checks that the last
    /// record is the one the ledger chains on from.
    pub async fn step(&mut self) -> Result<(), String> {
        let (archived, anchor) = self
            .node
            .machine
            .ledger()
            .read(|s| (s.audit_archived(), s.audit_anchor()))
            .map_err(|e| e.to_string())?;
        let started = self.through;
        let mut copied = 0;
        while self.through < archived {
            let archive = self.node.archive.clone();
            let after = self.through;
            let local =
                tokio::task::spawn_blocking(move || archive.read(after, archived, LOCAL_READ_MAX))
                    .await
                    .map_err(|e| e.to_string())?;
            let records = match local {
                Ok(records) => records,
                Err(JournalError::Missing { found, .. }) => {
                    let gap_end = if found == 0 || found > archived {
                        archived
                    } else {
                        found - 1
                    };
                    let max = (gap_end - after).min(u64::from(READ_AUDIT_MAX)) as u32;
                    let records = self.copy(after, max).await?;
                    copied += records.len();
                    records
                }
                Err(e) => return Err(format!("the audit archive: {e}")),
            };
            if records.is_empty() {
                return Err(format!("no audit record after seq {after}"));
            }
            if let Err(e) = self.chain(&records) {
                self.reset();
                return Err(e);
            }
        }
        if self.hash != anchor {
            let at = self.through;
            self.reset();
            return Err(format!(
                "the archive's record {at} is not the one the ledger chains on from"
            ));
        }
        // Said once after start, and after each copy; archiving as usual
        // is not news.
        if copied > 0 || (started == 0 && self.through > 0) {
            tracing::info!(
                whole_through = self.through,
                copied,
                "the audit archive is whole"
            );
        }
        Ok(())
    }

    /// Records after `after` from the first peer that has them, checked
    /// against the chain and written to this node's archive.
    async fn copy(&self, after: u64, max: u32) -> Result<Vec<AuditRecord>, String> {
        let mut tried = Vec::new();
        for (id, peer) in self.node.peers() {
            let records = match self.node.network.read_audit(&peer, after, max).await {
                // Never more than the gap: past it this node has its own.
                Ok(mut r) => {
                    r.truncate(max as usize);
                    r
                }
                Err(e) => {
                    tried.push(format!("node {id}: {e}"));
                    continue;
                }
            };
            if let Err(e) = links(&records, after, self.hash) {
                tried.push(format!("node {id}: {e}"));
                continue;
            }
            let archive = self.node.archive.clone();
            let written = records.clone();
            tokio::task::spawn_blocking(move || archive.write(&written))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("the audit archive: {e}"))?;
            tracing::info!(
                node = id,
                first = after + 1,
                records = records.len(),
                "copied archived audit records"
            );
            return Ok(records);
        }
        Err(format!(
            "no peer gave audit records after seq {after}: {}",
            tried.join("; ")
        ))
    }

    /// Extends the whole part with `records`.
    fn chain(&mut self, records: &[AuditRecord]) -> Result<(), String> {
        links(records, self.through, self.hash)?;
        let last = records.last().expect("checked non-empty");
        self.through = last.seq;
        self.hash = last.hash;
        self.node
            .audit_copied
            .store(self.through, Ordering::Release);
        Ok(())
    }

    fn reset(&mut self) {
        self.through = 0;
        self.hash = [0; 32];
        self.node.audit_copied.store(0, Ordering::Release);
    }
}

/// Whether `records` continue the chain after the record `after`, whose
/// hash is `prev`: consecutive seqs, each linked to the one before, each
/// hash its content's.
fn links(records: &[AuditRecord], after: u64, prev: [u8; 32]) -> Result<(), String> {
    if let Some((i, r)) = (1..).zip(records).find(|(i, r)| r.seq != after + i) {
        return Err(format!("record {} says seq {}", after + i, r.seq));
    }
    interlock_ledger::verify_audit_chain(records, prev)
        .map_err(|seq| format!("record {seq} does not continue the hash chain"))
}
