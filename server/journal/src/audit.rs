//! The audit archive: audit records that left the ledger's memory, in files
//! beside the journal, so that the audit log is kept whole while memory
//! stays bounded.
//!
//! Each batch is one file, `audit-<first seq>.log`, laid out like a journal
//! segment (a checksummed header, then checksummed records whose sequence
//! number is the record's `seq`), written to a temporary file, synced and
//! renamed into place before the ledger is told
//! (`Command::ArchiveAudit`). A batch whose command never made it (a crash
//! in between) is written again under the same name, which replaces it;
//! records past the ledger's archived count are never read. Files are
//! kept for good: they are the audit trail. Recovery and snapshots ignore
//! them (their names are neither segments nor snapshots).

use std::sync::Arc;

use interlock_ledger::codec::{from_bytes, to_bytes};
use interlock_ledger::AuditRecord;

use crate::format;
use crate::storage::Storage;
use crate::JournalError;

const PREFIX: &str = "audit-";
const SUFFIX: &str = ".log";
const TMP_SUFFIX: &str = ".tmp";

/// The file holding a batch that starts at `first_seq`.
pub fn archive_name(first_seq: u64) -> String {
    format!("{PREFIX}{first_seq:020}{SUFFIX}")
}

fn parse(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if rest.len() != 20 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

/// The archive in a data directory.
#[derive(Debug, Clone)]
pub struct AuditArchive {
    storage: Arc<dyn Storage>,
}

impl AuditArchive {
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        AuditArchive { storage }
    }

    fn io(&self, name: &str) -> impl FnOnce(std::io::Error) -> JournalError {
        let file = self.storage.describe(name);
        move |error| JournalError::Io { file, error }
    }

    /// Writes a batch of consecutive records to its file and makes it
    /// durable. Returns the last record's `seq`.
    pub fn write(&self, records: &[AuditRecord]) -> Result<u64, JournalError> {
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return Ok(0);
        };
        debug_assert!(records.windows(2).all(|w| w[1].seq == w[0].seq + 1));
        let name = archive_name(first.seq);
        let tmp = format!("{name}{TMP_SUFFIX}");
        let mut buf = format::segment_header(first.seq);
        for r in records {
            format::append_record(&mut buf, r.seq, |b| b.extend_from_slice(&to_bytes(r)));
        }
        let written = self.storage.create(&tmp).and_then(|mut f| {
            f.write_all(&buf)?;
            f.sync()
        });
        if let Err(e) = written {
            let _ = self.storage.remove(&tmp);
            return Err(self.io(&tmp)(e));
        }
        self.storage.rename(&tmp, &name).map_err(self.io(&name))?;
        self.storage.sync_dir().map_err(self.io("."))?;
        Ok(last.seq)
    }

    /// The archived records with `after < seq <= through`, at most `n`, in
    /// order. A missing record is an error naming it.
    pub fn read(
        &self,
        after: u64,
        through: u64,
        n: usize,
    ) -> Result<Vec<AuditRecord>, JournalError> {
        let mut files: Vec<(u64, String)> = self
            .storage
            .list()
            .map_err(self.io("."))?
            .into_iter()
            .filter_map(|name| parse(&name).map(|first| (first, name)))
            .filter(|(first, _)| *first <= through)
            .collect();
        files.sort();
        let mut out = Vec::new();
        let mut next = after + 1;
        for (i, (first, name)) in files.iter().enumerate() {
            if out.len() >= n || next > through {
                break;
            }
            // Skip files wholly before `next`: the next file starts at or
            // before it.
            if files.get(i + 1).is_some_and(|(f, _)| *f <= next) {
                continue;
            }
            if *first > next {
                break;
            }
            let bytes = self.storage.read(name).map_err(self.io(name))?;
            let corrupt = |offset: usize, what: String| JournalError::Corrupt {
                file: self.storage.describe(name),
                offset,
                what,
            };
            match format::read_segment_header(&bytes) {
                Ok(f) if f == *first => {}
                Ok(f) => return Err(corrupt(0, format!("header says first seq {f}"))),
                Err(what) => return Err(corrupt(0, what.into())),
            }
            let (records, end) = format::scan_records(&bytes, format::SEGMENT_HEADER_LEN);
            if end < bytes.len() {
                return Err(corrupt(end, "damaged audit record".into()));
            }
            for rec in records {
                if rec.lsn < next {
                    continue;
                }
                if rec.lsn > next || out.len() >= n || next > through {
                    break;
                }
                let r: AuditRecord = from_bytes(rec.payload)
                    .map_err(|e| corrupt(rec.offset, format!("audit record {}: {e}", rec.lsn)))?;
                if r.seq != rec.lsn {
                    return Err(corrupt(
                        rec.offset,
                        format!("record {} says seq {}", rec.lsn, r.seq),
                    ));
                }
                out.push(r);
                next += 1;
            }
        }
        if out.len() < n && next <= through {
            return Err(JournalError::Missing {
                file: self.storage.describe(&archive_name(next)),
                expected: next,
                found: files
                    .iter()
                    .map(|(f, _)| *f)
                    .find(|f| *f > next)
                    .unwrap_or(0),
            });
        }
        Ok(out)
    }
}
